"""A prepared replay path: validate the out buffers and build the launch once, then each
call checks only what needs no tensor value and launches, with no host sync.

`prepare` is for the CUDA-graph replay loop of a serving step (SGLang's capture); the
contract's value checks (negative lengths, total vs capacity) are the caller's, as with
`expand(..., validate=False)`.
"""

from __future__ import annotations

import importlib

import torch

from nsa_meta.interpreter import interpreting
from nsa_meta.validation import INDEX_DTYPES, INT32_MAX, OUT_NAMES, check_out_pair


class Plan:
    """`plan(extend_seq_lens, seq_lens, nsa_index_topk)` writes `[0, total)` of the
    prepared buffers and returns them whole, as `expand(..., out=out, validate=False)`."""

    __slots__ = (
        "out",
        "max_bs",
        "extend_dtype",
        "seq_dtype",
        "device",
        "capacity",
        "path",
        "_launch",
    )

    def __init__(
        self,
        out: tuple[torch.Tensor, torch.Tensor],
        max_bs: int,
        extend_dtype: torch.dtype,
        seq_dtype: torch.dtype,
    ) -> None:
        _check_out(out)
        if isinstance(max_bs, bool) or not isinstance(max_bs, int):
            raise TypeError(f"max_bs must be an int, got {type(max_bs).__name__}")
        if not 0 <= max_bs <= INT32_MAX:
            raise ValueError(f"max_bs is {max_bs}; it must be in [0, 2**31 - 1]")
        for name, dtype in (("extend_dtype", extend_dtype), ("seq_dtype", seq_dtype)):
            if dtype not in INDEX_DTYPES:
                raise TypeError(f"{name} is {dtype!r}; expected torch.int32 or torch.int64")
        self.out = (out[0], out[1])
        self.max_bs = max_bs
        self.extend_dtype = extend_dtype
        self.seq_dtype = seq_dtype
        self.device = out[0].device
        self.capacity = min(out[0].numel(), out[1].numel())
        kernel = importlib.import_module("nsa_meta.triton_kernel")
        self._launch = kernel.prepared_launch(out[0], out[1], max_bs, extend_dtype, seq_dtype)
        # How each call launches: "launcher" (Triton's compiled C launcher, called
        # directly), "wrapper" (its Python wrapper) or "jit" (the JIT's usual path).
        self.path: str = self._launch.path

    def __call__(
        self, extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor, nsa_index_topk: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_tensor("extend_seq_lens", extend_seq_lens, self.extend_dtype)
        self._check_tensor("seq_lens", seq_lens, self.seq_dtype)
        bs = extend_seq_lens.shape[0]
        if seq_lens.shape[0] != bs:
            raise ValueError(
                f"extend_seq_lens has length {bs} but seq_lens has length {seq_lens.shape[0]}; "
                "one entry per request in both"
            )
        if bs > self.max_bs:
            raise ValueError(
                f"extend_seq_lens has length {bs}; this plan was prepared for max_bs {self.max_bs}"
            )
        if nsa_index_topk.__class__ is not int and (
            isinstance(nsa_index_topk, bool) or not isinstance(nsa_index_topk, int)
        ):
            raise TypeError(f"nsa_index_topk must be an int, got {type(nsa_index_topk).__name__}")
        if not 0 <= nsa_index_topk <= INT32_MAX:
            raise ValueError(f"nsa_index_topk is {nsa_index_topk}; it must be in [0, 2**31 - 1]")
        if bs and self.capacity:
            self._launch(
                extend_seq_lens,
                seq_lens,
                extend_seq_lens.stride(0),
                seq_lens.stride(0),
                bs,
                int(nsa_index_topk),
            )
        return self.out

    def _check_tensor(self, name: str, t: object, dtype: torch.dtype) -> None:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype != dtype:
            raise TypeError(f"{name} has dtype {t.dtype}; this plan was prepared for {dtype}")
        if t.device != self.device:
            raise ValueError(f"{name} is on {t.device}; this plan was prepared for {self.device}")
        if t.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")

    def __repr__(self) -> str:
        return (
            f"Plan(max_bs={self.max_bs}, capacity={self.capacity}, device={self.device}, "
            f"extend_dtype={self.extend_dtype}, seq_dtype={self.seq_dtype}, path={self.path!r})"
        )


def _check_out(out: object) -> None:
    check_out_pair(out)
    a, b = out
    if a.device != b.device:
        raise ValueError(f"out: {OUT_NAMES[0]} is on {a.device} but {OUT_NAMES[1]} on {b.device}")
    if a.device.type != "cuda" and not interpreting():
        raise ValueError(
            f"out: the buffers are on {a.device}; the prepared path runs the Triton kernel, "
            "so they must be on a CUDA device (or set TRITON_INTERPRET=1 for the CPU interpreter)"
        )
    if a.numel() and b.numel() and _overlap(a, b):
        raise ValueError(f"out: {OUT_NAMES[0]} and {OUT_NAMES[1]} share memory; give two buffers")


def _overlap(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two 1-D views of one storage share an element (exact: a + i*sa = b + j*sb)."""
    if a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr():
        return False
    a0, b0 = a.storage_offset(), b.storage_offset()
    na, nb = a.numel(), b.numel()
    sa, sb = (a.stride(0) if na > 1 else 1), (b.stride(0) if nb > 1 else 1)
    g, x, _ = _egcd(sa, sb)  # sa * x + sb * y = g
    if (b0 - a0) % g:
        return False
    i0 = x * ((b0 - a0) // g)  # i = i0 + k * sb/g solves it, with j = (a0 + i*sa - b0) / sb
    step_i, step_j = sb // g, sa // g
    j0 = (a0 + i0 * sa - b0) // sb
    lo = max(-(i0 // step_i), -(j0 // step_j))  # ceil((0 - i0) / step)
    hi = min((na - 1 - i0) // step_i, (nb - 1 - j0) // step_j)
    return lo <= hi


def _egcd(a: int, b: int) -> tuple[int, int, int]:
    """(g, x, y) with a * x + b * y = g = gcd(a, b), for a, b > 0."""
    x0, x1, y0, y1 = 1, 0, 0, 1
    while b:
        q, a, b = a // b, b, a % b
        x0, x1, y0, y1 = x1, x0 - q * x1, y1, y0 - q * y1
    return a, x0, y0


def prepare(
    out: tuple[torch.Tensor, torch.Tensor],
    max_bs: int,
    extend_dtype: torch.dtype = torch.int32,
    seq_dtype: torch.dtype = torch.int32,
) -> Plan:
    """Check `out` = (out_seqlens_expanded, out_nsa_cache_seqlens) once (int32, 1-D, one
    device, no two elements in one slot) and build the Triton launch for up to `max_bs` requests.

    The returned plan takes `(extend_seq_lens, seq_lens, nsa_index_topk)` with the dtypes
    given here, on the buffers' device, any strides, length <= max_bs; it raises TypeError
    or ValueError naming the argument on anything else, before writing. It never reads a
    value on the host, so it can be captured in a CUDA graph and replayed on new values.
    Values are not checked (as `validate=False`): only `[0, min(total, capacity))` is
    written, capacity being the shorter buffer's length. Call it outside graph capture.
    """
    return Plan(out, max_bs, extend_dtype, seq_dtype)

"""One validation for every backend: CONTRACT.md's error list, checked before any write.

`check_layout` is cheap (types, shapes, devices) and never reads tensor values, so it runs
with validate=False too; `check_values` reads values and therefore synchronises the host.
"""

from __future__ import annotations

import torch

INT32_MAX = 2**31 - 1
INDEX_DTYPES = (torch.int32, torch.int64)

OutPair = tuple[torch.Tensor, torch.Tensor]


def _check_index_tensor(name: str, t: object) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; expected torch.int32 or torch.int64")


def _check_out(out: object, device: torch.device) -> None:
    names = ("out_seqlens_expanded", "out_nsa_cache_seqlens")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"out must be a pair ({', '.join(names)}), got {type(out).__name__}")
    for name, buf in zip(names, out):
        if not isinstance(buf, torch.Tensor):
            raise TypeError(f"out: {name} must be a torch.Tensor, got {type(buf).__name__}")
        if buf.dtype != torch.int32:
            raise TypeError(f"out: {name} has dtype {buf.dtype}; expected torch.int32")
        if buf.dim() != 1:
            raise ValueError(f"out: {name} must be 1-D, got shape {tuple(buf.shape)}")
        if buf.device != device:
            raise ValueError(f"out: {name} is on {buf.device} but the inputs are on {device}")


def check_layout(
    extend_seq_lens: object,
    seq_lens: object,
    nsa_index_topk: object,
    out: object = None,
) -> None:
    """Types, dtypes, ranks, lengths and devices: no tensor value is read."""
    _check_index_tensor("extend_seq_lens", extend_seq_lens)
    _check_index_tensor("seq_lens", seq_lens)
    if isinstance(nsa_index_topk, bool) or not isinstance(nsa_index_topk, int):
        raise TypeError(f"nsa_index_topk must be an int, got {type(nsa_index_topk).__name__}")
    assert isinstance(extend_seq_lens, torch.Tensor) and isinstance(seq_lens, torch.Tensor)
    for name, t in (("extend_seq_lens", extend_seq_lens), ("seq_lens", seq_lens)):
        if t.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if extend_seq_lens.numel() != seq_lens.numel():
        raise ValueError(
            f"extend_seq_lens has length {extend_seq_lens.numel()} but seq_lens has length "
            f"{seq_lens.numel()}; one entry per request in both"
        )
    if extend_seq_lens.device != seq_lens.device:
        raise ValueError(
            f"extend_seq_lens is on {extend_seq_lens.device} but seq_lens is on "
            f"{seq_lens.device}; both must be on one device"
        )
    if not 0 <= nsa_index_topk <= INT32_MAX:
        raise ValueError(f"nsa_index_topk is {nsa_index_topk}; it must be in [0, 2**31 - 1]")
    if out is not None:
        _check_out(out, extend_seq_lens.device)


def _first_bad(name: str, bad: torch.Tensor, t: torch.Tensor, rule: str) -> None:
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] is {int(t[i])}; {rule}")


def check_values(
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    out: OutPair | None = None,
) -> int:
    """Value checks (host sync). Returns total = sum(extend_seq_lens)."""
    _first_bad(
        "extend_seq_lens", extend_seq_lens < 0, extend_seq_lens, "accept lengths must be >= 0"
    )
    _first_bad(
        "seq_lens",
        (seq_lens < 0) | (seq_lens > INT32_MAX),
        seq_lens,
        "seq lengths must be in [0, 2**31 - 1]",
    )
    # One huge extend alone must not wrap the int64 sum below round to a small total.
    _first_bad(
        "extend_seq_lens",
        extend_seq_lens > INT32_MAX,
        extend_seq_lens,
        "sum(extend_seq_lens) must be <= 2**31 - 1",
    )
    total = int(extend_seq_lens.sum(dtype=torch.int64))
    if total > INT32_MAX:
        raise ValueError(
            f"sum(extend_seq_lens) is {total}; the expanded length must be <= 2**31 - 1"
        )
    if out is not None:
        for name, buf in zip(("out_seqlens_expanded", "out_nsa_cache_seqlens"), out):
            if buf.numel() < total:
                raise ValueError(f"out: {name} holds {buf.numel()} elements but total is {total}")
    return total


def validate(
    extend_seq_lens: object,
    seq_lens: object,
    nsa_index_topk: object,
    out: object = None,
) -> int:
    """Every check in CONTRACT.md, in a fixed order. Returns total."""
    check_layout(extend_seq_lens, seq_lens, nsa_index_topk, out)
    return check_values(extend_seq_lens, seq_lens, out)  # type: ignore[arg-type]

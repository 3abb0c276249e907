"""Contract v2's one checked entry: `metadata` fills the whole replay metadata of a mode.

The Triton kernel and the torch version write into caller buffers (a `Metadata`); with
`out` given and validate=False nothing reads a value back to the host (CUDA-graph safe).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import torch

from nsa_meta import metadata_torch
from nsa_meta.api import Backend, resolve_backend
from nsa_meta.validation import INT32_MAX, check_metadata_layout, check_metadata_values


class Metadata(NamedTuple):
    """The seven outputs of CONTRACT_V2, int32, named and ordered as in its table."""

    cache_seqlens: torch.Tensor
    cu_seqlens_k: torch.Tensor
    seqlens_expanded: torch.Tensor
    dsa_cache_seqlens: torch.Tensor
    dsa_cu_seqlens_k: torch.Tensor
    page_table_1: torch.Tensor
    real_page_table: torch.Tensor | None  # None when page_size == 1


def allocate_metadata(
    max_bs: int,
    max_rows: int,
    width: int,
    page_size: int = 1,
    device: torch.device | str = "cpu",
) -> Metadata:
    """Zeroed int32 buffers for `metadata(..., out=...)`: up to `max_bs` requests and
    `max_rows` rows (T) of `width` columns."""
    for name, value, low in (
        ("max_bs", max_bs, 0),
        ("max_rows", max_rows, 0),
        ("width", width, 1),
        ("page_size", page_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} is {value}; it must be >= {low}")
        if name in ("width", "page_size") and value > INT32_MAX:  # as `metadata` accepts
            raise ValueError(f"{name} is {value}; it must be in [1, 2**31 - 1]")

    device = _device(device)

    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.int32, device=device)

    pages = -(-width // page_size)
    return Metadata(
        cache_seqlens=zeros(max_bs),
        cu_seqlens_k=zeros(max_bs + 1),
        seqlens_expanded=zeros(max_rows),
        dsa_cache_seqlens=zeros(max_rows),
        dsa_cu_seqlens_k=zeros(max_rows + 1),
        page_table_1=zeros(max_rows, width),
        real_page_table=zeros(max_rows, pages) if page_size > 1 else None,
    )


def _device(device: object) -> torch.device:
    """`device` as a torch.device, or TypeError / ValueError naming it (torch's own errors
    for an unknown or absent device are RuntimeError and AssertionError)."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a torch.device or a str, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device is {device!r}, not a device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device is {str(device)!r} but CUDA is not available")
    return device


_loaded: dict[str, object] = {}


def _implementation(backend: str):
    if backend == "torch":
        return metadata_torch
    if "triton" not in _loaded:  # imported on first use: TRITON_INTERPRET must come first
        _loaded["triton"] = importlib.import_module("nsa_meta.metadata_triton")
    return _loaded["triton"]


def metadata(
    mode: str,
    seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    *,
    topk: int,
    width: int,
    page_size: int = 1,
    next_n: int = 1,
    extend_seq_lens: torch.Tensor | None = None,
    backend: Backend = "auto",
    out: Metadata | None = None,
    validate: bool = True,
) -> Metadata:
    """Fill CONTRACT_V2's outputs for one forward `mode`.

    - `out=None`: returns a new `Metadata` of exact sizes (T rows). In draft_extend_var
      with validate=False, sizing it reads T back (one host sync).
    - `out` given: writes exactly the contract's region of each buffer and returns `out`
      itself; every other cell keeps its value. With validate=False there is no host sync
      (CUDA-graph capturable); in draft_extend_var the rows past the buffers' capacity are
      not written.

    With validate=True every bad input raises TypeError or ValueError naming the argument
    before anything is written. validate=False still runs the checks that read no value
    (types, dtypes, ranks, lengths, devices, scalars, buffer sizes the host can know).
    """
    rows = check_metadata_layout(
        mode,
        seq_lens,
        req_pool_indices,
        req_to_token,
        topk=topk,
        width=width,
        page_size=page_size,
        next_n=next_n,
        extend_seq_lens=extend_seq_lens,
        out=out,
    )
    chosen = resolve_backend(backend, seq_lens.device)
    if validate:
        rows = check_metadata_values(
            mode,
            seq_lens,
            req_pool_indices,
            req_to_token,
            topk=topk,
            width=width,
            next_n=next_n,
            extend_seq_lens=extend_seq_lens,
            out=out,
        )
    if out is None:
        if rows is None:
            assert extend_seq_lens is not None
            rows = int(extend_seq_lens.sum(dtype=torch.int64))
        out = allocate_metadata(seq_lens.numel(), rows, width, page_size, seq_lens.device)
    _implementation(chosen).metadata_into(
        mode,
        seq_lens,
        req_pool_indices,
        req_to_token,
        extend_seq_lens,
        topk=topk,
        width=width,
        page_size=page_size,
        next_n=next_n,
        out=out,
        rows=rows,
    )
    return out

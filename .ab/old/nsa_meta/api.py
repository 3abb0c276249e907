"""The one public entry: `expand`, checked, with a choice of backend and caller buffers."""

from __future__ import annotations

import importlib
from typing import Literal

import torch

from nsa_meta import torch_impl
from nsa_meta.interpreter import interpreting
from nsa_meta.validation import OutPair, check_layout, check_values

Backend = Literal["auto", "triton", "torch"]
BACKENDS = ("auto", "triton", "torch")


_loaded: dict[str, object] = {}


def _triton_kernel():
    # Imported on first use, so that TRITON_INTERPRET can be set before Triton loads.
    if "triton" not in _loaded:
        _loaded["triton"] = importlib.import_module("nsa_meta.triton_kernel")
    return _loaded["triton"]


def resolve_backend(backend: str, device: torch.device) -> str:
    """ "auto" means triton on CUDA (and on CPU under TRITON_INTERPRET=1), torch otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend is {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if device.type == "cuda":
        return "triton"
    return "triton" if interpreting() else "torch"


def expand(
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    nsa_index_topk: int,
    *,
    backend: Backend = "auto",
    out: OutPair | None = None,
    validate: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Expand per-request (extend, seq) lengths to per-token seq lens, and clamp to top-k.

    Returns `(seqlens_expanded, nsa_cache_seqlens)`, int32, on the inputs' device:
    - `out=None`: two new tensors of length `total`. Allocating needs `total` on the
      host, so this path synchronises once even with `validate=False`.
    - `out=(a, b)`, `validate=True`: writes `a[:total]` and `b[:total]` and returns those
      views, of length exactly `total`; the host syncs for the checks.
    - `out=(a, b)`, `validate=False`: no host sync at all (CUDA-graph capturable). Returns
      `(a, b)` themselves: only `[0, total)` is written, where `total` lives on the device;
      the rest keeps its values. A buffer shorter than `total` is filled as far as it goes.

    With `validate=True` every bad input raises TypeError or ValueError (CONTRACT.md)
    before anything is written. `validate=False` still checks types, ranks, lengths and
    devices, which cost no sync.
    """
    check_layout(extend_seq_lens, seq_lens, nsa_index_topk, out)
    device = extend_seq_lens.device
    chosen = resolve_backend(backend, device)
    total = check_values(extend_seq_lens, seq_lens, out) if validate else None
    if out is None:
        if total is None:
            total = int(extend_seq_lens.sum(dtype=torch.int64))
        out = (
            torch.empty(total, dtype=torch.int32, device=device),
            torch.empty(total, dtype=torch.int32, device=device),
        )
    capacity = min(out[0].numel(), out[1].numel())
    impl = _triton_kernel() if chosen == "triton" else torch_impl
    impl.expand_into(extend_seq_lens, seq_lens, nsa_index_topk, out[0], out[1], capacity)
    if total is None:
        return out[0], out[1]
    return out[0][:total], out[1][:total]

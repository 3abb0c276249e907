"""Planted-bug contract-v2 candidates for the error contract (`--check-errors`): each is right
on valid calls and wrong on one kind of bad input; `correct` validates as the contract says.
Self-contained apart from the shipped nsa_meta.metadata they wrap (loaded by path in a worker).
"""

from __future__ import annotations

import torch


def _metadata(*, mode, seq_lens, req_pool_indices, req_to_token, validate=True, **kw):
    import nsa_meta

    nsa_meta.metadata(
        mode, seq_lens, req_pool_indices, req_to_token, backend="torch", validate=validate, **kw
    )


def correct(**kw):
    """No bug: the shipped entry, validation on, into the caller's buffers."""
    _metadata(**kw)


def topk_bool_value_error(**kw):
    """A bool topk is rejected, but with ValueError where the contract says TypeError."""
    if isinstance(kw["topk"], bool):
        raise ValueError(f"topk must be an int, got {type(kw['topk']).__name__}")
    _metadata(**kw)


def writes_before_raising(**kw):
    """Resets cu_seqlens_k[0] to 0 first (right for a valid call), then validates."""
    out = kw["out"]
    buf = getattr(out, "cu_seqlens_k", None)
    if isinstance(buf, torch.Tensor) and buf.dtype == torch.int32 and buf.dim() == 1 and len(buf):
        buf[0] = 0
    _metadata(**kw)


def negative_pool_index_ignored(**kw):
    """A negative pool index is read Python-style (from the end of the pool), not rejected."""
    r = kw["req_pool_indices"]
    t = kw["req_to_token"]
    if isinstance(r, torch.Tensor) and isinstance(t, torch.Tensor) and t.dim() == 2:
        if r.dtype in (torch.int32, torch.int64) and r.dim() == 1 and bool((r < 0).any()):
            kw["req_pool_indices"] = torch.where(r < 0, r + t.shape[0], r)
    _metadata(**kw)


def table_device_ignored(**kw):
    """Never checks that req_to_token shares the other tensors' device: returns quietly."""
    t, r = kw["req_to_token"], kw["req_pool_indices"]
    if isinstance(t, torch.Tensor) and isinstance(r, torch.Tensor) and t.device != r.device:
        if t.device.type == "meta" or r.device.type != "meta":
            return None
    _metadata(**kw)

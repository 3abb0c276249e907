"""Vectorised torch backend: prefix sums and searchsorted, no Python loop over requests.

With `out` given it never reads a value back to the host: every token slot of the
buffer is computed and slots at or past the device-side total keep their old values.
"""

from __future__ import annotations

import torch


@torch.inference_mode()  # an out buffer made in inference mode takes in-place writes only there
def expand_into(
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    nsa_index_topk: int,
    out_seqlens_expanded: torch.Tensor,
    out_nsa_cache_seqlens: torch.Tensor,
    capacity: int,
) -> None:
    """Write the first `min(total, capacity)` slots of both buffers; the rest keep their values."""
    bs = extend_seq_lens.numel()
    if bs == 0 or capacity == 0:
        return
    device = extend_seq_lens.device
    ext = extend_seq_lens.to(torch.int64)
    ends = torch.cumsum(ext, 0)  # inclusive: request i owns tokens [ends[i] - ext[i], ends[i])
    positions = torch.arange(capacity, device=device, dtype=torch.int64)
    request = torch.searchsorted(ends, positions, right=True).clamp_(max=bs - 1)
    # seq - ext + 1 + (pos - start) == seq - end + pos + 1
    values = seq_lens.to(torch.int64)[request] - ends[request] + positions + 1
    in_total = positions < ends[-1]
    expanded = values.to(torch.int32)
    clamped = values.clamp(max=nsa_index_topk).to(torch.int32)
    head_e = out_seqlens_expanded[:capacity]
    head_c = out_nsa_cache_seqlens[:capacity]
    head_e.copy_(torch.where(in_total, expanded, head_e))
    head_c.copy_(torch.where(in_total, clamped, head_c))

"""The legacy oracle: the original torch loop exactly as it ran in SGLang.

It keeps one known divergence from CONTRACT.md visible on purpose: on an empty batch,
`torch.cat([])` raises where the contract gives two empty outputs (RuntimeError in older
torch, ValueError in torch 2.13: "torch.cat(): expected a non-empty list of Tensors").
"""

import torch


def legacy_expand(
    extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor, nsa_index_topk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two host syncs (`.tolist()`), one `torch.arange` per request, `torch.cat`, clamp."""
    seqlens_expanded = torch.cat(
        [
            torch.arange(kv - qo + 1, kv + 1, dtype=torch.int32, device=extend_seq_lens.device)
            for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist(), strict=True)
        ]
    )
    nsa_cache_seqlens = seqlens_expanded.clamp(max=nsa_index_topk)
    return seqlens_expanded, nsa_cache_seqlens

"""What the fuzzer compares: every built-in implementation by name, with the candidate signature.

The fuzzer and the tests iterate over IMPLEMENTATIONS: adding one is one line here. It lives
in fuzz/, not nsa_meta/: the shipped kernels never import their judge (the oracle, legacy).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

import reference
from fuzz.contract import KNOWN_DIVERGENCES
from nsa_meta.api import expand
from nsa_meta.validation import validate

Candidate = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def reference_impl(
    extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor, nsa_index_topk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pure-Python oracle behind the tensor signature (lists in, tensors out)."""
    validate(extend_seq_lens, seq_lens, nsa_index_topk)
    expanded, clamped = reference.expand(
        extend_seq_lens.tolist(), seq_lens.tolist(), nsa_index_topk
    )
    device = extend_seq_lens.device
    return (
        torch.tensor(expanded, dtype=torch.int32, device=device),
        torch.tensor(clamped, dtype=torch.int32, device=device),
    )


def legacy_impl(
    extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor, nsa_index_topk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original SGLang loop, behind the shared validation (it raises on bs == 0)."""
    from reference.legacy import legacy_expand

    validate(extend_seq_lens, seq_lens, nsa_index_topk)
    return legacy_expand(extend_seq_lens, seq_lens, nsa_index_topk)


IMPLEMENTATIONS: dict[str, Candidate] = {
    "reference": reference_impl,
    "legacy": legacy_impl,
    "triton": partial(expand, backend="triton"),
    "torch": partial(expand, backend="torch"),
}

__all__ = ["IMPLEMENTATIONS", "KNOWN_DIVERGENCES", "Candidate", "legacy_impl", "reference_impl"]

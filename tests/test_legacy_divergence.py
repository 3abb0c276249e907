"""The one documented divergence: the original SGLang loop raises on an empty batch.

`torch.cat([])` raises RuntimeError where CONTRACT.md gives two empty int32 outputs. The
legacy oracle keeps the original behaviour on purpose (fuzz.contract.KNOWN_DIVERGENCES), so
these tests pin both sides; everywhere else the legacy loop must agree with the oracle.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_expansion, strided_tensor

import reference
from fuzz.contract import KNOWN_DIVERGENCES
from fuzz.registry import IMPLEMENTATIONS
from reference.legacy import legacy_expand

I32, I64 = torch.int32, torch.int64


def empty_batch(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return strided_tensor([], dtype), strided_tensor([], dtype)


def test_the_divergence_is_documented() -> None:
    assert ("legacy", "empty batch") in KNOWN_DIVERGENCES
    assert "legacy" in IMPLEMENTATIONS


@pytest.mark.parametrize("dtype", [I32, I64], ids=str)
@pytest.mark.parametrize(
    "legacy", [legacy_expand, IMPLEMENTATIONS["legacy"]], ids=["legacy_expand", "registry"]
)
def test_legacy_raises_on_an_empty_batch(legacy, dtype: torch.dtype) -> None:
    """The divergence stays visible: the empty batch is not patched over in the oracle."""
    # RuntimeError in older torch; torch 2.13 raises ValueError, the message is the same.
    with pytest.raises(
        (RuntimeError, ValueError), match=r"torch\.cat\(\): expected a non-empty list"
    ):
        legacy(*empty_batch(dtype), 2048)


@pytest.mark.parametrize("dtype", [I32, I64], ids=str)
@pytest.mark.parametrize("impl", ["reference", "triton", "torch"])
def test_contract_gives_two_empty_outputs(impl: str, dtype: torch.dtype) -> None:
    assert reference.expand([], [], 2048) == ([], [])
    ext, seq = empty_batch(dtype)
    got = IMPLEMENTATIONS[impl](ext, seq, 2048)
    assert_same_expansion(got, ([], []), name=f"{impl} on an empty batch", device=ext.device)


# Ordinary batches, all-zero extends included: torch.cat of empty aranges is fine.
ORDINARY = {
    "contract example": ([3, 0, 2], [10, 4, 1], 9),
    "all zero extends": ([0, 0, 0], [5, 0, 9], 2048),
    "seq < extend": ([4, 2, 6], [1, 2, 9], 0),
    "one request": ([7], [7], 3),
    "seq at int32 max": ([3, 1], [2**31 - 1, 2**31 - 2], 2**31 - 1),
    "bs 64": ([i % 5 for i in range(64)], [(7 * i) % 50 for i in range(64)], 20),
}


@pytest.mark.parametrize("dtypes", [(I32, I32), (I64, I64), (I32, I64)], ids=str)
@pytest.mark.parametrize("case", list(ORDINARY))
def test_legacy_agrees_with_the_reference_elsewhere(
    case: str, dtypes: tuple[torch.dtype, torch.dtype]
) -> None:
    extend_seq_lens, seq_lens, topk = ORDINARY[case]
    ext = strided_tensor(extend_seq_lens, dtypes[0])
    seq = strided_tensor(seq_lens, dtypes[1])
    got = legacy_expand(ext, seq, topk)
    expected = reference.expand(extend_seq_lens, seq_lens, topk)
    assert_same_expansion(got, expected, name=f"legacy_expand on {case}", device=ext.device)

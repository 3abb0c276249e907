"""Bulk screening: its vectorised oracle agrees with the reference, and it points at the
case a wrong kernel gets wrong (the reference then confirms it, see campaign.py)."""

import numpy as np
import pytest

from fuzz import bulk, triton_batched


@pytest.fixture
def batch() -> bulk.Batch:
    return bulk.draw(np.random.default_rng(1234), 600)


def test_oracle_matches_the_reference_case_by_case(batch):
    want_e, want_c = bulk.oracle(batch)
    at = 0
    for i in range(batch.bs.size):
        case = batch.case(i)
        expanded, clamped = case.expected()
        assert want_e[at : at + len(expanded)].tolist() == expanded, case.describe()
        assert want_c[at : at + len(clamped)].tolist() == clamped, case.describe()
        case.tensors()  # every drawn layout can be built (stride 0 only with equal values)
        at += len(expanded)
    assert at == want_e.size


def test_families_are_drawn(batch):
    big = bulk.draw(np.random.default_rng(7), 20000)
    assert (big.bs == 0).mean() > 0.02
    assert (big.bs >= 1000).mean() > 0.001
    assert (big.stride_e == 0).mean() > 0.05 and (big.offset_s > 0).mean() > 0.1
    assert (big.topk == 0).mean() > 0.05 and (big.topk == 2**31 - 1).mean() > 0.05
    assert (big.seq > 2**31 - 100).mean() > 0.05 and (big.ext > 1024).any()
    assert (big.seq < big.ext).mean() > 0.05


def test_the_real_kernel_passes(batch):
    found, _ = bulk.screen(batch, "cpu")
    assert found.first_bad is None and found.cases == batch.bs.size


def test_a_wrong_token_is_traced_to_its_case(batch, monkeypatch):
    real = triton_batched.expand_packed
    flip = {}

    def one_wrong(*args):
        expanded, clamped = real(*args)
        if expanded.numel():
            flip["at"] = expanded.numel() // 2
            expanded[flip["at"]] += 1
        return expanded, clamped

    monkeypatch.setattr(triton_batched, "expand_packed", one_wrong)
    found, part = bulk.screen(batch, "cpu")
    assert found.first_bad is not None
    # The case it names holds the flipped token of its launch.
    ends = np.cumsum(part.ext)
    request = np.searchsorted(ends, flip["at"], side="right")
    assert found.first_bad == np.searchsorted(np.cumsum(part.bs), request, side="right")

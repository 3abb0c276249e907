"""The planted bugs of tests/mutants.py are what they claim: wrong on their family, right elsewhere.

A mutant that is also wrong outside its family would let the fuzzer "find" it by luck, and
the family measurement (benchmarks/hunt.py tests/mutants.py) would flatter the generator.
"""

from __future__ import annotations

from collections.abc import Callable

import mutants
import pytest
from hypothesis import given

from fuzz.case import Case, Layout
from fuzz.compare import Mismatch, check_outputs, expected_tensors, summarise
from fuzz.strategies import cases

INT32_MAX = mutants.INT32_MAX


def _pairs(c: Case):
    return zip(c.extend_seq_lens, c.seq_lens)


def _layouts(c: Case) -> tuple[Layout, Layout]:
    return c.extend_layout, c.seq_layout


# mutant -> the cases it may be wrong on (its family), and one small case it is wrong on.
FAMILY: dict[str, tuple[Callable[[Case], bool], Case | None]] = {
    "empty_batch_raises": (lambda c: c.bs == 0, Case((), (), 5)),
    "all_zero_extends_wrong": (
        lambda c: c.bs > 0 and not any(c.extend_seq_lens),
        Case((0, 0), (3, 4), 5),
    ),
    "adjacent_zero_extends": (
        lambda c: any(a == b == 0 for a, b in zip(c.extend_seq_lens, c.extend_seq_lens[1:])),
        Case((1, 0, 0), (3, 4, 5), 9),
    ),
    "topk_zero_not_clamped": (lambda c: c.nsa_index_topk == 0, Case((2,), (5,), 0)),
    "topk_equal_off_by_one": (
        lambda c: any(kv - qo < c.nsa_index_topk <= kv for qo, kv in _pairs(c)),
        Case((2,), (5,), 5),
    ),
    "topk_max_overflows": (lambda c: c.nsa_index_topk == INT32_MAX, Case((2,), (5,), INT32_MAX)),
    "padded_clamped_from_below": (
        lambda c: any(kv < qo for qo, kv in _pairs(c)),
        Case((3,), (1,), 9),
    ),
    "seq_equal_extend_wrong": (
        lambda c: any(kv == qo > 0 for qo, kv in _pairs(c)),
        Case((2,), (2,), 9),
    ),
    "int32_end_wraps": (
        lambda c: any(kv == INT32_MAX and qo > 0 for qo, kv in _pairs(c)),
        Case((1,), (INT32_MAX,), 9),
    ),
    "int32_sum_saturates": (
        lambda c: any(kv + qo > INT32_MAX for qo, kv in _pairs(c)),
        Case((2,), (INT32_MAX - 1,), 9),
    ),
    "long_extends_truncated": (
        lambda c: any(qo > 1024 for qo in c.extend_seq_lens),
        Case((1025,), (2000,), 4096),
    ),
    "large_batch_drops_last": (lambda c: c.bs >= 1024, Case((1,) * 1024, (5,) * 1024, 9)),
    "large_batch_floor_grid": (lambda c: c.bs >= 1024, Case((1,) * 1025, (5,) * 1025, 9)),
    "large_total_positions_wrap": (
        lambda c: c.total > 2**16,
        Case((2**16 + 1,), (70_000,), INT32_MAX),
    ),
    "int64_seq_read_as_int32": (
        lambda c: (
            (c.extend_layout.dtype, c.seq_layout.dtype) == ("int32", "int64")
            and (c.bs > 1 or c.seq_layout.offset > 0)
        ),
        Case((1, 1), (5, 8), 9, Layout("int32"), Layout("int64")),
    ),
    "strides_ignored": (
        lambda c: c.bs > 1 and any(x.stride != 1 for x in _layouts(c)),
        Case((1, 2), (5, 8), 9, Layout(), Layout("int32", 2, 0)),
    ),
    "storage_offset_ignored": (
        lambda c: c.bs > 0 and any(x.offset for x in _layouts(c)),
        Case((1, 2), (5, 8), 9, Layout(), Layout("int32", 1, 1)),
    ),
    "stride_zero_mishandled": (
        lambda c: c.bs > 1 and any(x.stride == 0 for x in _layouts(c)),
        Case((2, 2), (5, 5), 9, Layout("int32", 0, 0), Layout()),
    ),
    "bs_one_wrong": (lambda c: c.bs == 1, Case((1,), (5,), 9)),
    "bs_multiple_of_16_wrong": (
        lambda c: c.bs > 0 and c.bs % 16 == 0,
        Case((1,) * 16, (5,) * 16, 9),
    ),
    "topk_one_wrong": (lambda c: c.nsa_index_topk == 1, Case((1,), (5,), 1)),
    "topk_multiple_of_16_wrong": (
        lambda c: c.nsa_index_topk > 0 and c.nsa_index_topk % 16 == 0,
        Case((1,), (20,), 16),
    ),
    # Misbehaving processes: only their "elsewhere" half runs here (the CLI tests the rest).
    "hangs_on_all_zero_extends": (lambda c: c.bs > 0 and not any(c.extend_seq_lens), None),
    "aborts_on_padded_request": (lambda c: any(kv < qo for qo, kv in _pairs(c)), None),
    "correct": (lambda c: False, None),
}


def judge(name: str, case: Case) -> Mismatch | None:
    """The harness's comparison, in this process."""
    ext, seq = case.tensors()
    expected = expected_tensors(case.expected())
    try:
        result = getattr(mutants, name)(ext, seq, case.nsa_index_topk)
    except Exception as exc:
        return Mismatch(name, f"raised {type(exc).__name__}", detail=str(exc))
    return check_outputs(name, summarise(result), expected, "cpu")


def test_every_family_mutant_is_described() -> None:
    assert set(mutants.FAMILY_MUTANTS) <= set(FAMILY)
    assert all(getattr(mutants, name).__doc__ for name in FAMILY)


@pytest.mark.parametrize("name", list(mutants.FAMILY_MUTANTS))
def test_mutant_is_wrong_on_its_family(name: str) -> None:
    in_family, trigger = FAMILY[name]
    assert trigger is not None and in_family(trigger), f"{name}: the trigger is not in its family"
    assert judge(name, trigger) is not None, f"{name} is right on {trigger.describe()}"


@pytest.mark.parametrize("name", list(FAMILY))
@given(case=cases())
def test_mutant_is_right_elsewhere(name: str, case: Case) -> None:
    in_family, _ = FAMILY[name]
    if in_family(case):
        return
    found = judge(name, case)
    assert found is None, f"{name} outside its family: {found.describe()} on {case.describe()}"

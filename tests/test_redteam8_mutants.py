"""Red-team round 8 (benchmarks/redteam8_mutants.py, Triton through the interpreter on the CPU):
every planted bug is a real one. On the smallest input its docstring names, each mutant breaks
the contract (a wrong value, a cell outside the region, a stale cell), and the correct
candidate matches the oracle cell for cell on all of those inputs and a few more.
"""

from __future__ import annotations

import re

import pytest
import test_redteam7_mutants as rt7t
import torch
from meta_fuzz_helpers import ROOT, benchmark_module

I32, I64 = torch.int32, torch.int64
VAR = "draft_extend_var"
BIG = 2**31 - 1
call, rows_of, complaint = rt7t.call, rt7t._rows, rt7t.complaint


def rt8():
    return benchmark_module("redteam8_mutants")


def _zeros(n, at, value=1):
    out = [0] * n
    out[at] = value
    return out


# bug -> (calls, options): the smallest input its docstring names.
CASES = {
    "cu_tail_mask_le": ([call("decode", [1])], {}),
    "carry_mask_b0_minus_1": ([call("decode", _zeros(33, 31))], {}),
    "carry_chunk_mask_bs": ([call("decode", _zeros(33, 32))], {}),
    "padded_total_dropped": ([call("draft_extend", [0, 0], N=2)], {}),
    "clamp_count_off_by_one": ([call("decode", [1], K=2)], {}),
    "bs0_no_launch": ([call("decode", [])], {}),
    "series_int32": ([call("decode", [2**30], K=BIG)], {}),
    "topk0_no_limit": ([call("decode", [1], K=0)], {}),
    "row_grid_floor": ([call("decode", [1] * 129)], {}),
    "fixed_grid_from_bs": ([call("target_verify", [1] * 65, N=2)], {}),
    "fixed_tile_whole_requests": ([call("draft_extend", [9] * 26, N=5)], {}),
    "decode_rows_times_next_n": ([call("decode", [1], N=2)], {}),
    "search_steps_floor_log2": ([call(VAR, [1, 5, 9], x=[1, 1, 1])], {}),
    "search_lower_bound": ([call(VAR, [1, 1, 5], x=[1, 0, 1])], {}),
    "pt_rows_le_T": ([call(VAR, [1], x=[1], rt=rows_of([4]))], {}),
    "dcu0_by_row_kernel": ([call(VAR, [1], x=[0])], {}),
    "var_grid_from_first_call": ([call(VAR, [1], x=[1]), call(VAR, [1], x=[129])], {}),
    "col_tiles_floor": ([call("decode", [1], W=129, rt=torch.arange(129, dtype=I32)[None])], {}),
    "page_loop_floor": ([call("decode", [1], P=2, rt=rows_of([4]))], {}),
    "page_shift_pow2": ([call("decode", [1], P=3, rt=rows_of([2]))], {}),
    "rpt_mask_le_npages": ([call("decode", [1], P=2)], {}),
    "rt_col_stride_rpt": (
        [call("decode", [1], W=3, P=2, rt=torch.arange(12, dtype=I32).view(4, 3).t()[0:1])],
        {},
    ),
    "rt_row_stride_width": ([call("decode", [1], r=[1], rt=rows_of([1, 2], [3, 4]))], {}),
    "pool_guard_off_by_one": ([call("decode", [1], rt=rows_of([1]))], {}),
    "r64_as_int32_rpt": (
        [call("decode", [1, 1], r=[0, 1], rt=rows_of([2], [4]), P=2, dt=(I32, I32, I64))],
        {},
    ),
    "s64_as_int32_rows": ([call("decode", [1, 1], dt=(I64, I32, I32))], {}),
    "npages_int32_wrap": ([call("decode", [1], W=2, P=BIG, rt=rows_of([1, 1]))], {}),
}

# the expensive ones (bs above 1024 or near 16384, T of 46342): the slow tier
SLOW_CASES = {
    "carry_first_chunk_only": ([call("decode", _zeros(1057, 1024))], {}),
    "grid_cap_no_stride": ([call("decode", [1] * 16385, K=1)], {}),
    "stride_carry_own_blocks": ([call("decode", _zeros(16385, 32), K=1)], {}),
    "T_from_last_program": ([call(VAR, [1] * 16385, x=_zeros(16385, 16384), K=1)], {}),
    "tri_int32_product": ([call(VAR, [23171], x=[46342], K=BIG)], {}),
}

EXTRA = [
    (
        [
            call(
                VAR,
                [5, 0, 7, 1],
                x=[2, 0, 3, 1],
                r=[2, 0, 2, 1],
                rt=torch.arange(60, dtype=I32).view(3, 20)[:, 2:12],
                K=3,
                W=10,
                P=3,
                dt=(I64, I32, I64),
            ),
            call(
                VAR,
                [1, 9, 2, 2],
                x=[0, 4, 0, 0],
                r=[1, 1, 0, 2],
                K=4,
                W=10,
                P=3,
                rt=torch.arange(60, dtype=I32).view(20, 3).t()[:, 1:11],
            ),
            call(VAR, [3, 1, 4, 1], x=[0, 0, 0, 0], W=10, P=3, rt=rows_of(range(10))),
        ],
        {},
    ),
    ([call("target_verify", [0, 3, 8], N=7, K=5, W=4, P=2, rt=rows_of(range(4)))], {}),
    ([call("draft_extend", [1, 6], N=8, K=2, W=5, P=128, rt=rows_of(range(200, 205)))], {}),
    ([call(VAR, [2**31 - 9, 0, 5], x=[8, 3, 0], K=5, dt=(I64, I64, I64))], {}),
]


def test_every_planted_bug_has_a_case_and_the_hunt_lists_each_once() -> None:
    m = rt8()
    names = [n for n, _, _ in m.HUNT]
    assert len(names) == len(set(names)) == len(m.BUGS) + 1
    assert sorted(f"bug_{b}" for b in {**CASES, **SLOW_CASES}) == sorted(names[1:])
    assert names[0] == "correct" and all(getattr(m, n).__doc__ for n in names)


def test_the_kernels_branch_numbers_name_their_bugs() -> None:
    """`BUG == n:  # name` in the kernels: n is the id of `name` (a renumbering shows here)."""
    source = (ROOT / "benchmarks" / "redteam8_mutants.py").read_text()
    pairs = re.findall(r"BUG [!=]= (\d+):? *# (\w+)", source)
    assert len(pairs) >= 20
    for number, name in pairs:
        assert rt8()._ID[name] == int(number), name


@pytest.mark.parametrize("bug", sorted(CASES))
def test_the_mutant_breaks_the_contract_on_its_smallest_case(bug: str) -> None:
    rt8()._first_T.clear()
    calls, options = CASES[bug]
    assert complaint(getattr(rt8(), f"bug_{bug}"), calls, **options) is not None


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(SLOW_CASES))
def test_the_mutant_breaks_the_contract_on_its_large_case(bug: str) -> None:
    calls, options = SLOW_CASES[bug]
    assert complaint(getattr(rt8(), f"bug_{bug}"), calls, **options) is not None


def test_the_correct_candidate_matches_the_oracle_on_every_small_case() -> None:
    for calls, options in list(CASES.values()) + EXTRA:
        assert complaint(rt8().correct, calls, **options) is None, calls[0]["mode"]


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(SLOW_CASES))
def test_the_correct_candidate_matches_the_oracle_on_the_large_cases(bug: str) -> None:
    calls, options = SLOW_CASES[bug]
    assert complaint(rt8().correct, calls, **options) is None

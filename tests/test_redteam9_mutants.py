"""Red-team round 9 (benchmarks/redteam9_mutants.py, plain Python and plain torch): every
planted bug is a real one. On the smallest input its docstring names, each mutant breaks the
contract (a wrong value, a cell outside the region, a stale cell), judged against
reference.metadata; both correct candidates pass those inputs and awkward ones besides.
"""

from __future__ import annotations

import pytest
import torch
from meta_fuzz_helpers import benchmark_module
from redteam9_judge import I32, I64, call, judge

import nsa_meta

VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
M = benchmark_module("redteam9_mutants")


def rows(pool: int, wr: int = 2) -> list[list[int]]:
    """A pool of `pool` distinct rows of `wr` columns (row p holds p * 100 + c)."""
    return [[p * 100 + c for c in range(wr)] for p in range(pool)]


def n_calls(mode: str, bs: int, **kw) -> list[dict]:
    return [call(mode, [5] * bs, [p % 2 for p in range(bs)][::-1], rows(2), **kw)]


SHOWS = {
    "de_base_off_by_n": [call(DE, [5], [0], rows(1))],
    "decode_dsa_cu_unclamped": [call(DEC, [5], [0], rows(1), topk=2)],
    "tv_writes_one_column_past_width": [call(TV, [3], [0], rows(1), width=1)],
    "var_last_zero_extend_cu_short": [call(VAR, [3, 4], [0, 1], rows(2), ext=[1, 0])],
    "var_zero_between_shifts_pool_index": [call(VAR, [3, 3, 3], [0, 1, 2], rows(3), ext=[1, 0, 1])],
    "var_all_zero_writes_row0": [call(VAR, [3], [0], rows(1), ext=[0])],
    "bs33_tail_dropped": n_calls(DEC, 33),
    "bs129_fast_path_overflow": n_calls(DEC, 129),
    "bs1023_scratch_short": n_calls(DEC, 1023),
    "bs1025_tail_dropped": n_calls(DEC, 1025),
    "bs16385_index_wraps": [call(DEC, [2] * 16385, [0] * 16384 + [1], rows(2))],
    "bs0_writes_cu1": [call(DEC, [], [], rows(1))],
    "bs1_ignores_pool_index": [call(DEC, [4], [1], rows(2))],
    "de_next_n_8_offset_wraps": [call(DE, [10], [0], rows(1), next_n=8)],
    "tv_next_n_capped_6": [call(TV, [1], [0], rows(1), next_n=7)],
    "pad_de_clamp_min_1": [call(DE, [1], [0], rows(1), next_n=2)],
    "pad_var_dsa_min_0": [call(VAR, [0], [0], rows(1), ext=[2])],
    "decode_s0_as_1": [call(DEC, [0], [0], rows(1))],
    "topk_equal_missed_in_dsa_cu": [call(DEC, [3], [0], rows(1), topk=3)],
    "topk_zero_no_clamp": [call(DEC, [1], [0], rows(1), topk=0)],
    "page_width_mod_1_short": [call(DEC, [4], [0], rows(1, 3), page_size=2)],
    "page_width_below_page_skipped": [call(DEC, [4], [0], rows(1, 1), page_size=2)],
    "page128_divisor_int8": [call(DEC, [4], [0], [[127]], page_size=128)],
    "page_non_pow2_column_shift": [call(DEC, [4], [0], [[0, 1, 2, 3]], page_size=3)],
    "page_multiple_writes_extra_column": [call(DEC, [4], [0], rows(1, 3), page_size=2, width=2)],
    "rtt_unit_column_stride": [call(DEC, [4], [1], rows(2), layout="transposed")],
    "rtt_row_stride_from_shape": [call(DEC, [4], [1], rows(2), layout="colsliced")],
    "rtt_storage_offset_lost": [call(DEC, [4], [0], rows(1), layout="rowsliced")],
    "repeated_index_copies_wrong_rows": [call(VAR, [4, 4, 4], [0, 1, 1], rows(2), ext=[1, 1, 2])],
    "pool_last_row_reserved": [call(DEC, [4], [1], rows(2))],
    "pool_index_zero_skipped": [call(DEC, [4], [0], rows(1))],
    "mix_reinterprets_pool_indices": [call(DEC, [4, 4], [0, 1], rows(2), dtypes=(I32, I64, I32))],
    "ext64_s32_low_words": [call(VAR, [2, 2], [0, 1], rows(2), ext=[1, 1], dtypes=(I32, I32, I64))],
    "cu_float32_cumsum": [call(DEC, [2**30, 1], [0, 0], rows(1))],
    "dsa_cu_saturating_intermediate": [call(DE, [2**30], [0], rows(1), next_n=3, topk=1)],
    "stale_page_rows_by_address": [call(DEC, [4], [0], rows(2)), call(DEC, [4], [1], rows(2))],
    "stale_skips_unchanged_requests": [
        call(VAR, [5, 5], [0, 1], rows(2), ext=[1, 1]),
        call(VAR, [5, 5], [0, 1], rows(2), ext=[2, 1]),
    ],
    "stale_caches_bs_per_buffer": [
        call(DEC, [4], [0], rows(1)),
        call(DEC, [4, 5], [0, 0], rows(1)),
    ],
    "pads_dsa_cache_to_8": [call(DEC, [4], [0], rows(1))],
    "writes_cu_past_bs_plus_1": [call(DEC, [4], [0], rows(1))],
    "real_page_full_buffer_width": [call(DEC, [4], [0], rows(1), page_size=2)],
}
SLOW = {"bs16385_index_wraps", "bs1023_scratch_short", "bs1025_tail_dropped"}


def _mutants():
    names = [name for name, _, _ in M.HUNT if not name.startswith("correct")]
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


def test_every_mutant_has_a_showing_input():
    names = {name for name, _, _ in M.HUNT if not name.startswith("correct")}
    assert names == set(SHOWS)
    assert 30 <= len(names) <= 42


@pytest.mark.parametrize("name", _mutants())
def test_mutant_is_wrong_on_its_smallest_input(name):
    M._PAGE_CACHE.clear(), M._LAST_INPUTS.clear(), M._BS_CACHE.clear()
    assert judge(getattr(M, name), SHOWS[name]) is not None


# Awkward valid inputs that every correct candidate must pass; the big ones are slow.
AWKWARD = [
    call(VAR, [5, 0, 1, 7], [3, 0, 3, 2], rows(4, 5), ext=[2, 0, 3, 1], topk=4, page_size=3),
    call(VAR, [3, 3], [0, 1], rows(2), ext=[0, 0]),
    call(VAR, [1, 1, 9], [2, 2, 0], rows(3, 4), ext=[3, 2, 0], width=3, page_size=2),
    call(TV, [0, 7, 2**31 - 40], [1, 1, 0], rows(2, 3), next_n=8, topk=7, layout="transposed"),
    call(DE, [1, 1, 6], [0, 1, 1], rows(2, 4), next_n=3, page_size=128, layout="colsliced"),
    call(DEC, [0, 2**30, 2**30 - 1], [1, 0, 1], rows(2, 3), topk=0, dtypes=(I64, I32, I32)),
    call(DEC, [], [], rows(1)),
    call(DE, [4, 2], [1, 0], rows(2, 6), next_n=7, page_size=3, width=4, layout="rowsliced"),
    call(VAR, [3, 8], [1, 1], rows(2, 2), ext=[4, 1], page_size=64, dtypes=(I64, I64, I64)),
    call(TV, [2**28, 5], [0, 1], rows(2), next_n=4, topk=2**31 - 1),
]


@pytest.mark.parametrize("name", ["correct_lists", "correct_torch"])
def test_correct_candidates_pass_every_showing_input(name):
    for key, calls in SHOWS.items():
        if key not in SLOW:
            assert judge(getattr(M, name), calls) is None, key


@pytest.mark.parametrize("name", ["correct_lists", "correct_torch"])
def test_correct_candidates_pass_awkward_inputs_back_to_back(name):
    for c in AWKWARD:
        assert judge(getattr(M, name), [c]) is None, c
    assert judge(getattr(M, name), AWKWARD[:3] + AWKWARD[5:8], extra=0) is None


@pytest.mark.parametrize("name", ["correct_lists", "correct_torch"])
def test_correct_candidates_agree_with_the_torch_backend(name):
    for c in AWKWARD:
        out = nsa_meta.metadata(
            c["mode"],
            c["tensors"]["seq_lens"],
            c["tensors"]["req_pool_indices"],
            c["tensors"]["req_to_token"],
            extend_seq_lens=c["tensors"]["extend_seq_lens"],
            backend="torch",
            **c["scalars"],
        )
        mine = nsa_meta.allocate_metadata(
            len(c["s"]), out.seqlens_expanded.numel(), c["scalars"]["width"],
            c["scalars"]["page_size"],
        )  # fmt: skip
        getattr(M, name)(mode=c["mode"], out=mine, **c["tensors"], **c["scalars"])
        for field, a, b in zip(out._fields, out, mine):
            assert (a is None) == (b is None), field
            if a is not None:
                assert torch.equal(a, b), field


@pytest.mark.slow
@pytest.mark.parametrize("name", ["correct_lists", "correct_torch"])
def test_correct_candidates_pass_the_big_showing_inputs(name):
    for key in sorted(SLOW):
        assert judge(getattr(M, name), SHOWS[key]) is None, key

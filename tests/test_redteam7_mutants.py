"""Red-team round 7 (benchmarks/redteam7_mutants.py): every planted bug is a real one. On the
smallest input its docstring names, each mutant writes what the contract forbids (a value the
oracle does not give, a cell outside the region, a stale cell, a modified input), and both
correct candidates match the oracle, cell for cell, on every one of those inputs.
"""

from __future__ import annotations

import pytest
import torch
from helpers import whole_storage
from meta_fuzz_helpers import benchmark_module
from metadata_helpers import FIELDS, SENTINEL, expected_storages, snapshot_all

import nsa_meta
import reference

I32, I64 = torch.int32, torch.int64
VAR = "draft_extend_var"


def rt7():
    return benchmark_module("redteam7_mutants")


def call(mode, s, *, x=None, r=None, rt=None, K=2048, W=1, P=1, N=1, dt=(I32, I32, I32)):
    """One call's inputs: lists (dtypes dt = seq, ext, r) and a req_to_token tensor."""
    return dict(
        mode=mode,
        s=s,
        x=x,
        r=[0] * len(s) if r is None else r,
        rt=torch.zeros((1, W), dtype=I32) if rt is None else rt,
        K=K,
        W=W,
        P=P,
        N=N,
        dt=dt,
    )


def buffers(bs_cap, rows_cap, W, P, *, vec=(1, 2)):
    """SENTINEL buffers: vectors at storage offset vec[0] with stride vec[1], page tables with
    3 spare columns and a row stride 2 past that, one spare storage row."""
    offset, step = vec

    def vector(n):
        storage = torch.full((offset + step * n + 2,), SENTINEL, dtype=I32)
        return storage[offset : offset + step * n : step]

    def table(cols):
        return torch.full((rows_cap + 1, cols + 5), SENTINEL, dtype=I32)[:rows_cap, : cols + 3]

    pages = -(-W // P)
    return nsa_meta.Metadata(
        vector(bs_cap),
        vector(bs_cap + 1),
        vector(rows_cap),
        vector(rows_cap),
        vector(rows_cap + 1),
        table(W),
        table(pages) if P > 1 else None,
    )


def _want(c):
    return reference.metadata(
        c["mode"],
        c["s"],
        c["r"],
        c["rt"].tolist(),
        extend_seq_lens=c["x"],
        topk=c["K"],
        width=c["W"],
        page_size=c["P"],
        next_n=c["N"],
    )


def _copy(t):
    """`t` on a copy of its storage, same offset and strides (a mutant may write into it)."""
    storage = t.untyped_storage().clone()
    return torch.empty(0, dtype=t.dtype).set_(storage, t.storage_offset(), t.size(), t.stride())


def complaint(fn, calls, *, fresh=False, vec=(1, 2)):
    """Runs `calls` in order on one set of buffers (a new set each call if `fresh`); the first
    way a call breaks the contract, or None."""
    wants = [_want(c) for c in calls]
    bs_cap = max(len(c["s"]) for c in calls) + 2
    rows_cap = max(len(w.seqlens_expanded) for w in wants) + 2
    out = None
    for k, (c, want) in enumerate(zip(calls, wants)):
        if out is None or fresh:
            out = buffers(bs_cap, rows_cap, c["W"], c["P"], vec=vec)
        seq_dt, ext_dt, r_dt = c["dt"]
        inputs = dict(
            seq_lens=torch.tensor(c["s"], dtype=seq_dt),
            extend_seq_lens=None if c["x"] is None else torch.tensor(c["x"], dtype=ext_dt),
            req_pool_indices=torch.tensor(c["r"], dtype=r_dt),
            req_to_token=_copy(c["rt"]),
        )
        kept = {n: whole_storage(v).clone() for n, v in inputs.items() if v is not None}
        before = snapshot_all(out)
        fn(
            mode=c["mode"],
            topk=c["K"],
            width=c["W"],
            page_size=c["P"],
            next_n=c["N"],
            out=out,
            **inputs,
        )
        expected = expected_storages(out, before, want)
        for name, buf in zip(FIELDS, out):
            if buf is None:
                continue
            diff = (whole_storage(buf) != expected[name]).nonzero()
            if diff.numel():
                return f"call {k}: {name} storage element {int(diff[0, 0])}"
        for name, storage in kept.items():
            if not torch.equal(whole_storage(inputs[name]), storage):
                return f"call {k}: input {name} modified"
    return None


def _rows(*values):
    return torch.tensor([list(v) for v in values], dtype=I32)


RT7_CACHES = ("cache_keyed_on_sums", "dsa_cu_cached_ignores_topk", "var_delta_rows_ignore_shift")

# bug -> (calls, options): the smallest input its docstring names.
CASES = {
    "dsa_clamp_per_request": ([call("target_verify", [0], N=2, K=1)], {}),
    "var_uniform_check_by_sum": ([call(VAR, [1, 1, 1], x=[1, 0, 2], K=9)], {}),
    "padded_kv_raised_to_e": ([call("draft_extend", [1], N=2)], {}),
    "verify_cache_store_int64": ([call("target_verify", [1], dt=(I64, I32, I32))], {}),
    "bs0_stores_cache_at_minus1": ([call("decode", [])], {"vec": (3, 2)}),
    "cu_one_past_at_bs_mult_1024": ([call("decode", [0] * 1024, K=0)], {}),
    "warp1_lane0_takes_lane31": ([call("decode", [0] * 32 + [1])], {}),
    "cu_block128_carry_inclusive": ([call("decode", [0] * 128 + [1])], {}),
    "split16384_dsa_carry_from_cu": ([call("decode", [2] + [0] * 16384, K=1)], {}),
    "bs_const_cached_per_pow2_bucket": (
        [call("decode", [1] * 4), call("decode", [1] * 3)],
        {"fresh": True},
    ),
    "fixed_owner_magic16": ([call("draft_extend", [9] * 1874, N=7)], {}),
    "verify_dsa_rows_ge4_unclamped": ([call("target_verify", [0], N=5, K=1)], {}),
    "n8_prefix_lane7_reads_lane6": ([call("target_verify", [0], N=8, K=2**31 - 1)], {}),
    "var_trailing_zero_cache_unwritten": ([call(VAR, [1], x=[0])], {}),
    "var_zero_run2_owner_minus1": (
        [call(VAR, [1, 1, 2], x=[0, 0, 1], r=[0, 1, 2], rt=_rows([0], [1], [2]))],
        {},
    ),
    "dup_r_copied_from_first_holder_rows": ([call(VAR, [1, 1], x=[0, 1], r=[0, 0])], {}),
    "var_dsa_rows_grid_bs_times_max_e": ([call(VAR, [1, 1], x=[1, 0])], {}),
    "padded_dsa_unsigned_min": ([call("draft_extend", [0], N=2, K=1)], {}),
    "dsa_cu_negative_total_as_overflow": ([call("draft_extend", [0], N=2, K=0)], {}),
    "dsa_cu_block_carry_clamped0": ([call(VAR, [0], x=[1025], K=0)], {}),
    "topk_even_rounded": ([call("decode", [1], K=1)], {}),
    "nolimit_fast_path_block_max_misses_lane31": ([call("decode", [0] * 31 + [2], K=1)], {}),
    "topk_int16": ([call("decode", [0], K=32768)], {}),
    "page_div_magic24": ([call("decode", [1], P=3, rt=_rows([8388608]))], {}),
    "page_count_int32_overflow": ([call("decode", [1], P=2**31 - 1, W=2)], {}),
    "rpt_pad_col_minus1_partial_page": ([call("decode", [1], P=2)], {}),
    "rpt_single_tile_256_pages": (
        [call("decode", [1], P=2, W=513, rt=torch.arange(513, dtype=I32)[None, :])],
        {},
    ),
    "rpt_from_pt1_row_stride_W": (
        [call("decode", [1, 1], r=[0, 1], rt=_rows([0], [2]), P=2)],
        {},
    ),
    "rpt_rows_first_only_P_ge_64": ([call("target_verify", [0], N=2, P=64)], {}),
    "page_div_cached_by_bit_length": (
        [call("decode", [1], P=2, rt=_rows([4])), call("decode", [1], P=3, rt=_rows([4]))],
        {"fresh": True},
    ),
    "var_mix_ext64_r32_rpt_r_at_8_bytes": (
        [call(VAR, [1, 1], x=[1, 1], r=[0, 1], rt=_rows([0], [2]), P=2, dt=(I32, I64, I32))],
        {},
    ),
    "rt_col_stride_is_pool": (
        [call("decode", [1], W=2, rt=_rows([0, 5], [1, 6]).t()[0:1])],
        {},
    ),
    "pool_row0_ignores_offset": ([call("decode", [1], rt=_rows([9], [0], [1])[1:])], {}),
    "rt_unread_negatives_clamped_in_place": ([call(VAR, [1], x=[0], rt=_rows([-1]))], {}),
    "dsa_req_sum_int32_product": ([call(VAR, [2**30, 0], x=[2, 1], K=2**31 - 1)], {}),
    "cache_keyed_on_sums": ([call("decode", [1, 2]), call("decode", [2, 1])], {}),
    "dsa_cu_cached_ignores_topk": ([call("decode", [2], K=2), call("decode", [2], K=1)], {}),
    "var_delta_rows_ignore_shift": (
        [call(VAR, [1, 1], x=[1, 1]), call(VAR, [1, 1], x=[2, 1])],
        {},
    ),
    "pt1_uses_rpt_row_stride": (
        [call("decode", [1, 1], r=[0, 1], rt=_rows([0, 1], [2, 3]), P=2, W=2)],
        {},
    ),
    "pt1_row_pairs_narrow_width": ([call("decode", [1])], {}),
}

CASES.update({f"{bug}_obj": CASES[bug] for bug in RT7_CACHES})

# a few more inputs for the correct candidates: strided tables, int64 mixes, every mode
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
                x=[0, 4, 0, 2],
                r=[1, 1, 0, 2],
                K=4,
                W=10,
                P=3,
                rt=torch.arange(60, dtype=I32).view(20, 3).t()[:, 1:11],
            ),
        ],
        {},
    ),
    ([call("target_verify", [0, 3, 8], N=3, K=5, W=4, P=2, rt=_rows(range(4)))], {}),
    ([call("draft_extend", [1, 6], N=4, K=2, W=5, P=128, rt=_rows(range(200, 205)))], {}),
]


@pytest.fixture(autouse=True)
def _fresh_state():
    rt7()._STATE.clear()
    yield
    rt7()._STATE.clear()


def test_every_planted_bug_has_a_case_and_the_hunt_lists_each_once() -> None:
    m = rt7()
    names = [n for n, _, _ in m.HUNT]
    assert len(names) == len(set(names))
    bugs = [n for n in names if not n.startswith("correct")]
    assert sorted(bugs) == sorted(CASES)
    assert {"correct", "correct_segmented"} <= set(names)
    assert all(getattr(m, n).__doc__ for n in names)


@pytest.mark.parametrize("bug", sorted(CASES))
def test_the_mutant_breaks_the_contract_on_its_smallest_case(bug: str) -> None:
    calls, options = CASES[bug]
    assert complaint(getattr(rt7(), bug), calls, **options) is not None


@pytest.mark.parametrize("name", ["correct", "correct_segmented"])
def test_the_correct_candidates_match_the_oracle_on_every_case(name: str) -> None:
    fn = getattr(rt7(), name)
    for calls, options in list(CASES.values()) + EXTRA:
        rt7()._STATE.clear()
        assert complaint(fn, calls, **options) is None, calls[0]["mode"]

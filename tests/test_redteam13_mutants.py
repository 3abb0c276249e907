"""Red-team round 13 (benchmarks/redteam13_mutants.py, value-level coincidences inside each
input family): every planted bug is a real one. Each scenario ends with the bug's smallest
trigger, led by valid calls that are not: the bug is right on the lead-in and wrong on the
last; `correct` is right on every call. The oracle is reference.metadata; the error bugs are
judged by the error contract (exception type, argument named, out untouched).
"""

from __future__ import annotations

import random

import torch
from meta_fuzz_helpers import benchmark_module
from redteam_checks import decode_batch, poisoned, pool, strided, t, wrong_only_on_trigger
from redteam_checks import v2_ok as ok

import reference

M = benchmark_module("redteam13_mutants")
I32, I64 = torch.int32, torch.int64
VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
INT32_MAX = 2**31 - 1


def rejects(fn, exc, name, mode=DEC, s=None, r=None, *, topk=5, width=2, page_size=1,
            next_n=1, ext=None) -> bool:  # fmt: skip
    """Whether `fn` raises `exc` naming `name` and leaves `out` as it was."""
    s = t([5]) if s is None else s
    r = t([0]) if r is None else r
    out = poisoned(page_size=page_size if type(page_size) is int and page_size > 1 else 1)
    before = [None if b is None else b.clone() for b in out]
    try:
        fn(
            mode=mode, seq_lens=s, extend_seq_lens=ext, req_pool_indices=r,
            req_to_token=pool(), topk=topk, next_n=next_n, page_size=page_size,
            width=width, out=out,
        )  # fmt: skip
    except Exception as error:  # the type is judged below
        same = all((a is None and b is None) or torch.equal(a, b) for a, b in zip(before, out))
        return type(error) is exc and name in str(error) and same
    return False


# -- scenarios: each returns one verdict per call, the trigger last ----------------------


def s_var_uniform_ends_checked(fn):
    s, r = t([5, 6, 7]), t([0, 1, 2])
    return [ok(fn, VAR, s, r, ext=t([1, 1, 1])), ok(fn, VAR, s, r, ext=t([1, 0, 1]))]


def s_decode_uses_next_n(fn):
    return [ok(fn, DEC, t([5]), t([0])), ok(fn, DEC, t([5]), t([0]), next_n=2)]


def s_bs_exact_1024(fn):
    return [decode_batch(fn, 1023), decode_batch(fn, 1025), decode_batch(fn, 1024)]


def s_bs_16384_zero_T(fn):
    def zeros(bs):
        out = poisoned(bs_cap=bs, rows_cap=2)
        return ok(fn, VAR, t([1] * bs), t([0] * bs), ext=t([0] * bs), out=out)

    return [zeros(16383), zeros(16384)]


def s_next_n_scan_gt5(fn):
    s, r = t([5]), t([0])
    return [ok(fn, TV, s, r, next_n=4), ok(fn, TV, s, r, next_n=6), ok(fn, TV, s, r, next_n=5)]


def s_tv_n1_as_decode(fn):
    return [ok(fn, TV, t([5]), t([0]), next_n=2), ok(fn, TV, t([5]), t([0]), next_n=1)]


def s_zero_mid_owner_first(fn):
    s, r = t([5, 6]), t([0, 1])
    return [ok(fn, VAR, s, r, ext=t([1, 0])), ok(fn, VAR, s, r, ext=t([0, 1]))]


def s_zero_empty_slot_skipped(fn):
    return [ok(fn, VAR, t([1]), t([0]), ext=t([0])), ok(fn, VAR, t([0]), t([0]), ext=t([0]))]


def s_pad_s1_rows_one(fn):
    return [ok(fn, DE, t([1]), t([0]), next_n=1), ok(fn, DE, t([1]), t([0]), next_n=2)]


def s_pad_share_a1_unclamped(fn):
    s, r = t([2, 0]), t([0, 1])
    return [ok(fn, DE, s, r, next_n=2, topk=2), ok(fn, DE, s, r, next_n=2, topk=1)]


def s_topk_zero_dsa_zeros(fn):
    return [
        ok(fn, DE, t([1]), t([0]), next_n=2, topk=0),
        ok(fn, DE, t([0]), t([0]), next_n=2, topk=0),
    ]


def s_topk_fastpath_off_by_one(fn):
    return [ok(fn, DEC, t([2]), t([0]), topk=2), ok(fn, DEC, t([2]), t([0]), topk=1)]


def s_page_slice_stop_w_minus1(fn):
    return [
        ok(fn, DEC, t([5]), t([1]), width=2, page_size=2, out=poisoned(cols=4, page_size=2)),
        ok(fn, DEC, t([5]), t([1]), width=3, page_size=2, out=poisoned(cols=4, page_size=2)),
    ]


def s_page_n_pages_multiple_extra(fn):
    return [
        ok(fn, DEC, t([5]), t([1]), width=3, page_size=2, out=poisoned(cols=4, page_size=2)),
        ok(fn, DEC, t([5]), t([1]), width=2, page_size=2, out=poisoned(cols=4, page_size=2)),
    ]


def s_r2t_colmajor_last_row(fn):
    col_major = pool().t().contiguous().t()  # strides (1, 3)
    return [
        ok(fn, DEC, t([5]), t([2])),
        ok(fn, DEC, t([5]), t([1]), col_major),
        ok(fn, DEC, t([5]), t([2]), col_major),
    ]


def s_r2t_adjacent_run_first_e(fn):
    return [
        ok(fn, VAR, t([5, 6]), t([0, 1]), ext=t([1, 2])),
        ok(fn, VAR, t([5, 6]), t([0, 0]), ext=t([2, 2])),
        ok(fn, VAR, t([5, 6]), t([0, 0]), ext=t([1, 2])),
    ]


def s_mix_i64_seq_f32(fn):
    s = t([2**24 + 1], I64)
    return [ok(fn, DEC, s, t([0], I64)), ok(fn, DEC, s, t([0], I32))]


def s_mix_s_plus1_i32_then_i64(fn):
    e = t([1], I64)  # the wrapped row wraps back when written; its clamp by K does not
    return [
        ok(fn, VAR, t([INT32_MAX - 1]), t([0]), ext=e, topk=5),
        ok(fn, VAR, t([INT32_MAX], I64), t([0]), ext=e, topk=5),
        ok(fn, VAR, t([INT32_MAX]), t([0]), ext=e, topk=5),
    ]


def s_sum_eq_max_raises(fn):
    return [ok(fn, DEC, t([INT32_MAX - 1]), t([0])), ok(fn, DEC, t([INT32_MAX]), t([0]))]


def s_sum_neg_min_clamped(fn):
    def padded(first):  # request 1: kv 0, 65537 rows -65536 .. 0 (sum -2**31 - 32768)
        out = poisoned(bs_cap=2, rows_cap=65538, cols=1)
        return ok(fn, VAR, t([first, 0]), t([0, 1]), width=1, ext=t([1, 65537]), out=out)

    return [padded(32769), padded(32768)]


def s_state_owner_cached_by_T(fn):
    out, s, r = poisoned(), t([5, 6]), t([0, 1])
    return [
        ok(fn, VAR, s, r, ext=t([2, 1])),
        ok(fn, VAR, s, r, ext=t([1, 2]), out=out),
        ok(fn, VAR, s, r, ext=t([2, 1]), out=out),
    ]


def s_state_pt_skip_same_slots(fn):
    out = poisoned()
    return [
        ok(fn, DEC, t([5]), t([0]), pool(), out=out),
        ok(fn, DEC, t([5]), t([1]), pool(base=100), out=out),
        ok(fn, DEC, t([5]), t([1]), pool(base=200), out=out),
    ]


def s_out_se_offset_in_steps(fn):
    def strided(offset):
        return poisoned(seqlens_expanded=torch.empty(18, dtype=I32)[offset::2])

    return [ok(fn, DEC, t([5]), t([0]), out=strided(2)), ok(fn, DEC, t([5]), t([0]), out=strided(1))]  # fmt: skip


def s_out_rpt_row_stride_as_pages(fn):
    def call(bs):
        out = poisoned(cols=4, page_size=2)  # real_page_table 2 columns, 1 needed
        return ok(fn, DEC, t([5] * bs), t([1] * bs), width=2, page_size=2, out=out)

    return [call(1), call(2)]


def s_err_seq_i64_saturated(fn):
    return [
        ok(fn, DEC, t([5], I64), t([0])),
        rejects(fn, ValueError, "seq_lens", s=t([-1], I64)),
        rejects(fn, ValueError, "seq_lens", s=t([2**31], I64)),
    ]


def s_err_pool_negative_wraps(fn):
    return [
        ok(fn, DEC, t([5]), t([2])),
        rejects(fn, ValueError, "req_pool_indices", r=t([3])),
        rejects(fn, ValueError, "req_pool_indices", r=t([-1])),
    ]


def s_err_page_size_index_bool(fn):
    return [
        ok(fn, DEC, t([5]), t([0]), page_size=2),
        rejects(fn, TypeError, "page_size", page_size=2.0),
        rejects(fn, TypeError, "page_size", page_size=True),
    ]


def s_err_topk_msg_unnamed(fn):
    return [
        ok(fn, DEC, t([5]), t([0]), topk=INT32_MAX),
        rejects(fn, ValueError, "topk", topk=-1),
        rejects(fn, ValueError, "topk", topk=2**31),
    ]


def s_err_decode_writes_first(fn):
    return [
        ok(fn, DEC, t([5]), t([0])),
        rejects(fn, ValueError, "req_pool_indices", TV, r=t([3]), next_n=2),
        rejects(fn, ValueError, "req_pool_indices", DEC, r=t([3])),
    ]


BUGS = [name[4:] for name in M.BUGS]


def test_every_bug_has_a_scenario_and_a_hunt_entry():
    assert sorted(BUGS) == sorted(n[2:] for n in globals() if n.startswith("s_"))
    assert len(BUGS) >= 24
    assert [name for name, *_ in M.HUNT] == ["correct", "correct_errors", *M.BUGS]
    errors = {name for name, *rest in M.HUNT if rest[2:] == [["--check-errors"]]}
    assert errors == {"correct_errors", *(f"bug_{b}" for b in BUGS if b.startswith("err_"))}


def test_every_bug_is_wrong_only_on_its_trigger():
    for name in BUGS:
        wrong_only_on_trigger(M, globals()[f"s_{name}"], name)


# -- the correct candidate on varied inputs -----------------------------------------------


def test_correct_matches_the_oracle_on_varied_inputs():
    rng = random.Random(13)
    shared = poisoned(bs_cap=40, rows_cap=300, cols=130, page_size=3)
    for _ in range(60):
        mode = rng.choice(reference.MODES)
        bs, n = rng.choice([0, 1, 2, 5, 33]), rng.randint(1, 8)
        P, width = rng.choice([1, 2, 3, 64]), rng.choice([1, 2, 3, 63, 64, 65, 128])
        ext = [rng.choice([0, 1, 3, 8]) for _ in range(bs)] if mode == VAR else None
        seq = [rng.choice([0, 1, 2, 7, 2**24 + 1]) for _ in range(bs)]  # sums in int32
        r2t = (7 * torch.arange(4 * 130, dtype=I32).reshape(4, 130)) % 1000
        if rng.random() < 0.5:
            r2t = r2t.t().contiguous().t()[:, 1:]  # column-major, with an offset
        r = [rng.choice([0, 3, 3, 1]) for _ in range(bs)]
        out = shared if P == 3 and rng.random() < 0.7 else poisoned(40, 300, 130, P)
        assert ok(
            M.correct, mode, strided(seq, rng.choice([I32, I64]), rng),
            strided(r, rng.choice([I32, I64]), rng), r2t,
            topk=rng.choice([0, 1, 3, 2048, INT32_MAX]), width=width, page_size=P, next_n=n,
            ext=None if ext is None else strided(ext, rng.choice([I32, I64]), rng), out=out,
        ), (mode, seq, r, ext, width, P, n)  # fmt: skip

"""Red-team round 12 (benchmarks/redteam12_mutants.py, Triton kernels in upstream's style):
every planted bug is a real one. Each scenario ends with the bug's smallest trigger, led by
a valid call that is not a trigger: the bug is right on the lead-in and wrong on the last;
`correct` is right on every call. The oracle is reference.metadata.
"""

from __future__ import annotations

import random

import pytest
import torch
from meta_fuzz_helpers import benchmark_module
from redteam_checks import decode_batch, exact, poisoned, pool, strided, t, wrong_only_on_trigger
from redteam_checks import v2_ok as ok

import reference

M = benchmark_module("redteam12_mutants")
I32, I64 = torch.int32, torch.int64
VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
INT32_MAX = 2**31 - 1


# -- scenarios: each returns one verdict per call, the trigger last ----------------------


def s_tv_rows_from_seq(fn):
    return [ok(fn, DEC, t([5]), t([0])), ok(fn, TV, t([5]), t([0]), next_n=1)]


def s_de_skip_padded(fn):
    return [ok(fn, DE, t([2]), t([0])), ok(fn, DE, t([1]), t([0]))]


def s_decode_dcu_unclamped(fn):
    return [ok(fn, DEC, t([5]), t([0]), topk=5), ok(fn, DEC, t([5]), t([0]), topk=3)]


def s_var_start_fixed(fn):
    s, r = t([5, 6]), t([0, 1])
    return [ok(fn, VAR, s, r, ext=t([2, 2])), ok(fn, VAR, s, r, ext=t([1, 2]))]


def s_bs0_early_return(fn):
    return [ok(fn, DEC, t([5]), t([0])), ok(fn, DEC, t([]), t([]))]


def s_decode_grid32(fn):
    return [decode_batch(fn, 32), decode_batch(fn, 33)]


def s_bs_carry_1024(fn):
    return [decode_batch(fn, 1024), decode_batch(fn, 1025)]


def s_bs_static_16384(fn):
    return [decode_batch(fn, 16384), decode_batch(fn, 16385)]


def s_next_n_tile4(fn):
    return [ok(fn, TV, t([5]), t([0]), next_n=4), ok(fn, TV, t([5]), t([0]), next_n=5)]


def s_next_n_shift(fn):
    s, r = t([5, 6]), t([0, 1])
    return [ok(fn, DE, s, r, next_n=2), ok(fn, DE, s, r, next_n=3)]


def s_var_all_zero_dcu0(fn):
    return [ok(fn, VAR, t([5, 6]), t([0, 1]), ext=t([0, 1])), ok(fn, VAR, t([5]), t([0]), ext=t([0]))]  # fmt: skip


def s_var_zero_row_spill(fn):
    s, r = t([5, 6]), t([0, 1])
    return [ok(fn, VAR, s, r, ext=t([0, 1])), ok(fn, VAR, s, r, ext=t([1, 0]))]


def s_pad_clamp_dsa_zero(fn):
    return [ok(fn, DE, t([1]), t([0]), next_n=2), ok(fn, DE, t([0]), t([0]), next_n=2)]


def s_pad_share_zeroed(fn):
    r = t([0, 1])
    return [ok(fn, DE, t([2, 5]), r, next_n=2), ok(fn, DE, t([0, 5]), r, next_n=2)]


def s_topk_eq_double(fn):
    s, r = t([5, 1]), t([0, 1])
    return [ok(fn, DEC, s, r, topk=4), ok(fn, DEC, s, r, topk=5)]


def s_topk_fastpath_seq_max(fn):
    return [
        ok(fn, TV, t([5]), t([0]), next_n=2, topk=7),
        ok(fn, TV, t([5]), t([0]), next_n=2, topk=6),
    ]


def s_page_shift(fn):
    return [
        ok(fn, DEC, t([5]), t([1]), width=1, page_size=2),
        ok(fn, DEC, t([5]), t([1]), width=1, page_size=3),
    ]


def s_page_cols_floor(fn):
    return [
        ok(fn, DEC, t([5]), t([1]), width=2, page_size=2),
        ok(fn, DEC, t([5]), t([1]), width=1, page_size=2),
    ]


def s_r2t_col_stride1(fn):
    r2t = pool().t().contiguous().t()  # column-major: strides (1, 3)
    return [ok(fn, DEC, t([5]), t([1]), r2t, width=1), ok(fn, DEC, t([5]), t([1]), r2t, width=2)]


def s_pool_last_as_pad(fn):
    return [ok(fn, DEC, t([5]), t([1])), ok(fn, DEC, t([5]), t([2]))]


def s_mix_r_as_seq_dtype(fn):
    return [
        ok(fn, DEC, t([5, 6], I64), t([1, 1], I64)),
        ok(fn, DEC, t([5, 6], I32), t([1, 1], I64)),
    ]


def s_mix_ext_as_seq_dtype(fn):
    r = t([0, 1])
    return [
        ok(fn, VAR, t([5, 6], I64), r, ext=t([1, 2], I64)),
        ok(fn, VAR, t([5, 6], I32), r, ext=t([1, 2], I64)),
    ]


def s_i32_series_double(fn):
    r = t([0, 1])
    return [ok(fn, DEC, t([2**30 - 1, 1]), r), ok(fn, DEC, t([2**30, 1]), r)]


def s_i32_topk_gap(fn):
    s, r = t([0, 5]), t([0, 1])
    return [ok(fn, DEC, s, r, topk=INT32_MAX - 1), ok(fn, DEC, s, r, topk=INT32_MAX)]


def s_state_max_e_baked(fn):
    out = poisoned()
    return [
        ok(fn, VAR, t([5]), t([0]), ext=t([2])),
        ok(fn, VAR, t([5]), t([0]), ext=t([1]), out=out),
        ok(fn, VAR, t([5]), t([0]), ext=t([2]), out=out),
    ]


def s_state_topk_fastpath_baked(fn):
    out = poisoned()
    return [
        ok(fn, DEC, t([9]), t([0]), topk=8),
        ok(fn, DEC, t([5]), t([0]), topk=8, out=out),
        ok(fn, DEC, t([9]), t([0]), topk=8, out=out),
    ]


def s_out_cols_to_buffer_width(fn):
    return [
        ok(fn, DEC, t([5]), t([0]), width=4, out=poisoned(cols=4)),
        ok(fn, DEC, t([5]), t([0]), width=2, out=poisoned(cols=4)),
    ]


def s_out_row_past_T(fn):
    return [ok(fn, DEC, t([5]), t([0]), out=exact(1, 1, 2)), ok(fn, DEC, t([5]), t([0]))]


def s_out_pt_row_stride_as_width(fn):
    s, r = t([5]), t([0])
    return [
        ok(fn, DE, s, r, next_n=2, width=2, out=exact(1, 2, 2)),
        ok(fn, DE, s, r, next_n=2, width=2, out=poisoned(cols=4)),
    ]


def s_out_dcu_stride1(fn):
    strided = poisoned(dsa_cu_seqlens_k=torch.empty(18, dtype=I32)[::2])
    return [ok(fn, DEC, t([5]), t([0])), ok(fn, DEC, t([5]), t([0]), out=strided)]


SLOW = {"bs_static_16384"}  # bs 16385 through the interpreter
BUGS = [name[4:] for name in M.BUGS]


def test_every_bug_has_a_scenario_and_a_hunt_entry():
    assert sorted(BUGS) == sorted(n[2:] for n in globals() if n.startswith("s_"))
    assert len(BUGS) >= 18
    assert [name for name, *_ in M.HUNT] == ["correct", *M.BUGS]


def _check(name: str) -> None:
    wrong_only_on_trigger(M, globals()[f"s_{name}"], name)


@pytest.mark.parametrize("name", [n for n in BUGS if n not in SLOW])
def test_bug_is_wrong_only_on_its_trigger(name):
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_bug_is_wrong_only_on_its_trigger(name):
    _check(name)


# -- the correct kernel on varied inputs ---------------------------------------------------


def test_correct_matches_the_oracle_on_varied_inputs():
    rng = random.Random(12)
    shared = poisoned(bs_cap=40, rows_cap=200, cols=70, page_size=2)
    for _ in range(40):
        mode = rng.choice(reference.MODES)
        bs, n, P = rng.choice([0, 1, 2, 5, 33]), rng.choice([1, 2, 3, 5]), rng.choice([1, 2, 3])
        width = rng.choice([1, 2, 5, 65])
        ext = [rng.choice([0, 1, 3, 17]) for _ in range(bs)] if mode == VAR else None
        seq = [rng.choice([0, 1, 7, 2**24 + 1, 2**25]) for _ in range(bs)]  # sums in int32
        r2t = (7 * torch.arange(4 * 70, dtype=I32).reshape(4, 70)) % 1000
        if rng.random() < 0.5:
            r2t = r2t.t().contiguous().t()[:, 1:]  # column-major, with an offset
        r = [rng.choice([0, 3, 3, 1]) for _ in range(bs)]
        out = shared if P == 2 and rng.random() < 0.7 else poisoned(40, 200, 70, P)
        assert ok(
            M.correct, mode, strided(seq, rng.choice([I32, I64]), rng),
            strided(r, rng.choice([I32, I64]), rng), r2t,
            topk=rng.choice([0, 3, 2048, INT32_MAX]), width=width, page_size=P, next_n=n,
            ext=None if ext is None else strided(ext, rng.choice([I32, I64]), rng), out=out,
        ), (mode, seq, r, ext, width, P, n)  # fmt: skip

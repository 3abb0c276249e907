"""Red-team round 11 (benchmarks/redteam11_mutants.py): every planted bug is a real one. Each
scenario is the bug's smallest trigger (a call sequence for the state bugs), led by calls
that are not triggers: the mutant is right on those and wrong on the last; the correct
candidates are right on every call. The oracles are reference.expand / reference.metadata.
"""

from __future__ import annotations

import random

import pytest
import redteam_checks as checks
import torch
from meta_fuzz_helpers import benchmark_module
from redteam_checks import poisoned, pool, t

import reference

M = benchmark_module("redteam11_mutants")
I32, I64 = torch.int32, torch.int64
VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
INT32_MAX = 2**31 - 1


def v1_ok(fn, ext, seq, topk) -> bool:
    """Whether `fn` gives the oracle's outputs (int32, on the device) and keeps its inputs."""
    before = (ext.clone(), seq.clone())
    want = reference.expand(ext.tolist(), seq.tolist(), topk)
    try:
        got = fn(ext, seq, topk)
    except Exception:  # a raise on a valid input is a failure too
        return False
    kept = torch.equal(before[0], ext) and torch.equal(before[1], seq)
    return kept and all(
        g.dtype == I32 and g.device == seq.device and g.tolist() == w
        for g, w in zip(got, want, strict=True)
    )


def v2_ok(fn, mode, s, r, r2t, **kw) -> bool:
    return checks.v2_ok(fn, mode, s, r, r2t, fits=True, **kw)


# -- scenarios: each returns one verdict per call, the trigger last ----------------------


def s_v1_starts_cached_by_ptr(fn):
    ext, seq = t([1, 1]), t([5, 6])
    first = v1_ok(fn, ext, seq, 9)
    ext.copy_(t([2, 1]))  # refilled in place, same bs
    return [first, v1_ok(fn, ext, seq, 9)]


def s_v1_skip_same_extends(fn):
    return [v1_ok(fn, t([1, 2]), t([5, 6]), 9), v1_ok(fn, t([1, 2]), t([7, 8]), 9)]


def s_v1_topk_baked(fn):
    return [v1_ok(fn, t([2]), t([5]), 9), v1_ok(fn, t([2]), t([5]), 4)]


def s_v1_scratch_not_cleared(fn):
    return [v1_ok(fn, t([1, 1, 1]), t([3, 3, 3]), 9), v1_ok(fn, t([1]), t([3]), 9)]


def s_v1_seq_mirror_by_ptr(fn):
    ext, seq = t([1, 1]), t([5, 6])
    first = v1_ok(fn, ext, seq, 9)
    seq.copy_(t([7, 8]))
    return [first, v1_ok(fn, ext, seq, 9)]


def s_v1_offset_dropped_when_strided(fn):
    base = t([5, 100, 6, 101, 7])
    return [v1_ok(fn, t([1, 1]), base[0:4:2], 9), v1_ok(fn, t([1, 1]), base[1:4:2], 9)]


def s_v1_stride0_as_unit(fn):
    base = t([2, 7, 7])
    return [
        v1_ok(fn, base[:1].expand(1), t([5]), 9),
        v1_ok(fn, base[:1].expand(3), t([5, 6, 7]), 9),
    ]


def s_v1_clamp_float_bound(fn):
    return [
        v1_ok(fn, t([1]), t([2**24]), INT32_MAX),
        v1_ok(fn, t([1]), t([2**24 + 1]), INT32_MAX),
    ]


def s_v1_topk_zero_default(fn):
    return [v1_ok(fn, t([1]), t([5]), 1), v1_ok(fn, t([1]), t([5]), 0)]


def s_v1_topk_exclusive_bound(fn):
    return [
        v1_ok(fn, t([1]), t([5], I64), INT32_MAX),
        v1_ok(fn, t([1]), t([5], I32), INT32_MAX),
    ]


def s_v1_mixed_reads_int64_as_int32(fn):
    return [
        v1_ok(fn, t([1, 1], I64), t([5, 6], I64), 9),
        v1_ok(fn, t([1, 1], I64), t([5, 6], I32), 9),
    ]


def s_v2_row_plan_by_bs(fn):
    r, r2t = t([0, 1]), pool()
    return [
        v2_ok(fn, VAR, t([5, 6]), r, r2t, ext=t([1, 2])),
        v2_ok(fn, VAR, t([5, 6]), r, r2t, ext=t([2, 1])),
    ]


def s_v2_gather_cache_by_ptr(fn):
    r, r2t, out = t([0, 1]), pool(), poisoned()
    first = v2_ok(fn, DEC, t([5, 6]), r, r2t, out=out)
    r2t.add_(100)  # the pool refilled in place
    return [first, v2_ok(fn, DEC, t([5, 6]), r, r2t, out=out)]


def s_v2_next_n_baked(fn):
    out = poisoned()
    return [
        v2_ok(fn, TV, t([5, 6]), t([0, 1]), pool(), next_n=2, out=out),
        v2_ok(fn, TV, t([5, 6]), t([0, 1]), pool(), next_n=3, out=out),
    ]


def s_v2_page_size_baked(fn):
    out = poisoned(page_size=2)
    return [
        v2_ok(fn, DEC, t([5]), t([1]), pool(), width=4, page_size=2, out=out),
        v2_ok(fn, DEC, t([5]), t([1]), pool(), width=4, page_size=4, out=out),
    ]


def s_v2_skip_lengths_same_T(fn):
    out = poisoned()
    return [
        v2_ok(fn, DEC, t([5]), t([0]), pool(), out=out),
        v2_ok(fn, DEC, t([6]), t([0]), pool(), out=out),
    ]


def s_v2_width_baked(fn):
    out = poisoned()
    return [
        v2_ok(fn, DEC, t([5]), t([0]), pool(), width=2, out=out),
        v2_ok(fn, DEC, t([5]), t([0]), pool(), width=3, out=out),
    ]


def s_v2_scratch_not_cleared(fn):
    out = poisoned()
    return [
        v2_ok(fn, DEC, t([5, 6, 7]), t([0, 1, 2]), pool(), out=out),
        v2_ok(fn, DEC, t([5]), t([0]), pool(), out=out),
    ]


def s_v2_r2t_col_stride_as_1(fn):
    r2t = pool(3, 4).t().contiguous().t()  # column-major: stride (1, 3)
    return [
        v2_ok(fn, DEC, t([5]), t([1]), r2t, width=1),
        v2_ok(fn, DEC, t([5]), t([1]), r2t, width=2),
    ]


def s_v2_r2t_row_padded_offset(fn):
    big = pool(4, 6)
    return [
        v2_ok(fn, DEC, t([5]), t([1]), big[:, :4]),
        v2_ok(fn, DEC, t([5]), t([1]), big[1:, :4]),
    ]


def s_v2_r2t_col_major_offset(fn):
    base = pool(4, 4).t().contiguous()  # [cols, pool]; .t() is [pool, cols], stride (1, 4)
    return [
        v2_ok(fn, DEC, t([5]), t([1]), base.t()),
        v2_ok(fn, DEC, t([5]), t([1]), base.t()[1:]),
    ]


def s_v2_out_pt_row_stride(fn):
    def out():
        return poisoned(page_table_1=torch.empty(8, 7, dtype=I32)[:, :4])

    return [
        v2_ok(fn, DEC, t([5]), t([1]), pool(), out=out()),
        v2_ok(fn, DEC, t([5, 6]), t([1, 2]), pool(), out=out()),
    ]


def s_v2_out_real_pt_offset(fn):
    return [
        v2_ok(fn, DEC, t([5]), t([1]), pool(), width=4, page_size=2),
        v2_ok(fn, DEC, t([5]), t([1]), pool(), width=4, page_size=2,
              out=poisoned(page_size=2, real_page_table=torch.empty(9, 2, dtype=I32)[1:])),
    ]  # fmt: skip


def s_v2_out_dsa_cu_stride(fn):
    return [
        v2_ok(fn, DEC, t([5]), t([1]), pool()),
        v2_ok(fn, DEC, t([5]), t([1]), pool(),
              out=poisoned(dsa_cu_seqlens_k=torch.empty(18, dtype=I32)[::2])),
    ]  # fmt: skip


def s_v2_slot_indexed_lengths(fn):
    return [
        v2_ok(fn, DEC, t([5, 6]), t([0, 1]), pool()),
        v2_ok(fn, DEC, t([5, 6]), t([1, 1]), pool()),
    ]


def s_v2_slot0_is_padding(fn):
    return [
        v2_ok(fn, DEC, t([5]), t([1]), pool(base=1)),
        v2_ok(fn, DEC, t([5]), t([0]), pool(base=1)),
    ]


def s_v2_mixed_pool_index_words(fn):
    return [
        v2_ok(fn, DEC, t([5, 6]), t([1, 1], I32), pool()),
        v2_ok(fn, DEC, t([5, 6], I64), t([1, 1], I64), pool()),
        v2_ok(fn, DEC, t([5, 6], I32), t([1, 1], I64), pool()),
    ]


def s_v2_series_sum_int32(fn):
    return [
        v2_ok(fn, DEC, t([2**29]), t([0]), pool()),
        v2_ok(fn, DEC, t([2**30], I64), t([0]), pool()),
        v2_ok(fn, DEC, t([2**30], I32), t([0]), pool()),
    ]


def s_v2_topk_zero_disabled(fn):
    return [
        v2_ok(fn, DE, t([5]), t([0]), pool(), topk=1, next_n=2),
        v2_ok(fn, DE, t([5]), t([0]), pool(), topk=0, next_n=2),
    ]


def s_v2_int64_seq_inplace(fn):
    return [
        v2_ok(fn, TV, t([5], I32), t([0]), pool(), next_n=2),
        v2_ok(fn, DE, t([5], I64), t([0]), pool(), next_n=2),
        v2_ok(fn, TV, t([5], I64), t([0]), pool(), next_n=2),
    ]


BUGS = [name for name, op, _ in M.HUNT if not name.startswith("correct")]


def test_every_bug_has_a_scenario():
    assert sorted(BUGS) == sorted(n[2:] for n in globals() if n.startswith("s_"))
    assert len(BUGS) == 30


@pytest.mark.parametrize("name", BUGS)
def test_bug_is_wrong_only_on_its_trigger(name):
    op = dict((n, o) for n, o, _ in M.HUNT)[name]
    scenario = globals()[f"s_{name}"]
    M.reset()
    got = scenario(getattr(M, name))
    assert got == [True] * (len(got) - 1) + [False], f"{name}: {got}"
    M.reset()
    correct = M.correct_v1 if op == "expand" else M.correct_v2
    assert scenario(correct) == [True] * len(got), f"correct on {name}'s scenario"


# -- the correct candidates on varied inputs, one sequence of calls ----------------------


def _strided(values: list[int], dtype, rng: random.Random) -> torch.Tensor:
    """`values` as int32/int64 in one of: contiguous, a step-2 view with an offset, or (when
    all equal) an expanded stride-0 view."""
    kind = rng.choice(["plain", "step", "expand"])
    if kind == "expand" and values and len(set(values)) == 1:
        return torch.tensor(values[:1], dtype=dtype).expand(len(values))
    if kind == "step":
        base = torch.full((2 * len(values) + 1,), 9, dtype=dtype)
        base[1::2] = torch.tensor(values, dtype=dtype)
        return base[1::2]
    return torch.tensor(values, dtype=dtype)


def test_correct_v1_matches_the_oracle_on_varied_inputs():
    rng = random.Random(11)
    M.reset()
    for _ in range(40):
        bs = rng.choice([0, 1, 2, 3, 5, 33])
        ext = [rng.choice([0, 1, 2, 4]) for _ in range(bs)]
        if rng.random() < 0.3:
            ext = [ext[0]] * bs if bs else ext
        seq = [rng.choice([0, 1, 3, 40, 2**24 + 1, INT32_MAX]) for _ in range(bs)]
        topk = rng.choice([0, 1, 5, 2048, INT32_MAX])
        e = _strided(ext, rng.choice([I32, I64]), rng)
        s = _strided(seq, rng.choice([I32, I64]), rng)
        assert v1_ok(M.correct_v1, e, s, topk), (ext, seq, topk)


def test_correct_v2_matches_the_oracle_on_varied_inputs():
    rng = random.Random(11)
    M.reset()
    shared = poisoned(bs_cap=6, rows_cap=32, cols=6, page_size=2)
    for _ in range(40):
        mode = rng.choice(reference.MODES)
        bs, n, P = rng.choice([0, 1, 2, 5]), rng.choice([1, 2, 3]), rng.choice([1, 2, 3])
        width = rng.choice([1, 2, 4, 5])
        ext = [rng.choice([0, 1, 3]) for _ in range(bs)] if mode == VAR else None
        seq = [rng.choice([0, 1, 7, 2**24 + 1, 2**27]) for _ in range(bs)]  # sums in int32
        r2t = pool(4, 6, base=rng.choice([0, 1]))
        if rng.random() < 0.5:
            r2t = r2t.t().contiguous().t()[:, 1:]  # column-major, with an offset
        r = [rng.choice([0, 3, 3, 1]) for _ in range(bs)]
        out = shared if P == 2 and rng.random() < 0.7 else poisoned(6, 32, 6, P)
        assert v2_ok(
            M.correct_v2, mode, _strided(seq, rng.choice([I32, I64]), rng),
            _strided(r, rng.choice([I32, I64]), rng), r2t,
            topk=rng.choice([0, 3, 2048, INT32_MAX]), width=width, page_size=P, next_n=n,
            ext=None if ext is None else _strided(ext, rng.choice([I32, I64]), rng), out=out,
        ), (mode, seq, r, ext, width, P, n)  # fmt: skip

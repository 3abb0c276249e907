"""Red-team round 14 (benchmarks/redteam14_mutants.py, slips keyed on identity, layout and
process): every planted bug is a real one. Each scenario ends with the bug's smallest
trigger, led by valid calls that are not: the bug is right on the lead-in and wrong on the
last; `correct` and `correct_rewrites` are right on every call. The oracle is
reference.metadata (through redteam_checks.v2_ok: the exact region written, the rest and the
inputs kept). Buffers a scenario reuses are made first and kept alive, so that no cache is
hit by a new buffer at a freed address.
"""

from __future__ import annotations

import random
import struct

import torch
from meta_fuzz_helpers import benchmark_module
from redteam_checks import poisoned, pool, strided, t, wrong_only_on_trigger
from redteam_checks import v2_ok as ok

import reference

M = benchmark_module("redteam14_mutants")
I32, I64 = torch.int32, torch.int64
VAR, DE, TV, DEC = "draft_extend_var", "draft_extend", "target_verify", "decode"
INT32_MAX = 2**31 - 1


def col_major(n=3, cols=4) -> torch.Tensor:
    """pool(n, cols) stored column by column: strides (1, n)."""
    return pool(n, cols).t().contiguous().t()


# -- layout ---------------------------------------------------------------------------------


def s_seq_align_down(fn):
    aligned = t([9, 9, 9, 9, 5])[4:]  # 16 bytes in
    assert aligned.data_ptr() % 16 == 0
    return [
        ok(fn, DEC, aligned, t([0])),
        ok(fn, DEC, t([9, 5, 9, 6])[1::2], t([0, 1])),  # misaligned but strided: slow path
        ok(fn, DEC, t([9, 5])[1:], t([0])),
    ]


def s_cu_misaligned_peel(fn):
    def cu(buf):
        return poisoned(cu_seqlens_k=buf)

    return [
        ok(fn, DEC, t([5]), t([0]), out=cu(torch.empty(9, dtype=I32)[4:])),
        ok(fn, DEC, t([5]), t([0]), out=cu(torch.empty(16, dtype=I32)[1::2])),
        ok(fn, DEC, t([5]), t([0]), out=cu(torch.empty(8, dtype=I32)[3:])),
    ]


def s_r2t_offset_slowpath(fn):
    full = torch.arange(12, dtype=I32).reshape(3, 4)
    return [
        ok(fn, DEC, t([5]), t([0]), full[1:], width=1),  # contiguous, offset 4
        ok(fn, DEC, t([5]), t([1]), full[:, :2], width=1),  # strided, no offset
        ok(fn, DEC, t([5]), t([0]), torch.arange(8, dtype=I32).reshape(2, 4)[:, 1:], width=1),
    ]


def s_pool_stride0_as_one(fn):
    return [
        ok(fn, DEC, t([5]), t([1]).expand(1)),
        ok(fn, DEC, t([5, 5]), t([1, 1])),
        ok(fn, DEC, t([5, 5]), t([1]).expand(2)),
    ]


def s_r2t_strides_sorted(fn):
    return [
        ok(fn, DEC, t([5]), t([1]), pool(), width=1),
        ok(fn, DEC, t([5]), t([0]), col_major(), width=1),
        ok(fn, DEC, t([5]), t([1]), col_major(), width=1),
    ]


def s_pt_out_stride_from_shape(fn):
    def sliced():
        return poisoned(page_table_1=torch.empty(8, 6, dtype=I32)[:, :4])

    return [
        ok(fn, DEC, t([5]), t([1]), out=sliced()),  # one row: no stride used
        ok(fn, DEC, t([5, 5]), t([0, 1])),  # contiguous
        ok(fn, DEC, t([5, 5]), t([0, 1]), out=sliced()),
    ]


def s_pt_out_colmajor_rows_as_T(fn):
    def fortran(rows, cols=4):
        return poisoned(page_table_1=torch.empty(cols, rows, dtype=I32).t())

    return [
        ok(fn, DEC, t([5]), t([1]), width=1, out=fortran(8)),  # one column
        ok(fn, DEC, t([5, 5]), t([0, 1]), out=fortran(2)),  # exactly T rows
        ok(fn, DEC, t([5]), t([1]), out=fortran(8)),
    ]


def s_i64_strided_words(fn):
    s, r = t([5, 5]), t([0, 1])
    return [
        ok(fn, VAR, s, r, ext=t([1, 2], I64)),
        ok(fn, VAR, s, r, ext=t([1, 7, 2])[::2]),  # int32 strided
        ok(fn, VAR, s, r, ext=t([1, 7, 2], I64)[::2]),
    ]


def s_arena_assumed_adjacent(fn):
    def arena(cache, cu):
        memory = torch.empty(20, dtype=I32)
        return poisoned(cache_seqlens=memory[cache], cu_seqlens_k=memory[cu])

    return [
        ok(fn, DEC, t([5]), t([0])),
        ok(fn, DEC, t([5]), t([0]), out=arena(slice(0, 1), slice(1, 3))),  # adjacent
        ok(fn, DEC, t([5]), t([0]), out=arena(slice(0, 4), slice(10, 15))),
    ]


# -- the n-th call of the process -------------------------------------------------------


def s_every_third_call(fn):
    return [ok(fn, DEC, t([5]), t([0])), ok(fn, TV, t([5]), t([1]), next_n=2),
            ok(fn, DEC, t([5]), t([0]))]  # fmt: skip


def s_call_50_plus(fn):
    lead = [ok(fn, DEC, t([5 + i % 7]), t([i % 3])) for i in range(M.STEADY_CALL - 1)]
    return [*lead, ok(fn, DEC, t([5]), t([0]))]


# -- caches keyed on identity -------------------------------------------------------------


def s_cache_pt_by_ptrs(fn):
    r, r2t, out = t([0]), pool(), poisoned()
    calls = [ok(fn, DEC, t([5]), r, r2t, out=out), ok(fn, DEC, t([6]), r, r2t, out=out)]
    r2t.add_(100)  # SGLang's replay: the static input refilled in place
    return [*calls, ok(fn, DEC, t([5]), r, r2t, out=out)]


def s_cache_kv_by_id(fn):
    s = t([5])
    calls = [ok(fn, DEC, s, t([0])), ok(fn, DEC, s, t([1])), ok(fn, DEC, t([6]), t([0]))]
    s[0] = 6
    return [*calls, ok(fn, DEC, s, t([0]))]


def s_cache_owner_by_out_T(fn):
    out, other = poisoned(), poisoned()
    s, r = t([5, 6]), t([0, 1])
    return [
        ok(fn, VAR, s, r, ext=t([2, 1]), out=out),
        ok(fn, VAR, s, r, ext=t([1, 2]), out=other),
        ok(fn, VAR, s, r, ext=t([2, 2]), out=out),
        ok(fn, VAR, s, r, ext=t([1, 2]), out=out),
    ]


def s_cache_by_ptr_version(fn):
    memory = bytearray(4)
    memory[:] = struct.pack("<i", 5)
    first = torch.frombuffer(memory, dtype=I32)  # version 0
    calls = [ok(fn, DEC, first, t([0]))]
    first.copy_(t([6]))  # a refill that bumps the version: missed by the cache, right
    calls.append(ok(fn, DEC, first, t([0])))
    memory[:] = struct.pack("<i", 7)
    again = torch.frombuffer(memory, dtype=I32)  # a new tensor at the same address, version 0
    return [*calls, ok(fn, DEC, again, t([0]))]


def s_dtype_spec_by_out_ptr(fn):
    out, other = poisoned(), poisoned()
    return [
        ok(fn, DEC, t([5, 6]), t([0, 1]), out=out),
        ok(fn, DEC, t([7, 8]), t([0, 1]), out=out),
        ok(fn, DEC, t([5, 6], I64), t([0, 1]), out=other),
        ok(fn, DEC, t([5, 6], I64), t([0, 1]), out=out),
    ]


def s_pages_cached_per_out(fn):
    out = poisoned(cols=4, page_size=2)  # real_page_table: 2 columns
    s = t([5])
    return [
        ok(fn, DEC, s, t([0]), width=4, page_size=2, out=out),
        ok(fn, DEC, s, t([1]), width=4, page_size=2, out=out),
        ok(fn, DEC, s, t([0]), width=4, page_size=4, out=poisoned(cols=4, page_size=2)),
        ok(fn, DEC, s, t([0]), width=4, page_size=4, out=out),
    ]


def s_width_cached_per_out(fn):
    out = poisoned()
    return [
        ok(fn, DEC, t([5]), t([0]), out=out),
        ok(fn, DEC, t([5]), t([2]), out=out),
        ok(fn, DEC, t([5]), t([1]), width=1),
        ok(fn, DEC, t([5]), t([1]), width=1, out=out),
    ]


def s_topk_spec_by_out(fn):
    out = poisoned()
    return [
        ok(fn, DEC, t([5]), t([0]), topk=8, out=out),
        ok(fn, DEC, t([7]), t([0]), topk=8, out=out),
        ok(fn, DEC, t([5]), t([0]), topk=2),
        ok(fn, DEC, t([5]), t([0]), topk=2, out=out),
    ]


# -- capacity -------------------------------------------------------------------------------


def s_exact_dsa_cu_no_zero(fn):
    return [
        ok(fn, DEC, t([5]), t([0])),
        ok(fn, VAR, t([5]), t([0]), ext=t([1]), out=poisoned(rows_cap=3)),
        ok(fn, DEC, t([5]), t([0]), out=poisoned(bs_cap=1, rows_cap=1, cols=2)),
    ]


def s_block4_tail_when_padded(fn):
    return [
        ok(fn, DEC, t([5] * 4), t([0, 1, 2, 0]), out=poisoned(rows_cap=4)),
        ok(fn, DEC, t([5]), t([0]), out=poisoned(rows_cap=8)),
        ok(fn, DEC, t([5]), t([0]), out=poisoned(rows_cap=4)),
    ]


def s_scratch_last_row_kept(fn):
    return [
        ok(fn, DEC, t([5]), t([1])),
        ok(fn, DEC, t([5, 5]), t([0, 1]), out=poisoned(rows_cap=2)),
        ok(fn, DEC, t([5]), t([1]), out=poisoned(rows_cap=2)),
    ]


# -- the tests ------------------------------------------------------------------------------

SPECIAL = {"first_call_warmup", "random_third"}  # wrong on call 1; wrong at random
BUGS = [name[4:] for name in M.BUGS]


def test_every_bug_has_a_scenario_and_a_hunt_entry():
    scenarios = {n[2:] for n in globals() if n.startswith("s_")}
    assert sorted(set(BUGS) - SPECIAL) == sorted(scenarios)
    assert len(BUGS) >= 20
    assert [name for name, *_ in M.HUNT] == ["correct", "correct_rewrites", *M.BUGS]
    assert all(op == "metadata" and len(rest) == 1 for _, op, *rest in M.HUNT)


def test_every_bug_is_wrong_only_on_its_trigger():
    for name in sorted(set(BUGS) - SPECIAL):
        wrong_only_on_trigger(M, globals()[f"s_{name}"], name)


def test_correct_rewrites_is_right_on_every_scenario():
    for name in sorted(set(BUGS) - SPECIAL):
        M.reset()
        got = globals()[f"s_{name}"](M.correct_rewrites)
        assert got == [True] * len(got), f"correct_rewrites on {name}: {got}"


def test_first_call_warmup_is_wrong_only_on_the_first_call():
    for fn, want in ((M.bug_first_call_warmup, [False, True, True]),
                     (M.correct, [True] * 3), (M.correct_rewrites, [True] * 3)):  # fmt: skip
        M.reset()
        assert [ok(fn, DEC, t([5]), t([0])), ok(fn, DEC, t([5]), t([0])),
                ok(fn, TV, t([5]), t([1]), next_n=2)] == want, fn.__name__  # fmt: skip


def test_random_third_is_wrong_on_some_calls_only():
    for seed in (0, 1, 2):
        M.reset(seed)
        got = [ok(M.bug_random_third, DEC, t([5]), t([i % 3])) for i in range(30)]
        assert 3 <= got.count(False) <= 20, (seed, got)
    for fn in (M.correct, M.correct_rewrites):
        M.reset(0)
        assert all(ok(fn, DEC, t([5]), t([i % 3])) for i in range(30))


def test_rewrites_really_write_outside_the_region():
    """correct_rewrites' extra writes happen (a spy on the scratch row sees them): the
    allowed rewrite is exercised, not skipped."""
    out = poisoned(rows_cap=3)
    seen = []
    real = M._kept

    def spy(buf, index):
        seen.append((buf.data_ptr(), index))
        return real(buf, index)

    M._kept = spy
    try:
        assert ok(M.correct_rewrites, DEC, t([5]), t([1]), out=out)
    finally:
        M._kept = real
        M.reset()
    assert (out.page_table_1.data_ptr(), 1) in seen and (out.dsa_cu_seqlens_k.data_ptr(), 2) in seen


def test_correct_candidates_match_the_oracle_on_varied_inputs():
    rng = random.Random(14)
    shared = poisoned(bs_cap=40, rows_cap=300, cols=130, page_size=3)
    for fn in (M.correct, M.correct_rewrites):
        for _ in range(40):
            mode = rng.choice(reference.MODES)
            bs, n = rng.choice([0, 1, 2, 5, 33]), rng.randint(1, 8)
            P, width = rng.choice([1, 2, 3, 64]), rng.choice([1, 2, 3, 63, 64, 65, 128])
            ext = [rng.choice([0, 1, 3, 8]) for _ in range(bs)] if mode == VAR else None
            seq = [rng.choice([0, 1, 2, 7, 2**24 + 1]) for _ in range(bs)]
            r2t = (7 * torch.arange(4 * 130, dtype=I32).reshape(4, 130)) % 1000
            if rng.random() < 0.5:
                r2t = r2t.t().contiguous().t()[:, 1:]  # column-major, with an offset
            r = [rng.choice([0, 3, 3, 1]) for _ in range(bs)]
            out = shared if P == 3 and rng.random() < 0.7 else poisoned(40, 300, 130, P)
            assert ok(
                fn, mode, strided(seq, rng.choice([I32, I64]), rng),
                strided(r, rng.choice([I32, I64]), rng), r2t,
                topk=rng.choice([0, 1, 3, 2048, INT32_MAX]), width=width, page_size=P,
                next_n=n, ext=None if ext is None else strided(ext, rng.choice([I32, I64]), rng),
                out=out,
            ), (fn.__name__, mode, seq, r, ext, width, P, n)  # fmt: skip

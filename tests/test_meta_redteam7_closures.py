"""Red-team round 7's misses, closed: a "no clamp needed" test per 32-request block that
skips its last lane (named cases put the only request above topk there); state that ignores
a topk change between calls with the same lengths on one set of buffers (a replay draws
another topk one time in NEW_TOPK_ONE_IN; named cases repeat a call with a new topk); and
a kernel that skips the requests it saw unchanged (a static replay changes one request only,
one time in 4; a named case moves an unchanged request's rows)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.envelope import EVERYTHING, Envelope
from fuzz.meta_strategies import meta_calls, meta_cases, named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here, searched, torch_candidate

LANE_31 = "decode bs 32, only lane 31 above topk"
LANE_63 = "decode bs 64, only lane 63 above topk, then lane 0"
NEW_TOPK = "the same call again with a new topk (2, then 1, then 7)"
NEW_TOPK_VAR = "draft_extend_var: the same extends again with a new topk, refilled in place"
SHIFT = "draft_extend_var: request 1 unchanged, its rows moved by request 0's new extend"


_correct = torch_candidate  # nsa_meta's torch backend into the caller's buffers


def _mutant(name: str):
    return getattr(benchmark_module("redteam7_mutants"), name)


@pytest.mark.parametrize("name", [LANE_31, LANE_63])
def test_the_last_lane_of_a_block_above_topk_is_caught(name) -> None:
    case = named_meta_cases()[name]
    found = judged_here(_mutant("nolimit_fast_path_block_max_misses_lane31"), case)
    assert found is not None and found.output == "dsa_cache_seqlens", found
    assert judged_here(_correct, case) is None


@pytest.mark.parametrize("name", [NEW_TOPK, NEW_TOPK_VAR])
@pytest.mark.parametrize("mutant", ["dsa_cu_cached_ignores_topk_obj", "dsa_cu_cached_ignores_topk"])
def test_state_that_ignores_a_new_topk_is_stale(name, mutant) -> None:
    case = named_meta_cases()[name]
    first = case.calls[0]
    assert all(c.seq_lens == first.seq_lens for c in case.calls)
    assert len({c.topk for c in case.calls}) == len(case.calls)
    found = judged_here(_mutant(mutant), case)
    assert found is not None and found.kind == "stale" and found.output == "dsa_cu_seqlens_k"
    assert judged_here(_correct, case) is None


LIKE = named_meta_cases()[NEW_TOPK_VAR].calls[0]


@pytest.mark.parametrize("static", [False, True])
def test_a_replay_draws_a_new_topk(static) -> None:
    call = searched(
        meta_calls(EVERYTHING, 3, LIKE, static), lambda c: c.topk != LIKE.topk, draws=200
    )
    assert (call.mode, call.bs, call.next_n) == (LIKE.mode, LIKE.bs, LIKE.next_n)


def test_a_static_replay_changes_one_request_only() -> None:
    def one_changed(c):
        pairs = zip(
            zip(c.seq_lens, c.req_pool_indices, c.extend_seq_lens),
            zip(LIKE.seq_lens, LIKE.req_pool_indices, LIKE.extend_seq_lens),
        )
        return sum(a != b for a, b in pairs) == 1

    searched(meta_calls(EVERYTHING, 3, LIKE, True), one_changed, draws=200)


@pytest.mark.slow  # about 270 draws a hit: 6-12 s
def test_a_replay_with_the_same_lengths_and_a_new_topk_is_drawn() -> None:
    def hit(case):
        first = case.calls[0]
        return any(
            c.seq_lens == first.seq_lens
            and c.extend_seq_lens == first.extend_seq_lens
            and c.topk != first.topk
            and c.bs > 0
            for c in case.calls[1:]
        )

    case = searched(meta_cases(), hit)
    case.expected()  # valid for the oracle


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(meta_cases(Envelope(topk=(64,))))
def test_a_fixed_topk_envelope_keeps_its_topk_on_replays(case) -> None:
    assert {c.topk for c in case.calls} == {64}


@pytest.mark.parametrize(
    "mutant", ["var_delta_rows_ignore_shift_obj", "var_delta_rows_ignore_shift"]
)
def test_rows_moved_under_an_unchanged_request_are_rewritten(mutant) -> None:
    case = named_meta_cases()[SHIFT]
    found = judged_here(_mutant(mutant), case)  # row 2, request 1's, left as it was
    assert found is not None and (found.output, found.index) == ("seqlens_expanded", 2), found
    assert judged_here(_correct, case) is None

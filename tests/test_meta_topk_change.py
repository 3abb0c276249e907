"""Red-team round 7's two misses, closed: a "no clamp needed" test per 32-request block that
skips its last lane (named cases put the only request above topk there), and state that
ignores a topk change between calls with the same lengths on one set of buffers (a replay
now draws another topk one time in NEW_TOPK_ONE_IN, and named cases repeat a call with a
new topk)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

import nsa_meta
from fuzz.envelope import Envelope
from fuzz.meta_strategies import meta_cases, named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here, searched

LANE_31 = "decode bs 32, only lane 31 above topk"
LANE_63 = "decode bs 64, only lane 63 above topk, then lane 0"
NEW_TOPK = "the same call again with a new topk (2, then 1, then 7)"
NEW_TOPK_VAR = "draft_extend_var: the same extends again with a new topk, refilled in place"


def _correct(**kw):
    nsa_meta.metadata(
        kw["mode"], kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=kw["topk"], width=kw["width"], page_size=kw["page_size"], next_n=kw["next_n"],
        extend_seq_lens=kw["extend_seq_lens"], backend="torch", out=kw["out"],
    )  # fmt: skip


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


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(meta_cases(Envelope(topk=(64,))))
def test_a_fixed_topk_envelope_keeps_its_topk_on_replays(case) -> None:
    assert {c.topk for c in case.calls} == {64}

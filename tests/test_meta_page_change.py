"""A page size that changes between calls on one set of buffers (MetaCall.page_size): a call
of page size 1 gets real_page_table None and the buffer, where another call needs it, keeps
its cells. A kernel that bakes the page size per buffer address (red-team round 11's
v2_page_size_baked) failed only after an earlier case and passed on replay, since a case had
one page size; the field round-trips, decodes strictly, is drawn, shrunk and folded."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.envelope import Envelope
from fuzz.meta_campaign import folded
from fuzz.meta_case import MetaCase
from fuzz.meta_entry import decode_meta_case
from fuzz.meta_envelope import restrict, valid, violations
from fuzz.meta_judge import MetaMismatch
from fuzz.meta_shrink import shrink
from fuzz.meta_strategies import meta_cases, named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here, searched, torch_candidate

RT11 = benchmark_module("redteam11_mutants")
PAGE3 = named_meta_cases()["page 3, width not a multiple"]  # draft_extend, width 10


def _changing(first: int | None, second: int | None) -> MetaCase:
    """Two calls of PAGE3 on its buffers (page 3), each at its own page size."""
    (call,) = PAGE3.calls
    return replace(PAGE3, calls=(replace(call, page_size=first), replace(call, page_size=second)))


def _raw(case: MetaCase) -> bytes:
    return json.dumps(case.to_json()).encode()


def test_call_page_sizes_round_trip_and_decode_strictly() -> None:
    case = _changing(2, None)
    assert case.page_changes and [case.call_page(k) for k in (0, 1)] == [2, 3]
    assert MetaCase.from_json(case.to_json()) == case
    assert decode_meta_case(_raw(case), max_total=2**22) == case
    assert "page_size=2" in case.describe()
    old = PAGE3.to_json()  # an older entry: no page size of its own in any call
    assert all("page_size" not in c for c in old["calls"])
    assert decode_meta_case(json.dumps(old).encode(), max_total=2**22).calls[0].page_size is None
    for bad in (0, -3, "2", 2.5):
        d = case.to_json()
        d["calls"][0]["page_size"] = bad
        with pytest.raises(ValueError, match="page_size"):
            decode_meta_case(json.dumps(d).encode(), max_total=2**22)


def test_the_oracle_buffers_and_regions_follow_each_calls_page_size() -> None:
    case = _changing(1, 2)  # the case's page 3 is no call's
    want = case.expected()
    assert want[0].real_page_table is None and len(want[1].real_page_table[0]) == 5
    assert case.paged and case.pages == 5 and case.call_pages(1) == 5
    out = case.buffers("cpu")
    assert out.real_page_table is not None and out.real_page_table.shape[1] == 5
    assert case.call_out(out, case.calls[0]).real_page_table is None
    assert case.call_out(out, case.calls[1]) is out
    assert case.calls[0].scalars(case.width, case.page_size)["page_size"] == 1
    unpaged = replace(PAGE3, page_size=1)
    assert not unpaged.paged and unpaged.buffers("cpu").real_page_table is None


@pytest.mark.parametrize(
    "pages, baked_first", [((2, None), True), ((64, None), True), ((1, None), False)]
)
def test_the_judge_flags_a_page_size_baked_per_buffer_and_passes_a_correct_kernel(
    pages, baked_first
):
    case = _changing(*pages)
    assert judged_here(torch_candidate, case) is None
    assert judged_here(RT11.correct_v2, case) is None
    RT11.reset()
    m = judged_here(RT11.v2_page_size_baked, case)
    RT11.reset()
    assert isinstance(m, MetaMismatch) == baked_first, m
    if baked_first:
        assert m.output == "real_page_table" and "(call 2)" in m.cause
    same = _changing(None, None)  # every call at page 3: nothing to find
    assert judged_here(RT11.v2_page_size_baked, same) is None
    RT11.reset()


def test_a_page_size_1_call_writing_the_buffers_real_page_table_is_outside_the_region():
    buffers: list = []

    def keeps_the_table(**kw):
        out = kw["out"]
        if out.real_page_table is not None:
            buffers.append(out.real_page_table)
        elif buffers:  # called at page size 1: writes the table it saw before anyway
            buffers[0].fill_(0)
        return torch_candidate(**kw)

    m = judged_here(keeps_the_table, _changing(None, 1))
    assert m is not None and m.kind == "outside-region" and m.output == "real_page_table"


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(meta_cases())
def test_drawn_call_page_sizes_are_valid(case):
    assert valid(case)
    assert all(c.page_size is None for c in case.calls) or len(case.calls) > 1


def test_page_changes_are_drawn_and_stay_inside_an_envelope() -> None:
    drawn = searched(meta_cases(), lambda c: c.page_changes)
    assert valid(drawn) and sum(c.page_size is not None for c in drawn.calls) == 1
    env = Envelope(page_sizes=(1, 64))
    inside = searched(meta_cases(env), lambda c: c.page_changes)
    assert {inside.call_page(k) for k in range(len(inside.calls))} == {1, 64}
    assert "page_sizes" in violations(env, _changing(2, None))
    moved = restrict(env, _changing(2, None))
    assert moved is not None and not violations(env, moved)


def _fails_with(fn, sig: str):
    def fails(c: MetaCase, signature: str | None = None) -> bool:
        RT11.reset()
        m = judged_here(fn, c)
        return m is not None and m.signature == sig

    return fails


def test_the_shrinker_keeps_a_page_change_the_failure_needs_and_drops_one_it_does_not():
    case = _changing(2, None)
    fn = RT11.v2_page_size_baked
    RT11.reset()
    sig = judged_here(fn, case).signature
    small = shrink(case, _fails_with(fn, sig), 20.0)
    assert small.page_changes and len(small.calls) == 2
    fn = RT11.v2_width_baked  # needs a width change, not a page change
    narrow = replace(case, calls=(replace(case.calls[0], width=4), case.calls[1]))
    RT11.reset()
    m = judged_here(fn, narrow)
    assert m is not None
    small = shrink(narrow, _fails_with(fn, m.signature), 20.0)
    assert not small.page_changes and small.width_changes
    RT11.reset()


def test_a_fold_of_an_earlier_case_at_another_page_size_fails_alone() -> None:
    """The fold keeps the earlier case's page size on its calls: the baked page size now
    shows within one case (before: every call at the failing case's)."""
    prior = replace(PAGE3, page_size=2)
    RT11.reset()
    assert judged_here(RT11.v2_page_size_baked, PAGE3) is None
    m = judged_here(RT11.v2_page_size_baked, folded(prior, PAGE3))
    RT11.reset()
    assert m is not None and m.output == "real_page_table"

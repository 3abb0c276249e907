"""A width that changes between calls on one set of buffers (MetaCall.width): SGLang's replay
writes `page_table[:, :width]` with a width that may change between replays on the same
static buffers, so a kernel that keeps the first call's width per buffer object must fail,
and a correct one must pass; the field round-trips, decodes strictly, is drawn and shrunk."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.meta_case import MetaCase
from fuzz.meta_entry import decode_meta_case
from fuzz.meta_envelope import valid
from fuzz.meta_judge import MetaMismatch
from fuzz.meta_shrink import shrink
from fuzz.meta_strategies import meta_cases, named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here, searched, torch_candidate

GROWS = "width grows between calls on one set of buffers (2, then 5)"
REFILLED = "width 3, 7, 2 on one set of buffers, page 2, inputs refilled in place"


_torch = torch_candidate  # nsa_meta's torch backend into the caller's buffers


def _first_width_kept(seen: dict):
    """A kernel that keeps the width of the first call it saw per buffer object (the tiny
    twin of red-team round 6's width_cached_obj); `seen` keeps the buffers alive."""

    def fn(**kw):
        out = kw["out"]
        width = seen.setdefault(id(out.page_table_1), (out.page_table_1, kw["width"]))[1]
        return _torch(**{**kw, "width": min(kw["width"], width)})

    return fn


def _raw(case: MetaCase) -> bytes:
    return json.dumps(case.to_json()).encode()


@pytest.mark.parametrize("name", [GROWS, REFILLED])
def test_call_widths_round_trip_and_decode_strictly(name):
    case = named_meta_cases()[name]
    assert case.width_changes
    assert MetaCase.from_json(case.to_json()) == case
    assert decode_meta_case(_raw(case), max_total=2**22) == case
    widths = [c.get("width") for c in case.to_json()["calls"]]
    assert widths == [c.width for c in case.calls] and None in widths


def test_an_entry_without_call_widths_decodes_to_none():
    case = named_meta_cases()["back-to-back calls, larger bs"]
    d = case.to_json()
    assert all("width" not in c for c in d["calls"])  # older entries' bytes are unchanged
    got = decode_meta_case(json.dumps(d).encode(), max_total=2**22)
    assert [c.width for c in got.calls] == [None] * len(got.calls)
    assert [got.call_width(k) for k in range(len(got.calls))] == [case.width] * len(got.calls)
    assert not got.width_changes


@pytest.mark.parametrize("bad", [6, 0, -1, "3", 2.0])
def test_the_decoder_rejects_a_call_width_outside_the_buffers(bad):
    d = named_meta_cases()[GROWS].to_json()  # case width 5
    d["calls"][0]["width"] = bad
    with pytest.raises(ValueError, match=r"calls\[0\]\.width|width"):
        decode_meta_case(json.dumps(d).encode(), max_total=2**22)


def test_a_call_width_above_the_case_is_not_valid():
    case = named_meta_cases()[GROWS]
    wide = replace(case, calls=(replace(case.calls[0], width=6), case.calls[1]))
    assert not valid(wide)
    with pytest.raises(ValueError, match=r"calls\[0\]\.width"):
        wide.expected()
    assert valid(case.narrowed(3)) and case.narrowed(3).calls[0].width == 2
    assert case.narrowed(1).calls[0].width == 1 and not case.narrowed(1).width_changes


def test_the_oracle_and_regions_follow_each_calls_width():
    case = named_meta_cases()[REFILLED]  # widths 3, 7, 2 at page 2: pages 2, 4, 1
    want = case.expected()
    assert [len(w.page_table_1[0]) for w in want] == [3, 7, 2]
    assert [len(w.real_page_table[0]) for w in want] == [2, 4, 1]
    assert [case.call_pages(k) for k in range(3)] == [2, 4, 1] and case.pages == 4
    assert case.calls[0].scalars(case.width, case.page_size)["width"] == 3
    assert case.calls[1].scalars(case.width, case.page_size)["width"] == 7


@pytest.mark.parametrize("name", [GROWS, REFILLED])
def test_the_judge_flags_a_kept_first_width_and_passes_a_correct_kernel(name):
    case = named_meta_cases()[name]
    assert judged_here(_torch, case) is None
    assert judged_here(benchmark_module("redteam6_mutants").correct, case) is None
    for fn in (_first_width_kept({}), benchmark_module("redteam6_mutants").width_cached_obj):
        m = judged_here(fn, case)
        assert isinstance(m, MetaMismatch) and m.kind == "values"
        assert m.output in ("page_table_1", "real_page_table") and m.got == -777
        assert "(call 2)" in m.cause
    # The same calls, every one at the case's width: no change, nothing to find.
    same = replace(case, calls=tuple(replace(c, width=None) for c in case.calls))
    assert judged_here(_first_width_kept({}), same) is None


def test_a_narrower_call_writing_its_buffers_full_width_is_outside_the_region():
    def full_width(**kw):
        return _torch(**{**kw, "width": kw["out"].page_table_1.shape[1]})

    m = judged_here(full_width, named_meta_cases()[GROWS])
    assert m is not None and m.kind == "outside-region" and m.output == "page_table_1"
    assert "[0, 2) x [0, 2)" in m.cause


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(meta_cases())
def test_drawn_call_widths_stay_inside_the_buffers(case):
    assert valid(case)
    for k, c in enumerate(case.calls):
        assert 1 <= case.call_width(k) <= case.width
        assert c.width is None or len(case.calls) > 1  # a width change needs two calls


@pytest.mark.slow
def test_width_changes_are_drawn_both_ways():
    def grows_later(c: MetaCase) -> bool:
        return c.call_width(0) < max(map(c.call_width, range(len(c.calls))))

    grows = searched(meta_cases(), grows_later)
    assert grows.width_changes and valid(grows) and grows.calls[0].width is not None
    narrows = searched(
        meta_cases(),
        lambda c: len(c.calls) > 1 and c.call_width(len(c.calls) - 1) < c.call_width(0),
    )
    assert narrows.width_changes and valid(narrows)


def _fails_with(fn, sig: str):
    def fails(c: MetaCase, signature: str | None = None) -> bool:
        m = judged_here(fn, c)
        return m is not None and m.signature == sig

    return fails


def test_the_shrinker_keeps_a_width_change_the_failure_needs():
    case = named_meta_cases()[REFILLED]
    fn = benchmark_module("redteam6_mutants").width_cached_obj
    sig = judged_here(fn, case).signature
    small = shrink(case, _fails_with(fn, sig), 20.0)
    assert small.width_changes and len(small.calls) == 2
    assert (small.call_width(0), small.call_width(1), small.width) == (1, 2, 2)


def test_the_shrinker_drops_a_width_change_the_failure_does_not_need():
    case = named_meta_cases()[GROWS]
    calls = (case.calls[0], replace(case.calls[1], topk=1))  # topk 4, then 1 (seq_lens > 1)
    case = replace(case, calls=calls)
    fn = benchmark_module("redteam6_mutants").topk_cached_obj
    m = judged_here(fn, case)
    assert m is not None
    small = shrink(case, _fails_with(fn, m.signature), 20.0)
    assert len(small.calls) == 2 and not small.width_changes
    assert [c.width for c in small.calls] == [None, None]

"""The opening is judged chunk by chunk, the large named cases last: an interpreted Triton
candidate spent 27 s of its 36 s opening on ten cases of 16,385 requests or 65,537 rows,
and every finding waited for the whole opening (the outside kernels' first finds 35-52 s
on the CPU; 1.4-2.4 s since)."""

from __future__ import annotations

import time

from fuzz import campaign as campaign_module
from fuzz.campaign import OPENING_CHUNK, Campaign, Options
from fuzz.meta_campaign import (
    FIRST_PASS,
    LARGE_BEFORE_ROUNDS,
    LARGE_FIRST,
    MetaCampaign,
    _first_pass,
    _large,
)
from fuzz.meta_strategies import named_meta_cases


def _recording(c: Campaign, after=None) -> list[int]:
    sizes: list[int] = []

    def check(cases, bad, *, count, found_by):
        assert found_by == "named case" and count
        sizes.append(len(cases))
        c.cases += len(cases)
        if after is not None:
            after(c)

    c._check = check
    return sizes


def test_the_opening_goes_out_in_chunks() -> None:
    c = MetaCampaign(Options(op="metadata"))
    sizes = _recording(c)
    c._open(list(range(2 * OPENING_CHUNK + 5)))
    assert sizes == [OPENING_CHUNK, OPENING_CHUNK, 5] and c.cases == 2 * OPENING_CHUNK + 5


def test_a_stop_ends_the_opening_between_chunks() -> None:
    c = MetaCampaign(Options(op="metadata"))
    sizes = _recording(c, after=lambda c: c.errors.append("boom"))
    c._open(list(range(3 * OPENING_CHUNK)))
    assert sizes == [OPENING_CHUNK]


def test_cases_the_time_cut_off_before_they_went_out_are_not_judged() -> None:
    c = MetaCampaign(Options(op="metadata", deadline=time.monotonic() + 3600))
    c.workers = [("cand", None)]

    def expire(c):
        c.deadline = time.monotonic() - 1

    sizes = _recording(c, after=expire)
    c._open(list(range(3 * OPENING_CHUNK)))
    assert sizes == [OPENING_CHUNK]
    assert c.not_judged["cand"] == 2 * OPENING_CHUNK
    assert c.opening_left == 2 * OPENING_CHUNK


def test_the_large_named_cases_go_last() -> None:
    opening = MetaCampaign(Options(op="metadata"))._opening_cases()
    flags = [_large(c) for c in opening]
    first = flags.index(True)
    assert all(flags[first:]) and 5 <= flags.count(True) < len(opening) // 4
    assert max(c.calls[0].bs for c in opening[:first]) < 16_384
    assert any(c.calls[0].bs == 16_385 for c in opening[first:])


def test_every_family_opens_in_the_first_two_chunks() -> None:
    """On a GPU a Triton candidate's opening is compile-bound (85 cases in 30 s on an H100):
    the batch-size edges and every dtype mix come in the first 32 cases, not 90-140 in."""
    opening = MetaCampaign(Options(op="metadata"))._opening_cases()[: 2 * OPENING_CHUNK]
    calls = [call for case in opening for call in case.calls]
    assert {1, 33, 1025} <= {c.bs for c in calls}
    assert {c.mode for c in calls if c.bs > 1024} == {"decode", "draft_extend_var"}
    mixes = {
        (c.seq_layout.dtype, c.ext_layout.dtype, c.idx_layout.dtype)
        for c in calls
        if c.mode == "draft_extend_var"
    }
    assert len(mixes) == 8


def test_on_a_gpu_one_past_16384_requests_is_in_the_first_pass() -> None:
    """There a large case costs what a small one does (a compile): round 12's
    bs_static_16384 was found in no 20 s on an H100, 159 small cases before its first."""
    c = MetaCampaign(Options(op="metadata", device="cuda", deadline=time.monotonic() + 60))
    opening = c._opening_cases()
    modes = {x.calls[0].mode for x in opening[: 2 * OPENING_CHUNK] if x.calls[0].bs == 16_385}
    assert modes == {"decode", "draft_extend_var"}
    first, deferred = c._split_opening(opening)
    assert deferred == [] and first == opening and len(opening) == len(_opening(None)[1])


def test_the_first_pass_keeps_its_order_where_an_envelope_left_cases_out() -> None:
    assert _first_pass(["a", FIRST_PASS[1], "b"]) == [FIRST_PASS[1], "a", "b"]
    names = ["a", "back-to-back calls, larger bs", FIRST_PASS[0], "b"]
    assert _first_pass(names) == ["a", "back-to-back calls, larger bs", FIRST_PASS[0], "b"]


def test_the_named_bad_calls_go_with_the_first_chunk_only(monkeypatch) -> None:
    sent: list[int] = []

    def base_check(self, cases, bad, *, count, found_by):
        sent.append(len(bad))

    monkeypatch.setattr(campaign_module.Campaign, "_check", base_check)
    c = MetaCampaign(Options(op="metadata", builtins=["reference", "torch"]))
    c._open(list(range(3 * OPENING_CHUNK)))
    assert sent[0] > 0 and sent[1:] == [0, 0]


def test_the_summary_says_the_time_ended_in_the_opening(capsys) -> None:
    from fuzz.report import Report
    from fuzz.summary import print_summary

    print_summary(Report(cases=80, opening_cases=80, opening_left=68))
    assert "--seconds ended before 68 named cases" in capsys.readouterr().out
    merged = Report.merge([Report(opening_left=3), Report(opening_left=4)])
    assert merged.opening_left == 7 and Report.from_json(merged.to_json()).opening_left == 7


def _opening(deadline: float | None) -> tuple[MetaCampaign, list, list]:
    c = MetaCampaign(Options(op="metadata", deadline=deadline))
    first, deferred = c._split_opening(c._opening_cases())
    return c, first, deferred


def test_a_timed_campaign_runs_the_large_named_cases_between_its_rounds() -> None:
    """With --seconds, the large named cases wait for the rounds, in LARGE_FIRST's order:
    round 8's correct Triton candidate takes 13-15 s a call at bs 16,385 under the
    interpreter, and its draws waited 60-90 s for them (three bugs missed, one found at 88 s
    that a draw finds in 1.6 s). With --max-cases alone (a fixed count) nothing waits."""
    _, first, deferred = _opening(time.monotonic() + 60)
    assert deferred and not any(_large(c) for c in first) and all(map(_large, deferred))
    named = named_meta_cases()
    assert deferred[: len(LARGE_FIRST)] == [named[n] for n in LARGE_FIRST]
    _, first, deferred = _opening(None)
    assert deferred == [] and any(_large(c) for c in first)


def test_one_deferred_case_after_each_round_counted_as_opening() -> None:
    c, first, deferred = _opening(time.monotonic() + 3600)
    c._deferred = deferred[:3]
    c.workers = [("cand", None)]
    checked: list = []

    def check(cases, bad, *, count, found_by):
        assert (found_by, count, bad) == ("named case", True, [])
        checked.append(cases)
        c.cases += len(cases)

    c._check = check
    c._open_deferred()
    assert checked == [[deferred[0]]] and c.opening_cases == 1 and c._deferred == deferred[1:3]
    c.deadline = time.monotonic() - 1  # the time ends: no more, and what is left is named
    c._open_deferred()
    assert len(checked) == 1


def test_deferred_cases_the_time_cut_off_are_not_judged(tmp_path) -> None:
    """A whole timed campaign: the first LARGE_BEFORE_ROUNDS large cases right after the
    small opening, then one after each round; when the budget ends, each case left counts
    as not judged and in opening_left (the summary's `--seconds ended before N named
    cases`)."""
    c = MetaCampaign(Options(op="metadata", corpus_dir=tmp_path, deadline=time.monotonic() + 3600))
    _, deferred = c._split_opening(c._opening_cases())
    c._opening_cases = lambda: deferred  # only the large ones, so all are deferred
    order: list = []

    def check(cases, bad, *, count, found_by):
        order.extend(deferred.index(x) for x in cases)
        c.cases += len(cases)

    def round_(r):
        order.append("round")
        if order.count("round") == 2:
            c.deadline = time.monotonic() - 1  # the budget ends in the second round

    c._check, c._round = check, round_
    c.run()
    early = list(range(LARGE_BEFORE_ROUNDS))
    assert order == [*early, "round", LARGE_BEFORE_ROUNDS, "round"], order
    assert c.opening_cases == LARGE_BEFORE_ROUNDS + 1
    assert c.opening_left == len(deferred) - LARGE_BEFORE_ROUNDS - 1


def test_the_cases_one_past_a_block_give_their_last_request_rows() -> None:
    """`bs 33/129/1025/16385, draft_extend_var` end with a request that has rows: with a
    zero extend there (the old (3i) % 4) the request past the block added none, and round 8's
    `T_from_last_program` (T read from the last program's sum) went unseen."""
    named = named_meta_cases()
    for bs in (33, 129, 1025, 16385):
        (call,) = named[f"bs {bs}, draft_extend_var"].calls
        assert call.extend_seq_lens[-1] > 0 and 0 in call.extend_seq_lens

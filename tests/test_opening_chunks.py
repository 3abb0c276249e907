"""The opening is judged chunk by chunk, the large named cases last: an interpreted Triton
candidate spent 27 s of its 36 s opening on ten cases of 16,385 requests or 65,537 rows,
and every finding waited for the whole opening (the outside kernels' first finds 35-52 s
on the CPU; 1.4-2.4 s since)."""

from __future__ import annotations

import time

from fuzz import campaign as campaign_module
from fuzz.campaign import OPENING_CHUNK, Campaign, Options
from fuzz.meta_campaign import MetaCampaign, _large


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

"""The book's verdict on one failure: re-run alone, then shrunk, and said honestly when the
campaign's time cut either short (fuzz/book.py, with fakes for the campaign and the runs)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from fuzz.book import BUDGET_ENDED, CONFIRM_CUT, NOT_ALONE, Book, Failure
from fuzz.case import Case
from fuzz.compare import Mismatch
from fuzz.summary import failure_state

BIG = Case((3, 0, 2), (10, 4, 1), 9)
SMALL = Case((0, 0, 0), (0, 0, 0), 0)
HANG_CONFIRMED = "no answer in 5 s, nor in 30 s in a fresh worker"


class FakeBook(Book):
    """A book whose lone re-runs answer from `fails_alone`, whose shrinker is `shrinker`,
    and whose corpus writes are recorded."""

    def __init__(self, deadline: float | None, fails_alone, shrinker) -> None:
        options = SimpleNamespace(fault_shrink_seconds=5.0, shrink_seconds=5.0,
                                  corpus_dir=Path("/nonexistent"))  # fmt: skip
        campaign = SimpleNamespace(o=options, deadline=deadline, done=lambda: False,
                                   interrupted=False, workers=[])  # fmt: skip
        super().__init__(campaign)
        self.fails_alone, self.shrinker, self.reruns, self.saved = fails_alone, shrinker, [], []

    def _reproduce(self, case, fault, sig, *, confirm):
        self.reruns.append(case)
        return SimpleNamespace(mismatch=self.mismatch) if self.fails_alone(case) else None

    def shrink_case(self, failure, fails, budget):
        return self.shrinker(failure, fails, budget)

    def _save(self, mismatch, case, fault, *, original, note=None, **_):
        self.saved.append(note)
        return None


def failure(kind: str, cause: str) -> Failure:
    m = Mismatch("cand:fn", kind, cause=cause)
    return Failure(m.signature, m, BIG, None, None)


def verdict(book: FakeBook, f: Failure) -> dict:
    book.mismatch = f.mismatch
    book._shrink(f)
    return f.to_json()


def test_a_confirmed_hang_counts_as_reproduced_alone_without_another_run() -> None:
    """Its confirmation already ran it alone in a fresh worker: no second 5 s re-run, and
    never "not reproduced alone" when the campaign's time is short."""
    book = FakeBook(time.monotonic() + 60, lambda c: True, lambda f, fails, b: f.case)
    got = verdict(book, failure("hang", HANG_CONFIRMED))
    assert got["reproduced_alone"] is True and book.reruns == []
    assert "not reproduced" not in failure_state(got)


def test_a_lone_rerun_cut_by_the_deadline_claims_nothing() -> None:
    """The lone re-run returned nothing because the campaign's time ran out: neither
    reproduced nor not, no NOT_ALONE note in the corpus."""

    def cut(case) -> bool:  # the worker answered nothing: the deadline came first
        time.sleep(0.3)
        return False

    book = FakeBook(time.monotonic() + 0.2, cut, lambda f, fails, b: f.case)
    got = verdict(book, failure("crash", "SIGSEGV"))
    assert got["reproduced_alone"] is None and NOT_ALONE not in book.saved
    assert "budget ended" in got["why_not_shrunk"]


def test_a_lone_rerun_that_passes_in_time_is_not_reproduced_alone() -> None:
    book = FakeBook(time.monotonic() + 60, lambda c: False, lambda f, fails, b: f.case)
    got = verdict(book, failure("crash", "SIGSEGV"))
    assert got["reproduced_alone"] is False and book.saved == [NOT_ALONE]
    assert failure_state(got).startswith("not reproduced alone")


def test_a_shrink_stopped_by_its_budget_is_not_called_smallest() -> None:
    def slow_same(f, fails, budget):
        time.sleep(budget)
        return f.case

    def slow_smaller(f, fails, budget):
        time.sleep(budget)
        return SMALL

    for shrinker, shrunk in ((slow_same, False), (slow_smaller, True)):
        book = FakeBook(time.monotonic() + 0.3, lambda c: True, shrinker)
        got = verdict(book, failure("crash", "SIGSEGV"))
        assert got["shrink_complete"] is False and got["shrunk"] is shrunk
        state = failure_state(got)
        assert ("maybe not the smallest" in state) if shrunk else (BUDGET_ENDED in state), state


def test_a_shrink_that_reaches_a_fixed_point_in_time_is_shrunk() -> None:
    book = FakeBook(time.monotonic() + 60, lambda c: True, lambda f, fails, b: SMALL)
    got = verdict(book, failure("crash", "SIGSEGV"))
    assert got["shrink_complete"] is True and got["shrunk"] is True
    assert failure_state(got) == "shrunk"


def test_a_smaller_case_whose_confirmation_the_deadline_cut_claims_nothing() -> None:
    """A hang shrunk to a smaller case, whose confirmation (tens of seconds for a hang) the
    campaign's end cut: "the time budget ended", never "did not confirm the failure"."""

    def confirm(case) -> bool:
        time.sleep(0.3)  # past the deadline: the worker answered nothing
        return False

    book = FakeBook(time.monotonic() + 0.2, confirm, lambda f, fails, b: SMALL)
    got = verdict(book, failure("hang", HANG_CONFIRMED))
    assert got["why_not_shrunk"] == CONFIRM_CUT and got["shrunk"] is False
    assert got["shrink_complete"] is False and book.reruns == [SMALL]


def test_a_smaller_case_that_does_not_fail_in_time_is_said_so() -> None:
    book = FakeBook(time.monotonic() + 60, lambda c: c == BIG, lambda f, fails, b: SMALL)
    got = verdict(book, failure("hang", HANG_CONFIRMED))
    assert got["why_not_shrunk"] == "the smaller case did not confirm the failure"

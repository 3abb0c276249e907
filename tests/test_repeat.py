"""A failure that shows only on some run of its case in a process (after so many calls, or
at random): the book runs the case alone again and again in one fresh worker, or a few
more times where it failed again, and saves how often replay must run it (`repeat`);
replay runs it that often in one fresh worker (fuzz/book.py, fuzz/commands.py). Red-team
14: a slip from the 50th call on and one on 1 call in 3 were saved as entries that passed
on replay, read as "fixed"."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from book_doubles import campaign_double

from fuzz import corpus
from fuzz.book import (
    CALLS_RULED_OUT,
    CONFIRMS,
    REPEAT_PROBE,
    REPLAY_REPEAT_MIN,
    SOME_RUNS,
    UNCONFIRMED,
    Book,
    Failure,
    after_calls,
    repeated,
)
from fuzz.case import Case
from fuzz.compare import Mismatch
from fuzz.entry import MAX_BEFORE, MAX_REPEAT, CorpusError, decode
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "candidates" / "hostile.py"
CASE = Case((2,), (9,), 4)  # rows 8 and 9 clamped to 4: a top-k one too high shows


class CountingBook(Book):
    """A plug-in whose re-runs fail on the `fails_on`-th call since its last fresh worker
    (None: never), or on every call in `flaky` (a set of call numbers since the start)."""

    def __init__(self, fails_on=None, flaky=None) -> None:
        super().__init__(campaign_double())
        self.c.workers = [("cand:fn", SimpleNamespace(fresh=self._fresh))]
        self.fails_on, self.flaky, self.calls, self.total, self.saved = fails_on, flaky, 0, 0, []

    def _fresh(self) -> None:
        self.calls = 0

    def impl_of(self, sig: str) -> str:
        return "cand:fn"

    def _reproduce(self, case, fault, sig, *, confirm, before=()):
        self.calls += 1
        self.total += 1
        bad = self.calls == self.fails_on or self.total in (self.flaky or ())
        return SimpleNamespace(mismatch=self.mismatch) if bad else None

    def shrink_case(self, failure, fails, budget):
        return failure.case

    def _save(self, mismatch, case, fault, *, original, note=None, before=None, **kw):
        self.saved.append((note, before, kw.get("repeat", 1)))


def shrunk(book: CountingBook) -> Failure:
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    book._shrink(f)
    return f


def test_a_failure_from_the_fiftieth_call_is_found_by_running_it_again_and_again() -> None:
    book = CountingBook(fails_on=50)
    f = shrunk(book)  # the lone re-run (call 1) passes; no history to search
    assert f.reproduced_alone is False and f.repeat == 100
    assert book.saved[-1] == (repeated(50), None, 100)
    assert f.mismatch.cause.endswith(repeated(50)) and "run 50" in f.mismatch.cause


def test_past_the_probe_it_is_not_reproduced_and_replay_still_runs_it_repeatedly() -> None:
    book = CountingBook(fails_on=REPEAT_PROBE + 2)
    f = shrunk(book)
    assert f.reproduced_alone is False and book.saved[-1][2] == REPLAY_REPEAT_MIN
    assert "replay may not show it" in book.saved[-1][0]


def test_a_failure_that_fails_again_but_not_every_time_is_flaky() -> None:
    # the lone re-run fails, then 1 of the next 4 runs, then the fresh worker's run
    book = CountingBook(flaky={1, 3, 6})
    f = shrunk(book)
    assert f.reproduced_alone is True and f.repeat == REPLAY_REPEAT_MIN
    assert "the same case passed 3 of 4 more runs in the same worker: flaky" in (f.mismatch.cause)
    steady = shrunk(CountingBook(flaky=set(range(1, 10))))
    assert steady.repeat == 1 and "flaky" not in steady.mismatch.cause


def test_a_flaky_failure_says_so_after_it_is_shrunk() -> None:
    """The shrunk case's mismatch replaces the one found: the flaky note goes with it (a
    flaky v2 failure read as one that always fails, its entry run 16 times)."""

    class ShrinkingBook(CountingBook):
        def shrink_case(self, failure, fails, budget):
            small = Case((1,), (9,), 4)
            fails.findings[small] = SimpleNamespace(
                mismatch=Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 4")
            )
            return small

    f = shrunk(ShrinkingBook(flaky={1, 3, 6}))  # 6: the smaller case in a fresh worker
    assert f.case == Case((1,), (9,), 4) and f.repeat == REPLAY_REPEAT_MIN
    assert f.mismatch.cause.startswith(
        "[0] is 4; the case it was found as passed 3 of 4 more runs"
    ), f.mismatch


def test_calls_that_showed_a_flaky_failure_once_are_not_blamed_for_it() -> None:
    """A slip at random shows after any calls by chance: red-team 14's 1 call in 3 was saved
    as "fails after 1 call before it". The calls found are run CONFIRMS more times (a fresh
    worker each); one that passes rules them out, and the case alone is run again and again."""
    past = [{"case": Case((k,), (k + 1,), 9).to_json()} for k in range(5)]
    # the lone re-run (1) passes; the first call before it (2) fails, by chance; the same
    # again (3) passes; then the case alone, again and again, fails on its 4th run (7)
    book = CountingBook(flaky={2, 7})
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    f.past = (past, 0)
    book._shrink(f)
    ruled_out = CALLS_RULED_OUT.format(passed=1, runs=1)
    assert book.saved[-1] == (f"{ruled_out}; {repeated(4)}", None, REPLAY_REPEAT_MIN)
    assert f.before is None and f.repeat == REPLAY_REPEAT_MIN and book.total == 7
    assert "after 1 call" not in f.mismatch.cause and ruled_out in f.mismatch.cause
    # a failure that needs the call before it shows after it every time: blamed
    steady = CountingBook(flaky={2, 3, 4, 5})
    steady.mismatch = book.mismatch
    g = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    g.past = (past, 0)
    steady._shrink(g)
    assert steady.saved[-1] == (after_calls(1), past[:1], 1) and steady.total == 2 + CONFIRMS


def test_calls_that_show_it_in_some_runs_are_kept_when_nothing_shows_it_better() -> None:
    """A failure that hangs on where the calls before it left the process (an address the
    allocator may or may not reuse) shows after them in some fresh workers, not all, and
    never alone: the entry keeps them, and replay tries them REPLAY_REPEAT_MIN times."""
    past = [{"case": Case((k,), (k + 1,), 9).to_json()} for k in range(5)]
    book = CountingBook(flaky={2})  # after the first call once (2), never again
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    f.past = (past, 0)
    book._shrink(f)
    note, before, repeat = book.saved[-1]
    assert before == past[:1] and repeat == REPLAY_REPEAT_MIN == f.repeat
    assert note.startswith(CALLS_RULED_OUT.format(passed=1, runs=1)) and SOME_RUNS in note
    assert book.total == 3 + REPEAT_PROBE and f.mismatch.cause.endswith(note)


def test_repeat_round_trips_and_is_checked(tmp_path: Path) -> None:
    m = Mismatch("cand:fn", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path, m, CASE, None, device="cpu", seed=0, spec="x.py:fn",
                       note=repeated(5), repeat=10)  # fmt: skip
    assert corpus.load(path).repeat == 10 and json.loads(path.read_text())["repeat"] == 10
    head = {"format": 2, "signature": "cand:fn:values", "impl": "cand:fn",
            "case": CASE.to_json()}  # fmt: skip
    assert decode(json.dumps(head).encode()).repeat == 1
    for bad in (0, MAX_REPEAT + 1, True, "3", 2.5):
        with pytest.raises(CorpusError, match="repeat"):
            decode(json.dumps({**head, "repeat": bad}).encode())


def test_replay_runs_a_repeat_entry_again_and_again_in_one_fresh_worker(tmp_path: Path) -> None:
    spec = f"{HOSTILE}:wrong_from_call_5"
    m = Mismatch("hostile:wrong_from_call_5", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path / "c", m, CASE, None, device="cpu", seed=0, spec=spec,
                       note=repeated(5), repeat=10)  # fmt: skip
    replay = fuzz_here("replay", "--candidate", spec, path)
    assert replay.returncode == 1, replay.stdout
    assert "run up to 10 times in one fresh worker; failing on run 5" in replay.stdout
    once = corpus.save(tmp_path / "once", m, CASE, None, device="cpu", seed=0, spec=spec)
    assert fuzz_here("replay", "--candidate", spec, once).returncode == 0  # run once: right
    plain = fuzz_here("replay", path)  # the built-ins keep no state: one run
    assert plain.returncode == 0 and "run up to" not in plain.stdout, plain.stdout


def test_replay_runs_the_calls_before_then_the_case_again_and_again(tmp_path: Path) -> None:
    """An entry with calls before it and a `repeat` (a failure the campaign's time left
    unconfirmed): each try, a fresh worker runs them, then the case up to `repeat` times."""
    spec = f"{HOSTILE}:wrong_from_call_5"
    m = Mismatch("hostile:wrong_from_call_5", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path, m, CASE, None, device="cpu", seed=0, spec=spec,
                       note=UNCONFIRMED, before=[{"case": CASE.to_json()}], repeat=10)  # fmt: skip
    replay = fuzz_here("replay", "--candidate", spec, path)
    assert replay.returncode == 1, replay.stdout
    # call 1 the one before, then runs 1-4 of the case: calls 2-5
    assert "after the 1 call(s) saved before it; failing on try 1 of 3, run 4)" in replay.stdout


def test_minimise_runs_a_repeat_entry_as_replay_does_and_leaves_it(tmp_path: Path) -> None:
    """Run once, the entry of a failure from the 5th call on read "does not fail any more"
    while replay failed it: minimise runs it as replay does, and says why it stands."""
    spec = f"{HOSTILE}:wrong_from_call_5"
    m = Mismatch("hostile:wrong_from_call_5", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path, m, CASE, None, device="cpu", seed=0, spec=spec,
                       note=repeated(5), repeat=10)  # fmt: skip
    got = fuzz_here("minimise", "--candidate", spec, path)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "fails on run 5 of up to 10 of its case in one worker" in got.stdout, got.stdout
    assert "does not fail any more" not in got.stdout and len(list(tmp_path.iterdir())) == 1


def test_a_flaky_failure_that_passes_its_fresh_confirmation_keeps_its_repeat() -> None:
    f = shrunk(CountingBook(flaky={1, 3}))  # the fresh worker's run (6) passes
    assert f.reproduced_alone is False and f.repeat == REPLAY_REPEAT_MIN
    assert "flaky" in f.mismatch.cause


def test_a_failure_the_deadline_left_unconfirmed_is_saved_to_be_run_again_and_again() -> None:
    """The campaign's time ended before the fresh worker's run: nothing is known, so replay
    runs the entry MAX_REPEAT times in one fresh worker (on an H100, round 14's slip from
    the 50th call was cut there and saved as run once: its replay passed)."""
    import time

    book = CountingBook(fails_on=50)
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    book.c.deadline = time.monotonic() - 1
    book._not_alone(f)
    assert book.saved == [(UNCONFIRMED, None, MAX_REPEAT)] and f.repeat == MAX_REPEAT
    assert f.reproduced_alone is None and book.calls == 0  # nothing run
    # with calls before it in its worker, the entry keeps them (the last MAX_BEFORE): a state
    # bug needs them (GPU, s27/c4: a top-k decision baked per out buffer, saved as its case
    # alone, passed 128 runs on replay); and the campaign does not write it again without
    past = [{"case": Case((k % 3,), (k + 1,), 9).to_json()} for k in range(MAX_BEFORE + 5)]
    book = CountingBook(fails_on=50)
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    book.c.deadline = time.monotonic() - 1
    book._past = lambda f: (past, 0)
    book._reproduce_and_shrink = lambda failure: book._not_alone(failure)
    book.record(SimpleNamespace(mismatch=book.mismatch, case=CASE, fault=None), found_by="x")
    assert book.saved[-1] == (UNCONFIRMED, past[-MAX_BEFORE:], MAX_REPEAT)
    assert len(book.saved) == 2  # found, then settled: not written again
    (f,) = book.failures.values()
    assert f.mismatch.cause == f"[0] is 5; {UNCONFIRMED}" and f.settled


def test_runs_the_deadline_cut_short_leave_replay_every_run() -> None:
    """The campaign's time ended during the runs: a failure on a later run was not reached,
    so replay gets MAX_REPEAT runs, not REPLAY_REPEAT_MIN."""
    import time

    class LateBook(CountingBook):
        def _reproduce(self, case, fault, sig, *, confirm, before=()):
            if self.total == 10:
                self.c.deadline = time.monotonic() - 1
            return super()._reproduce(case, fault, sig, confirm=confirm, before=before)

    book = LateBook(fails_on=50)
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 5")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    book._not_alone(f)
    assert book.total == 11 and book.saved[-1][2] == MAX_REPEAT
    assert "replay may not show it" in book.saved[-1][0]

"""Failures that need the calls before them: the worker's history, the search for a short
prefix that makes the case fail in a fresh worker, the entry's "before", and replay running
it first (fuzz/isolation.py History, fuzz/book.py, fuzz/entry.py, fuzz/commands.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from book_doubles import campaign_double

from fuzz import corpus
from fuzz.book import NOT_ALONE, REPEAT_PROBE, Book, Failure, after_calls
from fuzz.case import Case, Fault
from fuzz.compare import Mismatch
from fuzz.entry import MAX_BEFORE, CorpusError, decode
from fuzz.isolation import HISTORY_FIRST, HISTORY_LAST, History, IsolatedCandidate
from fuzz.summary import failure_state
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "candidates" / "hostile.py"
CASE = Case((2,), (2**31 - 1,), 2**31 - 1)
OTHER = Case((3, 0, 2), (10, 4, 1), 9)


def item(case: Case) -> dict:
    return {"case": case.to_json()}


def items(n: int) -> list[dict]:
    return [item(Case((k % 5,), (k,), k)) for k in range(n)]


# --- the worker's history ----------------------------------------------------------------------


def test_a_history_keeps_the_first_calls_and_the_last_ones_before_a_case() -> None:
    h = History()
    ran = items(200)
    for it in ran:
        h.add(it)
    got = h.before(ran[150])
    assert got[:HISTORY_FIRST] == ran[:HISTORY_FIRST]
    assert got[HISTORY_FIRST:] == ran[150 - HISTORY_LAST : 150]
    assert h.before(item(CASE)) is None  # never ran there
    assert h.before(None)[-1] == ran[-1]  # before now


def test_each_worker_has_its_own_history_and_the_one_that_ran_the_case_answers() -> None:
    c = IsolatedCandidate(f"{HOSTILE}:bakes_topk", "cpu")  # nothing spawned: no start()
    first, second = object(), object()
    for it in items(3):
        c._note(first, it)
    c._note(first, item(CASE))
    c._note(second, item(OTHER))  # a crash moved the batch to a spare
    assert c.calls_before(item(CASE)) == (items(3), 0)
    assert c.calls_before(item(OTHER)) == ([], 0)  # a fresh worker: nothing before it
    assert c.calls_before(item(Case((7,), (7,), 7))) == ([item(OTHER)], 0)  # the latest's


# --- the book's search --------------------------------------------------------------------------


class SearchBook(Book):
    """A book whose re-runs fail exactly when `needs` ran before the case (the order kept)."""

    def __init__(self, needs: list[dict], past: list[dict]) -> None:
        super().__init__(campaign_double())
        self.needs, self.past, self.tries, self.saved = needs, past, [], []

    def impl_of(self, sig: str) -> str:
        return "cand:fn"

    def _reproduce(self, case, fault, sig, *, confirm, before=()):
        self.tries.append(list(before))
        pos = [before.index(n) if n in before else -1 for n in self.needs]
        ok = bool(before) and min(pos) >= 0 and pos == sorted(pos)
        return SimpleNamespace(mismatch=self.mismatch) if ok else None

    def _save(self, mismatch, case, fault, *, original, note=None, before=None, **_):
        self.saved.append((note, before))
        return None


def run_search(needs: list[dict], past: list[dict]) -> tuple[SearchBook, dict]:
    book = SearchBook(needs, past)
    book.mismatch = Mismatch("cand:fn", "values", "nsa_cache_seqlens", cause="[0] is 9")
    f = Failure(book.mismatch.signature, book.mismatch, CASE, None, None)
    f.past = (past, 0)
    book._shrink(f)
    return book, f.to_json()


def test_a_failure_after_one_call_is_saved_with_that_call() -> None:
    past = items(40)
    book, got = run_search([past[17]], past)
    assert got["reproduced_alone"] is False and got["reproduced_after_calls"] == 1
    assert book.saved[-1] == (after_calls(1), [past[17]])
    assert failure_state(got) == "not reproduced alone: " + after_calls(1)
    assert got["cause"].endswith(after_calls(1))
    assert len(book.tries) < 30  # the calls alone come before all of them


def test_a_failure_after_two_calls_keeps_both_in_order_and_drops_the_rest() -> None:
    past = items(70)
    book, got = run_search([past[3], past[60]], past)
    assert book.saved[-1] == (after_calls(2), [past[3], past[60]])
    assert got["reproduced_after_calls"] == 2


def test_no_prefix_that_fails_leaves_the_failure_not_reproduced_alone() -> None:
    past = items(10)
    book, got = run_search([item(OTHER)], past)  # never ran in the worker: nothing fails
    assert got["reproduced_alone"] is False and got["reproduced_after_calls"] is None
    assert book.saved[-1] == (NOT_ALONE, None)
    assert got["cause"].endswith(NOT_ALONE)  # the entry, read alone, says replay may not show it
    book, got = run_search([item(OTHER)], [])  # no history at all: no search
    # no prefix to try: the lone re-run, then the case alone again and again
    assert book.tries == [[]] * (1 + REPEAT_PROBE) and book.saved[-1] == (NOT_ALONE, None)


# --- the corpus entry ---------------------------------------------------------------------------


def entry_bytes(**extra) -> bytes:
    data = {"format": 2, "signature": "cand:fn:values", "impl": "cand:fn",
            "case": CASE.to_json(), **extra}  # fmt: skip
    return json.dumps(data).encode()


def test_before_round_trips_and_entries_without_it_load_as_before(tmp_path: Path) -> None:
    m = Mismatch("cand:fn", "values", "nsa_cache_seqlens")
    bad = {"case": OTHER.to_json(), "fault": Fault("extend_dtype", "float32").to_json()}
    path = corpus.save(tmp_path, m, CASE, None, device="cpu", seed=0, spec="x.py:fn",
                       note=after_calls(2), before=[item(OTHER), bad])  # fmt: skip
    entry = corpus.load(path)
    assert entry.before == ((OTHER, None), (OTHER, Fault("extend_dtype", "float32")))
    assert corpus.before_items(entry) == [item(OTHER), bad]
    plain = decode(entry_bytes())
    assert plain.before == () and corpus.before_items(plain) == []
    assert plain == decode(entry_bytes()) and decode(entry_bytes(before=None)).before == ()


@pytest.mark.parametrize(
    "before, words",
    [
        ({"case": CASE.to_json()}, "before: Expected `array | null`"),
        ([{"cases": CASE.to_json()}], "before[0]"),
        ([item(CASE), {"case": {**CASE.to_json(), "seq_lens": [-1]}}], "before[1].case.seq_lens"),
        ([{"case": OTHER.to_json(), "fault": {"kind": "no_such_kind"}}], "before[0].fault"),
        ([item(CASE)] * (MAX_BEFORE + 1), f"length <= {MAX_BEFORE}"),
    ],
)
def test_a_bad_before_is_rejected_naming_it(before, words: str) -> None:
    with pytest.raises(CorpusError) as exc:
        decode(entry_bytes(before=before))
    assert words in str(exc.value), str(exc.value)


def test_show_prints_the_calls_before_and_the_reproducer_runs(tmp_path: Path) -> None:
    from fuzz.show import describe_entry, reproducer

    m = Mismatch("cand:fn", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path, m, CASE, None, device="cpu", seed=0, spec="x.py:fn",
                       note=after_calls(1), before=[item(OTHER)])  # fmt: skip
    entry = corpus.load(path)
    text = reproducer(entry)
    assert "1 call before it" in text and repr(OTHER.to_json()) in text
    assert "after 1 call(s) saved before it" in describe_entry(entry)
    exec(compile(text, "reproducer", "exec"), {})  # runs as printed


def test_a_refill_case_after_calls_before_makes_them_first(tmp_path: Path) -> None:
    # both a refill case and a refill case among the calls before: the calls before come
    # before the case's own prior call (they were printed after it), each refill as two calls
    from fuzz.show import reproducer

    refilled = replace(CASE, prior=(CASE.extend_seq_lens, tuple(v - 1 for v in CASE.seq_lens)))
    other = replace(OTHER, prior=(OTHER.extend_seq_lens, (11, 5, 2)))
    m = Mismatch("cand:fn", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path, m, refilled, None, device="cpu", seed=0, spec="x.py:fn",
                       note=after_calls(1), before=[item(other)])  # fmt: skip
    text = reproducer(corpus.load(path))
    assert text.index("before = [") < text.index("first = case.first_call()")
    assert "refill(b, b_ext, b_seq)" in text
    exec(compile(text, "reproducer", "exec"), {})  # runs as printed


# --- a real worker --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_prefix_runs_first_in_a_fresh_worker_and_only_the_case_is_answered() -> None:
    c = IsolatedCandidate(f"{HOSTILE}:bakes_topk", "cpu", timeout=30)
    try:
        c.start()
        c.submit([item(CASE)], before=[item(OTHER)])
        (answer,) = c.collect()
        assert answer.status == "ok"
        assert answer.outputs[1].values.tolist() == [9, 9]  # the top-k of 9 baked first
        c.submit([item(CASE)], before=[item(CASE)])  # a fresh worker: its own first call
        (answer,) = c.collect()
        assert answer.outputs[1].values.tolist() == list(CASE.expected()[1])
        bad = {"case": OTHER.to_json(), "fault": {"kind": "no_such_kind"}}
        c.submit([item(CASE)], before=[bad])  # a call before it that is not answered
        assert c.collect() == [None]
    finally:
        c.close()


# --- the CLI, end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_replay_after_calls_that_passes_is_tried_again_in_fresh_workers(
    tmp_path: Path, monkeypatch
) -> None:
    """Where the calls before a case left the process decides whether it fails (a buffer's
    address): one passing replay proved nothing. The candidate bakes its first top-k only in
    every second process: the first fresh worker passes, the second fails."""
    monkeypatch.setenv("NSA_TEST_PROCESS_COUNTER", str(tmp_path / "processes"))
    spec = f"{HOSTILE}:bakes_topk_every_second_process"
    m = Mismatch("hostile:bakes_topk_every_second_process", "values", "nsa_cache_seqlens")
    path = corpus.save(tmp_path / "c", m, CASE, None, device="cpu", seed=0, spec=spec,
                       note=after_calls(1), before=[item(OTHER)])  # fmt: skip
    replay = fuzz_here("replay", "--candidate", spec, path)
    assert replay.returncode == 1, replay.stdout
    assert "after the 1 call(s) saved before it; failing on try 2 of 3" in replay.stdout
    (tmp_path / "processes").write_text("1")  # the next fresh worker bakes first: try 1
    again = fuzz_here("replay", "--candidate", spec, path)
    assert again.returncode == 1 and "failing on try 1 of 3" in again.stdout, again.stdout
    plain = fuzz_here("replay", path)  # the built-ins: no calls before it, one try
    assert plain.returncode == 0 and "tries" not in plain.stdout, plain.stdout


def _fuzz(*args: object) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=240,
    )


def _find_and_replay(tmp_path: Path, spec: str, *extra: object) -> dict:
    corpus_dir, report = tmp_path / "corpus", tmp_path / "report.json"
    r = _fuzz("run", "--candidate", spec, "--seconds", 30, "--max-failures", 1, "--seed", 0,
              "--corpus", corpus_dir, "--report", report, *extra)  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    failures = json.loads(report.read_text())["failures"]
    failure = next((f for f in failures if f["reproduced_after_calls"]), failures)
    assert isinstance(failure, dict), failures  # one of them is saved with calls before it
    assert "replay runs them first" in r.stdout
    saved = json.loads(Path(failure["file"]).read_text())
    assert len(saved["before"]) == failure["reproduced_after_calls"]
    replay = _fuzz("replay", "--candidate", spec, failure["file"])
    assert replay.returncode == 1 and "call(s) saved before it" in replay.stdout, replay.stdout
    quiet = _fuzz("replay", failure["file"])  # the built-ins: right, prefix or not
    assert quiet.returncode == 0, quiet.stdout
    return failure


@pytest.mark.slow
def test_a_v1_candidate_that_bakes_its_first_topk_replays_failing(tmp_path: Path) -> None:
    failure = _find_and_replay(tmp_path, f"{HOSTILE}:bakes_topk")
    assert failure["reproduced_after_calls"] == 1


@pytest.mark.slow
def test_a_v2_candidate_with_a_stale_scratch_replays_failing(tmp_path: Path) -> None:
    # v2_scratch_not_cleared, not v2_width_baked: that one keys its state on a buffer's
    # address, so whether a case fails alone, after calls, or not at all varies run to run.
    spec = f"{ROOT / 'benchmarks' / 'redteam11_mutants.py'}:v2_scratch_not_cleared"
    _find_and_replay(tmp_path, spec, "--op", "metadata")


@pytest.mark.slow
def test_a_correct_candidate_stays_quiet_with_the_search_in_place(tmp_path: Path) -> None:
    spec = f"{ROOT / 'benchmarks' / 'redteam11_mutants.py'}:correct_v1"
    r = _fuzz("run", "--candidate", spec, "--seconds", 10, "--corpus", tmp_path / "c")
    saved = list((tmp_path / "c").glob("*.json")) if (tmp_path / "c").exists() else []
    assert r.returncode == 0 and saved == [], r.stdout


@pytest.mark.slow
def test_a_candidate_that_hangs_after_calls_is_a_hang_saved_with_them(tmp_path: Path) -> None:
    """Stuck from its third call in a process, every case answers alone: before stop 24 the
    lone answer stood and the campaign exited 0. Now a hang, saved with the calls it needs,
    and replay shows it; the built-ins pass the entry."""
    spec, limits = f"{HOSTILE}:hangs_after_two_calls", ("--timeout", 0.5, "--confirm-seconds", 2)
    corpus_dir = tmp_path / "corpus"
    # 60 s: each worker of its opening hangs after two calls (a timeout, a confirmation and a
    # fresh worker each); on a loaded 2-core machine the hang came at 25 s of 30, and the
    # search for the calls it needs had too little left (CI of stop 25)
    r = _fuzz("run", "--candidate", spec, "--seconds", 60, "--max-failures", 1, "--seed", 0,
              "--corpus", corpus_dir, *limits)  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "hang" in r.stdout and "it hangs after calls before it in the same process" in r.stdout
    assert "replay runs them first" in r.stdout, r.stdout
    (saved,) = corpus_dir.glob("*.json")
    assert 1 <= len(json.loads(saved.read_text())["before"]) <= 2  # a refill case is 2 calls
    replay = _fuzz("replay", "--candidate", spec, saved, *limits)
    assert replay.returncode == 1 and "call(s) saved before it" in replay.stdout, replay.stdout
    assert _fuzz("replay", saved).returncode == 0

"""`python -m fuzz` end to end, as a user runs it: exit codes, reports, corpus files, signals.

Each test runs short campaigns in subprocesses, with its own tmp corpus and report (never
the repository's corpus/). They are independent, so `pytest -n auto` spreads them out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz import corpus
from fuzz.case import Case
from fuzz.compare import Mismatch
from fuzz.strategies import NAMED_CASES
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
BUILTINS = ("reference", "legacy", "triton", "torch")
REPORT_KEYS = {"cases", "seconds", "failures", "implementations", "cases_per_second"}


def fuzz(*args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *map(str, args)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def said(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def run(tmp_path: Path, *args: object) -> tuple[subprocess.CompletedProcess, dict | None]:
    """A campaign with a private corpus and report; returns the process and the report."""
    report = tmp_path / "report.json"
    r = fuzz("run", "--corpus", tmp_path / "corpus", "--report", report, *args)
    return r, json.loads(report.read_text()) if report.is_file() else None


def saved_entries(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "corpus").glob("*.json"))]


def save_entry(directory: Path, case: Case, impl: str = "torch") -> Path:
    mismatch = Mismatch(impl, "values", "seqlens_expanded", 0, 8, 7)
    return corpus.save(directory, mismatch, case, None, device="cpu", seed=1)


# --- run: the happy path, determinism, splitting -------------------------------------------


def test_short_campaign_on_builtins_passes_and_reports(tmp_path: Path) -> None:
    r, report = run(tmp_path, "--max-cases", 40, "--seed", 1)
    assert r.returncode == 0, said(r)
    assert report is not None and REPORT_KEYS | {"cases_digest"} <= report.keys()
    assert report["cases"] == 40 and report["failures"] == []
    assert set(BUILTINS) <= set(report["implementations"])
    assert "summary:" in r.stdout
    assert saved_entries(tmp_path) == []


def digest(tmp_path: Path, *args: object) -> str:
    # Past the named cases and Hypothesis's first, seed-independent examples of a round.
    r, report = run(tmp_path, "--impl", "reference", "--max-cases", 300, *args)
    assert r.returncode == 0 and report is not None, said(r)
    return report["cases_digest"]


@pytest.mark.slow
def test_same_seed_same_cases_other_seed_other_cases(tmp_path: Path) -> None:
    first = digest(tmp_path / "a", "--seed", 3)
    assert digest(tmp_path / "b", "--seed", 3) == first
    assert digest(tmp_path / "c", "--seed", 4) != first


@pytest.mark.slow
def test_shards_run_different_cases(tmp_path: Path) -> None:
    zero = digest(tmp_path / "a", "--seed", 5, "--shard", "0/2")
    one = digest(tmp_path / "b", "--seed", 5, "--shard", "1/2")
    assert zero != one


@pytest.mark.slow
def test_workers_run_and_merge(tmp_path: Path) -> None:
    r, report = run(tmp_path, "--impl", "reference", "--max-cases", 60, "--workers", 2)
    assert r.returncode == 0, said(r)
    assert report is not None and REPORT_KEYS <= report.keys()
    assert report["cases"] == 60
    assert sorted(w["unit"] for w in report["workers"]) == ["0/2", "1/2"]
    assert sum(w["cases"] for w in report["workers"]) == 60


def test_sigterm_ends_the_campaign_with_summary_and_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "fuzz", "run", "--impl", "reference", "--seconds", "120"]
    cmd += ["--corpus", str(tmp_path / "corpus"), "--report", str(report)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = proc.stdout.readline()  # printed once the campaign is about to start
        assert first.startswith("campaign:"), first
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert "summary:" in out and "interrupted" in out, out
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["cases"] > 0
    assert data["seconds"] < 60


# --- run: finding planted bugs -------------------------------------------------------------


def test_planted_mutant_is_found_saved_small_and_replayed(tmp_path: Path) -> None:
    spec = "tests/mutants.py:seq_equal_extend_wrong"
    r, report = run(
        tmp_path, "--seconds", 30, "--max-failures", 1, "--shrink-seconds", 3, "--candidate", spec
    )
    assert r.returncode == 1, said(r)
    assert report is not None and len(report["failures"]) == 1
    (entry,) = saved_entries(tmp_path)
    assert entry["signature"].startswith("mutants:seq_equal_extend_wrong:")
    assert entry["candidate"] == spec
    case = Case.from_json(entry["case"])
    assert case.bs <= 2 and case.total <= 8, case.describe()

    with_candidate = fuzz("replay", tmp_path / "corpus", "--candidate", spec)
    assert with_candidate.returncode == 1, said(with_candidate)  # exit 1 from the process
    builtins_only = fuzz_here("replay", tmp_path / "corpus")  # in-process: no torch import
    assert builtins_only.returncode == 0, said(builtins_only)
    assert "pass --candidate" in builtins_only.stdout


@pytest.mark.slow  # each hanging try waits --timeout, and a confirmation --confirm-seconds
def test_hanging_candidate_is_recorded_as_a_hang(tmp_path: Path) -> None:
    # Short waits: every other case of this candidate answers in milliseconds, and one that
    # missed 0.5 s under load would answer in the 1 s re-run (a `slow` note, not a failure).
    spec = "tests/mutants.py:hangs_on_all_zero_extends"
    r, report = run(
        tmp_path, "--seconds", 30, "--max-failures", 1, "--timeout", 0.5,
        "--confirm-seconds", 1, "--candidate", spec,
    )  # fmt: skip
    assert r.returncode == 1, said(r)
    (failure,) = report["failures"]
    assert failure["signature"] == "mutants:hangs_on_all_zero_extends:hang"
    assert "no answer in 0.5 s, nor in 1 s in a fresh worker" in failure["summary"]
    (entry,) = saved_entries(tmp_path)
    assert entry["mismatch"]["kind"] == "hang"
    assert not any(Case.from_json(entry["case"]).extend_seq_lens)


@pytest.mark.slow
def test_aborting_candidate_is_recorded_as_a_crash(tmp_path: Path) -> None:
    spec = "tests/mutants.py:aborts_on_padded_request"
    r, report = run(tmp_path, "--seconds", 30, "--max-failures", 1, "--candidate", spec)
    assert r.returncode == 1, said(r)
    assert report["failures"][0]["signature"] == "mutants:aborts_on_padded_request:crash"
    (path,) = sorted((tmp_path / "corpus").glob("*.json"))
    assert "SIGABRT" in path.read_text()
    assert "crash (killed by SIGABRT)" in report["failures"][0]["summary"]


# --- usage errors: exit 2 and a message, never a traceback ------------------------------------

BAD_CANDIDATES = {
    "missing colon": ("tests/mutants.py", "expected path/to/file.py:function"),
    "missing file": ("tests/no_such_file.py:correct", "no such file"),
    "missing function": (
        "tests/mutants.py:no_such_function",
        "has no attribute 'no_such_function'",
    ),
    "import error": ("{broken}:correct", "importing"),
    # a v2 kernel run without --op metadata: every call would raise TypeError, a "failure"
    "v2 signature, v1 campaign": (
        "benchmarks/redteam13_mutants.py:correct",
        "cannot take contract v1's three positional arguments",
    ),
}


@pytest.mark.parametrize("what", list(BAD_CANDIDATES))
def test_bad_candidate_is_a_usage_error(tmp_path: Path, what: str) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_for_nsa_fuzz_tests\n")
    spec, message = BAD_CANDIDATES[what]
    spec = spec.format(broken=broken)
    r, _ = run(tmp_path, "--max-cases", 5, "--candidate", spec)
    assert r.returncode == 2, said(r)
    assert message in r.stderr and spec in r.stderr, said(r)
    assert "Traceback" not in r.stderr, said(r)


def test_run_without_a_budget_is_a_usage_error(tmp_path: Path) -> None:
    r, report = run(tmp_path)
    assert r.returncode == 2, said(r)
    assert "--seconds" in r.stderr and "--max-cases" in r.stderr
    assert report is None


# --- replay, list, show ------------------------------------------------------------------------


def test_replay_names_a_corrupt_file_and_replays_the_rest(tmp_path: Path) -> None:
    good = save_entry(tmp_path, NAMED_CASES["contract example"])
    (tmp_path / "broken.json").write_text('{"signature": ')
    # In-process (cli_here): replay and list run as processes in the planted-mutant test and
    # test_list_and_show.
    r = fuzz_here("replay", tmp_path, "--impl", "reference,torch")
    assert r.returncode == 3, said(r)  # an unreadable entry: the suite could not do its work
    errors = [line for line in r.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "broken.json" in errors[0], said(r)
    assert f"PASS {good}" in r.stdout, said(r)

    listed = fuzz_here("list", tmp_path)
    assert listed.returncode == 3, said(listed)
    assert "broken.json" in listed.stdout and good.name in listed.stdout


def test_list_and_show(tmp_path: Path) -> None:
    path = save_entry(tmp_path, NAMED_CASES["contract example"], impl="triton")
    listed = fuzz("list", tmp_path)
    assert listed.returncode == 0, said(listed)
    assert path.name in listed.stdout and "triton:values:seqlens_expanded" in listed.stdout
    assert "bs=3 total=5" in listed.stdout and "1 entry" in listed.stdout

    shown = fuzz("show", path)
    assert shown.returncode == 0, said(shown)
    assert "Case.from_json(" in shown.stdout and "expected = case.expected()" in shown.stdout
    data = json.loads(shown.stdout.split("\n# reproduce")[0])
    assert data["signature"] == "triton:values:seqlens_expanded"


def test_the_hang_confirmation_defaults_to_max_30_or_6_timeouts_and_is_checked(
    tmp_path: Path,
) -> None:
    from fuzz.campaign import Options

    assert Options().confirm_timeout() == 30.0
    assert Options(timeout=10.0).confirm_timeout() == 60.0
    assert Options(timeout=1.0, confirm_seconds=3.0).confirm_timeout() == 3.0
    r, _ = run(tmp_path, "--seconds", 5, "--timeout", 4, "--confirm-seconds", 2)
    assert r.returncode == 2 and "--confirm-seconds 2 is below --timeout 4" in r.stderr, said(r)


@pytest.mark.parametrize("op", ["expand", "metadata"])
def test_workers_split_the_opening_cases(tmp_path: Path, op: str) -> None:
    """N workers take every N-th named case or shipped seed, as they take rounds: each runs
    once in the campaign, and the named bad calls (--op metadata) run in worker 0 only."""
    from fuzz.campaign import Options
    from fuzz.meta_campaign import campaign_class

    seen: list[tuple[int, list, list]] = []
    for unit in range(3):
        options = Options(unit=unit, units=3, op=op, corpus_dir=tmp_path, builtins=["triton"])
        c = campaign_class(op)(options)
        c._run = lambda cases, bad, *_, unit=unit: seen.append((unit, cases, bad)) or []
        c._round = lambda r, c=c: setattr(c, "interrupted", True)
        c.run()
        assert c.errors == []
    opening = campaign_class(op)(Options(op=op))._opening_cases()
    by_unit = [[repr(x) for u, cases, _ in seen if u == unit for x in cases] for unit in range(3)]
    assert sorted(sum(by_unit, [])) == sorted(repr(x) for x in opening)
    assert all(len(cases) >= len(opening) // 3 for cases in by_unit)
    assert [u for u, _, bad in seen if bad] == ([0] if op == "metadata" else [])

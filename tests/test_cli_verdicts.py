"""The verdict is the product: one exit-code table, a report whatever happens, every number
checked before any work, every worker's counts kept. Each test runs `python -m fuzz` in a
subprocess, as a user does, with its own corpus and report."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz.report import Report
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def fuzz(*args: object, env: dict | None = None, timeout: float = 180):
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *map(str, args)],
        cwd=ROOT,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def said(r) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def campaign(tmp_path: Path, *args: object, env: dict | None = None):
    report = tmp_path / "report.json"
    r = fuzz("run", "--corpus", tmp_path / "corpus", "--report", report, *args, env=env)
    return r, json.loads(report.read_text()) if report.is_file() else None


# --- usage: exit 2, decided before any work, never a traceback ------------------------------

BAD_FLAGS = {
    "seconds nan": ("--seconds", "nan"),
    "seconds inf": ("--seconds", "inf"),
    "timeout nan": ("--max-cases", "5", "--timeout", "nan"),
    "memory limit negative": ("--max-cases", "5", "--memory-limit", "-1"),
    "bulk negative": ("--max-cases", "5", "--bulk", "-5"),
    "impl empty": ("--max-cases", "5", "--impl", ","),
    "max cases zero": ("--max-cases", "0"),
    "envelope unknown key": ("--max-cases", "5", "--envelope", '{"colour": 1}'),
}


@pytest.mark.parametrize("what", list(BAD_FLAGS))
def test_bad_numbers_and_flags_are_usage_errors(tmp_path: Path, what: str) -> None:
    r, report = campaign(tmp_path, *BAD_FLAGS[what])
    assert r.returncode == 2, said(r)
    assert "Traceback" not in r.stderr, said(r)
    assert report is None


def test_a_file_where_the_corpus_should_be_is_a_usage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    r = fuzz("run", "--max-cases", "5", "--corpus", not_a_dir)
    assert r.returncode == 2 and "--corpus" in r.stderr, said(r)
    assert "summary:" not in r.stdout  # decided before any work


def test_an_unwritable_report_path_is_a_usage_error_before_the_campaign(tmp_path: Path) -> None:
    r = fuzz("run", "--seconds", "60", "--corpus", tmp_path / "c", "--report", "/proc/nope/r.json")
    assert r.returncode == 2 and "--report" in r.stderr, said(r)
    assert "summary:" not in r.stdout


@pytest.mark.parametrize("command", ["show", "list"])
def test_show_or_list_of_a_missing_file_is_a_usage_error(tmp_path: Path, command: str) -> None:
    # In-process (cli_here): the same parser and handler; test_cli runs show and list as a
    # process.
    r = fuzz_here(command, tmp_path / "missing.json")
    assert r.returncode == 2, said(r)


# --- budgets ----------------------------------------------------------------------------------


def test_max_cases_runs_exactly_that_many(tmp_path: Path) -> None:
    r, report = campaign(tmp_path, "--max-cases", 5, "--bulk", 0)
    assert r.returncode == 0, said(r)
    assert report["cases"] == 5


# --- exit 3: the suite's own troubles are never a clean run ----------------------------------


@pytest.mark.slow
def test_a_harness_error_in_one_of_four_workers_exits_3_and_keeps_every_count(
    tmp_path: Path,
) -> None:
    env = {**ENV, "NSA_FUZZ_INJECT": "harness-error:2"}
    r, report = campaign(
        tmp_path, "--max-cases", 200, "--workers", 4, "--bulk", 0, "--no-named", env=env
    )
    assert r.returncode == 3, said(r)
    assert report is not None and report["exit_code"] == 3
    assert any("injected harness error" in e for e in report["errors"]), report["errors"]
    assert len(report["workers"]) == 4
    assert "ERROR" in r.stdout, said(r)
    assert report["failures"] == []  # never blamed on an implementation


def test_an_internal_error_of_a_single_campaign_exits_3_with_its_report(tmp_path: Path) -> None:
    env = {**ENV, "NSA_FUZZ_INJECT": "internal-error:0"}
    r, report = campaign(tmp_path, "--max-cases", 50, "--bulk", 0, env=env)
    assert r.returncode == 3, said(r)
    assert report is not None and report["exit_code"] == 3
    assert any("injected internal error" in e for e in report["errors"]), report["errors"]
    assert "Traceback" not in r.stderr and "summary:" in r.stdout, said(r)


# --- signals ----------------------------------------------------------------------------------


def _start(tmp_path: Path, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fuzz",
            "run",
            "--corpus",
            tmp_path / "corpus",
            "--report",
            tmp_path / "report.json",
            *map(str, args),
        ],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_during_start_up_still_gives_summary_and_report(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--seconds", 60)
    time.sleep(0.3)  # still importing torch
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{out}\n{err}"
    assert "summary:" in out, out + err
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["interrupted"] is True


def _wait_for_progress(proc: subprocess.Popen, within: float = 90) -> None:
    """Wait for the first progress line on stderr, printed once a worker has counted cases;
    the process is killed if it never comes."""
    end, seen, fd = time.monotonic() + within, b"", proc.stderr.fileno()
    while b"cases/s" not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(end - time.monotonic(), 0))
        chunk = os.read(fd, 4096) if ready else b""
        if ready and not chunk:
            break  # the process ended
        seen += chunk
    if b"cases/s" not in seen:
        proc.kill()
        proc.wait()
        raise AssertionError(f"no progress line from the campaign: {seen.decode()!r}")


# Slow tier (~10 s). The gate keeps both halves: test_cli's SIGTERM of a campaign (summary
# and report, interrupted) and its two-worker campaign whose report merges the workers' counts.
@pytest.mark.slow
def test_sigterm_with_workers_keeps_every_workers_counts(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--seconds", 120, "--workers", 2, "--bulk", 0)
    _wait_for_progress(proc)  # a worker is past start-up; both began together
    time.sleep(3)  # so both run cases when the signal comes (was a fixed 12 s)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["interrupted"] is True
    assert len(data["workers"]) == 2
    assert data["cases"] == sum(w["cases"] for w in data["workers"]) > 0


# --- the report -------------------------------------------------------------------------------


def test_report_merge_adds_counts_and_keeps_one_failure_per_signature() -> None:
    a = Report(cases=3, hypothesis_cases=3, seconds=2.0, cases_digest="a")
    a.failures.append({"signature": "x:values:seqlens_expanded"})
    b = Report(cases=4, bulk_cases=4, seconds=3.0, cases_digest="b", errors=["worker 1 died"])
    b.failures.append({"signature": "x:values:seqlens_expanded"})
    b.implementations["triton"] = {"calls": 2, "seconds": 0.5}
    merged = Report.merge([a, b])
    assert merged.cases == 7 and merged.seconds == 3.0
    assert len(merged.failures) == 1
    assert merged.exit_code() == 3  # an error of the suite outranks the failure
    assert Report.merge([a]).exit_code() == 1
    assert Report().exit_code() == 0
    data = merged.to_json()
    assert data["cases_per_second"] == round(7 / 3.0, 1) and len(data["workers"]) == 2
    assert Report.from_json(json.loads(json.dumps(a.to_json()))).cases == 3


# --- the budget is a promise; nothing is left behind -----------------------------------------


@pytest.mark.slow
def test_a_candidate_whose_import_outlasts_the_budget_is_a_usage_error(tmp_path: Path) -> None:
    slow = tmp_path / "slow_import.py"
    slow.write_text("import time\ntime.sleep(60)\n\ndef fn(e, s, k):\n    return e, s\n")
    start = time.monotonic()
    r, report = campaign(tmp_path, "--seconds", 4, "--candidate", f"{slow}:fn")
    assert r.returncode == 2, said(r)
    assert "did not finish" in r.stderr and "Traceback" not in r.stderr, said(r)
    assert time.monotonic() - start < 30


def _ours(marker: str) -> list[int]:
    """Processes whose command line or environment names `marker` (this test's corpus)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(int(entry.name))
    return found


# Slow tier (~10 s: a two-worker campaign, then a wait for strays). The gate keeps the
# mechanism: test_isolation's kill -9 of a parent ends its workers and their children.
@pytest.mark.slow
def test_kill_9_of_a_campaign_with_workers_leaves_no_process(tmp_path: Path) -> None:
    marker = f"nsa-orphan-{os.getpid()}-{time.monotonic_ns()}"
    env = {**ENV, "NSA_TEST_MARKER": marker}  # inherited by every process it starts
    proc = subprocess.Popen(
        [sys.executable, "-m", "fuzz", "run", "--seconds", "120", "--workers", "2",
         "--candidate", "tests/candidates/hostile.py:forks", "--corpus", tmp_path / "c"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_ours(marker)) < 5 and time.monotonic() < deadline:
        time.sleep(0.5)  # the supervisor, two campaign workers, their plug-in workers
    assert len(_ours(marker)) >= 5, _ours(marker)
    time.sleep(3)  # let the candidate fork a few strays
    proc.kill()
    proc.wait()
    end = time.monotonic() + 20
    while _ours(marker) and time.monotonic() < end:
        time.sleep(0.5)
    assert _ours(marker) == [], f"left behind: {_ours(marker)}"


def mixed_corpus(tmp_path: Path) -> Path:
    """One saved v1 failure and one saved v2 failure (shipped seeds' cases, re-labelled as
    failures of the torch built-in)."""
    corpus_dir = tmp_path / "mixed"
    corpus_dir.mkdir()
    seeds = ROOT / "fuzz" / "seeds"
    for name, sig in (
        ("seed-empty-batch.json", "torch:values:seqlens_expanded"),
        ("seed-meta-bs1-decode.json", "metadata:torch:values:cache_seqlens"),
    ):
        entry = json.loads((seeds / name).read_text())
        entry.update(impl="torch", signature=sig)
        entry.pop("note", None)
        (corpus_dir / name.replace("seed-", "saved-")).write_text(json.dumps(entry))
    return corpus_dir


def test_replay_of_a_mixed_corpus_asks_which_op_the_candidate_is() -> None:
    """A v1 kernel handed a v2 case "fails" with a TypeError: a false alarm. Without --op,
    replay of entries of both ops with a candidate is a usage error naming --op."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir = mixed_corpus(Path(tmp))
        cand = f"{ROOT / 'tests' / 'mutants.py'}:correct"
        # In-process (cli_here); the candidate still runs in its own worker process.
        r = fuzz_here("replay", corpus_dir, "--impl", "torch", "--candidate", cand)
        assert r.returncode == 2, said(r)
        assert "pass --op expand or --op metadata" in r.stderr, said(r)
        r = fuzz_here(
            "replay", corpus_dir, "--impl", "torch", "--candidate", cand, "--op", "expand"
        )
        assert r.returncode == 0, said(r)
        assert "replayed 1 entry (0 failing)" in r.stdout, said(r)
        assert "1 of another op than --op expand skipped" in r.stdout, said(r)
        assert "TypeError" not in r.stdout + r.stderr, said(r)


@pytest.mark.slow
def test_cases_the_time_cut_off_are_not_counted_and_are_named(tmp_path: Path) -> None:
    """A candidate that could not answer every case before --seconds ended: the report
    counts only the cases it judged, and says how many it never answered (exit 0: the
    budget was the user's, nothing failed)."""
    cand = "tests/candidates/hostile.py:slow_every_call"
    # 12 s: under load (two xdist workers beside other jobs) a 6 s campaign ended before the
    # worker's first answer (that run now exits 3: the next test)
    r, report = campaign(tmp_path, "--candidate", cand, "--seconds", 12, "--timeout", 5)
    assert r.returncode == 0, said(r)
    assert report is not None
    missed = report["not_judged"].get("hostile:slow_every_call", 0)
    answered = report["implementations"]["hostile:slow_every_call"]["calls"]
    assert missed > 0 and report["cases"] == answered == report["opening_cases"], report
    assert f"NOT JUDGED hostile:slow_every_call: {missed:,} case(s)" in r.stdout, said(r)


@pytest.mark.slow
def test_a_candidate_that_answered_no_case_does_not_pass(tmp_path, monkeypatch) -> None:
    """Every case of the campaign's time still unanswered (a first call of 60 s): nothing is
    known of the candidate, so the run exits 3 and says so, never 0."""
    from fuzz.campaign import Campaign, Options

    monkeypatch.setenv("NSA_HOSTILE_SLOW_SECONDS", "60")
    cand = "tests/candidates/hostile.py:slow_first_call"
    options = Options(candidates=[cand], corpus_dir=tmp_path, timeout=120.0,
                      deadline=time.monotonic() + 10)  # fmt: skip
    report = Campaign(options).run().report()
    assert report.failures == [] and report.exit_code() == 3, report
    (error,) = report.errors
    assert "--candidate hostile:slow_first_call: not one case was judged" in error, error
    assert report.not_judged.get("hostile:slow_first_call", 0) > 0


def test_a_command_past_the_wire_header_cap_is_the_suites_error(tmp_path, monkeypatch) -> None:
    """A run command the worker's reader would refuse is never sent: exit 3 with the cause,
    not a crash blamed on a correct candidate (stop 17: 4 cases of bs-16385 calls passed
    the old 1 MiB cap and the worker died)."""
    from fuzz import wire
    from fuzz.campaign import Campaign, Options

    monkeypatch.setattr(wire, "HEADER_CAP", 1500)
    cand = "tests/candidates/hostile.py:slow_first_call"
    options = Options(candidates=[cand], corpus_dir=tmp_path, max_cases=20, timeout=10.0)
    report = Campaign(options).run().report()
    assert report.failures == [] and report.exit_code() == 3, report
    assert any("header cap (1,500 bytes)" in e for e in report.errors), report.errors


@pytest.mark.parametrize("where", ["round", "opening"])
def test_an_interrupt_turned_into_another_exception_is_an_interrupt(tmp_path, where) -> None:
    """Ctrl-C or SIGTERM raises KeyboardInterrupt wherever the campaign is; inside
    Hypothesis's engine it can come out as an AssertionError of Hypothesis's own (seen once
    in CI: `campaign round 8 failed: AssertionError()`, exit 3). Once a stop was asked, such
    an exception ends the campaign as interrupted, not as an error of the suite."""
    from fuzz.campaign import Campaign, Options

    c = Campaign(Options(corpus_dir=tmp_path, deadline=time.monotonic() + 60))
    stop = {"asked": False}
    c.should_stop = lambda: stop["asked"]

    def interrupted(*args, **kwargs):
        stop["asked"] = True
        raise AssertionError()

    if where == "round":
        c._property = interrupted
    else:
        c._check = interrupted
    report = c.run().report()
    assert report.errors == [] and report.interrupted and report.exit_code() == 0, report

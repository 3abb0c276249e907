"""Plug-ins are hostile: each attack of tests/candidates/hostile.py ends as its own verdict,
with its cause, and leaves no process behind.

Tests about time use short limits (0.5 s, confirmations of 2-4 s), the others generous
ones (a loaded machine is not a hang); each test starts its own workers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from fuzz import procs, wire
from fuzz.candidates import CandidateError
from fuzz.case import Case, Layout
from fuzz.compare import expected_tensors
from fuzz.harness import HarnessError, Tally, judge_valid, run_one
from fuzz.isolation import Answer, IsolatedCandidate

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "candidates" / "hostile.py"
CASE = Case((1, 2), (3, 4), 2)
OTHER = Case((2, 0, 1), (5, 1, 1), 3)


@contextlib.contextmanager
def candidate(name: str, **options):
    options = {"timeout": 10.0, **options}  # generous unless a test is about time
    c = IsolatedCandidate(f"{HOSTILE}:{name}", "cpu", **options)
    c.start()
    try:
        yield c
    finally:
        c.close()


def ask(c: IsolatedCandidate, *cases: Case, **when) -> list[Answer | None]:
    c.submit([{"case": case.to_json()} for case in cases])
    return c.collect(**when)


def sessions(c: IsolatedCandidate) -> list[int]:
    return [w.pid for w in (c._main, c._spare) if w is not None]


def alive_in(leaders: list[int]) -> list[int]:
    return [pid for leader in leaders for pid in procs.members(leader) if procs.alive(pid)]


def wait_until(check, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def findings(c: IsolatedCandidate, case: Case = CASE):
    return run_one(case, None, [], [("hostile", c)], "cpu", Tally())


# --- no process left behind ----------------------------------------------------------------


@pytest.mark.slow
def test_forking_candidate_leaves_no_process_behind() -> None:
    with candidate("forks") as c:
        c.submit([{"case": case.to_json()} for case in (CASE, OTHER)])
        leaders, main = sessions(c), c._main
        answers = c.collect()
        assert [a.status for a in answers] == ["ok", "ok"]
        strays = [int(p) for a in answers for p in a.output_tail.split()[1:]]
        assert len(strays) == 6
        # strays are killed when the batch ends, and the worker they came from with them
        # (a candidate whose helper processes died must not run on in it)
        assert wait_until(lambda: not any(procs.alive(p) for p in strays)), strays
        assert wait_until(lambda: not alive_in([main.pid])), alive_in([main.pid])
        assert c._main is None
        (again,) = ask(c, CASE)  # the next batch runs in a fresh worker
        assert again.status == "ok", again  # (its own strays end that worker in turn)
    assert wait_until(lambda: not alive_in(leaders)), alive_in(leaders)


def running_with(word: str) -> list[int]:
    """Live workers whose command line holds `word` (forks of a worker keep its own; the
    compile-ahead helpers of another test, whose config holds the spec too, do not count)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        hit = word.encode() in cmd and b"fuzz.worker" in cmd
        if hit and procs.alive(int(name)):
            found.append(int(name))
    return found


@pytest.mark.parametrize("name", ["daemonises", "daemonises_and_hangs"])
def test_a_daemon_that_leaves_the_session_goes_with_the_worker(name: str) -> None:
    # a double fork and setsid take it out of the worker's session and group: the worker
    # adopts it (a subreaper) and is frozen while its descendants are killed (on the old
    # code the daemon slept on for 60 s after the campaign); one that answered is left to
    # serve its worker (a compile server) until the worker ends
    with candidate(name, timeout=1.0, confirm_timeout=1.0) as c:
        (answer,) = ask(c, CASE)
        assert answer.status == ("ok" if name == "daemonises" else "hang"), answer
        daemons = [int(answer.output_tail.split()[-1])]
        if name == "daemonises":
            worker = c._main.pid
            (again,) = ask(c, OTHER)
            assert again.status == "ok" and c._main.pid == worker
            daemons.append(int(again.output_tail.split()[-1]))
            assert all(procs.alive(d) for d in daemons)
    assert wait_until(lambda: not any(procs.alive(d) for d in daemons)), daemons
    assert wait_until(lambda: not running_with(f"hostile.py:{name}")), running_with(name)


PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from fuzz.case import Case
from fuzz.isolation import IsolatedCandidate
c = IsolatedCandidate({spec!r}, "cpu", timeout=30)
c.start()
c.submit([{{"case": Case((1, 2), (3, 4), 2).to_json()}}])
time.sleep(1.0)  # the call forks; nobody collects
print(c._main.pid, c._spare.pid, flush=True)
time.sleep(60)
"""


def test_kill_9_of_the_parent_ends_workers_and_their_children(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(ROOT), spec=f"{HOSTILE}:forks"))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        leaders = [int(p) for p in parent.stdout.readline().split()]
        assert len(leaders) == 2
        assert wait_until(lambda: len(alive_in(leaders[:1])) >= 4), alive_in(leaders)
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not alive_in(leaders)), alive_in(leaders)
    finally:
        parent.kill()


# --- the parent judges -------------------------------------------------------------------------


def test_patched_checks_do_not_hide_wrong_values() -> None:
    with candidate("patches_checks_returns_zeros") as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "values"
    assert found.mismatch.cause == "seqlens_expanded[0] is 0, expected 3"


def test_patched_checks_do_not_hide_modified_inputs() -> None:
    with candidate("patches_checks_modifies_inputs") as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "input-modified"
    assert found.mismatch.cause


def test_a_result_on_the_meta_device_is_the_wrong_device() -> None:
    with candidate("meta_result") as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "device" and found.mismatch.got == "meta"


@pytest.mark.slow
def test_junk_on_the_protocol_fd_is_a_protocol_failure() -> None:
    with candidate("junk_on_protocol_fd") as c:
        (answer,) = ask(c, CASE)
        assert answer.status == "protocol" and "frame" in answer.cause, answer
        (found,) = findings(c)  # a fresh worker took over; the campaign goes on
    assert found.mismatch.signature == "hostile:protocol"


def test_a_huge_message_is_oversize_without_reading_it() -> None:
    with candidate("huge_frame_on_protocol_fd") as c:
        start = time.monotonic()
        (answer,) = ask(c, CASE)
    assert answer.status == "oversize" and "1,099,511,627,786 bytes" in answer.cause, answer
    assert time.monotonic() - start < 2


def test_a_2_x_512_mib_result_is_oversize() -> None:
    with candidate("huge_result", message_cap=1 << 20) as c:
        (answer,) = ask(c, CASE)
    assert answer.status == "oversize", answer
    assert "1,073,741,8" in answer.cause and "cap 1,048,576" in answer.cause


def test_100_mb_of_output_is_kept_as_a_bounded_tail(capfd) -> None:
    with candidate("prints_100_mb") as c:
        (answer,) = ask(c, CASE, OTHER)[:1]
        tail = c._main.tail
    assert answer.status == "ok", answer
    assert answer.output_tail.endswith("LAST LINE OF OUTPUT\n")
    assert len(answer.output_tail) <= 4096 and len(tail.recent) <= 4096
    assert tail.total > 200_000_000
    out, err = capfd.readouterr()
    assert "spam" not in out and "spam" not in err


# --- causes ----------------------------------------------------------------------------------


def test_a_segfault_is_a_crash_named_by_its_signal() -> None:
    with candidate("segfaults") as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "crash" and "SIGSEGV" in found.mismatch.cause
    assert "Fatal Python error" in found.mismatch.output_tail


def test_sys_exit_is_a_crash_with_its_status() -> None:
    with candidate("exits_3") as c:
        (answer,) = ask(c, CASE)
    assert answer.status == "crash" and answer.cause == "exited with status 3"
    assert "bye from exits_3" in answer.output_tail


def test_after_a_crash_the_rest_of_the_batch_runs_in_a_fresh_worker() -> None:
    with candidate("aborts_on_empty_batch") as c:
        answers = ask(c, CASE, Case((), (), 1), OTHER, CASE)
        assert [a.status for a in answers] == ["ok", "crash", "ok", "ok"]
        assert answers[1].cause == "killed by SIGABRT" and c.restarts == 1


@pytest.mark.parametrize(
    "name, words",
    [
        ("raises_cuda_error", "CUDA error: an illegal memory access was encountered"),
        ("dies_after_cuda_error", "CUDA error: device-side assert triggered"),
    ],
)
def test_a_cuda_error_string_is_a_cuda_fault(name: str, words: str) -> None:
    with candidate(name) as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "cuda-fault" and words in found.mismatch.cause


def test_an_allocation_refused_under_the_memory_cap_is_raised_with_its_message() -> None:
    with candidate("allocates_too_much") as c:
        (found,) = findings(c)
    assert found.mismatch.kind == "raised RuntimeError"
    assert "allocate" in found.mismatch.cause and "\n" not in found.mismatch.cause
    # the cap is the fuzzer's, not the machine's: the cause says so, and how to lift it
    assert "capped at 8 GiB by the fuzzer: --memory-limit" in found.mismatch.cause


def test_our_own_fault_in_the_worker_is_a_harness_error() -> None:
    bad_layout = Case((1, 2), (3, 4), 2, seq_layout=Layout("int32", 0, 0))  # needs equal values
    with candidate("hangs_on_empty_batch") as c:
        (answer,) = ask(c, bad_layout)
    assert answer.status == "harness-error" and "stride-0" in answer.cause
    want = expected_tensors(CASE.expected())
    with pytest.raises(HarnessError, match="stride-0"):
        judge_valid("hostile", bad_layout, answer, want, "cpu")


# --- hangs, confirmed ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_slow_first_call_is_slow_not_a_hang() -> None:
    # confirm_timeout far above SLOW_SECONDS: a fresh worker on a loaded CI machine is slow.
    with candidate("slow_first_call", timeout=0.5, confirm_timeout=10.0) as c:
        first, second = ask(c, CASE, OTHER)
    assert first.status == "slow" and first.seconds > 1.0, first
    assert "answered in" in first.cause
    assert second.status == "ok"
    assert [s for _, s in c.slow] == [first.seconds]
    want = expected_tensors(CASE.expected())
    assert judge_valid("hostile", CASE, first, want, "cpu") is None
    as_failure = judge_valid("hostile", CASE, first, want, "cpu", slow_is_failure=True)
    assert as_failure is not None and as_failure.kind == "slow"


def test_a_true_hang_is_confirmed_in_a_fresh_worker() -> None:
    with candidate("hangs", timeout=0.5, confirm_timeout=2.0) as c:
        (answer,) = ask(c, CASE)
    assert answer.status == "hang"
    assert answer.cause == "no answer in 0.5 s, nor in 2 s in a fresh worker"


@pytest.mark.slow
def test_a_hang_after_calls_is_a_hang_though_the_case_answers_alone() -> None:
    """A candidate stuck from its third call in a process: the case re-run alone answers,
    but the worker that ran two calls before it never does. Before, the lone answer stood:
    a campaign of a kernel that hung every few calls exited 0 (stop 24)."""
    with candidate("hangs_after_two_calls", timeout=0.5, confirm_timeout=2.0) as c:
        answers = ask(c, CASE, OTHER, CASE)
        before = c.calls_before({"case": CASE.to_json()})[0]
    assert [a.status for a in answers] == ["ok", "ok", "hang"], answers
    cause = answers[2].cause
    assert "in a worker that had answered 2 items (cases or bad calls) before it" in cause, cause
    assert "alone in a fresh worker it answered in" in cause
    assert cause.endswith("it hangs after calls before it in the same process")
    assert answers[2].seconds >= 2.0
    assert before == [{"case": CASE.to_json()}, {"case": OTHER.to_json()}]


@pytest.mark.slow  # a fresh worker's start and a slow call (~5 s); the gate keeps the hang
def test_a_call_slow_after_calls_is_not_a_hang() -> None:
    """The third call takes SLOW_SECONDS in its worker (a compile the lone re-run found
    done): the worker answers within the confirmation, so the lone answer stands."""
    with candidate("slow_third_call", timeout=0.5, confirm_timeout=6.0) as c:
        answers = ask(c, CASE, OTHER, CASE, OTHER)
    assert [a.status for a in answers] == ["ok", "ok", "ok", "ok"], answers


def test_a_triton_compile_is_off_the_call_clock(monkeypatch) -> None:
    """A first call that compiles for 1.5 s, with a 0.5 s limit and a 1 s confirmation:
    its compile (triton.compiler.compile, which every JIT launch takes) runs off the clock,
    so it answers as a 0 s call, in its first worker. Before stop 24 the same call of a
    real kernel (ptxas 40 s on red-team 12's rows kernel, H100) was a confirmed hang."""
    monkeypatch.setenv("NSA_HOSTILE_SLOW_COMPILE", "1")
    with candidate("compiles_slowly_once", timeout=0.5, confirm_timeout=1.0) as c:
        start = time.monotonic()
        first, second = ask(c, CASE, OTHER)
        took = time.monotonic() - start
    assert (first.status, second.status) == ("ok", "ok"), (first, second)
    assert first.seconds < 0.5 and took >= 1.5, (first.seconds, took)
    assert c.slow == [] and c.restarts == 0


def test_the_call_clock_stops_while_compiling() -> None:
    from fuzz.worker import CallClock

    progress = [0] * 6
    clock = CallClock(progress)
    clock.enter()
    with clock.compiling():
        assert progress[4] == 0 and progress[5] > 0  # off the clock, seen compiling
        time.sleep(0.05)
    assert progress[5] == 0 and progress[4] > 0  # back on it, inside the call
    clock.leave()
    assert progress[3] < 0.05 * 1e9 and clock.compiled_ns >= 0.05 * 1e9


@pytest.mark.slow
def test_time_outside_the_call_is_not_the_candidates() -> None:
    """Outputs that take seconds to read (harness time, after the call returned): with a
    0.3 s limit and a 1 s confirmation, before the worker timed the calls themselves, a
    false hang (a correct candidate on a 65,536-column case, `--timeout 0.05
    --confirm-seconds 0.2`, stop 22)."""
    with candidate("slow_to_read", timeout=0.3, confirm_timeout=1.0) as c:
        start = time.monotonic()
        (answer,) = ask(c, CASE)
        took = time.monotonic() - start
    assert answer.status == "ok", answer
    assert answer.seconds < 0.3 and took > 1.0, (answer.seconds, took)
    assert c.slow == [] and c.restarts == 0  # judged in its first worker, no re-run
    assert judge_valid("hostile", CASE, answer, expected_tensors(CASE.expected()), "cpu") is None


def test_the_wait_counts_the_candidates_own_seconds() -> None:
    """_await_item: past the limit in wall time, it waits on while the worker's clock says
    the candidate ran less than the limit, and gives up once it ran the limit."""

    class Worker:
        def __init__(self, arrives: float, own: list[float]):
            self.arrives, self.own = arrives, own

        def next_frame(self, until: float):
            time.sleep(max(0.0, min(until, self.arrives) - time.monotonic()))
            return ({"op": "answer"}, []) if time.monotonic() >= self.arrives else None

        def candidate_seconds(self) -> float:
            return self.own[0]

    c = IsolatedCandidate(f"{HOSTILE}:hangs", "cpu", timeout=0.2)
    start = time.monotonic()
    assert c._await_item(Worker(start + 0.6, [0.05]), start, None) is not None
    assert time.monotonic() - start >= 0.55  # waited past the 0.2 s limit for it
    start = time.monotonic()
    assert c._await_item(Worker(start + 5.0, [0.2]), start, None) is None
    assert time.monotonic() - start < 1.0  # its own time reached the limit: no answer
    start = time.monotonic()
    assert c._await_item(Worker(start + 5.0, [0.0]), start, start + 0.3) is None
    assert time.monotonic() - start < 1.0  # the campaign's deadline still ends the wait


def test_a_confirmation_cut_short_by_the_budget_is_unconfirmed() -> None:
    with candidate("hangs_on_empty_batch", timeout=0.5) as c:
        start = time.monotonic()
        empty, fine = ask(c, Case((), (), 1), CASE, hard_deadline=start + 1.2)
        assert time.monotonic() - start < 8.0  # not the 30 s confirmation (margin for load)
    assert empty.status == "unconfirmed-hang" and "cut short" in empty.cause, empty
    assert fine is None  # not run: the budget is spent
    assert judge_valid("hostile", CASE, empty, expected_tensors(CASE.expected()), "cpu") is None


def test_past_the_deadline_items_are_not_run() -> None:
    with candidate("hangs_on_empty_batch") as c:
        start = time.monotonic()
        answers = ask(c, Case((), (), 1), CASE, deadline=start + 0.3)
        # Not the 10 s timeout nor the hang (margin for a loaded machine).
        assert answers == [None, None] and time.monotonic() - start < 5.0
        (answer,) = ask(c, CASE)  # a fresh worker takes the next batch
    assert answer.status == "ok"


def test_an_import_that_sleeps_past_the_deadline_is_a_candidate_error(tmp_path: Path) -> None:
    module = tmp_path / "sleepy.py"
    module.write_text("import time\ntime.sleep(60)\n\ndef fn(a, b, c):\n    return a, b\n")
    c = IsolatedCandidate(f"{module}:fn", "cpu")
    start = time.monotonic()
    with pytest.raises(CandidateError, match="importing it did not finish within"):
        c.start(deadline=start + 1.5)
    assert time.monotonic() - start < 10.0  # not the 60 s import (margin for load)
    c.close()


def test_a_missing_function_is_a_candidate_error() -> None:
    c = IsolatedCandidate(f"{HOSTILE}:no_such_function", "cpu")
    with pytest.raises(CandidateError, match="has no attribute 'no_such_function'"):
        c.start()


# --- the wire format -------------------------------------------------------------------------


def frames(data: bytes, cap: int = wire.DEFAULT_CAP) -> list[tuple[dict, list[bytes]]]:
    reader, out = wire.FrameReader(cap), []
    for i in range(0, len(data), 7):  # in small pieces, as a pipe may deliver them
        reader.feed(data[i : i + 7])
        while (frame := reader.next()) is not None:
            out.append(frame)
    return out


def test_frames_round_trip_in_pieces() -> None:
    data = b"".join(
        b"".join(bytes(p) for p in wire.encode({"n": n}, [b"x" * n, b"yz"])) for n in range(3)
    )
    got = frames(data)
    assert [h["n"] for h, _ in got] == [0, 1, 2]
    assert got[2][1] == [b"xx", b"yz"]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"garbage that is long enough", wire.ProtocolError),
        (wire.PREFIX.pack(wire.MAGIC, 4, 0) + b"[1] ", wire.ProtocolError),  # not an object
        (wire.PREFIX.pack(wire.MAGIC, 3, 0) + b"{\xff}", wire.ProtocolError),
        (wire.PREFIX.pack(wire.MAGIC, 2, 5) + b"{}abcde", wire.ProtocolError),  # no blob list
        (wire.PREFIX.pack(wire.MAGIC, 10, 2**40), wire.OversizeError),
    ],
)
def test_bad_frames_are_named(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        frames(data)


def test_deeply_nested_header_is_a_protocol_error() -> None:
    head = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(wire.ProtocolError):
        frames(wire.PREFIX.pack(wire.MAGIC, len(head), 0) + head)


# --- a slow interpreted kernel is not a hang (tests/candidates/interpreted.py) ---------------

INTERPRETED = ROOT / "tests" / "candidates" / "interpreted.py"
BIG = Case((2000,), (2000,), 9)  # ~7 s of interpreted steps: 2,001 requests and rows


@contextlib.contextmanager
def interpreted(name: str, monkeypatch, small_work: int = 50):
    """The candidate behind a 0.3 s timeout and a 1 s confirmation; larger cases than
    `small_work` may wait twice that while the interpreter steps, stalls end after 1 s."""
    import fuzz.isolation as isolation

    monkeypatch.setattr(isolation, "SMALL_WORK", small_work)
    monkeypatch.setattr(isolation, "SLOW_SCALE", 2)
    monkeypatch.setattr(isolation, "STALL_S", 1.0)
    c = IsolatedCandidate(f"{INTERPRETED}:{name}", "cpu", timeout=0.3, confirm_timeout=1.0)
    c.start()
    try:
        yield c
    finally:
        c.close()


@pytest.mark.slow
def test_a_large_case_the_interpreter_still_steps_through_is_too_slow_not_a_hang(
    monkeypatch, capsys
) -> None:
    from fuzz.report import Report
    from fuzz.summary import print_summary

    with interpreted("slow_kernel", monkeypatch) as c:
        start = time.monotonic()
        (answer,) = ask(c, BIG)
        took = time.monotonic() - start
    assert answer.status == "unconfirmed-hang", answer
    assert "too slow to judge on the CPU, not a hang" in answer.cause
    assert "2,001 requests and rows" in answer.cause
    assert 2.0 <= took < 6.0  # waited to SLOW_SCALE x the confirmation, no longer
    assert judge_valid("interpreted", BIG, answer, expected_tensors(BIG.expected()), "cpu") is None
    assert [item["case"] for item, _ in c.too_slow] == [BIG.to_json()]
    print_summary(Report(slow=[{"impl": "k", "seconds": 2.1, "case": "bs 1", "answered": False}]))
    assert "TOO SLOW TO JUDGE k: still running after 2 s alone on bs 1" in capsys.readouterr().out


@pytest.mark.slow
def test_an_interpreted_kernel_that_stops_stepping_is_a_hang(monkeypatch) -> None:
    with interpreted("steps_then_stalls", monkeypatch) as c:
        (answer,) = ask(c, BIG)
    assert answer.status == "hang", answer
    assert "the interpreter stopped stepping" in answer.cause


@pytest.mark.slow
def test_a_small_case_gets_no_longer_wait_even_while_stepping(monkeypatch) -> None:
    with interpreted("slow_kernel", monkeypatch, small_work=5000) as c:
        start = time.monotonic()
        (answer,) = ask(c, BIG)
        took = time.monotonic() - start
    assert answer.status == "hang", answer
    assert answer.cause == "no answer in 0.3 s, nor in 1 s in a fresh worker"
    # The longer wait would take 0.3 + 10 x 1 s; the rest is starting a fresh worker
    # (imports), which took past 3.5 s on two cores busy with other campaigns.
    assert took < 8


@pytest.mark.slow
def test_spares_keep_fresh_workers_loading_and_go_with_close() -> None:
    # the search for the calls before a failure takes a fresh worker per try: several load
    # at once, the extra ones go when it ends, and all of them with close()
    with candidate("caches_by_shape") as c:  # answers right on a first call
        c.spares(3)
        loading = [c._spare.pid, *(w.pid for w in c._more)]
        assert len(set(loading)) == 3
        (a,) = (c.fresh(), ask(c, CASE))[1]
        assert a.status == "ok" and c._main.pid == loading[0]  # the oldest one took the item
        assert len(c._more) == 2  # and another started loading
        extra = [w.pid for w in c._more]
        c.spares(1)
        assert c._more == deque() and wait_until(lambda: not alive_in(extra)), alive_in(extra)
        c.spares(2)
        last = c._more[0].pid
    assert wait_until(lambda: not alive_in([last])), alive_in([last])


def test_an_import_the_campaigns_time_cut_says_so() -> None:
    """A campaign whose --seconds ended while the candidate was still loading: the usage
    error says the time was the campaign's (it read "did not finish within -0.5 s")."""
    c = IsolatedCandidate(f"{HOSTILE}:slow_every_call", "cpu")
    with pytest.raises(CandidateError) as err:
        c.start(deadline=time.monotonic() - 0.5)
    assert "within 0.0 s (the campaign's time ended first: give it more --seconds)" in str(
        err.value
    )

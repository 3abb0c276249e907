"""The pipelined plug-in bulk engine: two batches in flight per worker, a compact coded reply,
a vectorised judge. Faults keep their meaning: a batch that crashes, hangs or garbles is
re-run case by case, and what it hid is still found, with its cause and the same exit code.

The misbehaving plug-ins (tests/candidates/bulk_poison.py) fail only on top-k POISON,
planted by these tests in one chosen batch, so the fault sits in the batch behind another.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fuzz import bulk, plugin_bulk
from fuzz import campaign as campaign_module
from fuzz.campaign import Campaign, Options
from fuzz.isolation import IsolatedCandidate

ROOT = Path(__file__).resolve().parents[1]
POISONED = ROOT / "tests" / "candidates" / "bulk_poison.py"
POISON = 1_234_567
BATCH = 48


def poisoned_batch(seed: int, n: int = BATCH, poison: bool = True) -> bulk.Batch:
    """A drawn batch; with `poison`, one case with tokens gets top-k POISON."""
    b = bulk.draw(np.random.default_rng(seed), n)
    if poison:
        b.topk[_case_with_tokens(b)] = POISON
    return b


def _case_with_tokens(b: bulk.Batch) -> int:
    starts = np.cumsum(b.bs) - b.bs
    totals = np.array([b.ext[s : s + k].sum() for s, k in zip(starts, b.bs)])
    return int(np.flatnonzero(totals > 0)[min(3, int((totals > 0).sum()) - 1)])


@contextlib.contextmanager
def worker(name: str, timeout: float = 10.0, confirm_timeout: float | None = None):
    c = IsolatedCandidate(f"{POISONED}:{name}", "cpu", timeout, confirm_timeout=confirm_timeout)
    c.start()
    try:
        yield c
    finally:
        c.close()


def send(c: IsolatedCandidate, b: bulk.Batch, seconds: float = 30.0) -> list[bytes]:
    header, blobs = plugin_bulk.pack(b)
    c.send_bulk(header, blobs, seconds, None)
    return blobs


# --- the worker: two batches in flight -------------------------------------------------------


def test_two_batches_in_flight_are_answered_in_order() -> None:
    batches = [poisoned_batch(s, poison=False) for s in (1, 2, 3)]
    with worker("correct") as c:
        sent = [send(c, b) for b in batches[:2]]
        assert c.bulk_in_flight() == 2
        status, reply, out, _ = c.receive_bulk()
        assert status == "ok"
        sent.append(send(c, batches[2]))  # sent while the second one runs
        verdicts = [plugin_bulk.judge(batches[0], reply, out, sent[0])]
        for b, blobs in zip(batches[1:], sent[1:]):
            status, reply, out, _ = c.receive_bulk()
            assert status == "ok"
            verdicts.append(plugin_bulk.judge(b, reply, out, blobs))
        assert [v.suspects for v in verdicts] == [[], [], []]
        assert c.restarts == 0 and c.bulk_in_flight() == 0


def test_a_crash_in_the_first_batch_sends_the_second_to_a_fresh_worker() -> None:
    first, second = poisoned_batch(1), poisoned_batch(2, poison=False)
    with worker("aborts_on_poison") as c:
        send(c, first)
        blobs = send(c, second)
        status, _, _, cause = c.receive_bulk()
        assert status == "crash" and "SIGABRT" in cause
        status, reply, out, _ = c.receive_bulk()
        assert status == "ok", "the batch behind a crash is sent again, not lost"
        assert plugin_bulk.judge(second, reply, out, blobs).suspects == []
        assert c.restarts == 1


def test_items_sent_while_a_batch_runs_wait_for_it() -> None:
    from fuzz.case import Case

    b = poisoned_batch(4, poison=False)
    with worker("correct") as c:
        blobs = send(c, b)
        c.submit([{"case": Case((1, 2), (3, 4), 2).to_json()}])
        (answer,) = c.collect()
        assert answer is not None and answer.status == "ok"
        status, reply, out, _ = c.receive_bulk()
        assert status == "ok" and plugin_bulk.judge(b, reply, out, blobs).suspects == []


def test_a_discarded_batch_ends_its_busy_worker() -> None:
    with worker("hangs_on_poison") as c:
        send(c, poisoned_batch(5))
        busy = c._main
        time.sleep(0.5)
        c.discard_bulk()
        assert c.bulk_in_flight() == 0 and c._main is None
        assert busy.proc.poll() is not None, "the worker busy with a discarded batch still runs"
        assert c.restarts == 0


def test_a_batch_that_hangs_behind_another_times_out() -> None:
    """Its limit counts from when the worker could start it; the case it is stuck on then
    gets an item's time and the confirmation's (a hang there, named by its index)."""
    second = poisoned_batch(7)
    with worker("hangs_on_poison", timeout=1.0, confirm_timeout=1.0) as c:
        send(c, poisoned_batch(6, poison=False))
        send(c, second, seconds=1.5)
        assert c.receive_bulk()[0] == "ok"
        start = time.monotonic()
        status, _, _, cause = c.receive_bulk()
        assert status == "hang" and f"to case {_case_with_tokens(second)} of" in cause, cause
        assert time.monotonic() - start < 10


@pytest.mark.slow  # a worker's start and a slow batch (~4 s); the gate keeps the stuck one
def test_a_slow_batch_that_moves_on_past_its_limit_is_a_timeout() -> None:
    """At its limit it is on a case it started less than --timeout before and it moves on
    to the next: only slow as a whole, a timeout (no case gets the confirmation's time)."""
    with worker("slow_calls", timeout=1.0, confirm_timeout=30.0) as c:
        send(c, poisoned_batch(6, poison=False), seconds=0.5)
        start = time.monotonic()
        status, _, _, cause = c.receive_bulk()
        assert status == "timeout" and "in time" in cause, cause
        assert time.monotonic() - start < 5


def test_a_batch_stuck_on_one_case_is_a_hang_there_before_its_limit() -> None:
    """The worker stays on the poisoned case past --timeout + the confirmation's time: a
    hang of that case, named by its index, without waiting out the batch's minute (before
    stop 24: a `timeout` at the limit, and a campaign stuck that long exited 0)."""
    b = poisoned_batch(9)
    c = IsolatedCandidate(f"{POISONED}:hangs_on_poison", "cpu", 0.5, confirm_timeout=1.0)
    c.start()
    try:
        send(c, b, seconds=60.0)
        start = time.monotonic()
        status, _, _, cause = c.receive_bulk()
        took = time.monotonic() - start
    finally:
        c.close()
    k = _case_with_tokens(b)
    assert status == "hang", cause
    assert f"to case {k} of a bulk batch, in a worker that had run {k} case(s)" in cause, cause
    assert c.bulk_progress == k and took < 30


# --- the compact reply: codes, checked --------------------------------------------------------


def _odd_outputs(ext, seq, k):
    """Each way a reply can be unusual, by case: see ODD below."""
    good = plugin_bulk_correct(ext, seq, k)
    which = k % 7
    if which == 1:
        raise ValueError("raised on purpose")
    if which == 2:
        return good[0]
    if which == 3:
        return good[0], good[1].to(torch.int64)
    if which == 4:
        return good[0], good[1].reshape(1, -1)
    if which == 5:
        return good[0], "not a tensor"
    if which == 6:
        return good[0], good[1].to("meta")
    return good


def plugin_bulk_correct(ext, seq, k):
    import nsa_meta

    return nsa_meta.expand(ext, seq, k, backend="torch", validate=False)


def test_every_unusual_output_is_a_suspect_and_nothing_else_is() -> None:
    b = poisoned_batch(8, n=70, poison=False)
    b.topk[:] = 7 * np.arange(70) + np.arange(70) % 7  # case i: kind i % 7, top-k kept large
    header, blobs = plugin_bulk.pack(b)
    reply, out = plugin_bulk.run_batch(_odd_outputs, header, blobs, "cpu")
    verdict = plugin_bulk.judge(b, reply, out, blobs)
    assert verdict.suspects == [i for i in range(70) if i % 7], verdict.suspects
    assert not verdict.inputs_modified
    assert "raised on purpose" in verdict.notes[1] and verdict.notes[2] == "returned Tensor"
    assert "torch.int64" not in verdict.notes.get(3, "")  # a plain int64 output: codes say it
    assert "shape [1," in verdict.notes[4] and "str" in verdict.notes[5]


def _garbled(reply: dict, blobs: list[bytes], how: str) -> tuple[dict, list[bytes]]:
    reply, blobs = dict(reply), list(blobs)
    if how == "short status":
        blobs[0] = blobs[0][:-1]
    elif how == "status code":
        blobs[0] = bytes([9]) + blobs[0][1:]
    elif how == "dtype code":
        blobs[1] = bytes([7]) + blobs[1][1:]
    elif how == "length negative":
        size = np.frombuffer(blobs[4], np.int64).copy()
        size[0] = -5
        blobs[4] = size.tobytes()
    elif how == "lengths do not add up":
        size = np.frombuffer(blobs[4], np.int64).copy()
        size[0] += 1
        blobs[4] = size.tobytes()
    elif how == "huge length":
        size = np.frombuffer(blobs[4], np.int64).copy()
        size[:4] = 2**62
        blobs[4] = size.tobytes()
    elif how == "values truncated":
        blobs[5] = blobs[5][:-4]
    elif how == "storage truncated":
        blobs[6] = blobs[6][:-8]
    elif how == "blob missing":
        blobs.pop()
    elif how == "wrong count":
        reply["n"] += 1
    elif how == "notes not a list":
        reply["notes"] = "x"
    elif how == "note out of range":
        reply["notes"] = [[10**6, "x"]]
    elif how == "too many notes":
        reply["notes"] = [[0, "x"]] * 100
    return reply, blobs


GARBLES = [
    "short status",
    "status code",
    "dtype code",
    "length negative",
    "lengths do not add up",
    "huge length",
    "values truncated",
    "storage truncated",
    "blob missing",
    "wrong count",
    "notes not a list",
    "note out of range",
    "too many notes",
]


@pytest.mark.parametrize("how", GARBLES)
def test_a_garbled_reply_is_refused(how: str) -> None:
    b = poisoned_batch(9, poison=False)
    header, blobs = plugin_bulk.pack(b)
    reply, out = plugin_bulk.run_batch(plugin_bulk_correct, header, blobs, "cpu")
    assert plugin_bulk.judge(b, reply, out, blobs).suspects == []
    with pytest.raises(ValueError):
        plugin_bulk.judge(b, *_garbled(reply, out, how), blobs)


# --- the campaign: what the second batch hid is still found -----------------------------------


def campaign(
    tmp_path: Path,
    name: str,
    monkeypatch,
    *,
    poison_batch: int | None = 1,
    where=None,
    **extra,
):
    """A short campaign on a bulk_poison plug-in; the `poison_batch`-th bulk draw (0: the
    first; None: none) carries one POISON case, at `where(batch)` (by default an early case
    with tokens). Returns the report and the campaign."""
    real, draws = bulk.draw, []
    where = where or _case_with_tokens

    def draw(rng, n, envelope=None):
        b = real(rng, n, envelope)
        draws.append(b)
        if poison_batch is not None and len(draws) == poison_batch + 1:
            b.topk[where(b)] = POISON
        return b

    monkeypatch.setattr(bulk, "draw", draw)
    options = {
        "deadline": time.monotonic() + 90,
        "candidates": [f"{POISONED}:{name}"],
        "bulk": BATCH,
        "corpus_dir": tmp_path / "corpus",
        "named": False,
        "max_failures": 1,
        "shrink_seconds": 3.0,
        "fault_shrink_seconds": 1.5,
        "timeout": 10.0,
        **extra,
    }
    c = Campaign(Options(**options))
    c.run()
    assert poison_batch is None or len(draws) > poison_batch, "no poisoned batch was drawn"
    return c.report(), c


@pytest.mark.slow
def test_a_planted_bug_in_the_second_batch_is_found_and_shrunk(tmp_path, monkeypatch) -> None:
    report, c = campaign(tmp_path, "wrong_on_poison", monkeypatch)
    assert report.errors == [] and report.exit_code() == 1
    (failure,) = report.failures
    assert failure["signature"].startswith("bulk_poison:wrong_on_poison:")
    assert failure["found_by"] == "bulk screen"
    assert failure["shrunk"], failure
    assert "topk=1234567" in failure["case"].replace(" ", "")
    assert report.plugin_bulk_cases >= 2 * BATCH
    assert all(w._main is None for _, w in c.workers), "a worker outlived the campaign"


# Slow tier (~10 s: a property round, a crashed batch's re-runs, a fault shrink). The gate
# keeps its parts: a crash in a pipelined batch (..._first_batch_sends_the_second_...), a
# fault in the second batch found by a campaign (test_a_planted_bug_in_the_second_batch...),
# a bulk crash's SIGABRT cause in a campaign report (test_a_bulk_fault_no_lone_rerun...), and
# test_cli's crash of a campaign recorded with its signal.
@pytest.mark.slow
def test_a_crash_in_the_second_batch_keeps_its_cause(tmp_path, monkeypatch) -> None:
    report, _ = campaign(tmp_path, "aborts_on_poison", monkeypatch)
    assert report.errors == [] and report.exit_code() == 1
    (failure,) = report.failures
    assert failure["signature"] == "bulk_poison:aborts_on_poison:crash"
    assert "SIGABRT" in failure["cause"] and failure["found_by"] == "bulk screen"


@pytest.mark.slow  # a batch limit, an item timeout and a (shortened) hang confirmation
def test_a_hang_in_the_second_batch_is_confirmed_as_a_hang(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Options, "confirm_timeout", lambda self: 1.0)
    report, _ = campaign(tmp_path, "hangs_on_poison", monkeypatch, timeout=1.0)
    assert report.errors == [] and report.exit_code() == 1
    (failure,) = report.failures
    assert failure["signature"] == "bulk_poison:hangs_on_poison:hang"
    assert "no answer in 1 s, nor in 1 s in a fresh worker" in failure["cause"]


@pytest.mark.slow  # the stall's limit, a lone re-run of the suspects, a search cut short
def test_a_bulk_case_stuck_only_behind_the_batch_is_a_hang_after_calls(
    tmp_path, monkeypatch
) -> None:
    """Stuck on the poisoned case in the bulk loop, right on it alone: a hang that needs the
    calls before it (before stop 24, nothing: the campaign exited 0), said as such, with the
    bulk batch named in its note (no calls to replay)."""
    monkeypatch.setattr(Options, "confirm_timeout", lambda self: 1.0)
    report, _ = campaign(tmp_path, "hangs_in_bulk", monkeypatch, timeout=0.5)
    assert report.errors == [] and report.exit_code() == 1
    (failure,) = report.failures
    assert failure["signature"] == "bulk_poison:hangs_in_bulk:hang"
    assert failure["found_by"] == "bulk screen"
    assert "of a bulk batch" in failure["cause"], failure["cause"]
    assert failure["cause"].endswith("it hangs after calls before it in the same process")
    assert "bulk batch(es) also ran in its worker" in failure["why_not_shrunk"], failure


@pytest.mark.slow
def test_a_garbled_reply_becomes_a_rerun_case_by_case(tmp_path, monkeypatch) -> None:
    real, seen, reruns = IsolatedCandidate.receive_bulk, [], []

    def garble(self):
        status, reply, out, cause = real(self)
        seen.append(status)
        if len(seen) == 2:  # the poisoned batch: its reply is garbled on the way
            out = [bytes([9]) + out[0][1:], *out[1:]]
        return status, reply, out, cause

    confirm = Campaign._confirm_suspects

    def spy(self, batch, suspects, name, w):
        reruns.append(list(suspects))
        return confirm(self, batch, suspects, name, w)

    monkeypatch.setattr(IsolatedCandidate, "receive_bulk", garble)
    monkeypatch.setattr(Campaign, "_confirm_suspects", spy)
    report, _ = campaign(tmp_path, "wrong_on_poison", monkeypatch)
    assert report.errors == [] and report.exit_code() == 1
    assert list(range(BATCH)) in reruns, "the garbled batch was not re-run case by case"
    (failure,) = report.failures
    assert failure["signature"].startswith("bulk_poison:wrong_on_poison:")


def test_a_correct_plugin_through_many_batches_passes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(campaign_module, "EXAMPLES_PER_ROUND", 2)  # rounds leave room for bulk
    real, ahead = IsolatedCandidate.send_bulk, []

    def send_bulk(self, *args):
        ahead.append(self.bulk_in_flight())
        return real(self, *args)

    monkeypatch.setattr(IsolatedCandidate, "send_bulk", send_bulk)
    report, c = campaign(tmp_path, "correct", monkeypatch, poison_batch=None, max_cases=1000)
    assert max(ahead) == 1, f"never a batch sent behind another: {ahead}"
    assert report.errors == [] and report.failures == [] and report.exit_code() == 0
    assert report.cases == 1000, "batches in flight overran --max-cases"
    assert report.plugin_bulk_cases >= 4 * BATCH
    assert sum(w.restarts for _, w in c.workers) == 0


# --- a fault late in a large batch names its case ----------------------------------------------


def _last_case_with_tokens(b: bulk.Batch) -> int:
    """Past the first FALLBACK_CASES cases re-run alone, in a batch of 600."""
    starts = np.cumsum(b.bs) - b.bs
    totals = np.array([b.ext[s : s + k].sum() for s, k in zip(starts, b.bs)])
    return int(np.flatnonzero(totals > 0)[-1])


@pytest.mark.slow
def test_the_worker_reports_which_case_it_was_running_when_it_died() -> None:
    b = bulk.draw(np.random.default_rng(7), 600)
    late = _last_case_with_tokens(b)
    b.topk[late] = POISON
    assert late >= campaign_module.FALLBACK_CASES
    with worker("aborts_on_poison") as c:
        send(c, b)
        status, _, _, cause = c.receive_bulk()
        assert status == "crash" and "SIGABRT" in cause
        assert c.bulk_progress == late
    with worker("hangs_on_poison", timeout=1.0, confirm_timeout=1.0) as c:
        send(c, b, seconds=3.0)
        status, *_ = c.receive_bulk()
        assert status == "hang" and c.bulk_progress == late


def test_suspects_after_a_fault_start_at_the_running_case() -> None:
    assert campaign_module.fault_suspects(1000, None) == list(range(256))
    s = campaign_module.fault_suspects(1000, 700)
    assert s[:3] == [700, 699, 698] and s[63] == 637 and s[64:] == list(range(256))
    assert campaign_module.fault_suspects(1000, 10)[:11] == list(range(10, -1, -1))
    assert campaign_module.fault_suspects(10, 50) == list(range(10))  # out of range: ignored


@pytest.mark.slow
def test_a_crash_late_in_a_large_batch_is_found_with_its_case(tmp_path, monkeypatch) -> None:
    report, _ = campaign(
        tmp_path, "aborts_on_poison", monkeypatch, poison_batch=0,
        where=_last_case_with_tokens, bulk=600,
    )  # fmt: skip
    assert report.errors == [] and report.exit_code() == 1, report.errors
    (failure,) = report.failures
    assert failure["signature"] == "bulk_poison:aborts_on_poison:crash"
    assert "SIGABRT" in failure["cause"] and failure["found_by"] == "bulk screen"


@pytest.mark.slow
def test_bulk_values_no_lone_rerun_shows_are_reported_not_dropped(tmp_path, monkeypatch) -> None:
    """Values the vectorised judge flags, right alone: said, no verdict (the judge's word
    alone is not one)."""
    real_done = Campaign.done  # ends once the first one is reported (a loaded CI is slow)
    monkeypatch.setattr(Campaign, "done", lambda self: bool(self.unreproduced) or real_done(self))
    report, _ = campaign(tmp_path, "wrong_in_bulk", monkeypatch, poison_batch=None, bulk=600)
    assert report.errors == [] and report.failures == [], report.failures
    assert report.exit_code() == 0  # not reproduced alone: no verdict, but said
    faults = report.unreproduced_faults
    assert faults and faults[0]["status"] == "differed" and "flagged in bulk" in faults[0]["cause"]
    assert faults[0]["cases"] == 600 and faults[0]["running"] is None
    assert report.to_json()["unreproduced_faults"] == faults


@pytest.mark.slow
def test_a_bulk_crash_no_lone_rerun_shows_is_a_crash_after_calls(tmp_path, monkeypatch) -> None:
    """The worker died on a case of a bulk batch that answers alone: a crash of that case
    that needs the calls before it (as an item's would be; before stop 24 a note and exit
    0), its note naming the bulk batch."""
    report, _ = campaign(tmp_path, "aborts_in_bulk", monkeypatch, poison_batch=None, bulk=600)
    assert report.errors == [] and report.exit_code() == 1
    (failure,) = report.failures
    assert failure["signature"] == "bulk_poison:aborts_in_bulk:crash"
    assert "SIGABRT" in failure["cause"] and "on a case of a bulk batch" in failure["cause"]
    assert failure["found_by"] == "bulk screen" and failure["reproduced_alone"] is False
    assert "bulk batch(es) also ran in its worker" in failure["why_not_shrunk"], failure


@pytest.mark.slow  # 17-24 s (a prefix search of 19 calls, then the case run 50 times); the
# gate keeps the search's and the repetition's units (tests/test_history.py, test_repeat.py)
def test_a_crash_that_needs_the_calls_before_it_says_so(tmp_path) -> None:
    from fuzz.summary import failure_state

    c = Campaign(
        Options(
            deadline=time.monotonic() + 90,  # ends at the failure; a loaded CI box took 30+
            candidates=[f"{ROOT / 'tests' / 'candidates' / 'stateful.py'}:aborts_on_call_50"],
            bulk=0,
            corpus_dir=tmp_path / "corpus",
            max_failures=1,
            timeout=10.0,
        )
    )
    c.run()
    report = c.report()
    assert report.errors == [] and report.exit_code() == 1  # it did crash: a failure
    (failure,) = report.failures
    assert failure["signature"] == "stateful:aborts_on_call_50:crash"
    assert failure["reproduced_alone"] is False and not failure["shrunk"]
    # No prefix of its worker's calls was searched to 49; running the case alone again and
    # again in one fresh worker shows it (before stop 26: "not reproduced alone", replay 0)
    said = "it fails on run 50 of the case alone in a fresh worker"
    assert said in failure_state(failure) and failure["replay_runs"] == 100
    entry = json.loads(Path(failure["file"]).read_text())  # the corpus says so too
    assert said in entry["note"] and entry["repeat"] == 100
    assert entry["signature"] == failure["signature"]
    from fuzz import corpus
    from fuzz.show import describe_entry

    assert "note: it fails on run 50" in describe_entry(corpus.load(Path(failure["file"])))

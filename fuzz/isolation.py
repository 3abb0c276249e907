"""Plug-ins run in worker processes treated as hostile; the parent judges what comes back.

Why subprocess and not multiprocessing: a worker started by `subprocess.Popen(...,
start_new_session=True)` leads its own session, so everything the candidate forks can be
found in /proc and killed, nothing of ours (no pickle, no resource tracker) runs in or for
it, and its stdout/stderr are plain pipes the parent caps (supervise.py). The worker ships
plain data (worker.py, wire.py); summaries and "inputs modified" are decided here, against
storages the parent builds itself. An item with no answer in `timeout` is re-run alone in
a fresh worker (a warm spare) before it is called a hang: compile time is forgiven.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections import deque
from dataclasses import dataclass

from fuzz import wire
from fuzz.answers import (
    Answer,
    call_checked,
    check_frame,
    cuda_error,
    decode_answer,
    fault_answer,
    one_line,
)
from fuzz.supervise import WorkerGone, WorkerProcess, exit_description
from nsa_meta.validation import rows_per_request

READY_TIMEOUT_S = 300.0  # importing torch and the candidate, compiling nothing yet
RESENDS_PER_BATCH = 2  # fresh workers for the rest of a batch after crashes, per batch
PUSH_SECONDS = 1.0  # at most, writing the next bulk batch while the worker reads it
HARNESS_S = 120.0  # a case's building and reading on top of a time limit, at most
POLL_S = 0.01  # the least wait between looks at the candidate's own time
BULK_POLL_S = 1.0  # looks at a bulk batch's progress while waiting for its answer

__all__ = ["Answer", "IsolatedCandidate", "call_checked", "exit_description", "worker_items"]


def worker_items(cases, bad=(), *, op: str = "expand") -> list[dict]:
    """What a candidate's worker is sent: one item per case, then one per bad call (a
    (case, fault) pair), each a plain dict (fuzz/worker.py and fuzz/meta_worker.py read it)."""
    head = {"op": "metadata"} if op == "metadata" else {}
    items = [{**head, "case": c.to_json()} for c in cases]
    return items + [{**head, "case": c.to_json(), "fault": f.to_json()} for c, f in bad]


HISTORY_FIRST, HISTORY_LAST = 8, 64  # items a worker's history keeps: its first, its last
HISTORY_WORKERS = 3  # the histories of the last workers kept (a crash moves to a spare)


class History:
    """The items one worker answered since it started: its first HISTORY_FIRST and its
    last ones (a candidate that keeps state fails on a case only after some of them), and
    how many bulk batches (fuzz/plugin_bulk.py, not items) it also ran."""

    def __init__(self, worker: WorkerProcess | None = None):
        self.worker = worker
        self.first: list[tuple[int, dict]] = []
        self.last: deque[tuple[int, dict]] = deque(maxlen=4 * HISTORY_LAST)  # a batch more
        self.count = 0  # items answered
        self.bulk = 0  # bulk batches answered

    def add(self, item: dict) -> None:
        if len(self.first) < HISTORY_FIRST:
            self.first.append((self.count, item))
        else:
            self.last.append((self.count, item))
        self.count += 1

    def before(self, item: dict | None) -> list[dict] | None:
        """The items it ran before its last run of `item` (the first ones and the last
        HISTORY_LAST before it), in order; None when `item` is not in it; `item` None:
        before now."""
        ran = [*self.first, *self.last]
        at = self.count if item is None else next((n for n, i in reversed(ran) if i == item), None)
        if at is None:
            return None
        first = [it for n, it in self.first if n < at]
        last = [it for n, it in self.last if n < at][-HISTORY_LAST:]
        return first + last


def _ran(w: WorkerProcess, begin: float, now: float) -> float:
    """The candidate's own seconds on the item `w` runs, else the wall time since `begin`."""
    own = w.candidate_seconds()
    return now - begin if own is None else own


class HarnessErrorInWorker(Exception):
    """Our own code failed inside the worker (not the candidate): exit 3, never a verdict."""


class _NoWorker(Exception):
    """A worker that could not become ready: the message says why."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


def _mark_ready(w: WorkerProcess, header: dict) -> None:
    if header.get("op") == "load-error":
        raise _NoWorker(one_line(str(header.get("message")), 1000))
    if header.get("op") != "ready":
        raise wire.ProtocolError(f"unexpected {str(header.get('op'))[:40]!r} before ready")
    w.ready = True
    w.reaper = header.get("reaper") if type(header.get("reaper")) is int else None
    w.envelope = header.get("envelope")  # the candidate's fn.envelope, checked by the parent
    w.callable_as = header.get("callable_as")  # which calls its signature takes (candidates.py)


def _await_ready(w: WorkerProcess, until: float) -> None:
    """Wait for `w` to load the candidate, or raise _NoWorker (w is then killed)."""
    try:
        while not w.ready:
            frame = w.next_frame(until)
            if frame is None:
                raise _NoWorker("it did not finish loading in time", timed_out=True)
            _mark_ready(w, frame[0])
    except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
        w.kill()
        tail = one_line(w.tail.text()[-600:], 600)
        raise _NoWorker(
            f"the worker died while loading it ({exc}){': ' + tail if tail else ''}"
        ) from None
    except _NoWorker:
        w.kill()
        raise


# The end of the cause of a hang that needs calls before it: alone the case answered.
AFTER_CALLS = "it hangs after calls before it in the same process"
# The end of a confirmed hang's cause: the confirmation ran the case alone, in a fresh
# worker (the book reads it as "fails again alone").
IN_A_FRESH_WORKER = "in a fresh worker"


@contextlib.contextmanager
def _paused(w: WorkerProcess):
    """`w` stopped (SIGSTOP) inside the block, running again after it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(w.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(w.pid, signal.SIGCONT)


def _earliest(t: float, deadline: float | None) -> float:
    return t if deadline is None else min(t, deadline)


def default_confirm_seconds(timeout: float) -> float:
    """How long a timed-out case's lone re-run may take before it is a hang, by default."""
    return max(30.0, 6 * timeout)


# Under the Triton interpreter a correct kernel can take minutes on a large case (1-4 ms a
# program: a program per row of 131,072 rows is many minutes). A lone re-run of a case
# larger than SMALL_WORK requests and rows that is still stepping (programs, loads,
# stores: fuzz/worker.py counts them) when its time is up gets more, up to SLOW_SCALE
# times its time; still stepping then, it is too slow to judge here, not a hang. A re-run
# that stops stepping for STALL_S, a small case, or a kernel on a GPU: a hang, as before.
SMALL_WORK = 4096
SLOW_SCALE = 10
STALL_S = 10.0


def case_work(item: dict) -> int:
    """Requests plus rows over every call of an item's case (v1 or v2): what an
    interpreted kernel's time grows with; 0 when the item does not say."""
    try:
        case = item["case"]
        if "calls" not in case:
            ext = case["extend_seq_lens"]
            return len(ext) + sum(int(e) for e in ext)
        work = 0
        for call in case["calls"]:
            bs = len(call["seq_lens"])
            ext = call.get("extend_seq_lens")
            e = rows_per_request(call["mode"], int(call.get("next_n", 1)))
            work += bs + (bs * e if e is not None else sum(int(v) for v in ext or ()))
        return work
    except (KeyError, TypeError, ValueError, AttributeError):
        return 0


@dataclass
class _Flight:
    """A bulk batch sent to a worker, and once read, what came of it."""

    header: dict
    blobs: list[bytes]
    seconds: float  # its time limit, from when the worker can start it
    cap: float | None  # no wait goes past this
    sent: float
    worker: WorkerProcess | None = None
    result: tuple | None = None  # (status, reply, blobs, cause)
    seconds_taken: float = 0.0  # from when the worker could start it to its answer
    progress: int | None = None  # the case it was running when its worker died or hung


def _push(w: WorkerProcess, until: float) -> None:
    """Write what is queued for `w` while it reads, up to `until` (what is left is written
    while the parent next waits on it)."""
    while w.outbox and w.gone is None:
        left = until - time.monotonic()
        if left <= 0:
            return
        try:
            select.select([], [w.cmd], [], min(left, 0.1))
        except (OSError, ValueError):
            return
        w._flush()


class IsolatedCandidate:
    """A plug-in behind a worker process (plus a warm spare); answers batches of items.

    `restarts` counts fresh workers taken after a fault; `slow` lists (item, seconds) of
    items that took more than `timeout` but answered within the confirmation.
    """

    def __init__(
        self,
        spec: str,
        device: str,
        timeout: float = 5.0,
        memory_limit_gb: float = 8.0,
        *,
        confirm_timeout: float | None = None,
        message_cap: int = wire.DEFAULT_CAP,
    ):
        self.spec, self.device = spec, device
        self.timeout, self.memory_limit_gb = timeout, memory_limit_gb
        self.confirm_timeout = (
            default_confirm_seconds(timeout) if confirm_timeout is None else confirm_timeout
        )
        self.message_cap = message_cap
        self.restarts = 0
        self.envelope: dict | str | None = None  # as the candidate declared it (fn.envelope)
        self.callable_as: dict | None = None  # the calls its signature takes (callable_as)
        self.confirm = True  # False while shrinking: a timeout is a hang, confirmed at the end
        self.slow: list[tuple[dict, float]] = []
        self.too_slow: list[tuple[dict, float]] = []  # still interpreting when stopped
        self._main: WorkerProcess | None = None
        self._spare: WorkerProcess | None = None
        self._more: deque[WorkerProcess] = deque()  # fresh workers loading beyond the spare
        self._want = 1  # fresh workers kept loading (`spares`)
        self._items: list[dict] = []
        self._before = 0  # items of the batch in flight that are its prefix (`submit`)
        self.histories: deque[History] = deque(maxlen=HISTORY_WORKERS)  # newest last
        self._flights: deque[_Flight] = deque()  # bulk batches sent, oldest first
        self._bulk_answered = 0.0  # when the worker last answered a bulk batch
        self._bulk_sent = 0  # batches sent: each answer names its batch
        self.bulk_seconds = 0.0  # the worker's time on the batch last received
        self.bulk_progress: int | None = None  # the case it ran when it died or hung

    def _spawn(self) -> WorkerProcess:
        return WorkerProcess(self.spec, self.device, self.memory_limit_gb, self.message_cap)

    def start(self, deadline: float | None = None) -> None:
        """Load the candidate in a worker; CandidateError (a usage error) if it cannot be:
        missing, not callable, its import raises, or does not finish by `deadline`."""
        from fuzz.candidates import CandidateError, parse_spec

        parse_spec(self.spec)
        begin = time.monotonic()
        until = _earliest(begin + READY_TIMEOUT_S, deadline)
        w = self._spawn()
        try:
            _await_ready(w, until)
        except _NoWorker as exc:
            reason = str(exc)
            if exc.timed_out:
                reason = f"importing it did not finish within {max(until - begin, 0):.1f} s"
                if deadline is not None and until == deadline:
                    reason += " (the campaign's time ended first: give it more --seconds)"
                tail = one_line(w.tail.text()[-300:], 300)
                reason += f" (output: {tail})" if tail else ""
            prefix = f"--candidate {self.spec!r}: "
            raise CandidateError(reason if reason.startswith(prefix) else prefix + reason) from None
        self._main = w
        self.envelope = getattr(w, "envelope", None)
        self.callable_as = getattr(w, "callable_as", None)
        self._spare = self._spawn()  # loads in the background: a replacement costs ~nothing

    def _take_spare(self) -> WorkerProcess:
        w = self._spare if self._spare is not None else self._spawn()
        self._spare = self._more.popleft() if self._more else self._spawn()
        self.spares(self._want)
        self.restarts += 1
        return w

    def spares(self, n: int) -> None:
        """Keep `n` fresh workers loading (1, the warm spare, unless asked): a search that
        takes a fresh worker for every try (the calls before a failure, fuzz/book.py) waits
        on one worker's start per try otherwise (3-5 s on a GPU: torch and a CUDA context).
        Fewer kills the extra ones."""
        self._want = max(1, n)
        if self._spare is None:
            return  # not started, or closed
        while len(self._more) < self._want - 1:
            self._more.append(self._spawn())
        while len(self._more) > self._want - 1:
            self._more.pop().kill()

    def submit(self, items: list[dict], before: list[dict] | tuple = ()) -> None:
        """Send a batch; answers are read by `collect`. Never blocks on the worker.
        `before`: items run first, in a fresh worker (the calls a failure needs before it);
        `collect` does not return their answers, and one of them that neither answers nor
        raises (a crash, a hang) leaves the whole batch unanswered."""
        self._items, self._before = [*before, *items], len(before)
        if not self._items:
            return
        if before:
            self.fresh()
        self.settle_bulk()  # the worker must be idle: bulk batches in flight are read first
        if self._main is None:
            self._main = self._take_spare()
        self._main.send({"op": "run", "base": 0, "items": self._items})

    def collect(
        self, deadline: float | None = None, hard_deadline: float | None = None
    ) -> list[Answer | None]:
        """One answer per submitted item, in order. None: not run, because `deadline` passed,
        a hang ended the batch, or crashes used up the batch's fresh workers.
        A hang confirmation may run past `deadline`, up to `hard_deadline`."""
        items, self._items = self._items, []
        before, self._before = self._before, 0
        answers: list[Answer | None] = [None] * len(items)
        i, resends, clock = 0, 0, time.monotonic()
        while i < len(items) and self._main is not None:
            w = self._main
            if not w.ready:  # a fresh worker: the item's time starts once it is up
                try:
                    _await_ready(w, _earliest(time.monotonic() + READY_TIMEOUT_S, deadline))
                except _NoWorker as exc:
                    self._main = None
                    if not exc.timed_out:
                        answers[i] = Answer("crash", cause=f"a fresh worker failed: {exc}")
                    break
                clock = time.monotonic()
            if deadline is not None and time.monotonic() >= deadline:
                break
            answer = None
            try:
                frame = self._await_item(w, clock, deadline)
                if frame is not None:
                    header = frame[0]
                    check_frame(header.get("op") == "answer" and header.get("index") == i, "index")
                    answer = decode_answer(*frame, items[i], self.message_cap)
            except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
                answer = fault_answer(exc, w.take_tail())
            if answer is None:  # no answer in time
                if deadline is not None and time.monotonic() >= deadline:
                    break  # the campaign's time ran out, not the item's
                self._main = None  # `w` runs on until the re-run alone has answered
                if i < before or not self.confirm:
                    w.kill()
                    if i < before:
                        break  # a call before the case hung: nothing to judge
                    answers[i] = Answer(
                        "hang",
                        seconds=self.timeout,
                        cause=f"no answer in {self.timeout:g} s (not re-run: shrinking)",
                        output_tail=w.take_tail(),
                    )
                    break
                ran = next((h for h in reversed(self.histories) if h.worker is w), None)
                if ran is None or ran.count == 0:
                    w.kill()  # nothing ran before it there: the lone re-run is the verdict
                    answers[i] = self._confirm(items[i], hard_deadline)
                else:
                    try:
                        with _paused(w):  # not competing with the lone re-run for the CPU
                            alone = self._confirm(items[i], hard_deadline)
                        answers[i] = self._after_calls(w, ran, items[i], alone, hard_deadline)
                    finally:
                        w.kill()
                i, clock = i + 1, time.monotonic()
                if self._main is None:
                    break  # a hang (confirmed or not): the rest waits for another batch
                self._main.send({"op": "run", "base": i, "items": items[i:]})
                continue
            if not answer.output_tail:
                answer.output_tail = w.take_tail()
            self._note(w, items[i])
            answers[i], i, clock = answer, i + 1, time.monotonic()
            if answer.status in ("crash", "cuda-fault", "protocol", "oversize"):
                self._drop_main()  # its state is not to be trusted; the rest goes to a fresh one
                if i <= before:
                    break  # a call before the case crashed: nothing to judge
                if i < len(items) and resends < RESENDS_PER_BATCH:
                    resends += 1
                    self._main = self._take_spare()
                    self._main.send({"op": "run", "base": i, "items": items[i:]})
        if i < len(items):
            self._drop_main()  # it may still be busy with what will not be collected
        else:
            self._end_strays()
        if before:  # the case is judged only after every call before it answered or raised
            ran = all(a is not None and a.status in ("ok", "raised") for a in answers[:before])
            return answers[before:] if ran else [None] * (len(items) - before)
        return answers

    def _note(self, w: WorkerProcess, item: dict) -> None:
        """`w` answered `item`: its history (a new one for a worker not seen before)."""
        if not self.histories or self.histories[-1].worker is not w:
            self.histories.append(History(w))
        self.histories[-1].add(item)

    def calls_before(self, item: dict) -> tuple[list[dict], int]:
        """The items the worker that last ran `item` ran before it (its first and its last
        ones), and the bulk batches it ran; where no history holds `item` (Hypothesis shrank
        it in the worker since), what the latest worker ran. Read before any re-run."""
        for h in reversed(self.histories):
            got = h.before(item)
            if got is not None:
                return got, h.bulk
        if not self.histories:
            return [], 0
        return self.histories[-1].before(None) or [], self.histories[-1].bulk

    def _await_item(self, w: WorkerProcess, clock: float, deadline: float | None):
        """The item's answer frame, or None: at `deadline`, or once the candidate has run
        `timeout` on it. Only its own calls count where the worker reports them (building a
        large case and reading what it wrote are ours); HARNESS_S more at most in all."""
        limit, cap = clock + self.timeout, clock + self.timeout + HARNESS_S
        while True:
            frame = w.next_frame(limit if deadline is None else min(limit, deadline))
            if frame is not None:
                return frame
            now, own = time.monotonic(), w.candidate_seconds()
            if deadline is not None and now >= deadline:
                return None
            if own is None or own >= self.timeout or now >= cap:
                return None
            limit = min(cap, now + max(self.timeout - own, POLL_S))

    def _end_strays(self) -> None:
        """Kill what the candidate left running in its worker's session (nothing of ours runs
        there now). When there was something, the worker goes too and the next batch starts
        in a fresh one: a candidate that keeps helper processes between calls (a process
        pool) would find them dead and fail where it is right (BrokenProcessPool, stop 21's
        false-alarm red team); a fresh worker lets it make them again."""
        if self._main is not None and self._main.kill_strays():
            self._drop_main()

    def _confirm(self, item: dict, hard_deadline: float | None) -> Answer:
        """Re-run a timed-out item alone in a fresh worker: slow, hang or unconfirmed-hang."""
        w = self._take_spare()
        start = time.monotonic()
        try:
            _await_ready(w, _earliest(start + READY_TIMEOUT_S, hard_deadline))
        except _NoWorker as exc:
            if hard_deadline is not None and time.monotonic() >= hard_deadline:
                return self._unconfirmed(start)
            return Answer("crash", cause=f"a fresh worker could not load it: {exc}")
        w.send({"op": "run", "base": 0, "items": [item]})
        begin = time.monotonic()
        work = case_work(item)
        may_wait = self.device == "cpu" and work > SMALL_WORK  # still stepping: wait on
        try:
            frame, ending = self._await_answer(w, begin, hard_deadline, may_wait)
            if frame is not None:
                check_frame(frame[0].get("op") == "answer" and frame[0].get("index") == 0, "index")
                answer = decode_answer(*frame, item, self.message_cap)
        except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
            answer = fault_answer(exc, w.take_tail())
            w.kill()
            return answer
        if frame is None:
            tail, own = w.take_tail(), w.candidate_seconds() or 0.0
            w.kill()
            waited = time.monotonic() - begin
            if ending == "cut":
                return self._unconfirmed(start, tail)
            if ending == "stepping":
                self.too_slow.append((item, waited))
                return Answer(
                    "unconfirmed-hang",
                    seconds=self.timeout + waited,
                    cause=(
                        f"no answer in {self.timeout:g} s, nor in {waited:.0f} s {IN_A_FRESH_WORKER}, "
                        f"on a case of {work:,} requests and rows, with the Triton interpreter "
                        "still running its programs: too slow to judge on the CPU, not a hang "
                        "(a GPU run, or a larger --confirm-seconds, judges it)"
                    ),
                    output_tail=tail,
                )
            waited = f"no answer in {self.timeout:g} s, nor in {self.confirm_timeout:g} s"
            if ending == "stalled":
                waited += f" (the interpreter stopped stepping; {time.monotonic() - begin:.0f} s)"
            if ending == "outside":
                waited += (
                    f" ({time.monotonic() - begin:.0f} s, of which its calls took "
                    f"{own:.1f} s: the worker stopped outside them, building "
                    "the case or reading what it wrote, which a thread it left running can do)"
                )
            return Answer(
                "hang",
                seconds=self.confirm_timeout,
                cause=f"{waited} {IN_A_FRESH_WORKER}",
                output_tail=tail,
            )
        answer.output_tail = w.take_tail()
        self._note(w, item)
        # Slow only if its own calls took longer than the limit: a first wait can also end
        # on a loaded machine, or (without the worker's clock) on our work around the calls.
        slow = answer.seconds > self.timeout
        if answer.status in ("ok", "raised"):
            if slow:
                self.slow.append((item, answer.seconds))
            self._main = w  # warm now: the rest of the batch goes to it
        else:
            w.kill()
        if answer.status == "ok" and slow:
            answer.status = "slow"
            answer.cause = (
                f"no answer in {self.timeout:g} s; answered in {answer.seconds:.2f} s "
                "in a fresh worker"
            )
        return answer

    def _await_answer(
        self, w: WorkerProcess, begin: float, hard_deadline: float | None, may_wait: bool
    ) -> tuple[tuple | None, str]:
        """(frame, "") once `w` answers, else (None, why not): "cut" by `hard_deadline`,
        "hang" at the confirmation's time, "stalled" (the interpreter stopped stepping past
        it), "stepping" (still stepping at SLOW_SCALE times it) or "outside" (no answer
        HARNESS_S past it while the candidate's own calls stayed under it). The time is the
        candidate's own where the worker reports it, else the wall time since `begin`."""
        limit = self.confirm_timeout
        top = limit * SLOW_SCALE if may_wait else limit
        cap = begin + top + HARNESS_S
        steps, stepped = w.interpreter_steps(), begin
        while True:
            now = time.monotonic()
            ran = _ran(w, begin, now)
            wait = max((top if ran >= limit else limit) - ran, POLL_S)
            end = min(now + (min(wait, STALL_S / 4) if may_wait else wait), cap)
            if hard_deadline is not None:
                end = min(end, hard_deadline)
            frame = w.next_frame(end)
            if frame is not None:
                return frame, ""
            now = time.monotonic()
            ran = _ran(w, begin, now)
            seen = w.interpreter_steps()
            if seen is not None and seen != steps:
                steps, stepped = seen, now
            final = ran >= top or now >= cap
            if hard_deadline is not None and now >= hard_deadline and not final:
                return None, "cut"
            if ran < limit:
                if now >= cap:
                    return None, "outside"
                continue
            if not may_wait or steps is None or steps == 0:
                return None, "hang"
            if now - stepped >= STALL_S:
                return None, "stalled"
            if final:
                return None, "stepping"

    def _after_calls(
        self, w: WorkerProcess, ran: History, item: dict, alone: Answer, hard_deadline
    ) -> Answer:
        """`alone`, the answer of `item` re-run alone after it gave none in `timeout` in `w`,
        which ran calls before it (`ran`); unless it answered alone within the limit while
        `w` still has not after the confirmation's time more: then a hang that needs those
        calls (a lock or a queue a call leaves behind). A slow call in `w` (a compile the
        re-run found cached) answers in that time, and `alone` stands."""
        if alone.status not in ("ok", "raised") or alone.seconds > self.timeout:
            return alone
        until = time.monotonic() + self.confirm_timeout
        end = until if hard_deadline is None else min(until, hard_deadline)
        try:
            if w.next_frame(end) is not None:
                return alone  # it answered in the end: slow there, not stuck
        except (WorkerGone, wire.ProtocolError, wire.OversizeError):
            return alone  # a fault after the limit: the lone re-run judges the case
        waited = self.timeout + self.confirm_timeout - max(until - time.monotonic(), 0.0)
        plural = "s" if ran.count != 1 else ""
        where = (
            f"no answer in {waited:.1f} s in a worker that had answered {ran.count} "
            f"item{plural} (cases or bad calls) before it; alone in a fresh worker it "
            f"answered in {alone.seconds:.2f} s"
        )
        if time.monotonic() < until:  # cut by the campaign's time: not known
            return Answer(
                "unconfirmed-hang",
                seconds=waited,
                cause=f"{where}; the campaign's time ended before it could be told from a "
                "slow call",
                output_tail=w.take_tail(),
            )
        # The history of `w` holds the item last: the search for the calls it needs reads it.
        self.histories.remove(ran)
        ran.add(item)
        self.histories.append(ran)
        return Answer(
            "hang",
            seconds=waited,
            cause=f"{where}: {AFTER_CALLS}",
            output_tail=w.take_tail(),
        )

    def _unconfirmed(self, start: float, tail: str = "") -> Answer:
        waited = time.monotonic() - start
        return Answer(
            "unconfirmed-hang",
            seconds=self.timeout + waited,
            cause=(
                f"no answer in {self.timeout:g} s; the confirmation was cut short after "
                f"{waited:.1f} s by the campaign's time budget"
            ),
            output_tail=tail,
        )

    def fresh(self) -> None:
        """The next batch runs in a fresh worker (the warm spare): a verdict that must stand
        on its own (a failure re-run alone, a shrunk case) must not lean on state the
        candidate kept from earlier calls in this one (a cache keyed on addresses)."""
        self.settle_bulk()
        self._drop_main()

    def _drop_main(self) -> None:
        if self._main is not None:
            self._main.kill()
            self._main = None

    # --- bulk batches, pipelined (fuzz/plugin_bulk.py) ------------------------------------

    def send_bulk(self, header: dict, blobs: list[bytes], seconds: float, cap: float | None):
        """Queue a numpy-drawn batch on the worker, behind those already in flight; its
        answer is read, in order, by `receive_bulk`. `seconds`: its time limit, counted from
        when the worker can start it (the previous batch answered); `cap`: a deadline no
        wait goes past. Never blocks on the worker."""
        self._bulk_sent += 1
        command = {**header, "op": "bulk", "batch": self._bulk_sent}
        flight = _Flight(command, blobs, seconds, cap, time.monotonic())
        if not self._flights:
            self._end_strays()
        self._relaunch()
        self._launch(flight)
        self._flights.append(flight)

    def bulk_in_flight(self) -> int:
        return len(self._flights)

    def receive_bulk(self) -> tuple[str, dict | None, list[bytes], str]:
        """The oldest batch's (status, reply, blobs, cause). Any status but "ok" means the
        batch must be re-run case by case; its worker is replaced (the batches behind it
        are sent again to the fresh one). HarnessErrorInWorker: our own fault (exit 3)."""
        if not self._flights:
            raise RuntimeError("receive_bulk without a batch in flight")
        flight = self._flights[0]
        if flight.result is None:
            self._wait(flight)
        self._flights.popleft()
        self.bulk_seconds = flight.seconds_taken
        self.bulk_progress = flight.progress
        status, reply, out, cause = flight.result
        if status == "ok" and reply.get("bulk_error"):
            raise HarnessErrorInWorker(one_line(str(reply["bulk_error"]), 500))
        return flight.result

    def run_bulk(
        self, header: dict, blobs: list[bytes], until: float
    ) -> tuple[str, dict | None, list[bytes], str]:
        """One batch in one round trip, nothing else in flight: `send_bulk` + `receive_bulk`."""
        self.settle_bulk()
        self.send_bulk(header, blobs, max(0.0, until - time.monotonic()), until)
        return self.receive_bulk()

    def settle_bulk(self) -> None:
        """Read every batch running in the worker (results kept for `receive_bulk`): it is
        idle after, so that items (`submit`) can go to it. Batches whose worker was replaced
        run nowhere: they are sent again when received."""
        for flight in self._flights:
            if flight.result is None and flight.worker is self._main and self._main is not None:
                self._wait(flight)

    def discard_bulk(self) -> None:
        """Forget the batches in flight; a worker still busy with one is ended (never left
        running what nobody will read). Not counted as a restart."""
        if any(f.result is None and f.worker is self._main for f in self._flights):
            self._drop_main()
        self._flights.clear()

    def _relaunch(self) -> None:
        """Send again, in order, the batches whose worker was replaced before answering."""
        for f in self._flights:
            if f.result is None and (f.worker is not self._main or self._main is None):
                self._launch(f)

    def _launch(self, flight: _Flight) -> None:
        if self._main is None:
            self._main = self._take_spare()
        flight.worker, flight.result = self._main, None
        flight.sent = time.monotonic()
        self._main.send(flight.header, flight.blobs)

    def _wait(self, flight: _Flight) -> None:
        """Read `flight`'s answer (sending it again first if its worker was replaced)."""
        if flight.worker is not self._main or self._main is None:
            self._relaunch()
        w = self._main
        # Its time starts once the worker can start it: the batch before it answered.
        start = max(flight.sent, self._bulk_answered)
        until = _earliest(start + flight.seconds, flight.cap)
        try:
            if not w.ready:
                _await_ready(w, until)
                start = time.monotonic()
                until = _earliest(start + flight.seconds, flight.cap)
            frame, stuck = self._bulk_frame(w, flight.header["batch"], until, flight.cap)
            flight.seconds_taken = time.monotonic() - start
        except _NoWorker as exc:
            self._main = None
            flight.result = ("crash", None, [], f"a fresh worker failed: {exc}")
            return
        except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
            answer = fault_answer(exc, w.take_tail())
            flight.progress = w.bulk_progress(flight.header["batch"])
            self._drop_main()
            flight.result = (answer.status, None, [], answer.cause)
            return
        if frame is None:
            flight.progress = w.bulk_progress(flight.header["batch"])
            self._drop_main()
            flight.result = ("timeout", None, [], "no answer to the batch in time")
            if stuck is not None:
                k, s = stuck
                flight.result = (
                    "hang",
                    None,
                    [],
                    f"no answer in {s:.1f} s to case {k} of a bulk batch, in a worker that "
                    f"had run {k} case(s) of it before",
                )
            return
        self._bulk_answered = time.monotonic()
        reply, out = frame
        w.take_tail()
        if not self.histories or self.histories[-1].worker is not w:
            self.histories.append(History(w))
        self.histories[-1].bulk += 1
        if reply.get("op") != "bulk-answer" or reply.get("batch") != flight.header["batch"]:
            self._drop_main()
            what = f"{str(reply.get('op'))[:40]!r} for batch {str(reply.get('batch'))[:20]}"
            flight.result = ("protocol", None, [], f"unexpected {what}")
            return
        if reply.get("candidate_fault"):
            cause = one_line(str(reply["candidate_fault"]), 500)
            fault = cuda_error(cause)
            self._drop_main()  # a device fault leaves its context unusable
            flight.result = ("cuda-fault" if fault else "raised", None, [], fault or cause)
            return
        self._push(w, flight)
        if self._flights and flight is self._flights[-1] and w is self._main:
            self._end_strays()  # nothing of ours runs in it now
        flight.result = ("ok", reply, out, "")

    def _bulk_frame(
        self, w: WorkerProcess, batch: int, until: float, cap: float | None
    ) -> tuple[tuple | None, tuple[int, float] | None]:
        """(bulk batch `batch`'s answer frame, None) by `until`; else (None, (k, seconds))
        when `w` stayed on its case k, the interpreter (if any) not stepping, for `timeout` +
        `confirm_timeout`: a case that hangs there (an item's standard), found without
        waiting out the batch's limit, or past it (not past `cap`) for a case it had been on
        for `timeout` when the limit came; else (None, None)."""
        stall = self.timeout + self.confirm_timeout
        poll = max(min(BULK_POLL_S, self.timeout / 4), POLL_S * 5)
        mark, since = (w.bulk_progress(batch), w.interpreter_steps()), time.monotonic()
        at_limit = None  # the case it was on when the batch's limit came
        while True:
            frame = w.next_frame(min(until, time.monotonic() + poll))
            if frame is not None:
                return frame, None
            now = time.monotonic()
            seen = (w.bulk_progress(batch), w.interpreter_steps())
            if seen != mark or 0 < w.compiling_seconds() < HARNESS_S:  # compiling: no stall
                mark, since = seen, now
            elif seen[0] is not None and now - since >= stall:
                return None, (seen[0], now - since)
            if now < until:
                continue
            # The batch's limit: the case it is on gets an item's time, then the
            # confirmation's, while it stays there (a batch that moves on is only slow).
            if at_limit is None:
                at_limit = seen[0]
            if seen[0] is None or seen[0] != at_limit:
                return None, None
            later = _earliest(since + (self.timeout if now - since < self.timeout else stall), cap)
            if later <= now:
                return None, None
            until = later

    def _push(self, w: WorkerProcess, flight: _Flight) -> None:
        """Write the rest of the next batch while the worker reads it, so that it runs while
        the parent judges this one (the parent writes only when it waits on the worker)."""
        behind = [f for f in self._flights if f.worker is w and f.result is None]
        if not w.outbox or len(behind) < 2:
            return
        _push(w, _earliest(time.monotonic() + PUSH_SECONDS, flight.cap))

    def close(self) -> None:
        """End both workers and everything they started."""
        self._flights.clear()
        self._drop_main()
        if self._spare is not None:
            self._spare.kill()
            self._spare = None
        while self._more:
            self._more.pop().kill()

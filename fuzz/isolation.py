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

import time

from fuzz import wire
from fuzz.answers import Answer, call_checked, check_frame, decode_answer, fault_answer, one_line
from fuzz.supervise import WorkerGone, WorkerProcess, exit_description

READY_TIMEOUT_S = 300.0  # importing torch and the candidate, compiling nothing yet
RESENDS_PER_BATCH = 2  # fresh workers for the rest of a batch after crashes, per batch

__all__ = ["Answer", "IsolatedCandidate", "call_checked", "exit_description"]


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


def _earliest(t: float, deadline: float | None) -> float:
    return t if deadline is None else min(t, deadline)


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
            max(30.0, 6 * timeout) if confirm_timeout is None else confirm_timeout
        )
        self.message_cap = message_cap
        self.restarts = 0
        self.envelope: dict | str | None = None  # as the candidate declared it (fn.envelope)
        self.confirm = True  # False while shrinking: a timeout is a hang, confirmed at the end
        self.slow: list[tuple[dict, float]] = []
        self._main: WorkerProcess | None = None
        self._spare: WorkerProcess | None = None
        self._items: list[dict] = []

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
                reason = f"importing it did not finish within {until - begin:.1f} s"
                tail = one_line(w.tail.text()[-300:], 300)
                reason += f" (output: {tail})" if tail else ""
            prefix = f"--candidate {self.spec!r}: "
            raise CandidateError(reason if reason.startswith(prefix) else prefix + reason) from None
        self._main = w
        self.envelope = getattr(w, "envelope", None)
        self._spare = self._spawn()  # loads in the background: a replacement costs ~nothing

    def _take_spare(self) -> WorkerProcess:
        w = self._spare if self._spare is not None else self._spawn()
        self._spare = self._spawn()
        self.restarts += 1
        return w

    def submit(self, items: list[dict]) -> None:
        """Send a batch; answers are read by `collect`. Never blocks on the worker."""
        self._items = list(items)
        if not self._items:
            return
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
            limit = clock + self.timeout
            cut = deadline is not None and deadline < limit
            answer = None
            try:
                frame = w.next_frame(deadline if cut else limit)
                if frame is not None:
                    header = frame[0]
                    check_frame(header.get("op") == "answer" and header.get("index") == i, "index")
                    answer = decode_answer(*frame, items[i], self.message_cap)
            except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
                answer = fault_answer(exc, w.take_tail())
            if answer is None:  # no answer in time
                if cut:
                    break  # the campaign's time ran out, not the item's
                self._drop_main()
                if not self.confirm:
                    answers[i] = Answer(
                        "hang",
                        seconds=self.timeout,
                        cause=f"no answer in {self.timeout:g} s (not re-run: shrinking)",
                        output_tail=w.take_tail(),
                    )
                    break
                answers[i], i = self._confirm(items[i], hard_deadline), i + 1
                clock = time.monotonic()
                if self._main is None:
                    break  # a hang (confirmed or not): the rest waits for another batch
                self._main.send({"op": "run", "base": i, "items": items[i:]})
                continue
            if not answer.output_tail:
                answer.output_tail = w.take_tail()
            answers[i], i, clock = answer, i + 1, time.monotonic()
            if answer.status in ("crash", "cuda-fault", "protocol", "oversize"):
                self._drop_main()  # its state is not to be trusted; the rest goes to a fresh one
                if i < len(items) and resends < RESENDS_PER_BATCH:
                    resends += 1
                    self._main = self._take_spare()
                    self._main.send({"op": "run", "base": i, "items": items[i:]})
        if i < len(items):
            self._drop_main()  # it may still be busy with what will not be collected
        elif self._main is not None:
            self._main.kill_strays()
        return answers

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
        limit = begin + self.confirm_timeout
        cut = hard_deadline is not None and hard_deadline < limit
        try:
            frame = w.next_frame(hard_deadline if cut else limit)
            if frame is not None:
                check_frame(frame[0].get("op") == "answer" and frame[0].get("index") == 0, "index")
                answer = decode_answer(*frame, item, self.message_cap)
        except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
            answer = fault_answer(exc, w.take_tail())
            w.kill()
            return answer
        if frame is None:
            tail = w.take_tail()
            w.kill()
            if cut:
                return self._unconfirmed(start, tail)
            waited = f"no answer in {self.timeout:g} s, nor in {self.confirm_timeout:g} s"
            return Answer(
                "hang",
                seconds=self.confirm_timeout,
                cause=f"{waited} in a fresh worker",
                output_tail=tail,
            )
        answer.output_tail = w.take_tail()
        if answer.status in ("ok", "raised"):
            self.slow.append((item, answer.seconds))
            self._main = w  # warm now: the rest of the batch goes to it
        else:
            w.kill()
        if answer.status == "ok":
            answer.status = "slow"
            answer.cause = (
                f"no answer in {self.timeout:g} s; answered in {answer.seconds:.2f} s "
                "in a fresh worker"
            )
        return answer

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

    def _drop_main(self) -> None:
        if self._main is not None:
            self._main.kill()
            self._main = None

    def run_bulk(
        self, header: dict, blobs: list[bytes], until: float
    ) -> tuple[str, dict | None, list[bytes], str]:
        """One numpy-drawn batch in one round trip (fuzz/plugin_bulk.py): (status, reply,
        blobs, cause). Any status but "ok" means the batch must be re-run case by case."""
        if self._main is None:
            self._main = self._take_spare()
        w = self._main
        try:
            if not w.ready:
                _await_ready(w, until)
            w.send({**header, "op": "bulk"}, blobs)
            frame = w.next_frame(until)
        except _NoWorker as exc:
            self._main = None
            return "crash", None, [], f"a fresh worker failed: {exc}"
        except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
            answer = fault_answer(exc, w.take_tail())
            self._drop_main()
            return answer.status, None, [], answer.cause
        if frame is None:
            self._drop_main()
            return "timeout", None, [], "no answer to the batch in time"
        reply, out = frame
        w.take_tail()
        w.kill_strays()
        if reply.get("op") != "bulk-answer":
            self._drop_main()
            return "protocol", None, [], f"unexpected {str(reply.get('op'))[:40]!r}"
        if reply.get("bulk_error"):
            raise HarnessErrorInWorker(one_line(str(reply["bulk_error"]), 500))
        return "ok", reply, out, ""

    def close(self) -> None:
        """End both workers and everything they started."""
        self._drop_main()
        if self._spare is not None:
            self._spare.kill()
            self._spare = None

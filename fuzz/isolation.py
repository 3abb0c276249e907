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
import traceback
from dataclasses import dataclass

import torch

from fuzz import wire
from fuzz.case import Case, Fault, faulty_args
from fuzz.compare import Output, summarise
from fuzz.supervise import WorkerGone, WorkerProcess, exit_description

READY_TIMEOUT_S = 300.0  # importing torch and the candidate, compiling nothing yet
RESENDS_PER_BATCH = 2  # fresh workers for the rest of a batch after crashes, per batch
CUDA_MARKERS = ("CUDA error", "illegal memory access", "device-side assert", "cudaError")
STATUSES = (
    "ok",
    "raised",
    "slow",
    "hang",
    "unconfirmed-hang",
    "crash",
    "cuda-fault",
    "protocol",
    "oversize",
    "harness-error",
)

__all__ = ["Answer", "IsolatedCandidate", "call_checked", "exit_description"]


@dataclass
class Answer:
    """What one call came to; `status` is one of STATUSES, `cause` says why in one line."""

    status: str
    outputs: list[Output] | str | None = None
    modified: bool = False
    exc_type: str = ""
    exc_mro: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    detail: str = ""
    cause: str = ""
    output_tail: str = ""


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def cuda_error(*texts: str) -> str | None:
    """The first line naming a CUDA error in `texts`, if any."""
    for text in texts:
        for line in str(text).splitlines():
            if any(m in line for m in CUDA_MARKERS):
                return one_line(line)
    return None


def raised_cause(exc_type: str, message: str) -> str:
    return one_line(f"{exc_type}: {message}" if message else exc_type)


# --- built-ins, in this process ----------------------------------------------------------


def _storages(tensors) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())
            out.append((flat, flat.clone()))
    return out


def call_checked(fn, args, device) -> Answer:
    """Call `fn(*args)` here, noting what it returned or raised and whether it wrote its inputs."""
    snaps = _storages(args)
    start = time.perf_counter()
    try:
        result = fn(*args)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()  # an asynchronous fault belongs to this item
        answer = Answer("ok", outputs=summarise(result))
    except Exception as exc:
        message = str(exc)[:2000]
        answer = Answer(
            "raised",
            exc_type=type(exc).__name__,
            exc_mro=tuple(c.__name__ for c in type(exc).__mro__),
            message=message,
            detail=traceback.format_exc(limit=3)[-800:],
            cause=raised_cause(type(exc).__name__, message),
        )
    answer.seconds = time.perf_counter() - start
    answer.modified = any(not torch.equal(now, before) for now, before in snaps)
    return answer


# --- judging what a worker sent, in the parent ---------------------------------------------


def input_storages(item: dict) -> dict[int, bytes]:
    """Each tensor argument's storage as the parent builds it: what the call must leave."""
    case = Case.from_json(item["case"])
    if item.get("fault"):
        args = faulty_args(case, Fault.from_json(item["fault"]), "cpu")
    else:
        args = (*case.tensors("cpu"), case.nsa_index_topk)
    return {
        i: bytes(t.untyped_storage())
        for i, t in enumerate(args)
        if isinstance(t, torch.Tensor) and t.device.type != "meta"
    }


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise wire.ProtocolError(f"bad answer: {what}")


def decode_outputs(raw: object, blobs: list[bytes]) -> list[Output] | str:
    if isinstance(raw, str):
        return raw[:200]
    _check(isinstance(raw, list) and len(raw) == 2, "outputs")
    outputs = []
    for o in raw:
        _check(isinstance(o, dict) and isinstance(o.get("typename"), str), "output")
        if o["typename"] != "Tensor":
            outputs.append(Output(o["typename"][:200]))
            continue
        dtype, device, shape, blob = o.get("dtype"), o.get("device"), o.get("shape"), o.get("blob")
        _check(isinstance(dtype, str) and isinstance(device, str), "dtype or device")
        _check(isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape), "shape")
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise wire.ProtocolError(f"bad answer: device {device[:80]!r}") from None
        plain = dtype == "torch.int32" and len(shape) == 1
        values = None
        if blob is not None:
            _check(plain and type(blob) is int and 0 <= blob < len(blobs), "values blob")
            data = blobs[blob]
            _check(len(data) == 4 * shape[0], "values length")
            values = torch.frombuffer(bytearray(data), dtype=torch.int32) if data else None
            values = values if values is not None else torch.empty(0, dtype=torch.int32)
        else:
            _check(not plain or device == "meta", "values missing")
        outputs.append(Output("Tensor", dtype, device, tuple(shape), values))
    return outputs


def decode_modified(raw: object, blobs: list[bytes], item: dict) -> bool:
    _check(isinstance(raw, list), "inputs")
    got = {}
    for x in raw:
        _check(isinstance(x, dict) and type(x.get("arg")) is int, "input")
        blob = x.get("blob")
        _check(type(blob) is int and 0 <= blob < len(blobs), "input blob")
        got[x["arg"]] = blobs[blob]
    before = input_storages(item)
    _check(all(i in got for i in before), "an input's storage is missing")
    return any(got[i] != b for i, b in before.items())


def decode_answer(header: dict, blobs: list[bytes], item: dict, cap: int) -> Answer:
    """The parent's verdict on one answer frame; ProtocolError if it does not parse."""
    status = header.get("status")
    seconds = header.get("seconds", 0.0)
    _check(type(seconds) in (int, float) and seconds >= 0, "seconds")
    if status == "harness-error":
        message = str(header.get("message", ""))[:2000]
        return Answer(status, message=message, cause=one_line(message), seconds=seconds)
    if status == "oversize":
        size = header.get("bytes")
        _check(type(size) is int, "bytes")
        cause = f"a result of {size:,} bytes (cap {cap:,} bytes)"
        return Answer(status, seconds=seconds, cause=cause)
    modified = decode_modified(header.get("inputs"), blobs, item)
    if status == "ok":
        outputs = decode_outputs(header.get("outputs"), blobs)
        return Answer("ok", outputs=outputs, modified=modified, seconds=seconds)
    _check(status == "raised", f"status {str(status)[:40]!r}")
    exc_type, message, mro = header.get("exc_type"), header.get("message"), header.get("exc_mro")
    _check(isinstance(exc_type, str) and isinstance(message, str), "exception")
    _check(isinstance(mro, list) and all(isinstance(c, str) for c in mro), "exc_mro")
    detail = str(header.get("detail", ""))[-1500:]
    fault = cuda_error(message, exc_type)
    if header.get("phase") == "read" and fault is None:
        message = f"reading the result failed: {message}"
    return Answer(
        "cuda-fault" if fault else "raised",
        modified=modified,
        exc_type=exc_type[:200],
        exc_mro=tuple(c[:200] for c in mro),
        message=message[:2000],
        seconds=seconds,
        detail=detail,
        cause=fault or raised_cause(exc_type, message),
    )


def fault_answer(exc: Exception, tail: str) -> Answer:
    """A worker that died, or sent a frame the parent could not take."""
    if isinstance(exc, WorkerGone):
        fault = cuda_error(tail)
        if fault:
            return Answer("cuda-fault", cause=fault, output_tail=tail)
        return Answer("crash", cause=str(exc), detail=str(exc), output_tail=tail)
    status = "oversize" if isinstance(exc, wire.OversizeError) else "protocol"
    return Answer(status, cause=one_line(str(exc)), output_tail=tail)


# --- the parent's side -----------------------------------------------------------------------


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
        until = (
            begin + READY_TIMEOUT_S if deadline is None else min(begin + READY_TIMEOUT_S, deadline)
        )
        w = self._spawn()
        try:
            _await_ready(w, until)
        except _NoWorker as exc:
            reason = str(exc)
            if exc.timed_out:
                reason = f"importing it did not finish within {until - begin:.1f} s"
                tail = one_line(w.tail.text()[-300:], 300)
                reason += f" (output: {tail})" if tail else ""
            raise CandidateError(f"--candidate {self.spec!r}: {reason}") from None
        self._main = w
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
            if deadline is not None and time.monotonic() >= deadline:
                break
            limit = clock + (self.timeout if w.ready else READY_TIMEOUT_S)
            cut = deadline is not None and deadline < limit
            answer = None
            try:
                frame = w.next_frame(deadline if cut else limit)
                if frame is not None and not w.ready:
                    _mark_ready(w, frame[0])
                    clock = time.monotonic()  # the item's time starts once the worker is up
                    continue
                if frame is not None:
                    _check(frame[0].get("op") == "answer" and frame[0].get("index") == i, "index")
                    answer = decode_answer(*frame, items[i], self.message_cap)
            except _NoWorker as exc:
                answers[i] = Answer("crash", cause=f"a fresh worker could not load it: {exc}")
                self._drop_main()
                break
            except (WorkerGone, wire.ProtocolError, wire.OversizeError) as exc:
                answer = fault_answer(exc, w.take_tail())
            if answer is None:  # no answer in time
                if cut:
                    break  # the campaign's time ran out, not the item's
                self._drop_main()
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
        ready_by = start + READY_TIMEOUT_S
        if hard_deadline is not None:
            ready_by = min(ready_by, hard_deadline)
        try:
            _await_ready(w, ready_by)
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
                _check(frame[0].get("op") == "answer" and frame[0].get("index") == 0, "index")
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

    def close(self) -> None:
        """End both workers and everything they started."""
        self._drop_main()
        if self._spare is not None:
            self._spare.kill()
            self._spare = None

"""Plug-ins run in a subprocess, so that a hang, an abort or a CUDA fault is a finding.

The parent sends a batch of items; the worker answers one message per item. The parent
waits for each answer at most `timeout` seconds: past that the worker is killed, the item
is a hang, and a fresh worker takes the rest of the batch. A worker that dies is a crash.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass, field

import torch

from fuzz.case import Case, Fault, faulty_args
from fuzz.compare import Output, summarise

READY_TIMEOUT_S = 300.0  # importing torch and the candidate, compiling nothing yet


@dataclass
class Answer:
    """One item's outcome: ok | raised | returned | hang | crash."""

    status: str
    outputs: list[Output] | str | None = None
    modified: bool = False
    exc_type: str = ""
    exc_mro: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    detail: str = ""


def _storages(tensors) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())
            out.append((flat, flat.clone()))
    return out


def modified(snapshots) -> bool:
    return any(not torch.equal(now, before) for now, before in snapshots)


def call_checked(fn, args, device) -> Answer:
    """Call `fn(*args)`, noting what it returned or raised and whether it wrote its inputs."""
    snaps = _storages(args)
    start = time.perf_counter()
    try:
        result = fn(*args)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()  # an asynchronous fault belongs to this item
        answer = Answer("ok", outputs=summarise(result))
    except Exception as exc:
        answer = Answer(
            "raised",
            exc_type=type(exc).__name__,
            exc_mro=tuple(c.__name__ for c in type(exc).__mro__),
            message=str(exc)[:500],
            detail=traceback.format_exc(limit=3)[-800:],
        )
    answer.seconds = time.perf_counter() - start
    answer.modified = modified(snaps)
    return answer


# --- the worker process ----------------------------------------------------------------------


def _pack(answer: Answer) -> Answer:
    if isinstance(answer.outputs, list):
        for o in answer.outputs:
            if o.values is not None:
                o.values = o.values.numpy().tobytes()  # type: ignore[assignment]
    return answer


def _unpack(answer: Answer) -> Answer:
    if isinstance(answer.outputs, list):
        for o in answer.outputs:
            if o.values is not None:
                raw = bytearray(o.values)  # type: ignore[arg-type]
                o.values = (
                    torch.frombuffer(raw, dtype=torch.int32)
                    if raw
                    else torch.empty(0, dtype=torch.int32)
                )
    return answer


def _worker(spec: str, device: str, conn, memory_limit_gb: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C ends the campaign, not a "crash"
    if memory_limit_gb and device == "cpu":
        import resource

        limit = int(memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from fuzz.candidates import load_candidate

    try:
        fn = load_candidate(spec)
    except Exception as exc:
        conn.send(("load-error", str(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        items = conn.recv()
        if items is None:
            return
        for item in items:
            case = Case.from_json(item["case"])
            fault = Fault.from_json(item["fault"]) if item.get("fault") else None
            try:
                args = (
                    faulty_args(case, fault, device)
                    if fault
                    else (*case.tensors(device), case.nsa_index_topk)
                )
            except Exception as exc:  # our bug, not the candidate's: say so
                conn.send(Answer("harness-error", message=repr(exc)))
                continue
            answer = call_checked(fn, args, device)
            if "CUDA error" in answer.message or "illegal memory access" in answer.message:
                conn.send(Answer("crash", detail=f"CUDA fault: {answer.message}"))
                return  # the context is unusable now; the parent starts a fresh worker
            conn.send(_pack(answer))


# --- the parent's side -----------------------------------------------------------------------


@dataclass
class IsolatedCandidate:
    """A plug-in behind a worker process; `run` answers a batch of items, item by item."""

    spec: str
    device: str
    timeout: float = 5.0
    memory_limit_gb: float = 8.0
    restarts: int = 0
    _proc: mp.Process | None = field(default=None, repr=False)
    _conn: object = field(default=None, repr=False)

    def start(self) -> None:
        from fuzz.candidates import CandidateError

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker, args=(self.spec, self.device, child, self.memory_limit_gb), daemon=True
        )
        proc.start()
        child.close()
        if not parent.poll(READY_TIMEOUT_S):
            proc.kill()
            raise CandidateError(f"--candidate {self.spec!r}: the worker did not start in time")
        try:
            kind, detail = parent.recv()
        except EOFError:
            proc.join(5)
            raise CandidateError(
                f"--candidate {self.spec!r}: the worker died while loading it "
                f"({exit_description(proc.exitcode)})"
            ) from None
        if kind != "ready":
            proc.join(5)
            raise CandidateError(str(detail))
        self._proc, self._conn = proc, parent

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(None)  # type: ignore[union-attr]
            self._proc.join(2)
        except (OSError, EOFError, BrokenPipeError):
            pass
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)
        self._proc = None

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
            self._proc = None

    def submit(self, items: list[dict]) -> None:
        """Send a batch; answers are read by `collect`. Starts a worker if none is alive."""
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._kill()
            self.restarts += self._proc is not None
            self.start()
        self._pending = list(items)
        self._conn.send(self._pending)  # type: ignore[union-attr]

    def collect(self, deadline: float | None = None) -> list[Answer | None]:
        """One answer per submitted item. None: not run, because the campaign ran out of
        time or because an earlier item of the batch hung or crashed (one fault per batch
        bounds what a hanging plug-in costs; the skipped items are drawn again later)."""
        answers: list[Answer | None] = []
        while self._pending:
            wait = self.timeout
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            assert self._conn is not None
            if self._conn.poll(wait):
                try:
                    answers.append(_unpack(self._conn.recv()))
                    self._pending.pop(0)
                    if answers[-1].status == "crash":
                        self._kill()
                        break
                    continue
                except EOFError:
                    self._proc.join(5)  # type: ignore[union-attr]
                    code = self._proc.exitcode  # type: ignore[union-attr]
                    answers.append(Answer("crash", detail=exit_description(code)))
            elif deadline is not None and time.monotonic() >= deadline and wait < self.timeout:
                self._kill()  # out of campaign time, not a hang: the rest is not run
                answers += [None] * len(self._pending)
                self._pending = []
                break
            else:
                answers.append(
                    Answer("hang", seconds=self.timeout, detail=f"no answer in {self.timeout:g} s")
                )
            self._pending.pop(0)
            self._kill()
            break
        answers += [None] * len(self._pending)
        self._pending = []
        return answers


def exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"

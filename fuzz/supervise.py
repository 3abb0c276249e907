"""The parent's handle on one worker process: start it, feed it, read its frames, end it.

The worker leads its own session (so its strays can be found and killed), talks on its own
pipes (never stdout), and its stdout/stderr go to a pipe drained into a bounded tail, so a
candidate that prints 100 MB costs neither the campaign's terminal nor its memory.
"""

from __future__ import annotations

import json
import mmap
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from fuzz import procs, wire

ROOT = str(Path(__file__).resolve().parents[1])
TAIL_BYTES = 4096


class WorkerGone(Exception):
    """The worker process ended; the message says how (signal name or exit status)."""


def exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Tail:
    """What a worker printed: the last TAIL_BYTES overall, and per item. The worker writes
    wire.ITEM_END after each item's output, so an item's tail holds its own output only."""

    def __init__(self) -> None:
        self.recent = bytearray()
        self.current = bytearray()  # the running item's output so far (its end, bounded)
        self.finished: deque[bytes] = deque(maxlen=1024)
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.recent += data[-TAIL_BYTES:]
        del self.recent[:-TAIL_BYTES]
        self.current += data
        while (k := self.current.find(wire.ITEM_END)) >= 0:
            self.finished.append(bytes(self.current[:k][-TAIL_BYTES:]))
            del self.current[: k + len(wire.ITEM_END)]
        del self.current[: -(TAIL_BYTES + len(wire.ITEM_END))]  # keeps a split marker whole

    def take(self) -> str:
        """The output of the item answered next (or of the one that was running)."""
        if self.finished:
            return self.finished.popleft().decode(errors="replace")
        text = bytes(self.current[-TAIL_BYTES:]).decode(errors="replace")
        self.current.clear()
        return text

    def text(self) -> str:
        return bytes(self.recent).replace(wire.ITEM_END, b"").decode(errors="replace")


class WorkerProcess:
    """`python -m fuzz.worker` in its own session, with four pipes: commands, results,
    captured output, and a life line whose closing tells the worker's reaper to end all."""

    def __init__(self, spec: str, device: str, memory_limit_gb: float, cap: int):
        cmd_r, self.cmd = os.pipe()
        self.res, res_w = os.pipe()
        self.cap_fd, cap_w = os.pipe()
        life_r, self.life = os.pipe()
        self.progress, progress_fd = _progress_slot()
        config = {
            "spec": spec,
            "device": device,
            "memory_limit_gb": memory_limit_gb,
            "cap": cap,
            "parent": os.getpid(),
            "cmd_fd": cmd_r,
            "res_fd": res_w,
            "life_fd": life_r,
            "sys_path": [p for p in sys.path if p],
            "progress_fd": progress_fd,
        }
        path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        env["PYTHONFAULTHANDLER"] = "1"  # a segfault's Python stack lands in the tail
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fuzz.worker", json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=cap_w,
                stderr=cap_w,
                pass_fds=tuple(fd for fd in (cmd_r, res_w, life_r, progress_fd) if fd >= 0),
                start_new_session=True,
                env=env,
            )
        finally:
            for fd in (cmd_r, res_w, cap_w, life_r, progress_fd):
                if fd >= 0:
                    os.close(fd)
        self.pid = self.proc.pid
        for fd in (self.cmd, self.res, self.cap_fd):
            os.set_blocking(fd, False)
        self.reader = wire.FrameReader(cap)
        self.tail = Tail()
        self.outbox = bytearray()
        self.ready = False
        self.reaper: int | None = None
        self.gone: str | None = None  # how it ended, once it has
        self.res_open = True
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.res, selectors.EVENT_READ)
        self.sel.register(self.cap_fd, selectors.EVENT_READ)
        try:
            self.pidfd: int | None = os.pidfd_open(self.pid)
            self.sel.register(self.pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):
            self.pidfd = None

    def bulk_progress(self, batch: int) -> int | None:
        """The index of the case the worker last started in bulk batch `batch` (the one
        that was running when it died or hung), or None when unknown."""
        if self.progress is None:
            return None
        seen, index = struct.unpack_from("<qq", self.progress, 0)
        return index if seen == batch and index >= 0 else None

    # --- traffic ----------------------------------------------------------------------

    def send(self, header: dict, blobs: list[bytes] = ()) -> None:
        """Queue a command; it is written as the worker reads (never blocking the parent)."""
        self.outbox += b"".join(bytes(p) for p in wire.encode(header, blobs))
        self._flush()

    def interpreter_steps(self) -> int | None:
        """How many programs, loads and stores the Triton interpreter has run in the worker
        (it only grows while interpreted kernels make progress), or None when unknown."""
        if self.progress is None:
            return None
        return struct.unpack_from("<q", self.progress, 16)[0]

    def compiling_seconds(self) -> float:
        """How long the Triton compile the worker runs now has taken (0: none running)."""
        if self.progress is None:
            return 0.0
        began = struct.unpack_from("<q", self.progress, 40)[0]
        return (time.monotonic_ns() - began) / 1e9 if began > 0 else 0.0

    def candidate_seconds(self) -> float | None:
        """How long the candidate itself has run on the item the worker is on (its calls
        only: not building the case, nor reading and shipping what it wrote), or None when
        unknown. Read without a lock: a call that just ended may be missed, never counted
        twice, so this errs short."""
        if self.progress is None:
            return None
        # The worker clears `began` before adding the call to `done`: read in the other order.
        done = struct.unpack_from("<q", self.progress, 24)[0]
        began = struct.unpack_from("<q", self.progress, 32)[0]
        running = time.monotonic_ns() - began if began > 0 else 0
        return (done + max(running, 0)) / 1e9

    def next_frame(self, until: float) -> tuple[dict, list[bytes]] | None:
        """The next whole frame, or None at `until`. Raises WorkerGone once the process
        has ended and its frames are read, ProtocolError/OversizeError on a bad frame."""
        while True:
            frame = self.reader.next()
            if frame is not None:
                return frame
            if self.gone is not None:
                raise WorkerGone(self.gone)
            left = until - time.monotonic()
            if left <= 0:
                return None
            if self.pidfd is None:
                left = min(left, 0.05)
            for key, _ in self.sel.select(left):
                if key.fd == self.res:
                    self._read_results()
                elif key.fd == self.cap_fd:
                    self._drain()
                elif key.fd == self.cmd:
                    self._flush()
                elif key.fd == self.pidfd:
                    self._ended()
            if self.pidfd is None and self.proc.poll() is not None:
                self._ended()
            if not self.res_open and self.gone is None:
                self._closed_results(until)

    def _read_results(self) -> None:
        while True:
            try:
                data = os.read(self.res, 1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.res_open = False
                self.sel.unregister(self.res)
                return
            self.reader.feed(data)  # raises once a prefix is bad, before reading on

    def _closed_results(self, until: float) -> None:
        """Its result pipe closed: it is ending (a crash), or it closed the pipe itself."""
        try:
            self.proc.wait(timeout=max(0.0, min(1.0, until - time.monotonic())))
        except subprocess.TimeoutExpired:
            raise wire.ProtocolError("the worker closed its result pipe") from None
        self._ended()

    def _ended(self) -> None:
        self.proc.wait()
        if self.res_open:
            self._read_results()  # an answer written just before it ended still counts
        self._drain()
        self.gone = exit_description(self.proc.returncode)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.cap_fd, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not data:
                try:
                    self.sel.unregister(self.cap_fd)
                except (KeyError, ValueError):
                    pass
                return
            self.tail.add(data)

    def _flush(self) -> None:
        while self.outbox:
            try:
                n = os.write(self.cmd, self.outbox)
            except BlockingIOError:
                break
            except OSError:  # it closed its command pipe: its answers will say the rest
                self.outbox.clear()
                break
            del self.outbox[:n]
        want = self.outbox and self.gone is None
        registered = self.cmd in self.sel.get_map()
        if want and not registered:
            self.sel.register(self.cmd, selectors.EVENT_WRITE)
        elif not want and registered:
            self.sel.unregister(self.cmd)

    def take_tail(self) -> str:
        self._drain()
        return self.tail.take()

    # --- ending -----------------------------------------------------------------------

    def kill_strays(self) -> int:
        """Kill whatever the candidate left running in the worker's session. A daemon that
        left the session on purpose (a compile server) is left to serve until the worker
        ends: killing it would cost a fresh worker each batch."""
        keep = (self.pid,) + ((self.reaper,) if self.reaper else ())
        if self.gone is not None:
            return 0
        return procs.kill_members(self.pid, keep=keep, descendants=False)

    def kill(self) -> None:
        """End the worker and everything in its session or below it (procs.kill_tree); drain
        what it printed."""
        if self.proc.returncode is None:
            procs.kill_tree(self.pid)
        else:
            procs.kill_members(self.pid)
        self.proc.wait()
        procs.kill_members(self.pid)  # anything forked while the group was dying
        self._drain()
        if self.gone is None:
            self.gone = exit_description(self.proc.returncode)
        self.sel.close()
        for fd in (self.cmd, self.res, self.cap_fd, self.life, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = None
        self.cmd = self.res = self.cap_fd = self.life = -1


PROGRESS_BYTES = 48


def _progress_slot() -> tuple[mmap.mmap | None, int]:
    """Six int64s shared with the worker (a memfd both map), written with no system call:
    the bulk batch it runs, the case it last started, a count of the Triton interpreter's
    programs, loads and stores, the candidate's own time on the current item: the
    nanoseconds of its finished calls and the CLOCK_MONOTONIC nanosecond its running call
    began (0: none running, or compiling), and the nanosecond a Triton compile it runs began
    (0: none) (fuzz/worker.py CallClock). (None, -1) where unavailable."""
    try:
        fd = os.memfd_create("nsa-fuzz-progress")
        os.ftruncate(fd, PROGRESS_BYTES)
        slot = mmap.mmap(fd, PROGRESS_BYTES)
    except (AttributeError, OSError):
        return None, -1
    struct.pack_into("<qqqqqq", slot, 0, -1, -1, 0, 0, 0, 0)
    return slot, fd

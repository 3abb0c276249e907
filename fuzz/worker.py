"""The child side of isolation: load one plug-in, call it on each item, ship back plain data.

It judges nothing: outputs and the inputs' storages after each call go back as bytes
(fuzz/wire.py), and the parent decides. It dies with its parent, even on kill -9: the
kernel's PR_SET_PDEATHSIG ends it, and a forked reaper watching a pipe ends its group.
Run as `python -m fuzz.worker CONFIG_JSON`, started by fuzz/isolation.py.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import time
import traceback

from fuzz import procs, wire
from fuzz.lifetime import adopt_orphans, die_with_parent
from fuzz.pinned import SavedFd, ours

# Bound before the candidate is loaded: it may patch `time` (a clock re-based to its own
# import), and the parent reads these nanoseconds against its own CLOCK_MONOTONIC.
_monotonic_ns = time.monotonic_ns
# Where each item's end is marked (fd 2 at first; a private duplicate once serving: the
# candidate may close fd 2 and a file of its own take the number, or dup2 /dev/null on it).
_ITEM_END_FD = SavedFd(2, private=False)


def start_reaper(life_fd: int) -> int:
    """Fork a process that kills this session once the parent's end of `life_fd` closes."""
    leader = os.getpid()
    pid = os.fork()
    if pid:
        os.close(life_fd)
        return pid
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, life_fd)
        os.closerange(life_fd + 1, 1 << 16)
        while True:
            try:
                if not os.read(life_fd, 64):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        procs.kill_members(leader, keep=(os.getpid(),))
        os.killpg(leader, signal.SIGKILL)
    finally:
        os._exit(0)


def read_command(fd: int, reader: wire.FrameReader) -> tuple[dict, list[bytes]]:
    while True:
        frame = reader.next()
        if frame is not None:
            return frame
        data = os.read(fd, 1 << 20)
        if not data:
            return {"op": "exit"}, []
        reader.feed(data)


def envelope_of(fn) -> dict | str | None:
    """The candidate's declared envelope (`fn.envelope`) as plain JSON; the parent checks it."""
    declared = getattr(fn, "envelope", None)
    if declared is None:
        return None
    try:
        json.dumps(declared)
    except (TypeError, ValueError):
        return f"not JSON data: {type(declared).__name__}"
    return declared


def reap_children(reaper: int) -> None:
    """Collect dead children (strays the parent killed) so they do not pile up as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class CallClock:
    """The candidate's own time on the current item, in the progress slot (fuzz/supervise.py)
    where the parent reads it: its timeout counts the candidate's calls, not our building of
    a large case or our reading of what it wrote (a false hang otherwise, with a short
    --confirm-seconds on a 65,536-column case)."""

    def __init__(self, progress=None):  # type: ignore[no-untyped-def]
        self.progress = progress
        self.inside = False  # in a call of the candidate
        self.compiled_ns = 0  # Triton compiles during the current call (off the clock)

    def new_item(self) -> None:
        if self.progress is not None:
            self.progress[4] = 0
            self.progress[3] = 0

    def enter(self) -> None:
        self.inside, self.compiled_ns = True, 0
        if self.progress is not None:
            self.progress[4] = _monotonic_ns()

    def leave(self) -> None:
        self.inside = False
        p = self.progress
        if p is not None and p[4] > 0:
            began, p[4] = p[4], 0  # cleared first: the parent reads `done` first, then this
            p[3] += _monotonic_ns() - began

    @contextlib.contextmanager
    def compiling(self):  # type: ignore[no-untyped-def]
        """A Triton compile inside a call: off the clock (ptxas alone took 40 s on one
        variant of red-team 12's kernel on the H100: a compile, not a hang), its start in
        progress[5] while it runs (the parent sees the worker compiling)."""
        p, start = self.progress, _monotonic_ns()
        if p is not None and p[4] > 0:
            p[3] += start - p[4]
            p[4] = 0
        if p is not None:
            p[5] = start
        try:
            yield
        finally:
            end = _monotonic_ns()
            self.compiled_ns += end - start
            if p is not None:
                p[5] = 0
                if self.inside:
                    p[4] = end


def forgive_compiles(clock: CallClock) -> bool:
    """Route the candidate's Triton compiles through `clock.compiling` (JIT functions take
    `triton.compiler.compile` when first launched: patched before any call). False where
    the candidate did not import Triton."""
    module = sys.modules.get("triton.compiler")
    original = getattr(module, "compile", None)
    if original is None or getattr(original, "_off_the_clock", False):
        return False

    def compile(*args, **kwargs):  # type: ignore[no-untyped-def]
        with clock.compiling():
            return original(*args, **kwargs)

    compile._off_the_clock = True  # type: ignore[attr-defined]
    module.compile = compile
    return True


class Runner:
    """Calls the candidate on items and turns what came out into (header, blobs)."""

    def __init__(self, fn, device: str, cap: int, clock: CallClock | None = None):
        import torch

        from fuzz.case import Case, Fault, faulty_args

        self.fn, self.device, self.cap = fn, device, cap
        self.clock = clock or CallClock()
        self.torch, self.Case, self.Fault, self.faulty_args = torch, Case, Fault, faulty_args
        self.cuda = torch.device(device).type == "cuda"

    def args(self, item: dict) -> tuple:
        case = self.Case.from_json(item["case"])
        if item.get("fault"):
            return self.faulty_args(case, self.Fault.from_json(item["fault"]), self.device)
        return (*case.tensors(self.device), case.nsa_index_topk)

    def run(self, item: dict) -> tuple[dict, list]:
        self.clock.new_item()
        if item.get("op") == "metadata":  # contract v2: calls on caller buffers
            from fuzz.meta_worker import run_item

            return run_item(self, item)
        if item["case"].get("prior") is not None and not item.get("fault"):
            return self.run_refill(item)
        try:
            with ours():
                args = self.args(item)
        except Exception as exc:  # ours, not the candidate's: the parent must not judge it
            return {"status": "harness-error", "message": f"building the case: {exc!r}"}, []
        return self.one_call(args)

    def one_call(self, args: tuple) -> tuple[dict, list]:
        """One timed call on `args`: (header, blobs: its outputs, then its inputs' storages)."""
        result, header, seconds = self.call(lambda: self.fn(*args))
        tensors: list = []
        if header is None:
            try:
                header, tensors = self.describe(result)
                header["status"] = "ok"
            except Exception as exc:
                header = self.raised(exc, "read")
        header["seconds"] = seconds
        with ours():
            return self.shipped(header, tensors, args, seconds)

    def run_refill(self, item: dict) -> tuple[dict, list]:
        """A case with a prior: call 1 on fresh tensors holding the prior's values, then the
        case's values written into those very tensors in place, then call 2. The header is
        call 2's, with call 1's under "first"; call 1's blobs come first (copied: call 2
        may write the same memory), and call 2's blob numbers count on past them."""
        from fuzz.case import refill_calls

        try:
            with ours():
                calls = refill_calls(self.Case.from_json(item["case"]), self.device)
                args = next(calls)
        except Exception as exc:  # ours, not the candidate's: the parent must not judge it
            return {"status": "harness-error", "message": f"building the case: {exc!r}"}, []
        first, blobs = self.one_call(args)
        if first["status"] not in ("ok", "raised"):
            return first, blobs
        try:
            with ours():
                blobs = [bytes(b) for b in blobs]
                next(calls)  # the case's values, written into the same tensors
        except Exception as exc:  # ours: the parent must not judge it
            return {"status": "harness-error", "message": f"refilling inputs: {exc!r}"}, []
        header, second = self.one_call(args)
        if header["status"] not in ("ok", "raised"):
            return header, second
        shift = len(blobs)
        for x in header.get("inputs", []):
            x["blob"] += shift
        for out in header.get("outputs", []) if isinstance(header.get("outputs"), list) else []:
            if out.get("blob") is not None:
                out["blob"] += shift
        size = sum(len(b) for b in blobs) + sum(len(b) for b in second)
        seconds = first["seconds"] + header["seconds"]
        if size > self.cap:
            return {"status": "oversize", "bytes": size, "seconds": seconds}, []
        return {**header, "seconds": seconds, "first": first}, blobs + list(second)

    def call(self, thunk) -> tuple[object, dict | None, float]:
        """`thunk()` (the candidate's call) on the call clock, a CUDA synchronize included (an
        asynchronous device fault is this call's, not the next one's): (its result, the
        `raised` header if it or the synchronize raised else None, its seconds)."""
        phase, raised, result = "call", None, None
        start = time.perf_counter()
        self.clock.enter()
        try:
            result = thunk()
            phase = "read"
            if self.cuda:
                self.torch.cuda.synchronize()
        except Exception as exc:
            raised = self.raised(exc, phase)
            if self.cuda and phase == "call":
                try:
                    self.torch.cuda.synchronize()
                except Exception as fault:
                    raised = self.raised(fault, "read")
        finally:
            self.clock.leave()
        return result, raised, time.perf_counter() - start - self.clock.compiled_ns / 1e9

    def shipped(self, header: dict, tensors: list, args: tuple, seconds: float):
        try:
            header["inputs"], storages = self.storages(args, len(tensors))
        except Exception as exc:
            header, tensors, storages = {**self.raised(exc, "read"), "seconds": seconds}, [], []
        blobs = tensors + storages
        size = sum(t.numel() * t.element_size() for t in blobs)
        if size > self.cap:
            return {"status": "oversize", "bytes": size, "seconds": seconds}, []
        try:
            return header, [self.raw(t) for t in blobs]
        except Exception as exc:
            return {**self.raised(exc, "read"), "seconds": seconds}, []

    def raised(self, exc: BaseException, phase: str) -> dict:
        return {
            "status": "raised",
            "phase": phase,
            "exc_type": type(exc).__name__,
            "exc_mro": [c.__name__ for c in type(exc).__mro__],
            "message": capped(exc, str(exc)[:4000]),
            "detail": traceback.format_exc(limit=4)[-1500:],
        }

    def describe(self, result) -> tuple[dict, list]:
        torch = self.torch
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return {"outputs": type(result).__name__}, []
        outputs, tensors = [], []
        for t in result:
            if not isinstance(t, torch.Tensor):
                outputs.append({"typename": type(t).__name__})
                continue
            out = {
                "typename": "Tensor",
                "dtype": str(t.dtype),
                "device": str(t.device),
                "shape": list(t.shape),
                "blob": None,
            }
            if t.dtype == torch.int32 and t.dim() == 1 and t.device.type != "meta":
                out["blob"] = len(tensors)
                tensors.append(t.detach())
            outputs.append(out)
        return {"outputs": outputs}, tensors

    def storages(self, args: tuple, first: int) -> tuple[list[dict], list]:
        """Each tensor argument's whole storage, as bytes, after the call."""
        torch = self.torch
        inputs, flats = [], []
        for i, t in enumerate(args):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                flat = torch.empty(0, dtype=torch.uint8, device=t.device)
                flats.append(flat.set_(t.untyped_storage()))
                inputs.append({"arg": i, "blob": first + len(flats) - 1})
        return inputs, flats

    def raw(self, t) -> memoryview:
        return memoryview(t.cpu().contiguous().numpy()).cast("B")


MEMORY_CAP_GB: float | None = None  # this worker's address-space cap (main), if any
_REFUSED = ("can't allocate memory", "Cannot allocate memory", "bad_alloc", "out of memory")


def capped(exc: BaseException, message: str) -> str:
    """`message`, and for an allocation refused under this worker's cap, that the cap is
    ours (--memory-limit), not the machine's, which may well have the memory."""
    if MEMORY_CAP_GB and (isinstance(exc, MemoryError) or any(w in message for w in _REFUSED)):
        return (
            f"{message} (this worker's address space is capped at {MEMORY_CAP_GB:g} GiB by the"
            " fuzzer: --memory-limit GIB raises the cap, 0 lifts it)"
        )
    return message


def end_of_output() -> None:
    """Mark where this item's output ends, so that the parent keeps it with its answer."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    _ITEM_END_FD.write(wire.ITEM_END)


def progress_slot(config: dict):  # type: ignore[no-untyped-def]
    """The parent's progress slot (fuzz/supervise.py) as five int64s, or None."""
    fd = config.get("progress_fd", -1)
    if not isinstance(fd, int) or fd < 0:
        return None
    try:
        import mmap

        from fuzz.supervise import PROGRESS_BYTES

        return memoryview(mmap.mmap(fd, PROGRESS_BYTES)).cast("q")
    except (OSError, ValueError, TypeError):
        return None


_STEPPED = ("set_grid_idx", "create_load", "create_store", "create_masked_load",
            "create_masked_store")  # fmt: skip


def count_interpreter_steps(progress) -> bool:  # type: ignore[no-untyped-def]
    """Count, in progress[2], every program, load and store the Triton interpreter runs
    (once triton is loaded and interpreting): the parent tells a slow interpreted kernel,
    still stepping, from a hang. True once installed (or when there is nothing to count)."""
    if progress is None or os.environ.get("TRITON_INTERPRET") != "1":
        return True
    if "triton" not in sys.modules:
        return False  # the candidate may import it on its first call: asked again then
    try:
        from triton.runtime import interpreter

        builder = interpreter.interpreter_builder
    except Exception:
        return True  # another Triton: no count, and the confirmation stays as it was
    for name in _STEPPED:
        step = getattr(builder, name, None)
        if step is None:
            continue

        def counted(*args, _step=step, **kwargs):  # type: ignore[no-untyped-def]
            progress[2] += 1
            return _step(*args, **kwargs)

        setattr(builder, name, counted)
    return True


def run_bulk(
    fn, command: dict, blobs: list[bytes], device: str, progress=None
) -> tuple[dict, list[bytes]]:
    """A numpy-drawn batch, back to back (fuzz/plugin_bulk.py). A fault of ours is named as
    such (`bulk_error`); one seen reading the results after the candidate ran (a device
    fault, say) is the batch's (`candidate_fault`): the parent re-runs it case by case."""
    from fuzz import plugin_bulk

    try:
        return plugin_bulk.run_batch(fn, command, blobs, device, progress)
    except plugin_bulk.CandidateFault as exc:
        return {"candidate_fault": str(exc)[:2000]}, []
    except Exception as exc:  # the candidate raising is caught per case inside; this is not
        text = f"{type(exc).__name__}: {exc}"
        return {"bulk_error": text[:2000], "trace": traceback.format_exc()[-2000:]}, []


def settle_heap() -> None:
    """Collect, then freeze what survives (torch, the candidate, compiled kernels): the
    collector's full passes then skip them, which halves the bulk loop's cost per case."""
    gc.collect()
    gc.freeze()


def serve(config: dict, reaper: int) -> None:
    global _ITEM_END_FD
    cmd_fd, res_fd = config["cmd_fd"], config["res_fd"]
    _ITEM_END_FD = SavedFd(2)
    sys.path[:0] = [p for p in config["sys_path"] if p not in sys.path]
    from fuzz.candidates import CandidateError, callable_as, load_candidate

    try:
        fn = load_candidate(config["spec"])
    except CandidateError as exc:
        wire.write_frame(res_fd, {"op": "load-error", "message": str(exc)})
        return
    progress = progress_slot(config)
    runner = Runner(fn, config["device"], config["cap"], CallClock(progress))
    forgive_compiles(runner.clock)
    settle_heap()
    ready = {"op": "ready", "reaper": reaper, "envelope": envelope_of(fn)}
    wire.write_frame(res_fd, {**ready, "callable_as": callable_as(fn)})
    reader = wire.FrameReader()
    bulk_batches = 0
    counting = count_interpreter_steps(progress)
    while True:
        command, blobs = read_command(cmd_fd, reader)
        if not counting:
            counting = count_interpreter_steps(progress)
        if command.get("op") == "bulk":
            reap_children(reaper)
            header, out = run_bulk(fn, command, blobs, config["device"], progress)
            end_of_output()
            answer = {**header, "op": "bulk-answer", "batch": command.get("batch")}
            wire.write_frame(res_fd, answer, out)
            del header, out
            bulk_batches += 1
            if bulk_batches == 1:
                settle_heap()  # what the first calls built (a JIT's caches) stays for good
            continue
        if command.get("op") != "run":
            return
        reap_children(reaper)
        for k, item in enumerate(command["items"]):
            header, blobs = runner.run(item)
            end_of_output()
            wire.write_frame(
                res_fd, {**header, "op": "answer", "index": command["base"] + k}, blobs
            )


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    die_with_parent(config["parent"])
    adopt_orphans()
    reaper = start_reaper(config["life_fd"])
    limit = config["memory_limit_gb"]
    if limit and config["device"] == "cpu":
        import resource

        size = int(limit * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
        global MEMORY_CAP_GB
        MEMORY_CAP_GB = limit
    serve(config, reaper)


if __name__ == "__main__":
    main(sys.argv)

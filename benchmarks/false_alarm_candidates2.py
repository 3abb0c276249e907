"""False-alarm red team, round 2: candidates that are correct on every valid input (contract
v2, and a few v1) but change their worker process's global state, on import or on a call;
each docstring names the change. A failure reported against any of them is a false alarm
(or our own error, which must be named as ours: exit 3, never a verdict on the candidate).

`HUNT` lists them for benchmarks/hunt.py; every name starts with `correct` (exit 0 expected).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import pickle
import random
import resource
import signal
import sys
import tempfile
import threading
import time
import types
import warnings
from functools import partial

import numpy as np
import torch

import nsa_meta

I32 = torch.int32


def _shipped(kw: dict):
    """The shipped torch backend, writing into the caller's buffers, validating (so that it
    raises on every bad call, as `--check-errors` asks)."""
    return nsa_meta.metadata(
        kw["mode"], kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=kw["topk"], width=kw["width"], page_size=kw["page_size"], next_n=kw["next_n"],
        extend_seq_lens=kw["extend_seq_lens"], backend="torch", out=kw["out"],
    )  # fmt: skip


def _device(kw: dict) -> torch.device:
    """The device of the first tensor argument (a bad call may pass a list anywhere), else
    the CPU: where the candidate computes when it pins a device of its own."""
    for name in ("seq_lens", "req_pool_indices", "req_to_token", "extend_seq_lens"):
        if isinstance(kw.get(name), torch.Tensor):
            return kw[name].device
    return torch.device("cpu")


def _v1(extend_seq_lens, seq_lens, topk):
    """planted.py's baseline, with an explicit device."""
    values = [
        v
        for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist())
        for v in range(kv - qo + 1, kv + 1)
    ]
    expanded = torch.tensor(values, dtype=I32, device=extend_seq_lens.device)
    return expanded, expanded.clamp(max=topk)


# --- torch's global state ---------------------------------------------------------------------


def correct_default_float64(**kw) -> None:
    """`torch.set_default_dtype(torch.float64)` on every call (a numerics module that wants
    double precision everywhere)."""
    torch.set_default_dtype(torch.float64)
    _shipped(kw)


def correct_default_device_meta(**kw) -> None:
    """Leaves `torch.set_default_device("meta")` set after every call (stands in for a
    module that sets the default device to "cuda" for its own allocations); computes under
    `with torch.device(<the inputs' device>)`."""
    with torch.device(_device(kw)):
        _shipped(kw)
    torch.set_default_device("meta")


def correct_device_context_left(**kw) -> None:
    """Enters a `torch.device("meta")` context on its first call and never leaves it (a
    `with` turned into `__enter__` in a refactor); its own work under an inner context."""
    global _CONTEXT
    with torch.device(_device(kw)):
        _shipped(kw)
    if _CONTEXT is None:
        _CONTEXT = torch.device("meta")
        _CONTEXT.__enter__()


_CONTEXT = None


def correct_inference_mode_left(**kw) -> None:
    """Enters `torch.inference_mode()` on import and never leaves it (serving code: no
    autograd, ever), and `torch.set_grad_enabled(False)` on every call."""
    torch.set_grad_enabled(False)
    _shipped(kw)


def correct_deterministic_one_thread(**kw) -> None:
    """`torch.use_deterministic_algorithms(True)` with uninitialised memory filled, one
    intra-op thread, anomaly detection on, float32 matmul precision "medium"."""
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    torch.set_num_threads(1)
    torch.autograd.set_detect_anomaly(True)
    torch.set_float32_matmul_precision("medium")
    _shipped(kw)


def correct_reseeds(**kw) -> None:
    """Resets every random seed on every call (torch, numpy, random) and replaces
    `random.random` by a fixed stream (a "make the benchmark reproducible" helper)."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    random.random = random.Random(0).random
    _shipped(kw)


def correct_monkeypatched_torch(**kw) -> None:
    """Wraps `torch.Tensor.clone`, `torch.empty`, `torch.full`, `torch.from_numpy`,
    `torch.Tensor.numpy` and `numpy.frombuffer` in counting wrappers that return what the
    originals do (an allocation tracker), installed on import."""
    _shipped(kw)


_COUNTS: dict[str, int] = {}


def _counting(owner, name: str) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        _COUNTS[name] = _COUNTS.get(name, 0) + 1
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


# --- the Python process's global state -------------------------------------------------------


def correct_warnings_error(**kw) -> None:
    """`warnings.simplefilter("error")` on import (a strict test setup left on): every
    warning in the process is an exception from then on. Its own call warns nothing."""
    _shipped(kw)


def correct_numpy_raise(**kw) -> None:
    """`numpy.seterr(all="raise")` on every call, and computes `cu_seqlens_k` in numpy."""
    np.seterr(all="raise")
    _shipped(kw)
    kv = kw["out"].cache_seqlens[: kw["seq_lens"].numel()].cpu().numpy().astype(np.int64)
    cu = np.concatenate([[0], np.cumsum(kv)])
    kw["out"].cu_seqlens_k[: cu.size] = torch.from_numpy(cu).to(kw["out"].cu_seqlens_k.device)


def correct_low_recursion_limit(**kw) -> None:
    """`sys.setrecursionlimit(100)` on its first call (a guard against its own recursion
    that forgets the caller's frames)."""
    sys.setrecursionlimit(100)
    _shipped(kw)


def correct_gc_disabled(**kw) -> None:
    """`gc.disable()` and `gc.set_threshold(0)` on import (latency tuning)."""
    _shipped(kw)


def correct_chdir(**kw) -> None:
    """`os.chdir("/")` on import, then into a fresh temporary directory on every call."""
    os.chdir(tempfile.mkdtemp(prefix="fa2-cwd-"))
    _shipped(kw)


def correct_environ_edits(**kw) -> None:
    """Edits os.environ on import and every call: TRITON_INTERPRET and PYTHONPATH removed,
    CUDA_VISIBLE_DEVICES "", OMP_NUM_THREADS 1, PYTHONUNBUFFERED removed, HOME "/nonexistent"."""
    for name in ("TRITON_INTERPRET", "PYTHONPATH", "PYTHONUNBUFFERED"):
        os.environ.pop(name, None)
    os.environ.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", HOME="/nonexistent")
    _shipped(kw)


def correct_patched_json_pickle(**kw) -> None:
    """Patches `json.dumps` (sort_keys, default=str), `json.loads` (a wrapper), pickle's
    `dumps` (protocol 0), and replaces `sys.modules["json"]` by a proxy module that forwards
    every attribute (a logging setup that wants stable JSON)."""
    _shipped(kw)


def _patch_json_pickle() -> None:
    dumps, loads = json.dumps, json.loads
    json.dumps = partial(dumps, sort_keys=True, default=str)
    json.loads = lambda s, *a, **k: loads(s, *a, **k)
    pickle.dumps = partial(pickle.dumps, protocol=0)
    proxy = types.ModuleType("json")
    proxy.__dict__.update({k: v for k, v in vars(json).items() if not k.startswith("__")})
    sys.modules["json"] = proxy


def correct_stub_modules(**kw) -> None:
    """Stubs optional modules in sys.modules (a CPU fallback: `triton` as an empty module
    with an identity `jit`, `flash_attn` and `apex` as empty modules), on import."""
    _shipped(kw)


# --- streams, file descriptors, signals ------------------------------------------------------


def correct_streams_replaced(**kw) -> None:
    """Replaces `sys.stdout` by a StringIO and `sys.stderr` by a closed file on import, and
    prints on every call (to the StringIO)."""
    print("progress", kw["mode"])
    _shipped(kw)


def correct_fds_to_devnull(**kw) -> None:
    """dup2s /dev/null over fds 1 and 2 on import (silences C++ logging), and writes to
    both on every call."""
    os.write(1, b"to stdout\n")
    os.write(2, b"to stderr\n")
    _shipped(kw)


def correct_fd2_reused(**kw) -> None:
    """Closes fd 2 on its first call and opens a scratch file, which takes fd 2 (a spill
    file): every call checks that the bytes it spilled on its previous call are still there
    (its own file: nobody else writes it), then spills this call's seqlens_expanded."""
    global _SCRATCH, _SPILLED
    if _SCRATCH is None:
        os.close(2)
        _SCRATCH = os.open(tempfile.mktemp(prefix="fa2-scratch-"), os.O_RDWR | os.O_CREAT, 0o600)
    if os.pread(_SCRATCH, len(_SPILLED) + 64, 0) != _SPILLED:
        raise RuntimeError(f"scratch file fd {_SCRATCH} holds other bytes than were spilled")
    _shipped(kw)
    data = kw["out"].seqlens_expanded[: _rows(kw)].cpu().numpy().tobytes()
    os.ftruncate(_SCRATCH, 0)
    os.pwrite(_SCRATCH, data, 0)
    _SPILLED = data


_SPILLED = b""
_SCRATCH = None


def _rows(kw: dict) -> int:
    mode, bs = kw["mode"], kw["seq_lens"].numel()
    if mode == "decode":
        return bs
    if mode in ("target_verify", "draft_extend"):
        return bs * kw["next_n"]
    return int(kw["extend_seq_lens"].sum())


def correct_signal_handlers(**kw) -> None:
    """Installs handlers on import: SIGTERM and SIGUSR1 (a graceful-shutdown hook), SIGINT
    ignored, SIGCHLD ignored (no zombies), SIGPIPE back to the default; a 1-hour
    `signal.alarm` watchdog with a handler."""
    _shipped(kw)


def correct_sampling_profiler(**kw) -> None:
    """A statistical profiler left on: `setitimer(ITIMER_PROF, 1 ms)` with a SIGPROF handler
    that records the interrupted frame's function, and `setitimer(ITIMER_REAL, 5 ms)` with a
    SIGALRM handler that counts ticks, both from import on."""
    _shipped(kw)


_SAMPLES: dict[str, int] = {}


def _sample(signum, frame) -> None:
    key = frame.f_code.co_name if frame is not None else "?"
    _SAMPLES[key] = _SAMPLES.get(key, 0) + 1


def correct_faulthandler_watchdog(**kw) -> None:
    """`faulthandler.dump_traceback_later(0.5, repeat=True)` (every thread's stack to stderr
    twice a second, a watchdog left on), armed on its first call."""
    import faulthandler

    if not _ARMED:
        faulthandler.dump_traceback_later(0.5, repeat=True)
        _ARMED.append(True)
    _shipped(kw)


_ARMED: list = []


def correct_background_threads(**kw) -> None:
    """Starts, on its first call, a non-daemon thread that polls a queue every millisecond
    forever, a daemon thread that spins in pure Python (holding the GIL half the time), and
    an atexit hook that sleeps 600 s."""
    if not _THREADS:
        _THREADS.append(threading.Thread(target=_poll, name="fa2-poll"))
        _THREADS.append(threading.Thread(target=_spin, name="fa2-spin", daemon=True))
        for t in _THREADS:
            t.start()
        atexit.register(time.sleep, 600)
    _shipped(kw)


_THREADS: list = []


def _poll() -> None:
    while True:
        time.sleep(0.001)


def _spin() -> None:
    n = 0
    while True:
        for _ in range(10_000):
            n += 1
        time.sleep(0.002)


def correct_rlimits_nice_umask(**kw) -> None:
    """Lowers RLIMIT_NOFILE's soft limit to 64, RLIMIT_CORE to 0 and RLIMIT_STACK's soft
    limit to 8 MiB, `os.nice(10)`, `os.umask(0o777)`, pins itself to one CPU; on its first
    call."""
    if not _LIMITED:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.nice(10)
        os.umask(0o777)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        _LIMITED.append(True)
    _shipped(kw)


_LIMITED: list = []


def correct_rlimit_as(**kw) -> None:
    """Lowers RLIMIT_AS's soft limit to 6 GiB (below the worker's 8 GiB) on its first call."""
    if not _AS:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = 6 << 30
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard < 0 else min(soft, hard), hard))
        _AS.append(True)
    _shipped(kw)


_AS: list = []


def correct_leaves_session(**kw) -> None:
    """Tries `os.setsid()` and `os.setpgrp()` on every call (failures ignored), and on its
    first call double-forks a helper that leaves the worker's session (a compile server) and
    sleeps 90 s, inheriting every fd."""
    for leave in (os.setsid, os.setpgrp):
        try:
            leave()
        except OSError:
            pass
    if not _DAEMON:
        _DAEMON.append(True)
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(90)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    _shipped(kw)


_DAEMON: list = []


def correct_process_clock(**kw) -> None:
    """Replaces `time.monotonic`, `time.monotonic_ns` and `time.perf_counter` by clocks that
    count from the module's import (a "process-relative" clock for its logs): still
    monotonic, another epoch."""
    _shipped(kw)


_real_mono_ns, _real_perf = time.monotonic_ns, time.perf_counter


def _rebase_clocks() -> None:
    t0_ns, t0 = _real_mono_ns(), _real_perf()
    time.monotonic_ns = lambda: _real_mono_ns() - t0_ns
    time.monotonic = lambda: (_real_mono_ns() - t0_ns) / 1e9
    time.perf_counter = lambda: _real_perf() - t0


# --- v1 ---------------------------------------------------------------------------------------


def correct_v1_default_device_meta(extend_seq_lens, seq_lens, nsa_index_topk):
    """Leaves `torch.set_default_device("meta")` after every call; its own tensors carry an
    explicit device."""
    out = _v1(extend_seq_lens, seq_lens, nsa_index_topk)
    torch.set_default_device("meta")
    return out


def correct_v1_strict(extend_seq_lens, seq_lens, nsa_index_topk):
    """`warnings.simplefilter("error")`, `numpy.seterr(all="raise")`, default dtype float16,
    inference mode entered and never left, on its first call."""
    if not _STRICT:
        warnings.simplefilter("error")
        np.seterr(all="raise")
        torch.set_default_dtype(torch.float16)
        torch.inference_mode().__enter__()
        _STRICT.append(True)
    return _v1(extend_seq_lens, seq_lens, nsa_index_topk)


_STRICT: list = []


def correct_v1_fds_and_clock(extend_seq_lens, seq_lens, nsa_index_topk):
    """fds 1 and 2 dup2'd to /dev/null and `time.monotonic_ns` made process-relative, on its
    first call."""
    if not _V1_DONE:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        t0 = _real_mono_ns()
        time.monotonic_ns = lambda: _real_mono_ns() - t0
        _V1_DONE.append(True)
    return _v1(extend_seq_lens, seq_lens, nsa_index_topk)


_V1_DONE: list = []


# --- what each module does on import (after the functions above are defined) ----------------
# One file holds every candidate, and each worker imports the whole file: the import-time
# changes are installed only in a worker whose spec names that candidate (read from the
# worker's command line), so that each campaign tests one change and importing this file
# elsewhere (hunt.py, tests) changes nothing.


def _import_time(name: str) -> None:
    if name == "correct_inference_mode_left":
        torch.inference_mode().__enter__()
    elif name == "correct_monkeypatched_torch":
        for owner, attr in ((torch.Tensor, "clone"), (torch, "empty"), (torch, "full"),
                            (torch, "from_numpy"), (torch.Tensor, "numpy"), (np, "frombuffer")):  # fmt: skip
            _counting(owner, attr)
    elif name == "correct_patched_json_pickle":
        _patch_json_pickle()
    elif name == "correct_process_clock":
        _rebase_clocks()
    elif name == "correct_warnings_error":
        warnings.simplefilter("error")
    elif name == "correct_gc_disabled":
        gc.disable()
        gc.set_threshold(0)
    elif name == "correct_chdir":
        os.chdir("/")
    elif name == "correct_environ_edits":
        for var in ("TRITON_INTERPRET", "PYTHONPATH", "PYTHONUNBUFFERED"):
            os.environ.pop(var, None)
    elif name == "correct_stub_modules":
        stub = types.ModuleType("triton")
        stub.jit = lambda fn=None, **_: fn if fn is not None else (lambda f: f)
        sys.modules["triton"] = stub
        sys.modules["flash_attn"] = types.ModuleType("flash_attn")
        sys.modules["apex"] = types.ModuleType("apex")
    elif name == "correct_streams_replaced":
        import io

        sys.stdout = io.StringIO()
        closed = open(os.devnull, "w")
        closed.close()
        sys.stderr = closed
    elif name == "correct_fds_to_devnull":
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
    elif name == "correct_signal_handlers":
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.signal(signal.SIGUSR1, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.alarm(3600)
    elif name == "correct_sampling_profiler":
        signal.signal(signal.SIGPROF, _sample)
        signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
        signal.signal(signal.SIGALRM, _sample)
        signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)


def _named_in_argv() -> str | None:
    """The candidate this worker loads (`python -m fuzz.worker CONFIG_JSON`: CONFIG's spec)."""
    for arg in sys.argv[1:]:
        try:
            spec = json.loads(arg).get("spec", "")
        except (ValueError, AttributeError):
            continue
        return spec.rpartition(":")[2] or None
    return None


_NAME = _named_in_argv()
if _NAME is not None:
    _import_time(_NAME)


HUNT = [
    ("correct_default_float64", "metadata", "default dtype float64 every call"),
    ("correct_default_device_meta", "metadata", "set_default_device('meta') left set"),
    ("correct_default_device_meta", "metadata", "the same, bad calls too", ["--check-errors"]),
    ("correct_device_context_left", "metadata", "torch.device('meta') context left entered"),
    ("correct_inference_mode_left", "metadata", "inference mode entered on import, no grad"),
    ("correct_deterministic_one_thread", "metadata", "deterministic, 1 thread, anomaly"),
    ("correct_reseeds", "metadata", "every seed reset each call, random.random replaced"),
    ("correct_monkeypatched_torch", "metadata", "clone/empty/full/from_numpy/frombuffer wrapped"),
    ("correct_warnings_error", "metadata", "warnings.simplefilter('error') on import"),
    ("correct_warnings_error", "metadata", "the same, bad calls too", ["--check-errors"]),
    ("correct_numpy_raise", "metadata", "numpy.seterr(all='raise')"),
    ("correct_low_recursion_limit", "metadata", "sys.setrecursionlimit(100)"),
    ("correct_gc_disabled", "metadata", "gc.disable(), threshold 0"),
    ("correct_chdir", "metadata", "chdir / on import, a temp dir each call"),
    ("correct_environ_edits", "metadata", "TRITON_INTERPRET/PYTHONPATH popped, CUDA_VISIBLE..."),
    ("correct_patched_json_pickle", "metadata", "json/pickle patched, sys.modules['json'] proxy"),
    ("correct_stub_modules", "metadata", "triton/flash_attn/apex stubbed in sys.modules"),
    ("correct_streams_replaced", "metadata", "sys.stdout StringIO, sys.stderr closed"),
    ("correct_fds_to_devnull", "metadata", "fds 1, 2 dup2'd to /dev/null"),
    ("correct_fd2_reused", "metadata", "fd 2 closed, a scratch file takes it"),
    ("correct_signal_handlers", "metadata", "SIGTERM/USR1/INT/CHLD/PIPE handlers, alarm(3600)"),
    ("correct_sampling_profiler", "metadata", "SIGPROF 1 ms + SIGALRM 5 ms itimers"),
    ("correct_faulthandler_watchdog", "metadata", "faulthandler dump every 0.5 s"),
    ("correct_background_threads", "metadata", "non-daemon poller, GIL spinner, atexit sleep"),
    ("correct_rlimits_nice_umask", "metadata", "NOFILE 64, nice 10, umask 777, one CPU"),
    ("correct_rlimit_as", "metadata", "RLIMIT_AS soft 6 GiB"),
    ("correct_leaves_session", "metadata", "setsid attempts, a daemon leaves the session"),
    ("correct_process_clock", "metadata", "time.monotonic(_ns)/perf_counter re-based"),
    ("correct_v1_default_device_meta", "expand", "set_default_device('meta') left set"),
    ("correct_v1_strict", "expand", "warnings error, seterr raise, float16, inference"),
    ("correct_v1_fds_and_clock", "expand", "fds 1, 2 to /dev/null; monotonic_ns re-based"),
]

"""Hostile plug-ins: each attacks the worker that runs it in one way (tests/test_isolation.py).

Self-contained like tests/mutants.py: loaded by path in a worker, `--candidate
tests/candidates/hostile.py:NAME`. All take the contract's three arguments.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time

import torch

_calls = 0


def _correct(extend_seq_lens, seq_lens, nsa_index_topk):
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    values = [v for qo, kv in zip(extends, seqs) for v in range(kv - qo + 1, kv + 1)]
    expanded = torch.tensor(values, dtype=torch.int32, device=seq_lens.device)
    return expanded, expanded.clamp(max=nsa_index_topk)


def _result_fd() -> int:
    """The worker's result pipe, read from its command line as a hostile plug-in would."""
    return json.loads(sys.argv[1])["res_fd"]


def forks(extend_seq_lens, seq_lens, nsa_index_topk):
    """Leaves a forked child, `sleep`s and multiprocessing's resource tracker running;
    prints their pids."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    child = os.fork()
    if child == 0:
        subprocess.Popen(["sleep", "60"])
        time.sleep(60)
        os._exit(0)
    sleep = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL)
    tracker = resource_tracker._resource_tracker._pid
    print(f"pids {child} {sleep.pid} {tracker}")
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def daemonises(extend_seq_lens, seq_lens, nsa_index_topk):
    """Double-forks a daemon that leaves the worker's session and process group (as a
    compile server would) and sleeps 60 s; prints its pid."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            os.setsid()  # a session of its own, not the middle one's
            time.sleep(60)
            os._exit(0)
        os.write(w, str(daemon).encode())
        os._exit(0)
    os.waitpid(middle, 0)
    os.close(w)
    print(f"pids {os.read(r, 64).decode()}", flush=True)
    os.close(r)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def daemonises_and_hangs(extend_seq_lens, seq_lens, nsa_index_topk):
    """`daemonises`, then never answers: the worker is killed with its daemon alive."""
    daemonises(extend_seq_lens, seq_lens, nsa_index_topk)
    time.sleep(600)


def _patch_the_judges() -> None:
    """What a cheat would patch if the worker judged: every comparison says `equal`."""
    torch.equal = lambda a, b: True
    torch.Tensor.equal = lambda self, other: True
    for name in ("fuzz.compare", "fuzz.isolation", "fuzz.harness"):
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr in ("check_outputs", "first_difference", "judge_valid", "judge_error"):
            if hasattr(module, attr):
                setattr(module, attr, lambda *a, **k: None)


def patches_checks_returns_zeros(extend_seq_lens, seq_lens, nsa_index_topk):
    """Wrong values (all zeros), with the comparisons of its own process patched."""
    _patch_the_judges()
    total = int(extend_seq_lens.sum())
    zeros = torch.zeros(total, dtype=torch.int32, device=seq_lens.device)
    return zeros, zeros.clone()


def patches_checks_modifies_inputs(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right values, but it zeroes its inputs afterwards, with the checks patched."""
    _patch_the_judges()
    result = _correct(extend_seq_lens, seq_lens, nsa_index_topk)
    seq_lens.zero_()
    return result


def junk_on_protocol_fd(extend_seq_lens, seq_lens, nsa_index_topk):
    """Writes garbage where the worker's answers go."""
    os.write(_result_fd(), b"\x80\x04junk that is no frame at all" * 4)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def huge_frame_on_protocol_fd(extend_seq_lens, seq_lens, nsa_index_topk):
    """Announces a 1 TiB message on the answer pipe, then hangs: only the prefix is read."""
    os.write(_result_fd(), struct.pack("<4sIQ", b"NSAf", 10, 1 << 40))
    time.sleep(60)


def huge_result(extend_seq_lens, seq_lens, nsa_index_topk):
    """Two 512 MiB int32 tensors (allocated, never touched)."""
    n = 128 * 2**20
    return torch.empty(n, dtype=torch.int32), torch.empty(n, dtype=torch.int32)


def meta_result(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right shapes and dtype, on the meta device: no values at all."""
    n = int(extend_seq_lens.sum())
    return (torch.empty(n, dtype=torch.int32, device="meta"),) * 2


def prints_100_mb(extend_seq_lens, seq_lens, nsa_index_topk):
    """100 MB on stdout and stderr, then the right answer."""
    chunk = "spam " * 200_000  # 1 MB
    for _ in range(50):
        sys.stdout.write(chunk)
        sys.stderr.write(chunk)
    print("LAST LINE OF OUTPUT", flush=True)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def segfaults(extend_seq_lens, seq_lens, nsa_index_topk):
    os.kill(os.getpid(), signal.SIGSEGV)


def exits_3(extend_seq_lens, seq_lens, nsa_index_topk):
    print("bye from exits_3", file=sys.stderr)
    sys.exit(3)


def raises_cuda_error(extend_seq_lens, seq_lens, nsa_index_topk):
    raise RuntimeError(
        "CUDA error: an illegal memory access was encountered\n"
        "CUDA kernel errors might be asynchronously reported at some other API call"
    )


def dies_after_cuda_error(extend_seq_lens, seq_lens, nsa_index_topk):
    """Prints a device-side assert on stderr and aborts, as a failed kernel can."""
    print("../aten/src/ATen/native/cuda/Loss.cu:250: block: [0,0,0] Assertion failed.", flush=True)
    print("RuntimeError: CUDA error: device-side assert triggered", file=sys.stderr, flush=True)
    os.abort()


def allocates_too_much(extend_seq_lens, seq_lens, nsa_index_topk):
    """Asks for 64 GiB: refused under the worker's memory cap."""
    torch.empty(64 * 2**30, dtype=torch.uint8)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


SLOW_SECONDS = float(os.environ.get("NSA_HOSTILE_SLOW_SECONDS", "1.2"))


def slow_first_call(extend_seq_lens, seq_lens, nsa_index_topk):
    """Its first call in a process takes SLOW_SECONDS (a compile), the rest are fast."""
    global _calls
    _calls += 1
    if _calls == 1:
        time.sleep(SLOW_SECONDS)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def slow_every_call(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right, but each call takes 0.25 s: a short campaign ends before it answers them all."""
    time.sleep(0.25)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def hangs_after_two_calls(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right on its first two calls in a process, then never answers (a lock an earlier call
    left taken): alone in a fresh worker every case answers."""
    global _calls
    _calls += 1
    while _calls > 2:
        time.sleep(0.05)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def slow_third_call(extend_seq_lens, seq_lens, nsa_index_topk):
    """Its third call in a process takes SLOW_SECONDS (a compile of a new variant), the
    others are fast: slow there, never stuck."""
    global _calls
    _calls += 1
    if _calls == 3:
        time.sleep(SLOW_SECONDS)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def _slow_compile_here():
    """Triton's compile entry, made slow (COMPILE_SECONDS, a ptxas run of a big kernel) by
    this module before the worker routes it through its call clock."""
    import triton.compiler

    def compile(*args, **kwargs):
        time.sleep(COMPILE_SECONDS)

    triton.compiler.compile = compile


COMPILE_SECONDS = 1.5
if os.environ.get("NSA_HOSTILE_SLOW_COMPILE"):
    _slow_compile_here()


def compiles_slowly_once(extend_seq_lens, seq_lens, nsa_index_topk):
    """Its first call in a process compiles for COMPILE_SECONDS (through
    triton.compiler.compile, as a JIT's first launch does), then answers at once."""
    global _calls
    _calls += 1
    if _calls == 1:
        import triton.compiler

        triton.compiler.compile()
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def hangs(extend_seq_lens, seq_lens, nsa_index_topk):
    while True:
        time.sleep(0.05)


def hangs_on_empty_batch(extend_seq_lens, seq_lens, nsa_index_topk):
    """Hangs when bs == 0; right otherwise."""
    while extend_seq_lens.numel() == 0:
        time.sleep(0.05)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def aborts_on_empty_batch(extend_seq_lens, seq_lens, nsa_index_topk):
    """Aborts when bs == 0; right otherwise."""
    if extend_seq_lens.numel() == 0:
        os.abort()
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


class _SlowToRead(torch.Tensor):
    """Every torch operation on it sleeps 0.2 s: reading it, after the call, takes seconds."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        time.sleep(0.2)
        return super().__torch_function__(func, types, args, kwargs or {})


def slow_to_read(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right and quick, but what it returns takes seconds to read: that time is the harness's,
    outside the call, so neither slow nor a hang (the worker times the calls themselves)."""
    expanded, clamped = _correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return expanded.as_subclass(_SlowToRead), clamped.as_subclass(_SlowToRead)


_BY_SHAPE: dict = {}


def caches_by_shape(extend_seq_lens, seq_lens, nsa_index_topk):
    """Contract v1 with its answer cached by (bs, topk): right on the first call of each
    shape in a process, the old answer after (SGLang refills the same-shaped inputs)."""
    key = (extend_seq_lens.numel(), nsa_index_topk)
    if key not in _BY_SHAPE:
        _BY_SHAPE[key] = _correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return tuple(t.clone() for t in _BY_SHAPE[key])


_BAKED: dict = {}


def bakes_topk(extend_seq_lens, seq_lens, nsa_index_topk):
    """Contract v1 with the top-k of its FIRST call in a process baked in ("a model
    constant"): a later call with another top-k is wrong where the clamp differs; alone, in
    a fresh process, every call is right (tests/test_history.py)."""
    topk = _BAKED.setdefault("topk", nsa_index_topk)
    return _correct(extend_seq_lens, seq_lens, topk)


def bakes_topk_every_second_process(extend_seq_lens, seq_lens, nsa_index_topk):
    """`bakes_topk`, but only in every second process that calls it (a counter in the file
    named by NSA_TEST_PROCESS_COUNTER): a failure after calls that a replay in one fresh
    worker may miss (tests/test_history.py)."""
    if "on" not in _BAKED:
        path = os.environ["NSA_TEST_PROCESS_COUNTER"]
        n = int(open(path).read() or 0) + 1 if os.path.exists(path) else 1
        with open(path, "w") as f:
            f.write(str(n))
        _BAKED["on"] = n % 2 == 0
    topk = _BAKED.setdefault("topk", nsa_index_topk) if _BAKED["on"] else nsa_index_topk
    return _correct(extend_seq_lens, seq_lens, topk)


_CALLS = [0]


def wrong_from_call_5(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right on its first 4 calls in a process, then its top-k one too high: a failure a
    replay shows only by running the case again and again in one worker (tests/test_repeat.py)."""
    _CALLS[0] += 1
    topk = nsa_index_topk + 1 if _CALLS[0] >= 5 else nsa_index_topk
    return _correct(extend_seq_lens, seq_lens, topk)

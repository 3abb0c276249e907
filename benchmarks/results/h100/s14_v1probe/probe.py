"""Stop 14 probe of the v1 prepared path on a GPU (run from the repository root).

  python benchmarks/results/h100/s14_v1probe/probe.py eager   # where a plan's eager time goes
  python benchmarks/results/h100/s14_v1probe/probe.py graph   # kernel variants in a graph

Workload as benchmarks/bench_latency.py (extends 1..4, seq 128..8192, top-k 2048, int32).
Every variant is checked against reference.expand before it is timed.
"""

# ruff: noqa: B023
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_latency as bl  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from nsa_meta import prepare  # noqa: E402
from nsa_meta import triton_kernel as kernel  # noqa: E402

DEV = torch.device("cuda")
NOSPEC = ["s_ext", "s_seq", "s_oe", "s_oc", "bs", "topk", "capacity"]
PTRS = ["ext_ptr", "seq_ptr", "oe_ptr", "oc_ptr"]


def variant_call(name: str, s: bl.InputSet):
    """A closure calling variant `name` on input set `s`: "old" is the stop-13 kernel
    (`_old_kernel` below, 256 x 8 tiles, int64, 4 warps); "new" a plan of the shipped
    kernel, and "new:r=,t=,w=,s=,n=" one prepared with those block sizes at every bs (r
    requests, t token columns, w warps: 64, 4, 2 unless given; s the largest prefix block;
    n=0 forcing 64-bit index math). graph2.txt was run when "new" meant r=64,t=4,w=2."""
    bs = s.extend_seq_lens.numel()
    kind, _, opts = name.partition(":")
    o = {k: int(v) for k, v in (kv.split("=") for kv in opts.split(",") if kv)}
    if kind == "old":
        cap = min(s.out_e.numel(), s.out_c.numel())
        args = (s.extend_seq_lens, s.seq_lens, s.out_e, s.out_c, 1, 1, 1, 1, bs, bl.TOPK, cap)
        grid = (triton.cdiv(bs, 256),)
        return lambda: _old_kernel[grid](*args, BLOCK_REQ=256, SUM_BLOCK=4096, BLOCK_TOK=8)
    saved = (dict(kernel.GPU_BLOCKS), kernel.MAX_SUM_BLOCK, kernel._variant)
    if any(k in o for k in "rtw"):
        r, t, w = (o.get(k, d) for k, d in zip("rtw", (64, 4, 2)))
        kernel.GPU_BLOCKS.update(small=(r, t, w), large=(r, t, w))
    kernel.MAX_SUM_BLOCK = o.get("s", saved[1])
    if o.get("n", 1) == 0:
        kernel._variant = lambda *a: {**saved[2](*a), "NARROW": False}
    try:
        plan = prepare((s.out_e, s.out_c), bs)
    finally:
        kernel.GPU_BLOCKS.update(saved[0])
        kernel.MAX_SUM_BLOCK, kernel._variant = saved[1:]
    return lambda: plan(s.extend_seq_lens, s.seq_lens, bl.TOPK)


VARIANTS = [
    "old",
    "new",
    "new:n=0",
    "new:w=1",
    "new:w=4",
    "new:t=2",
    "new:t=8",
    "new:r=32,w=1",
    "new:r=32,w=2",
    "new:r=128,w=2",
    "new:r=128,w=4",
    "new:r=256,w=4",
    "new:r=256,w=8",
    "new:s=512",
    "new:r=64,w=4,t=8",
]  # fmt: skip (as run for graph2.txt)


@triton.jit(do_not_specialize=NOSPEC, do_not_specialize_on_alignment=PTRS)
def _old_kernel(ext_ptr, seq_ptr, oe_ptr, oc_ptr, s_ext, s_seq, s_oe, s_oc, bs, topk, capacity,
                BLOCK_REQ: tl.constexpr, SUM_BLOCK: tl.constexpr, BLOCK_TOK: tl.constexpr):  # fmt: skip
    """The v1 kernel as shipped at stop 13 (prefix loop first, int64 index math)."""
    pid = tl.program_id(0)
    first = pid * BLOCK_REQ
    offset = tl.zeros((), dtype=tl.int64)
    for base in range(0, first, SUM_BLOCK):
        idx = base + tl.arange(0, SUM_BLOCK).to(tl.int64)
        prior = tl.load(ext_ptr + idx * s_ext, mask=idx < first, other=0)
        offset += tl.sum(prior.to(tl.int64), axis=0)
    req = first + tl.arange(0, BLOCK_REQ).to(tl.int64)
    mask = req < bs
    ext = tl.load(ext_ptr + req * s_ext, mask=mask, other=0).to(tl.int64)
    seq = tl.load(seq_ptr + req * s_seq, mask=mask, other=0).to(tl.int64)
    start = offset + tl.cumsum(ext, axis=0) - ext
    first_value = seq - ext + 1
    longest = tl.max(ext, axis=0)
    for col0 in range(0, longest, BLOCK_TOK):
        col = col0 + tl.arange(0, BLOCK_TOK).to(tl.int64)
        pos = start[:, None] + col[None, :]
        m = mask[:, None] & (col[None, :] < ext[:, None]) & (pos >= 0) & (pos < capacity)
        v = first_value[:, None] + col[None, :]
        tl.store(oe_ptr + pos * s_oe, v.to(tl.int32), mask=m)
        tl.store(oc_ptr + pos * s_oc, tl.minimum(v, topk).to(tl.int32), mask=m)


def graph_time(calls, cfg) -> float:
    g = bl.capture(calls, cfg.calls_per_graph)
    return bl.time_loop(lambda i: g.replay(), cfg.replays, cfg.repeats) / cfg.calls_per_graph


def graph_mode() -> None:
    cfg = bl.FULL
    gen = torch.Generator().manual_seed(0)
    names = ["floor", "lsfloor", "prepared", *VARIANTS]
    print(f"{torch.cuda.get_device_name()}  graph replay, us per call (median of {cfg.repeats})")
    print("   bs " + "".join(f"{n:>16}" for n in names))
    for bs in bl.BATCH_SIZES:
        sets = bl.make_input_sets(bs, cfg.sets, DEV, gen)
        row = []
        for n in names:
            calls = [bl.make_call(n, s) if n in bl.IMPLS else variant_call(n, s) for s in sets]
            try:
                for s, c in zip(sets, calls):
                    s.poison()
                    c()
                    torch.cuda.synchronize()
                    bl.check("prepared" if n not in bl.FLOORS else n, s, None)
                row.append(f"{graph_time(calls, cfg):16.3f}")
            except Exception as e:  # noqa: BLE001
                row.append(f"{'ERR':>16}")
                print(f"  {n} bs={bs}: {type(e).__name__}: {str(e)[:200]}", file=sys.stderr)
        print(f"{bs:>5} " + "".join(row), flush=True)


def eager_mode() -> None:
    """Back-to-back eager calls (CUDA events / count) of: the empty-launch floor, a plan
    (now: raw launcher, integer addresses), the plan's old way (wrapper, tensors), the raw
    launcher with tensors, the plan's checks alone, and an empty kernel through a raw
    launcher with an integer (the least any launch costs)."""
    gen = torch.Generator().manual_seed(1)
    iters, repeats = 2000, 9
    for bs in (1, 32, 512, 4096):
        s = bl.make_input_sets(bs, 1, DEV, gen)[0]
        plan = prepare((s.out_e, s.out_c), bs)
        ext, seq, oe = s.extend_seq_lens, s.seq_lens, s.out_e
        stream_of = triton.runtime.driver.active.get_current_stream
        empty = bl._empty_kernel[(1,)](oe)
        empty._init_handles()
        eraw = kernel._raw_caller(empty, stream_of, 0, {})
        optr = oe.data_ptr()
        tri = bl.make_call("triton", s)
        old = variant_call("old", s)
        plan_checks = prepare((s.out_e, s.out_c), bs)
        plan_checks._launch = lambda *a: None
        rows = {
            "floor (JIT, 1 tensor)": lambda i: bl._empty_kernel[(1,)](oe),
            "empty, raw launcher, 1 int": lambda i: eraw(1, optr),
            f"plan() [{plan.path}]": lambda i: plan(ext, seq, bl.TOPK),
            "plan checks only": lambda i: plan_checks(ext, seq, bl.TOPK),
            "expand(validate=False)": lambda i: tri(),
            "stop-13 kernel through the JIT": lambda i: old(),
        }
        s.poison()
        plan(ext, seq, bl.TOPK)
        torch.cuda.synchronize()
        bl.check("prepared", s, None)
        for name, step in rows.items():
            for _ in range(200):
                step(0)
            us = bl.time_loop(step, iters, repeats)
            t0 = time.perf_counter()
            for i in range(iters):
                step(i)
            host = (time.perf_counter() - t0) * 1e6 / iters
            torch.cuda.synchronize()
            print(f"bs {bs:>5}  {name:<32} {us:8.2f} us/call (events)  host {host:8.2f} us/call",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    {"eager": eager_mode, "graph": graph_mode}[sys.argv[1]]()

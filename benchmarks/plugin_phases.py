"""The plug-in bulk engine's cost per case, phase by phase, in one process (no worker, no
pipe): the parent's draw, pack and judge, and the worker's loop, with plug-ins from
benchmarks/plugin_kernels.py and a trivial one (the engine's own floor).

    PYTHONPATH=. python benchmarks/plugin_phases.py [--device cuda] [--n 8192] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plugin_kernels  # noqa: E402

from fuzz import bulk, plugin_bulk  # noqa: E402


def phases(fn, n: int, device: str, seed: int = 1) -> dict:
    """Microseconds per case of each phase, for one batch of n cases through `fn`."""
    t0 = time.perf_counter()
    b = bulk.draw(np.random.default_rng(seed), n)
    t1 = time.perf_counter()
    header, blobs = plugin_bulk.pack(b)
    t2 = time.perf_counter()
    reply, out = plugin_bulk.run_batch(fn, header, blobs, device)
    t3 = time.perf_counter()
    verdict = plugin_bulk.judge(b, reply, out, blobs)
    t4 = time.perf_counter()
    per = [(t1 - t0), (t2 - t1), (t3 - t2), (t4 - t3)]
    us = {k: round(v * 1e6 / n, 2) for k, v in zip(("draw", "pack", "run", "judge"), per)}
    return {**us, "suspects": len(verdict.suspects)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--n", type=int, default=8192)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.n < 1:
        p.error("--n must be at least 1")
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()  # as the worker does once the plug-in is loaded
    empty = torch.zeros(3, dtype=torch.int32, device=args.device)
    kernels = {
        "trivial": lambda e, s, k: (empty, empty),
        "torch_backend": plugin_kernels.torch_backend,
        "no_extra_sync": plugin_kernels.no_extra_sync,
        "sync_per_call": plugin_kernels.sync_per_call,
    }
    rows = {}
    for name, fn in kernels.items():
        phases(fn, min(args.n, 512), args.device, seed=0)  # warm-up: compiles, caches
        rows[name] = phases(fn, args.n, args.device)
        r = rows[name]
        print(
            f"{name:14} {args.device}: draw {r['draw']:6.1f}  pack {r['pack']:5.1f}  "
            f"run {r['run']:7.1f}  judge {r['judge']:5.1f} us/case  ({r['suspects']} suspects)",
            flush=True,
        )
    if args.out is not None:
        args.out.write_text(json.dumps({"device": args.device, "n": args.n, **rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stop 16 probe: Nsight Compute of draft_extend_var bs 512 N 1 W 2048 P 64 (the row
furthest above 1.3x): the whole launch, its scalar and page programs alone, and the gather
floor, each launched 3 times between cudaProfilerStart/Stop after a warm-up.

    ncu --profile-from-start off --set full python benchmarks/results/h100/s16_ab/probe16.py
"""

# ruff: noqa: E402
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_metadata as bm
import torch

from nsa_meta import metadata_triton as kernel

DEV = torch.device("cuda")


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    mode, bs, n, w, ps = ("draft_extend_var", 512, 1, 2048, 64)
    p = bm.Problem(mode, bs, n, w, ps, DEV, gen)
    grid, args, cx = kernel.launch_args(
        p.mode, p.seq, p.pool, p.req_to_token, p.ext, topk=bm.TOPK, width=p.width,
        page_size=p.page_size, next_n=p.next_n, out=p.out, rows=None,
    )  # fmt: skip
    args = list(args)
    i_ns = kernel._ARG_NAMES.index("n_scalar")
    n_scalar = args[i_ns]
    page_args = list(args)
    page_args[i_ns] = 0
    k = kernel._metadata_kernel
    warps = kernel.num_warps(bs, True)
    runs = {
        "full": lambda: k[grid](*args, num_warps=warps, **cx),
        "scalar": lambda: k[(n_scalar,)](*args, num_warps=warps, **cx),
        "page": lambda: k[(grid[0] - n_scalar,)](*page_args, num_warps=warps, **cx),
        "gather": p.gather(),
    }
    print(f"grid {grid} n_scalar {n_scalar} T {p.T} constexprs {cx}", flush=True)
    for fn in runs.values():
        for _ in range(5):
            fn()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for fn in runs.values():
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
    print("order: " + ", ".join(f"{name} x3" for name in runs))


if __name__ == "__main__":
    main()

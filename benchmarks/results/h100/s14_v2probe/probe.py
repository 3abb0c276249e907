"""Stop 14 probe of the v2 kernel on a GPU (run from the repository root):

  python benchmarks/results/h100/s14_v2probe/probe.py split    # which kind of program is the long pole
  python benchmarks/results/h100/s14_v2probe/probe.py eager    # where an eager call's time goes

split: graph replay (us per call) of the whole launch, of its scalar programs alone, of its
page programs alone, and of the two floors of bench_metadata.py, at small bs.
eager: the fast path's state, and a cProfile of 2000 calls of nsa_meta.metadata(...,
validate=False, out=...).
"""

# ruff: noqa: E402, B023
from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_metadata as bm
import torch

from nsa_meta import metadata_triton as kernel

DEV = torch.device("cuda")
CONFIGS = [
    ("decode", 1, 1, 2048, 64),
    ("decode", 32, 1, 2048, 64),
    ("decode", 512, 1, 2048, 64),
    ("target_verify", 32, 4, 2048, 64),
    ("draft_extend", 32, 4, 2048, 64),
    ("draft_extend_var", 1, 1, 2048, 64),
    ("draft_extend_var", 32, 4, 2048, 64),
    ("draft_extend_var", 512, 1, 2048, 64),
    ("draft_extend_var", 32, 4, 65536, 64),
    ("draft_extend_var", 512, 4, 2048, 64),
]


def launch(p):
    grid, args, cx = kernel.launch_args(
        p.mode, p.seq, p.pool, p.req_to_token, p.ext, topk=bm.TOPK, width=p.width,
        page_size=p.page_size, next_n=p.next_n, out=p.out, rows=None,
    )  # fmt: skip
    return grid, list(args), cx


def graph_us(fn) -> float:
    s = bm.summary(bm.time_graph(fn, 10, 20, 7))
    return s["median"]


def split_mode() -> None:
    gen = torch.Generator().manual_seed(0)
    i_ns = kernel._ARG_NAMES.index("n_scalar")
    print(f"{torch.cuda.get_device_name()}: graph replay, us per call (median of 7)")
    for mode, bs, n, w, ps in CONFIGS:
        p = bm.Problem(mode, bs, n, w, ps, DEV, gen)
        grid, args, cx = launch(p)
        n_scalar = args[i_ns]
        page_args = list(args)
        page_args[i_ns] = 0
        k = kernel._metadata_kernel
        rows = {
            "full": lambda: k[grid](*args, num_warps=kernel.num_warps(bs), **cx),
            "scalar only": lambda: k[(n_scalar,)](*args, num_warps=kernel.num_warps(bs), **cx),
            "page only": lambda: k[(grid[0] - n_scalar,)](
                *page_args, num_warps=kernel.num_warps(bs), **cx
            ),
            "gather": p.gather(),
            "empty": p.empty(),
        }
        cells = "  ".join(f"{name} {graph_us(fn):6.2f}" for name, fn in rows.items())
        plan = {k2: cx[k2] for k2 in ("SB", "RS", "BR", "RB", "BW", "BQ", "NARROW")}
        print(f"{mode:<17} bs={bs:<4} N={n} W={w:<6} grid={grid[0]:<5} n_scalar={n_scalar:<3} "
              f"{cells}  {plan}", flush=True)  # fmt: skip


def eager_mode() -> None:
    gen = torch.Generator().manual_seed(1)
    for mode, bs, n, w, ps in (CONFIGS[0], CONFIGS[6]):
        p = bm.Problem(mode, bs, n, w, ps, DEV, gen)
        call = p.call("triton")
        for _ in range(50):
            call()
        torch.cuda.synchronize()
        print(f"== {mode} bs {bs} N {n}: fast path on {kernel._fast.on}, "
              f"{len(kernel._fast)} compiled variants known")  # fmt: skip
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(2000):
            call()
        prof.disable()
        torch.cuda.synchronize()
        pstats.Stats(prof).sort_stats("tottime").print_stats(14)


def scalar_ncu_mode() -> None:
    """Three launches of the scalar programs alone, decode and draft_extend_var bs 512 N 1
    W 2048: for ncu to compare (the var ones take 3.31 us in a graph, decode's 2.44)."""
    gen = torch.Generator().manual_seed(0)
    i_ns = kernel._ARG_NAMES.index("n_scalar")
    for mode in ("decode", "draft_extend_var"):
        p = bm.Problem(mode, 512, 1, 2048, 64, DEV, gen)
        grid, args, cx = launch(p)
        for _ in range(3):
            kernel._metadata_kernel[(args[i_ns],)](*args, num_warps=kernel.num_warps(512), **cx)
        torch.cuda.synchronize()


if __name__ == "__main__":
    {"split": split_mode, "eager": eager_mode, "scalar-ncu": scalar_ncu_mode}[sys.argv[1]]()

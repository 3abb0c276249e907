"""Stop 17 probe: where a draft_extend_var launch spends its time under graph replay. For
each configuration: the whole launch, its scalar programs alone, its page programs alone
(n_scalar = 0), the gather floor and the empty launch, each captured 10 times in a graph.

    python benchmarks/results/h100/s17_ab/probe17.py [--plan NAME=INT ...]
"""

# ruff: noqa: E402, B023  (each lambda runs inside its own iteration)
from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_metadata as bm
import torch

from nsa_meta import metadata_triton as kernel

DEV = torch.device("cuda")
CONFIGS = [  # (mode, bs, next_n, width, page_size)
    ("draft_extend_var", 1, 1, 2048, 1),
    ("draft_extend_var", 8, 1, 65536, 64),
    ("draft_extend_var", 32, 1, 65536, 1),
    ("draft_extend_var", 128, 1, 2048, 64),
    ("draft_extend_var", 512, 1, 2048, 1),
    ("draft_extend_var", 512, 1, 2048, 64),
    ("draft_extend_var", 1024, 1, 2048, 64),
    ("decode", 512, 1, 2048, 64),
]


def graph_us(fn) -> float:
    return statistics.median(bm.time_graph(fn, 10, 5, 5))


def main() -> None:
    for item in sys.argv[1:]:
        name, _, value = item.removeprefix("--plan=").partition("=")
        setattr(kernel, name, int(value))
    print(f"{'mode':<17}{'bs':>6}{'N':>2}{'W':>7}{'P':>3}{'T':>6}  full  scalar  page  gather empty"
          "  progs")  # fmt: skip
    for mode, bs, n, w, ps in CONFIGS:
        gen = torch.Generator().manual_seed(0)
        p = bm.Problem(mode, bs, n, w, ps, DEV, gen)
        grid, args, cx = kernel.launch_args(
            p.mode, p.seq, p.pool, p.req_to_token, p.ext, topk=bm.TOPK, width=p.width,
            page_size=p.page_size, next_n=p.next_n, out=p.out, rows=None,
        )  # fmt: skip
        i_ns = kernel._ARG_NAMES.index("n_scalar")
        n_scalar = args[i_ns]
        page_args = list(args)
        page_args[i_ns] = 0
        k = kernel._metadata_kernel
        warps = kernel.num_warps(bs, mode == "draft_extend_var")
        runs = {
            "full": lambda: k[grid](*args, num_warps=warps, **cx),
            "scalar": lambda: k[(n_scalar,)](*args, num_warps=warps, **cx),
            "page": lambda: k[(grid[0] - n_scalar,)](*page_args, num_warps=warps, **cx),
            "gather": p.gather(),
            "empty": p.empty(),
        }
        us = {name: graph_us(fn) for name, fn in runs.items()}
        print(f"{mode:<17}{bs:>6}{n:>2}{w:>7}{ps:>3}{p.T:>6} "
              + " ".join(f"{v:6.2f}" for v in us.values()) + f"  {n_scalar}+{grid[0] - n_scalar}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

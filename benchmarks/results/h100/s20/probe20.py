"""Stop 20 probe: how far below the 1.3x goal's floor a correct one-launch kernel can go on
the 12 draft_extend_var rows that miss it. Per row, in one graph each (10 calls a graph):
our kernel; the empty launch; the gather floor (T rows, row owners precomputed); a scalar
floor, the least a correct call must also do (one program reads seq_lens and writes
cache_seqlens, cu_seqlens_k and dsa_cu_seqlens_k[0]; exact only when T = 0); and the two
floors fused in one launch (program 0 the scalar floor, the others the gather floor).

    python benchmarks/results/h100/s20/probe20.py
"""

# ruff: noqa: E402, B023
from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_metadata as bm
import torch
import triton
import triton.language as tl

DEV = torch.device("cuda")
ROWS = [  # (bs, next_n, width, page_size, force T = 0): stop 17's 12 rows above 1.3x
    (1, 1, 65536, 1, True),
    (1, 1, 65536, 64, True),
    (8, 1, 65536, 64, False),
    (8, 1, 163840, 64, False),
    (8, 4, 65536, 1, False),
    (32, 1, 65536, 64, False),
    (32, 1, 163840, 64, False),
    (32, 4, 65536, 64, False),
    (512, 1, 2048, 64, False),
    (1024, 1, 2048, 1, False),
    (1024, 1, 2048, 64, False),
    (4096, 1, 2048, 64, False),
]


@triton.jit
def _scalar_part(seq_ptr, cache_ptr, cu_ptr, dcu_ptr, bs, BS: tl.constexpr):
    i = tl.arange(0, BS)
    m = i < bs
    s = tl.load(seq_ptr + i, mask=m, other=0)
    tl.store(cache_ptr + i, s, mask=m)
    tl.store(cu_ptr + 1 + i, tl.cumsum(s, 0), mask=m)
    zero = tl.zeros((), dtype=tl.int32)
    tl.store(cu_ptr, zero)
    tl.store(dcu_ptr, zero)


@triton.jit
def _scalar_floor(seq_ptr, cache_ptr, cu_ptr, dcu_ptr, bs, BS: tl.constexpr):
    _scalar_part(seq_ptr, cache_ptr, cu_ptr, dcu_ptr, bs, BS)


@triton.jit
def _fused_floor(seq_ptr, cache_ptr, cu_ptr, dcu_ptr, bs, pool_row_ptr, r2t_ptr, pt_ptr, width,
                 r2t_s0, pt_s0, tiles, BS: tl.constexpr, BW: tl.constexpr):  # fmt: skip
    pid = tl.program_id(0)
    if pid == 0:
        _scalar_part(seq_ptr, cache_ptr, cu_ptr, dcu_ptr, bs, BS)
    else:
        t = ((pid - 1) // tiles).to(tl.int64)
        c = ((pid - 1) % tiles).to(tl.int64) * BW + tl.arange(0, BW)
        mask = c < width
        row = tl.load(pool_row_ptr + t).to(tl.int64)
        cells = tl.load(r2t_ptr + row * r2t_s0 + c, mask=mask)
        tl.store(pt_ptr + t * pt_s0 + c, cells, mask=mask)


def graph_us(fn) -> float:
    return statistics.median(bm.time_graph(fn, 10, 5, 5))


def main() -> None:
    print(f"{'bs':>5}{'N':>2}{'W':>7}{'P':>3}{'T':>6}   ours  empty gather scalar fused"
          "  ours/max(e,g)  scalar/empty  fused/max(e,g)")  # fmt: skip
    for rnd in (1, 2):
        for bs, n, w, ps, zero in ROWS:
            gen = torch.Generator().manual_seed(bs * 7 + n)
            p = bm.Problem("draft_extend_var", bs, n, w, ps, DEV, gen)
            if zero:
                p.ext.zero_()
                p.T = 0
                p.pool_row = p.pool_row[:0]
            o = p.out
            BS = triton.next_power_of_2(bs)
            tiles = triton.cdiv(w, 1024)
            seq, pool_row, r2t, n_rows = p.seq, p.pool_row, p.req_to_token, p.T
            runs = {
                "ours": p.call("triton"),
                "empty": p.empty(),
                "gather": p.gather(),
                "scalar": lambda: _scalar_floor[(1,)](
                    seq, o.cache_seqlens, o.cu_seqlens_k, o.dsa_cu_seqlens_k, bs, BS=BS
                ),
                "fused": lambda: _fused_floor[(1 + n_rows * tiles,)](
                    seq,
                    o.cache_seqlens,
                    o.cu_seqlens_k,
                    o.dsa_cu_seqlens_k,
                    bs,
                    pool_row,
                    r2t,
                    o.page_table_1,
                    w,
                    r2t.stride(0),
                    o.page_table_1.stride(0),
                    tiles,
                    BS=BS,
                    BW=1024,
                ),  # fmt: skip
            }
            us = {k: graph_us(fn) for k, fn in runs.items()}
            floor = max(us["empty"], us["gather"])
            print(f"{bs:>5}{n:>2}{w:>7}{ps:>3}{p.T:>6} "
                  + " ".join(f"{v:6.2f}" for v in us.values())
                  + f"  {us['ours'] / floor:6.2f}  {us['scalar'] / us['empty']:6.2f}"
                  f"  {us['fused'] / floor:6.2f}   round {rnd}", flush=True)  # fmt: skip
            runs.clear()
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

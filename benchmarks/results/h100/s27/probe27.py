"""Stop 27 probe: what a sync-free kernel must pay on the draft_extend_var rows above 1.3x.

    python probe27.py base|noop OUT.json

The issue's floors know T on the host: the empty launch is one program, the gather floor
one program per row with the row -> request map precomputed. A kernel without a host sync
sizes its grid from bs and the buffers' capacity, and places rows by the extends. Beside
ours, each in a graph (median us a call):

- empty / gather: the issue's two floors (bench_metadata.py);
- empty_grid: the empty kernel over our launch's grid (as many programs as ours);
- var_gather: the least sync-free page table: program (request, 1024 columns) loads its
  extend, pool row and cells (real_page_table's too), sums the extends before it (masked
  loads, tl.sum), stores both tables;
- noop (variant noop): our kernel, our grid and arguments, both program kinds no-ops.

Rows: bs 1 with every extend 0 (T = 0), bs 8-32 at page size 64, bs 512-4096 N 1 W 2048.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_metadata as bench  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from nsa_meta import metadata_triton  # noqa: E402


@triton.jit
def _var_gather(ext_ptr, pool_ptr, r2t_ptr, pt_ptr, rpt_ptr, width, r2t_s0, pt_s0, rpt_s0,
                n_chunk, page_size, SUM: tl.constexpr, BW: tl.constexpr, BQ: tl.constexpr,
                RPT: tl.constexpr):  # fmt: skip
    pid = tl.program_id(0)
    r = pid // n_chunk
    c0 = (pid % n_chunk) * BW
    c = c0 + tl.arange(0, BW)
    e = tl.load(ext_ptr + r)
    row = tl.load(pool_ptr + r).to(tl.int64)
    m = c < tl.where(e > 0, width, 0)
    cells = tl.load(r2t_ptr + row * r2t_s0 + c, mask=m)
    if RPT:
        q_lo = (c0 + page_size - 1) // page_size
        q_hi = (tl.minimum(c0 + BW, width) + page_size - 1) // page_size
        q = q_lo + tl.arange(0, BQ)
        mq = q < tl.where(e > 0, q_hi, 0)
        pages = tl.load(r2t_ptr + row * r2t_s0 + q * page_size, mask=mq) // page_size
    acc = 0
    for base in range(0, r, SUM):
        i = base + tl.arange(0, SUM)
        acc += tl.sum(tl.load(ext_ptr + i, mask=i < r, other=0), axis=0)
    for d in range(0, e):
        tl.store(pt_ptr + (acc + d).to(tl.int64) * pt_s0 + c, cells, mask=m)
        if RPT:
            tl.store(rpt_ptr + (acc + d).to(tl.int64) * rpt_s0 + q, pages, mask=mq)


@triton.jit
def _no_scalar(q, seq_ptr, ext_ptr, cache_ptr, cu_ptr, se_ptr, dc_ptr, dcu_ptr, stride_seq,
               stride_ext, st_cache, st_cu, st_se, st_dc, st_dcu, bs, topk, kv_add, e_fixed,
               rows_cap, dcu_cap, n_split, VAR: tl.constexpr, SB: tl.constexpr,
               RS: tl.constexpr, SUM_S: tl.constexpr, EB: tl.constexpr, NARROW: tl.constexpr,
               SPLIT_SHIFT: tl.constexpr, ONE_SUM: tl.constexpr):  # fmt: skip
    pass


@triton.jit
def _no_page(q, ext_ptr, r_ptr, r2t_ptr, pt_ptr, rpt_ptr, stride_ext, stride_r, r2t_s0, r2t_s1,
             pt_s0, pt_s1, rpt_s0, rpt_s1, bs, pool, e_fixed, page_size, width, rows_cap,
             n_chunk, n_split, chunk_w, VAR: tl.constexpr, HAS_RPT: tl.constexpr,
             BR: tl.constexpr, RB: tl.constexpr, SUM_P: tl.constexpr, BW: tl.constexpr,
             BQ: tl.constexpr, ED: tl.constexpr, NARROW: tl.constexpr,
             SPLIT_SHIFT: tl.constexpr, CHUNK_SHIFT: tl.constexpr, PAGE_SHIFT: tl.constexpr,
             ONE_SUM: tl.constexpr, EARLY: tl.constexpr, EARLY_Q: tl.constexpr):  # fmt: skip
    pass


ROWS = (
    [(1, 1, w, p, True) for w in (2048, 65536, 163840) for p in (1, 64)]
    + [(1, 4, 2048, 64, True)]
    + [(bs, 1, w, 64, False) for bs in (8, 32) for w in (2048, 65536)]
    + [(bs, 1, 2048, p, False) for bs in (512, 1024, 4096) for p in (1, 64)]
)


def problem(bs, next_n, width, page_size, zero):
    p = bench.Problem("draft_extend_var", bs, next_n, width, page_size, "cuda",
                      torch.Generator().manual_seed(bs * 7 + width))  # fmt: skip
    if zero:
        p.ext.zero_()
        p.T = 0
        p.pool_row = p.pool_row[:0]
    return p


def var_gather(p):
    bw = 1024
    n_chunk = triton.cdiv(p.width, bw)
    pt, rpt = p.out.page_table_1, p.out.real_page_table
    s = min(triton.next_power_of_2(max(p.bs, 16)), 2048)
    bq = max(triton.next_power_of_2(-(-bw // p.page_size)), 2)
    return lambda: _var_gather[(p.bs * n_chunk,)](
        p.ext, p.pool, p.req_to_token, pt, pt if rpt is None else rpt, p.width,
        p.req_to_token.stride(0), pt.stride(0), pt.stride(0) if rpt is None else rpt.stride(0),
        n_chunk, p.page_size, SUM=s, BW=bw, BQ=bq, RPT=rpt is not None,
    )  # fmt: skip


def our_grid(p):
    grid, _, _ = metadata_triton.launch_args(
        p.mode, p.seq, p.pool, p.req_to_token, p.ext, topk=bench.TOPK, width=p.width,
        page_size=p.page_size, next_n=p.next_n, out=p.out, rows=None,
    )  # fmt: skip
    return grid[0]


def time(fn):
    return bench.summary(bench.time_graph(fn, 10, 20, 5))["median"]


def main():
    variant, out = sys.argv[1], Path(sys.argv[2])
    if variant == "noop":
        metadata_triton._scalar_program = _no_scalar
        metadata_triton._page_program = _no_page
    results = []
    for bs, n, w, page, zero in ROWS:
        p = problem(bs, n, w, page, zero)
        rec = {"bs": bs, "N": n, "W": w, "P": page, "T": p.T, "grid": our_grid(p)}
        if variant == "noop":
            rec["noop"] = time(p.call("triton"))
        else:
            p.call("triton")()
            tables = [b for b in p.out[5:] if b is not None]
            want = [b[: p.T].clone() for b in tables]
            for b in tables:
                b.fill_(bench.SENTINEL)
            var_gather(p)()
            torch.cuda.synchronize()
            if not all(torch.equal(b[: p.T], w) for b, w in zip(tables, want)):
                raise AssertionError(f"var_gather differs from ours at {rec}")
            n_prog = rec["grid"]
            calls = {
                "empty": p.empty(),
                "gather": p.gather(),
                "triton": p.call("triton"),
                "empty_grid": lambda n=n_prog, seq=p.seq: bench._empty_kernel[(n,)](seq),
                "var_gather": var_gather(p),
            }
            for name, fn in calls.items():
                rec[name] = time(fn)
        results.append(rec)
        print(json.dumps(rec), flush=True)
        del p
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

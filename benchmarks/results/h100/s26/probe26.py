"""Stop 26 probe: bench_metadata.py with one kind of program made a no-op, for timing only.

    PROBE=noscalar python probe26.py <bench_metadata args>

PROBE=noscalar: scalar programs return at once (page programs alone: the page tables);
PROBE=nopage: page programs return at once (scalar programs alone: the lengths and sums).
Outputs are wrong in both: the oracle and torch checks are off. PROBE unset: as it is.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_metadata as bench  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from nsa_meta import metadata_triton  # noqa: E402


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


probe = os.environ.get("PROBE", "")
if probe == "noscalar":
    metadata_triton._scalar_program = _no_scalar
elif probe == "nopage":
    metadata_triton._page_program = _no_page
elif probe:
    raise SystemExit(f"unknown PROBE {probe!r}")
if probe:
    bench.Problem.check_against_oracle = lambda self, got: None
if os.environ.get("DIAG"):
    # Registers, spills and shared memory of each compiled variant (eager launches, no
    # fast path), per bs and page size of draft_extend_var at W 2048, N 1; then the floor's.
    import torch

    kernel = metadata_triton._metadata_kernel
    seen = []

    def _launch(grid, args, constexprs):
        warps = metadata_triton.num_warps(args[metadata_triton._I_BS], constexprs["VAR"])
        seen.append((grid, warps, kernel[grid](*args, num_warps=warps, **constexprs)))

    metadata_triton._launch = _launch
    for bs in (512, 1024, 4096):
        for page in (1, 64):
            p = bench.Problem("draft_extend_var", bs, 1, 2048, page, "cuda", torch.Generator())
            p.call("triton")()
            grid, warps, k = seen[-1]
            print(
                f"{probe or 'default'} bs {bs} P {page}: grid {grid[0]} warps {warps} "
                f"regs {k.n_regs} spills {k.n_spills} shared {k.metadata.shared}"
            )
    p = bench.Problem("draft_extend_var", 1024, 1, 2048, 1, "cuda", torch.Generator())
    g = p.gather()
    g()
    k = bench._gather_kernel[(p.T, 2)](
        p.pool_row, p.req_to_token, p.out.page_table_1, 2048, 2048, 2048, BW=1024
    )
    print(f"gather floor: regs {k.n_regs} spills {k.n_spills} shared {k.metadata.shared}")
    sys.exit(0)
sys.exit(bench.main())

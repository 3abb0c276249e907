"""Stop 24 probe: bench_metadata.py with one change to the kernel, for timing only.

    PROBE=nop python probe24.py <bench_metadata args>

PROBE=nop: page programs take 0 for the sum of the extends before them (wrong rows: the
oracle and torch checks are off), the upper bound of any cheaper prefix sum.
PROBE=half: ... take first // 2 (N 1 rows: about where the rows of extends 0..1 start,
distinct rows as in the real kernel; nop's 0 made every program write the same rows).
PROBE=rNN: every launch compiled with maxnreg=NN (eager times: no fast launch path).
PROBE unset: bench_metadata.py as it is (oracle check kept).
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

probe = os.environ.get("PROBE", "")
if probe == "nop":

    @triton.jit
    def _no_sum(ext_ptr, stride_ext, first, SUM_BLOCK: tl.constexpr, ONE_SUM: tl.constexpr,
                it: tl.constexpr):  # fmt: skip
        return tl.zeros((), dtype=it)

    metadata_triton._sum_before = _no_sum
    bench.Problem.check_against_oracle = lambda self, got: None
elif probe == "half":

    @triton.jit
    def _half_sum(ext_ptr, stride_ext, first, SUM_BLOCK: tl.constexpr, ONE_SUM: tl.constexpr,
                  it: tl.constexpr):  # fmt: skip
        return (first >> 1).to(it)

    metadata_triton._sum_before = _half_sum
    bench.Problem.check_against_oracle = lambda self, got: None
elif probe.startswith("r"):
    # maxnreg: registers a thread at most, so that more programs fit an SM at once.
    regs = int(probe[1:])
    kernel = metadata_triton._metadata_kernel

    def _launch(grid, args, constexprs):
        warps = metadata_triton.num_warps(args[metadata_triton._I_BS], constexprs["VAR"])
        kernel[grid](*args, num_warps=warps, maxnreg=regs, **constexprs)

    metadata_triton._launch = _launch
elif probe:
    raise SystemExit(f"unknown PROBE {probe!r}")
sys.exit(bench.main())

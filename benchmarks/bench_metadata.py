"""Per-call latency of contract v2's whole replay metadata, eager and under CUDA-graph replay,
against two floors measured in the same run.

    PYTHONPATH=. python benchmarks/bench_metadata.py --out reports/bench_metadata [--quick]

Per mode, bs 1..16384, next_n 1 and 4 (decode: 1), widths 2048, 65536 and 163840 (where the
page tables fit in memory), page sizes 1 and 64; seq lens random in 128..8192, extends in
draft_extend_var random in 0..next_n, one req_to_token row per request, top-k 2048,
buffers of bs * next_n rows. Implementations (all `out=`, `validate=False`):

- triton / torch: nsa_meta.metadata(..., backend=...);
- empty: an empty Triton kernel, grid (1,): the least a launch costs;
- gather: one bare Triton copy that reads request i's req_to_token row and writes its rows
  of page_table_1 (row -> request precomputed): the least the page table costs.

"eager" is CUDA events around back-to-back calls / calls (host launch cost included);
"graph" captures several calls in one graph and divides a replay by them. Medians over
repeats, with p20/p80. Triton is checked against torch (and both against reference.metadata
at small sizes) before timing. Ratios are to the larger floor. Writes bench_metadata.json
and bench_metadata.png (if matplotlib) under --out. Without CUDA (or with --device cpu) it
runs a small smoke test through the Triton interpreter: eager only, CPU wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

import nsa_meta  # noqa: E402
import reference  # noqa: E402

MODES = reference.MODES
TOPK = 2048
SENTINEL = -777
IMPLS = ("empty", "gather", "triton", "torch")
PLAN_CONSTANTS = (
    "TARGET",
    "TARGET_VAR",
    "TARGET_VAR_BS",
    "VAR_CELLS",
    "TARGET_VAR_NARROW",
    "NARROW_VAR_BS",
    "TILE",
    "SMALL_TILE",
    "SMALL_BS",
    "NUM_WARPS",
    "SMALL_NUM_WARPS",
    "BIG_NUM_WARPS",
    "BIG_BS",
    "MAX_SPLIT",
    "SPLIT_ROWS",
    "MIN_PAGE_PROGRAMS",
    "SUM_BLOCK",
    "SCALAR_REQS",
    "SCALAR_SUB",
    "SCALAR_REQS_VAR",
    "SUM_SCALAR",
    "EARLY_BS",
    "WIDE_TILE",
    "MAX_BW",
)


@triton.jit
def _empty_kernel(ptr):
    """The launch floor: does nothing with its one argument."""
    pass


@triton.jit
def _gather_kernel(pool_row_ptr, r2t_ptr, pt_ptr, width, r2t_s0, pt_s0, BW: tl.constexpr):
    """The page-table floor: program (t, j) copies columns [j * BW, (j + 1) * BW) of
    req_to_token[pool_row[t]] to page_table_1[t]."""
    t = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64) * BW + tl.arange(0, BW)
    mask = c < width
    row = tl.load(pool_row_ptr + t).to(tl.int64)
    cells = tl.load(r2t_ptr + row * r2t_s0 + c, mask=mask)
    tl.store(pt_ptr + t * pt_s0 + c, cells, mask=mask)


class Problem:
    """Inputs and poisoned buffers for one configuration, plus the precomputed row owners."""

    def __init__(self, mode, bs, next_n, width, page_size, device, gen):
        self.mode, self.bs, self.next_n, self.width, self.page_size = (
            mode,
            bs,
            next_n,
            width,
            page_size,
        )
        e = 1 if mode == "decode" else next_n
        seq = torch.randint(128, 8193, (bs,), generator=gen, dtype=torch.int32)
        ext = torch.randint(0, next_n + 1, (bs,), generator=gen, dtype=torch.int32)
        rows = ext if mode == "draft_extend_var" else torch.full((bs,), e, dtype=torch.int32)
        self.T = int(rows.sum())
        self.capacity = bs * e
        self.seq = seq.to(device)
        self.ext = ext.to(device) if mode == "draft_extend_var" else None
        self.pool = torch.randperm(bs, generator=gen).to(device)
        self.req_to_token = torch.randint(0, 2**20, (bs, width), dtype=torch.int32, device=device)
        owners = torch.repeat_interleave(torch.arange(bs), rows.long())
        self.pool_row = self.pool.cpu()[owners].to(torch.int32).to(device)
        self.out = nsa_meta.allocate_metadata(bs, self.capacity, width, page_size, device)

    def call(self, backend: str):
        return lambda: nsa_meta.metadata(
            self.mode,
            self.seq,
            self.pool,
            self.req_to_token,
            topk=TOPK,
            width=self.width,
            page_size=self.page_size,
            next_n=self.next_n,
            extend_seq_lens=self.ext,
            backend=backend,
            out=self.out,
            validate=False,
        )

    def gather(self):
        if self.T == 0:
            # No row to copy: the floor is a launch. (A grid of max(T, 1) rows read
            # pool_row[0] of an empty tensor, a null pointer on CUDA: the illegal memory
            # access of draft_extend_var bs=1 W=65536 on the H200.)
            return self.empty()
        grid = (self.T, triton.cdiv(self.width, 1024))
        pt = self.out.page_table_1
        return lambda: _gather_kernel[grid](
            self.pool_row, self.req_to_token, pt, self.width, self.req_to_token.stride(0),
            pt.stride(0), BW=1024,
        )  # fmt: skip

    def empty(self):
        return lambda: _empty_kernel[(1,)](self.seq)

    def snapshot(self) -> list:
        return [None if b is None else b.clone() for b in self.out]

    def check_against_oracle(self, got: list) -> None:
        want = reference.metadata(
            self.mode,
            self.seq.tolist(),
            self.pool.tolist(),
            self.req_to_token.tolist(),
            topk=TOPK,
            width=self.width,
            page_size=self.page_size,
            next_n=self.next_n,
            extend_seq_lens=None if self.ext is None else self.ext.tolist(),
        )
        for name, buf, values in zip(nsa_meta.Metadata._fields, got, want):
            if values is None:
                continue
            n = len(values)
            region = buf[:n] if buf.dim() == 1 else buf[:n, : (len(values[0]) if n else 0)]
            if region.tolist() != values:
                raise AssertionError(f"{self.mode}: {name} differs from reference.metadata")


def page_bytes(bs, next_n, width, page_size) -> int:
    rows = bs * next_n
    return 4 * (rows * width + rows * -(-width // page_size) + bs * width)


def time_eager(fn, iters, repeats, cuda) -> list[float]:
    samples = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) * 1e3 / iters)
        else:
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            samples.append((time.perf_counter() - t0) * 1e6 / iters)
    return samples


def time_graph(fn, calls, replays, repeats) -> list[float]:
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    samples = time_eager(graph.replay, replays, repeats, True)
    del graph
    return [s / calls for s in samples]


def summary(samples: list[float] | None) -> dict | None:
    if not samples:
        return None
    q = statistics.quantiles(samples, n=5) if len(samples) > 1 else [samples[0]] * 4
    return {"median": statistics.median(samples), "p20": q[0], "p80": q[3]}


def configs(quick: bool, cuda: bool, modes=MODES, sizes=None, widths=None, pages=None):
    if not cuda:
        return [(m, bs, 2, 64, p) for m in modes for bs in (1, 5) for p in (1, 4)]
    if sizes is None:
        sizes = (1, 32, 512, 4096, 16384) if quick else (1, 8, 32, 128, 512, 1024, 4096, 16384)
    if widths is None:
        widths = (2048, 65536) if quick else (2048, 65536, 163840)
    if pages is None:
        pages = (64,) if quick else (1, 64)
    out = []
    for mode in modes:
        for next_n in (1,) if mode == "decode" else (1, 4):
            for width in widths:
                for page_size in pages:
                    out += [(mode, bs, next_n, width, page_size) for bs in sizes]
    return out


def run(args) -> list[dict]:
    cuda = args.device == "cuda"
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    iters, repeats = (3, 3) if not cuda else (20, 5) if args.quick else (100, 7)
    budget = torch.cuda.mem_get_info()[0] * 0.35 if cuda else 2**28
    records = []
    for mode, bs, next_n, width, page_size in configs(
        args.quick, cuda, args.modes, args.bs, args.widths, args.pages
    ):
        rec = {"mode": mode, "bs": bs, "next_n": next_n, "width": width, "page_size": page_size}
        need = page_bytes(bs, 1 if mode == "decode" else next_n, width, page_size)
        if need > budget:
            rec["skipped"] = f"needs {need / 2**30:.1f} GiB of buffers"
            records.append(rec)
            continue
        p = Problem(mode, bs, next_n, width, page_size, device, gen)
        rec["T"] = p.T
        # torch materialises the gathered rows once more before copying them in.
        torch_fits = need * 2 <= budget and not args.no_torch
        calls = {"empty": p.empty(), "gather": p.gather(), "triton": p.call("triton")}
        if torch_fits:
            calls["torch"] = p.call("torch")
        calls["triton"]()
        got = p.snapshot()
        if torch_fits:
            calls["torch"]()
            for name, a, b in zip(nsa_meta.Metadata._fields, got, p.out):
                if a is not None and not torch.equal(a, b):
                    raise AssertionError(f"{rec}: triton and torch differ in {name}")
        if bs * width <= 2**16:
            p.check_against_oracle(got)
        for impl, fn in calls.items():
            fn()
            eager = summary(time_eager(fn, iters, repeats, cuda))
            graph = summary(time_graph(fn, 10, max(iters // 5, 3), repeats)) if cuda else None
            rec[impl] = {"eager": eager, "graph": graph}
        records.append(rec)
        print(format_row(rec), flush=True)
        del p, calls, got
        if cuda:
            torch.cuda.empty_cache()
    return records


def _us(rec, impl, kind) -> float | None:
    cell = rec.get(impl) or {}
    return (cell.get(kind) or {}).get("median")


def format_row(rec: dict) -> str:
    head = f"{rec['mode']:<16} bs={rec['bs']:<5} N={rec['next_n']} W={rec['width']:<6} P={rec['page_size']:<2}"
    if "skipped" in rec:
        return f"{head}  skipped: {rec['skipped']}"
    parts = []
    for kind in ("graph", "eager"):
        floor = max(_us(rec, "empty", kind) or 0, _us(rec, "gather", kind) or 0)
        cells = []
        for impl in IMPLS:
            v = _us(rec, impl, kind)
            cells.append(f"{impl} {v:9.1f}" if v is not None else f"{impl} {'n/a':>9}")
        tri, tor = _us(rec, "triton", kind), _us(rec, "torch", kind)
        ratio = f"triton/floor {tri / floor:5.2f}" if tri and floor else ""
        ratio += f" torch/floor {tor / floor:6.2f}" if tor and floor else ""
        if kind == "eager" and tri and _us(rec, "empty", kind):
            ratio += f" triton/empty {tri / _us(rec, 'empty', kind):5.1f}"
        parts.append(f"{kind}: " + " ".join(cells) + f" | {ratio}")
    return f"{head} T={rec['T']:<6} " + "\n    ".join(parts)


def plot(records: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(MODES), figsize=(5 * len(MODES), 4), squeeze=False)
    for ax, mode in zip(axes[0], MODES):
        for width, style in ((2048, "-"), (65536, "--")):
            rows = [
                r
                for r in records
                if r["mode"] == mode
                and r["width"] == width
                and r["page_size"] == 64
                and r["next_n"] == (1 if mode == "decode" else 4)
                and "skipped" not in r
            ]
            for impl in IMPLS:
                pts = [(r["bs"], _us(r, impl, "graph")) for r in rows]
                pts = [(b, v) for b, v in pts if v is not None]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", label=f"{impl} W={width}")
        ax.set(xscale="log", yscale="log", title=f"{mode} (graph replay)", xlabel="bs", ylabel="us")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers >= 1")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="reports/bench_metadata", help="output directory")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--plan",
        action="append",
        default=[],
        metavar="NAME=INT",
        help="override a GPU plan constant of nsa_meta/metadata_triton.py (TARGET, TARGET_VAR, TARGET_VAR_BS, VAR_CELLS, TARGET_VAR_NARROW, NARROW_VAR_BS, TILE, "
        "SMALL_TILE, SMALL_BS, NUM_WARPS, SMALL_NUM_WARPS, BIG_NUM_WARPS, BIG_BS, MAX_SPLIT, SPLIT_ROWS, MIN_PAGE_PROGRAMS, SUM_BLOCK, SCALAR_REQS, SCALAR_SUB, "
        "SCALAR_REQS_VAR, SUM_SCALAR, EARLY_BS, WIDE_TILE, MAX_BW); repeatable",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--bs", type=_ints, help="comma-separated batch sizes (GPU)")
    parser.add_argument("--pages", type=_ints, help="comma-separated page sizes (GPU)")
    parser.add_argument("--widths", type=_ints, help="comma-separated widths (GPU)")
    parser.add_argument(
        "--no-torch",
        action="store_true",
        help="skip the torch backend (its timing and cross-check)",
    )
    args = parser.parse_args()
    from nsa_meta import metadata_triton

    for item in args.plan:
        name, _, value = item.partition("=")
        if name not in PLAN_CONSTANTS or not value.lstrip("-").isdigit():
            parser.error(f"--plan {item!r}: expected NAME=INT, NAME one of {PLAN_CONSTANTS}")
        setattr(metadata_triton, name, int(value))
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {unknown}; choose from {MODES}")
    args.modes = modes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = run(args)
    meta = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "plan": args.plan,
        "no_torch": args.no_torch,
        "units": "microseconds per call",
    }
    (out / "bench_metadata.json").write_text(
        json.dumps({"meta": meta, "records": records}, indent=1)
    )
    plotted = plot(records, out / "bench_metadata.png")
    print(f"wrote {out / 'bench_metadata.json'}" + (" and bench_metadata.png" if plotted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-call latency of the draft-extend metadata expansion, eager and under CUDA-graph replay.

Run on a CUDA machine, from the repository root:

    PYTHONPATH=. python benchmarks/bench_latency.py [--quick] [--out reports/bench]

What it measures, at bs 1, 8, 32, 128, 512, 4096 (accept lengths random in 1..4, seq lens
random in 128..8192, top-k 2048, int32 inputs on the GPU, out buffers of capacity bs * 4):

- floor:  an empty Triton kernel (one pointer argument, grid (1,)), the least a launch costs;
- lsfloor: a Triton kernel that loads both inputs and stores them into both outputs, with no
          arithmetic (grid cdiv(bs, 256)): the least a kernel that reads and writes costs;
- prepared: plan(ext, seq, topk) with plan = nsa_meta.prepare((e, c), bs), built once;
- triton: nsa_meta.expand(..., backend="triton", out=(e, c), validate=False);
- torch:  nsa_meta.expand(..., backend="torch",  out=(e, c), validate=False);
- legacy: reference.legacy.legacy_expand, the original loop (two .tolist() host syncs).

"eager" is CUDA events around a loop of back-to-back calls divided by the count, so the host's
launch cost is included: that is what a serving step pays. "graph" captures several calls in
one torch.cuda.CUDAGraph, replays it many times and divides by the calls replayed: what the
call adds to a captured graph. Both take the median over repeats and rotate among several
input sets. The legacy loop cannot be captured (host syncs): its graph figure is n/a.
Every implementation is checked against reference.expand before it is timed (and again after
capture); a wrong one is not timed and the script exits 1. Writes latency.json (all figures
in microseconds) and latency.png (needs matplotlib) to --out. Ratios: prepared and triton
over the empty-launch floor (eager) and over the load/store floor (graph).

Without CUDA nothing is timed: `--quick` then runs a smoke on the CPU (Triton's
interpreter), checking every implementation once per input set (exit 1 if one is wrong);
without `--quick` it says so and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Run as a script (python benchmarks/bench_latency.py): make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

if not torch.cuda.is_available():  # the CPU smoke runs Triton's interpreter, set before import
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

import reference  # noqa: E402
from nsa_meta import expand, prepare  # noqa: E402
from reference.legacy import legacy_expand  # noqa: E402

TOPK = 2048
MAX_EXTEND = 4
SEQ_RANGE = (128, 8192)
BATCH_SIZES = (1, 8, 32, 128, 512, 4096)
SENTINEL = -777
IMPLS = ("floor", "lsfloor", "prepared", "triton", "torch", "legacy")
FLOORS = ("floor", "lsfloor")
LS_BLOCK = 256
NOT_CAPTURABLE = "n/a: the legacy loop reads values with .tolist() (a host sync)"


@triton.jit
def _empty_kernel(ptr):
    """The floor: a launch that does nothing with its one argument."""
    pass


@triton.jit
def _load_store_kernel(ext_ptr, seq_ptr, out_e_ptr, out_c_ptr, bs, BLOCK: tl.constexpr):
    """The load/store floor: both inputs read, both outputs written, no arithmetic."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < bs
    tl.store(out_e_ptr + offs, tl.load(ext_ptr + offs, mask=mask), mask=mask)
    tl.store(out_c_ptr + offs, tl.load(seq_ptr + offs, mask=mask), mask=mask)


@dataclass
class Settings:
    batch_sizes: tuple[int, ...]
    sets: int  # input sets rotated through, each with its own out buffers
    iters: int  # eager calls per timed sample
    repeats: int  # timed samples; the median is reported
    calls_per_graph: int
    replays: int  # graph replays per timed sample


FULL = Settings(BATCH_SIZES, sets=8, iters=200, repeats=7, calls_per_graph=20, replays=50)
QUICK = Settings((1, 32, 512), sets=2, iters=20, repeats=3, calls_per_graph=4, replays=10)


@dataclass
class InputSet:
    extend_seq_lens: torch.Tensor
    seq_lens: torch.Tensor
    out_e: torch.Tensor
    out_c: torch.Tensor
    expected: tuple[list[int], list[int]]

    def poison(self) -> None:
        self.out_e.fill_(SENTINEL)
        self.out_c.fill_(SENTINEL)


def make_input_sets(bs: int, n: int, device: torch.device, gen: torch.Generator) -> list[InputSet]:
    sets = []
    for _ in range(n):
        ext = torch.randint(1, MAX_EXTEND + 1, (bs,), generator=gen, dtype=torch.int32)
        seq = torch.randint(SEQ_RANGE[0], SEQ_RANGE[1] + 1, (bs,), generator=gen, dtype=torch.int32)
        expected = reference.expand(ext.tolist(), seq.tolist(), TOPK)
        out_e, out_c = (
            torch.full((bs * MAX_EXTEND,), SENTINEL, dtype=torch.int32, device=device)
            for _ in range(2)
        )
        sets.append(InputSet(ext.to(device), seq.to(device), out_e, out_c, expected))
    return sets


def make_call(impl: str, s: InputSet) -> Callable[[], object]:
    """One call of `impl` on input set `s`, as a closure (so timing loops stay uniform)."""
    if impl == "floor":
        return lambda: _empty_kernel[(1,)](s.out_e)
    if impl == "lsfloor":
        bs = s.extend_seq_lens.numel()
        grid = (triton.cdiv(bs, LS_BLOCK),)
        args = (s.extend_seq_lens, s.seq_lens, s.out_e, s.out_c, bs)
        return lambda: _load_store_kernel[grid](*args, BLOCK=LS_BLOCK)
    if impl == "prepared":
        plan = prepare((s.out_e, s.out_c), s.extend_seq_lens.numel())
        return lambda: plan(s.extend_seq_lens, s.seq_lens, TOPK)
    if impl == "legacy":
        return lambda: legacy_expand(s.extend_seq_lens, s.seq_lens, TOPK)
    out = (s.out_e, s.out_c)
    return lambda: expand(
        s.extend_seq_lens, s.seq_lens, TOPK, backend=impl, out=out, validate=False
    )


def check(impl: str, s: InputSet, result: object) -> None:
    """Raise AssertionError naming the first wrong slot; the floors compute nothing to check."""
    if impl in FLOORS:
        return
    total = len(s.expected[0])
    if impl == "legacy":
        got = [t.tolist() for t in result]  # type: ignore[union-attr]
        tails: list[list[int]] = []
    else:
        got = [s.out_e[:total].tolist(), s.out_c[:total].tolist()]
        tails = [s.out_e[total:].tolist(), s.out_c[total:].tolist()]
    for name, g, want in zip(
        ("seqlens_expanded", "nsa_cache_seqlens"), got, s.expected, strict=True
    ):
        if g != want:
            i = next(
                (j for j, (a, b) in enumerate(zip(g, want, strict=False)) if a != b),
                min(len(g), len(want)),
            )
            raise AssertionError(
                f"{impl}: {name} differs from reference.expand at [{i}] "
                f"(got {g[i : i + 3]}, want {want[i : i + 3]}; lengths {len(g)} vs {len(want)})"
            )
    for name, tail in zip(("out_seqlens_expanded", "out_nsa_cache_seqlens"), tails, strict=False):
        if any(v != SENTINEL for v in tail):
            raise AssertionError(f"{impl}: {name} was written past total={total}")


def time_loop(step: Callable[[int], object], iters: int, repeats: int) -> float:
    """Median over `repeats` of (CUDA events around `iters` steps) / iters, in microseconds."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start.record()
        for i in range(iters):
            step(i)
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / iters)
    return statistics.median(samples)


def capture(calls: list[Callable[[], object]], n_calls: int) -> torch.cuda.CUDAGraph:
    """Capture `n_calls` calls, rotating over `calls`, in one graph; warm up on a side stream."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            for call in calls:
                call()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(n_calls):
            calls[i % len(calls)]()
    return graph


def bench_impl(impl: str, sets: list[InputSet], cfg: Settings, bs: int) -> dict:
    """{"eager": us | None, "graph": us | None, "error": {...}} for one implementation at one bs."""
    calls = [make_call(impl, s) for s in sets]
    row: dict = {"eager": None, "graph": None, "error": {}}
    try:
        for s, call in zip(
            sets, calls, strict=True
        ):  # correctness first; compiles Triton on the way
            s.poison()
            result = call()
            torch.cuda.synchronize()
            check(impl, s, result)
    except Exception as e:  # a wrong or crashing implementation is reported, never timed
        row["error"]["eager"] = f"{type(e).__name__}: {e}"
        return row
    # The legacy loop costs ~bs launches a call; fewer calls keep the run short.
    iters = cfg.iters if impl != "legacy" else max(2, min(cfg.iters, cfg.iters * 32 // bs))
    row["eager"] = time_loop(lambda i: calls[i % len(calls)](), iters, cfg.repeats)
    if impl == "legacy":
        row["error"]["graph"] = NOT_CAPTURABLE
        return row
    try:
        graph = capture(calls, cfg.calls_per_graph)
    except Exception as e:  # a capture failure is a finding: record its text as n/a
        row["error"]["graph"] = f"n/a: {type(e).__name__}: {e}"
        with contextlib.suppress(RuntimeError):
            torch.cuda.synchronize()
        return row
    try:
        for s in sets:
            s.poison()
        graph.replay()
        torch.cuda.synchronize()
        for s in sets[: cfg.calls_per_graph]:
            check(impl, s, None)
    except Exception as e:  # captured, but the replay computes the wrong thing: not timed
        row["error"]["graph replay"] = f"{type(e).__name__}: {e}"
        return row
    per_replay = time_loop(lambda i: graph.replay(), cfg.replays, cfg.repeats)
    row["graph"] = per_replay / cfg.calls_per_graph
    return row


def smoke(cfg: Settings, device: torch.device, seed: int = 0) -> list[str]:
    """Every implementation once per input set, checked, nothing timed (the CPU smoke).
    Returns one line per wrong or crashing implementation."""
    gen = torch.Generator().manual_seed(seed)
    wrong = []
    for bs in cfg.batch_sizes:
        for s in make_input_sets(bs, cfg.sets, device, gen):
            for impl in IMPLS:
                s.poison()
                try:
                    check(impl, s, make_call(impl, s)())
                except Exception as e:  # reported, and the smoke exits 1
                    wrong.append(f"bs={bs} {impl}: {type(e).__name__}: {e}")
    return wrong


def run(cfg: Settings, device: torch.device, seed: int = 0) -> dict:
    """Every implementation at every bs; returns the report (figures in microseconds)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for bs in cfg.batch_sizes:
        sets = make_input_sets(bs, cfg.sets, device, gen)
        figures = {impl: bench_impl(impl, sets, cfg, bs) for impl in IMPLS}
        rows.append({"bs": bs, **_flatten(figures)})
        print(f"  bs={bs:>5} done", file=sys.stderr, flush=True)
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "units": "microseconds per call",
        "workload": {
            "extend_seq_lens": f"random int32 in 1..{MAX_EXTEND}",
            "seq_lens": f"random int32 in {SEQ_RANGE[0]}..{SEQ_RANGE[1]}",
            "nsa_index_topk": TOPK,
            "out_capacity": f"bs * {MAX_EXTEND}",
        },
        "method": {
            "eager": "CUDA events around a loop of back-to-back calls / count; median",
            "graph": "one CUDA graph of calls_per_graph calls, replayed; time / calls; median",
            **{k: v for k, v in vars(cfg).items() if k != "batch_sizes"},
        },
        "rows": rows,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _flatten(figures: dict[str, dict]) -> dict:
    row: dict = {}
    for mode in ("eager", "graph"):
        for impl in IMPLS:
            row[f"{impl}_{mode}_us"] = figures[impl][mode]
    row["prepared_over_floor_eager"] = _ratio(row["prepared_eager_us"], row["floor_eager_us"])
    row["prepared_over_lsfloor_graph"] = _ratio(row["prepared_graph_us"], row["lsfloor_graph_us"])
    row["triton_over_floor_eager"] = _ratio(row["triton_eager_us"], row["floor_eager_us"])
    row["triton_over_floor_graph"] = _ratio(row["triton_graph_us"], row["floor_graph_us"])
    row["triton_over_lsfloor_graph"] = _ratio(row["triton_graph_us"], row["lsfloor_graph_us"])
    row["legacy_over_triton_eager"] = _ratio(row["legacy_eager_us"], row["triton_eager_us"])
    row["errors"] = {
        f"{impl} {mode}": text for impl in IMPLS for mode, text in figures[impl]["error"].items()
    }
    return row


COLUMNS = (
    ("floor E", "floor_eager_us"),
    ("prep E", "prepared_eager_us"),
    ("triton E", "triton_eager_us"),
    ("torch E", "torch_eager_us"),
    ("legacy E", "legacy_eager_us"),
    ("floor G", "floor_graph_us"),
    ("lsfloor G", "lsfloor_graph_us"),
    ("prep G", "prepared_graph_us"),
    ("triton G", "triton_graph_us"),
    ("torch G", "torch_graph_us"),
    ("prep/floor E", "prepared_over_floor_eager"),
    ("prep/ls G", "prepared_over_lsfloor_graph"),
    ("tri/floor E", "triton_over_floor_eager"),
    ("tri/ls G", "triton_over_lsfloor_graph"),
    ("legacy/tri E", "legacy_over_triton_eager"),
)


def format_table(report: dict) -> str:
    """Rows by bs; latencies in microseconds, E = eager, G = CUDA-graph replay (per call)."""
    header = f"{'bs':>5} " + " ".join(f"{name:>12}" for name, _ in COLUMNS)
    lines = [f"{report['device']}  (us per call; E eager, G graph replay)", header]
    for row in report["rows"]:
        cells = []
        for name, key in COLUMNS:
            v = row[key]
            text = "n/a" if v is None else (f"{v:.2f}x" if "/" in name else f"{v:.2f}")
            cells.append(f"{text:>12}")
        lines.append(f"{row['bs']:>5} " + " ".join(cells))
    notes = sorted({f"{k}: {v}" for row in report["rows"] for k, v in row["errors"].items()})
    return "\n".join(lines + ([""] + notes if notes else []))


def plot(report: dict, path: Path) -> bool:
    """Latency vs bs, log-log. matplotlib is optional: without it, say so and return False."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bss = [row["bs"] for row in report["rows"]]
    colors = ("grey", "black", "tab:green", "tab:blue", "tab:orange", "tab:red")
    for impl, color in zip(IMPLS, colors, strict=True):
        for mode, style in (("eager", "-o"), ("graph", "--s")):
            ys = [row[f"{impl}_{mode}_us"] for row in report["rows"]]
            pts = [(x, y) for x, y in zip(bss, ys, strict=True) if y is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, color=color, label=f"{impl} {mode}")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="us per call")
    ax.set_title(f"draft-extend metadata expansion, {report['device']}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="output dir")
    parser.add_argument(
        "--quick", action="store_true", help="3 batch sizes, few iterations (CPU: a smoke)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and args.quick:
        wrong = smoke(QUICK, torch.device("cpu"), args.seed)
        checks = len(QUICK.batch_sizes) * QUICK.sets * len(IMPLS)
        print(f"bench_latency: CPU smoke (Triton interpreter, nothing timed): {checks} calls")
        for line in wrong:
            print(f"  wrong: {line}", file=sys.stderr)
        return 1 if wrong else 0
    if not torch.cuda.is_available():
        print(
            "bench_latency: CUDA is not available (torch.cuda.is_available() is False); this "
            "benchmark times GPU launches and CUDA-graph replay, so there is nothing to measure "
            "here. Run it on a CUDA machine: PYTHONPATH=. python benchmarks/bench_latency.py"
        )
        return 0
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("bench_latency: TRITON_INTERPRET is set; unset it to time compiled kernels")
        return 2
    cfg = QUICK if args.quick else FULL
    report = run(cfg, torch.device("cuda"), args.seed)
    print(format_table(report))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(report, indent=2) + "\n")
    plotted = plot(report, args.out / "latency.png")
    print(
        f"wrote {args.out / 'latency.json'}"
        + (f" and {args.out / 'latency.png'}" if plotted else "")
    )
    wrong = [
        f"bs={row['bs']} {k}"
        for row in report["rows"]
        for k in row["errors"]
        if k.endswith(("eager", "replay"))
    ]
    if wrong:
        print(f"bench_latency: failed the correctness check: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

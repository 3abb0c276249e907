"""Command line: `run` a campaign; `replay`, `minimise`, `list` and `show` the corpus.

Exit codes: 0 no failure, 1 at least one failure, 2 usage error. On a CPU the Triton
interpreter is switched on here, before anything imports Triton (plug-ins too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

IMPL_NAMES = ("reference", "legacy", "triton", "torch")


class UsageError(Exception):
    pass


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= I < N")
    return i, n


def _impls(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in IMPL_NAMES]
    if bad:
        raise argparse.ArgumentTypeError(
            f"--impl: unknown {', '.join(bad)}; choose from {', '.join(IMPL_NAMES)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--candidate",
            action="append",
            default=[],
            metavar="SPEC",
            help="path/file.py:function or package.module:function (repeatable)",
        )
        q.add_argument(
            "--impl",
            type=_impls,
            default=None,
            metavar="NAMES",
            help="built-ins to run, comma-separated: "
            + ", ".join(IMPL_NAMES)
            + " (default: all without --candidate, else only the reference)",
        )
        q.add_argument(
            "--device",
            choices=("cpu", "cuda"),
            default=None,
            help="default: cuda when present, else cpu with the Triton interpreter",
        )
        q.add_argument(
            "--timeout",
            type=_positive_float,
            default=5.0,
            metavar="S",
            help="seconds a plug-in may take on one case before it counts as a hang",
        )
        q.add_argument(
            "--memory-limit",
            type=float,
            default=8.0,
            metavar="GIB",
            help="address-space limit of a plug-in's worker on the CPU (0: none)",
        )

    run = sub.add_parser("run", help="run a campaign")
    common(run)
    budget = run.add_argument_group("budget (at least one; both: whichever ends first)")
    budget.add_argument("--seconds", type=_positive_float, default=None)
    budget.add_argument("--max-cases", type=_positive_int, default=None)
    run.add_argument("--seed", type=int, default=0, help="same seed and --max-cases, same cases")
    run.add_argument("--corpus", type=Path, default=Path("corpus"), metavar="DIR")
    run.add_argument(
        "--max-failures",
        type=_positive_int,
        default=20,
        metavar="N",
        help="stop after N distinct failures",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="processes on this machine, each taking every N-th round",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="this machine's share of a campaign split over N machines",
    )
    run.add_argument(
        "--report", type=Path, default=None, metavar="FILE", help="write a JSON report"
    )
    run.add_argument(
        "--check-errors",
        action="store_true",
        help="also put invalid inputs to candidates (the error contract)",
    )
    run.add_argument(
        "--shrink-seconds",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="time spent shrinking each new failure",
    )
    run.add_argument(
        "--bulk",
        type=int,
        default=None,
        metavar="N",
        help="after each round, screen N numpy-drawn cases through the Triton kernel in a few "
        "launches (default 8192 on cpu, 1048576 on cuda; 0: off)",
    )

    rep = sub.add_parser("replay", help="re-run saved cases")
    common(rep)
    rep.add_argument("targets", nargs="+", type=Path, metavar="FILE|DIR")

    mini = sub.add_parser("minimise", help="shrink a saved failure again; saves the result")
    common(mini)
    mini.add_argument("target", type=Path, metavar="FILE")
    mini.add_argument("--seconds", type=_positive_float, default=30.0)

    ls = sub.add_parser("list", help="one line per corpus entry")
    ls.add_argument("targets", nargs="*", type=Path, default=[Path("corpus")], metavar="FILE|DIR")
    show = sub.add_parser("show", help="an entry in full, with a snippet that reproduces it")
    show.add_argument("target", type=Path, metavar="FILE")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "minimise":
            return cmd_minimise(args)
        if args.command == "list":
            return cmd_list(args)
        return cmd_show(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --- shared set-up -----------------------------------------------------------------------------


def setup_device(requested: str | None) -> str:
    """Pick the device; on the CPU switch the Triton interpreter on before Triton loads."""
    import torch

    device = requested or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available here")
    if device == "cpu":
        from nsa_meta.interpreter import use_interpreter

        use_interpreter()
    else:
        device = f"cuda:{torch.cuda.current_device()}"  # outputs report "cuda:0", not "cuda"
    return device


def check_candidates(specs: list[str]) -> None:
    from fuzz.candidates import CandidateError, parse_spec

    for spec in specs:
        try:
            parse_spec(spec)
        except CandidateError as exc:
            raise UsageError(str(exc)) from None


def _terminate_as_interrupt() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


# --- run -------------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from fuzz.campaign import Options

    if args.seconds is None and args.max_cases is None:
        raise UsageError("run: give --seconds N or --max-cases N (or both)")
    check_candidates(args.candidate)
    device = setup_device(args.device)
    builtins = (
        args.impl
        if args.impl is not None
        else (["reference"] if args.candidate else list(IMPL_NAMES))
    )
    if "reference" not in builtins:
        builtins = ["reference", *builtins]  # the oracle always runs
    shard_i, shard_n = args.shard
    options = Options(
        seconds=args.seconds,
        max_cases=args.max_cases,
        seed=args.seed,
        builtins=builtins,
        candidates=args.candidate,
        device=device,
        corpus_dir=args.corpus,
        max_failures=args.max_failures,
        timeout=args.timeout,
        check_errors=args.check_errors,
        unit=shard_i * args.workers,
        units=shard_n * args.workers,
        shrink_seconds=args.shrink_seconds,
        memory_limit_gb=args.memory_limit,
        bulk=args.bulk if args.bulk is not None else (8192 if device == "cpu" else 2**20),
    )
    progress = Progress(args.seconds, args.max_cases)
    where = "Triton interpreter" if device == "cpu" else torch_device_name()
    print(
        f"campaign: device {device} ({where}); built-ins {', '.join(builtins)}"
        + (f"; candidates {', '.join(args.candidate)}" if args.candidate else "")
        + f"; seed {args.seed}; shard {shard_i}/{shard_n}; workers {args.workers}; corpus {args.corpus}",
        flush=True,
    )
    _terminate_as_interrupt()
    if args.workers == 1:
        report = _run_one(options, progress)
    else:
        report = _run_many(options, args.workers, progress)
    progress.close()
    print_summary(report)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.report}")
    return 1 if report["failures"] else 0


def torch_device_name() -> str:
    import torch

    return torch.cuda.get_device_name()


def _run_one(options, progress: Progress) -> dict:
    from fuzz.campaign import Campaign
    from fuzz.candidates import CandidateError

    campaign = Campaign(
        options, on_progress=lambda c: progress.update(c.cases, len(c.all_failures()))
    )
    try:
        campaign.run()
    except CandidateError as exc:
        raise UsageError(str(exc)) from None
    return campaign.report()


def _worker_main(options, queue) -> None:
    """One campaign process of --workers N: progress and its report go through `queue`."""
    from fuzz.campaign import Campaign

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    campaign = Campaign(
        options,
        on_progress=lambda c: queue.put(("progress", options.unit, c.cases, len(c.all_failures()))),
    )
    try:
        campaign.run()
        queue.put(("report", options.unit, campaign.report()))
    except Exception as exc:
        queue.put(("error", options.unit, repr(exc)))


def _run_many(options, workers: int, progress: Progress) -> dict:
    from dataclasses import replace

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = []
    for w in range(workers):
        share = None
        if options.max_cases is not None:
            share = options.max_cases // workers + (w < options.max_cases % workers)
        opts = replace(options, unit=options.unit + w, max_cases=share)
        proc = ctx.Process(target=_worker_main, args=(opts, queue))
        proc.start()
        procs.append(proc)
    counts: dict[int, tuple[int, int]] = {}
    reports, errors = [], []
    try:
        while len(reports) + len(errors) < workers:
            try:
                msg = queue.get(timeout=1.0)
            except Exception:
                if not any(p.is_alive() for p in procs) and queue.empty():
                    break
                continue
            if msg[0] == "progress":
                counts[msg[1]] = (msg[2], msg[3])
                progress.update(
                    sum(c for c, _ in counts.values()), sum(f for _, f in counts.values())
                )
            elif msg[0] == "report":
                reports.append(msg[2])
            else:
                errors.append(msg[2])
    except KeyboardInterrupt:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: each worker saves what it found and reports
        while len(reports) + len(errors) < workers and any(p.is_alive() for p in procs):
            try:
                msg = queue.get(timeout=30)
            except Exception:
                break
            if msg[0] == "report":
                reports.append(msg[2])
            elif msg[0] == "error":
                errors.append(msg[2])
    for proc in procs:
        proc.join(10)
    if errors:
        for e in errors:
            print(f"worker error: {e}", file=sys.stderr)
        if any("CandidateError" in e for e in errors):
            raise UsageError(errors[0])
    return merge_reports(reports)


def merge_reports(reports: list[dict]) -> dict:
    """Add the workers' counts; keep one failure per signature (the first found)."""
    merged = {
        "cases": sum(r["cases"] for r in reports),
        "hypothesis_cases": sum(r["hypothesis_cases"] for r in reports),
        "bulk_cases": sum(r["bulk_cases"] for r in reports),
        "bulk_seconds": round(sum(r["bulk_seconds"] for r in reports), 3),
        "examples": sum(r["examples"] for r in reports),
        "rounds": sum(r["rounds"] for r in reports),
        "seconds": max((r["seconds"] for r in reports), default=0.0),
        "failures": [],
        "implementations": {},
        "known_divergences": {},
        "workers": reports,
        "interrupted": any(r["interrupted"] for r in reports),
    }
    digests = sorted(r["cases_digest"] for r in reports)
    merged["cases_digest"] = hashlib.sha256("".join(digests).encode()).hexdigest()
    for key in ("seed", "device", "versions"):
        merged[key] = reports[0][key] if reports else None
    merged["restarts"] = {}
    for r in reports:
        for name, n in r["restarts"].items():
            merged["restarts"][name] = merged["restarts"].get(name, 0) + n
    merged["cases_per_second"] = (
        round(merged["cases"] / merged["seconds"], 1) if merged["seconds"] else 0.0
    )
    seen = set()
    for r in reports:
        for f in r["failures"]:
            if f["signature"] not in seen:
                seen.add(f["signature"])
                merged["failures"].append(f)
        for name, t in r["implementations"].items():
            m = merged["implementations"].setdefault(name, {"calls": 0, "seconds": 0.0})
            m["calls"] += t["calls"]
            m["seconds"] = round(m["seconds"] + t["seconds"], 3)
        for k, v in r["known_divergences"].items():
            merged["known_divergences"][k] = merged["known_divergences"].get(k, 0) + v
    return merged


class Progress:
    """A bar on a terminal; a plain line every 10 s otherwise (overnight logs)."""

    def __init__(self, seconds: float | None, max_cases: int | None):
        self.tty = sys.stderr.isatty()
        self.seconds, self.max_cases = seconds, max_cases
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, cases: int, failures: int) -> None:
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        t = now - self.start
        rate = cases / t if t else 0.0
        if self.seconds:
            frac = min(t / self.seconds, 1.0)
        elif self.max_cases:
            frac = min(cases / self.max_cases, 1.0)
        else:
            frac = 0.0
        if self.tty:
            bar = "#" * int(frac * 24)
            sys.stderr.write(
                f"\r[{bar:<24}] {t:6.1f}s {cases:>9,} cases {rate:8,.0f}/s  failures {failures}"
            )
            self.shown = True
        else:
            sys.stderr.write(
                f"{t:8.1f}s {cases:>10,} cases {rate:8,.0f} cases/s failures {failures}\n"
            )
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")


def print_summary(report: dict) -> None:
    for f in report["failures"]:
        state = (
            "in corpus before"
            if f.get("in_corpus_before")
            else "named case"
            if f.get("named_case")
            else "shrunk"
            if f["shrunk"]
            else "not shrunk"
        )
        print(f"FAIL {f['signature']} ({state})")
        print(f"     {f['summary']}")
        print(f"     case: {f['case']}")
        if f.get("fault"):
            print(f"     fault: {f['fault']}")
        print(f"     file: {f['file']}")
    div = ", ".join(f"{k} x{v}" for k, v in report["known_divergences"].items()) or "none"
    impls = ", ".join(
        f"{k} {v['calls']:,} calls {v['seconds']:.1f}s"
        for k, v in report["implementations"].items()
    )
    print(
        f"summary: {report['cases']:,} cases in {report['seconds']:.1f} s "
        f"({report['cases_per_second']:,.0f} cases/s); {len(report['failures'])} failure(s)"
        + ("; interrupted" if report["interrupted"] else "")
    )
    print(
        f"         {report.get('hypothesis_cases', 0):,} drawn by Hypothesis through every "
        f"selected implementation, {report.get('bulk_cases', 0):,} screened in bulk through "
        f"the Triton kernel ({report.get('bulk_seconds', 0):.1f} s)"
    )
    print(f"         implementations: {impls}")
    print(f"         known divergences (documented, not failures): {div}")


# --- replay, list, show ----------------------------------------------------------------------------


def cmd_replay(args) -> int:
    check_candidates(args.candidate)
    device = setup_device(args.device)
    from fuzz import corpus
    from fuzz.candidates import CandidateError, candidate_name
    from fuzz.harness import Tally, run_one
    from fuzz.isolation import IsolatedCandidate

    builtins = args.impl if args.impl is not None else list(IMPL_NAMES)
    workers = [
        (candidate_name(s), IsolatedCandidate(s, device, args.timeout, args.memory_limit))
        for s in args.candidate
    ]
    try:
        for _, w in workers:
            w.start()
    except CandidateError as exc:
        raise UsageError(str(exc)) from None
    missing = [str(t) for t in args.targets if not t.exists()]
    if missing:
        raise UsageError(f"replay: no such file or directory: {', '.join(missing)}")
    files = corpus.entry_files(args.targets)
    failed = 0
    tally = Tally()
    names = {n for n, _ in workers}
    try:
        for path in files:
            try:
                entry = corpus.load(path)
            except corpus.CorpusError as exc:
                print(f"ERROR {exc}")
                failed += 1
                continue
            findings = run_one(entry.case, entry.fault, builtins, workers, device, tally)
            note = ""
            if entry.impl not in builtins and entry.impl not in names:
                note = f" ({entry.impl} not given: pass --candidate to replay it)"
            if findings:
                failed += 1
                print(f"FAIL {path}{note}")
                for f in findings:
                    print(f"     {f.mismatch.describe()}")
            else:
                print(f"PASS {path} [{entry.signature}]{note}")
    finally:
        for _, w in workers:
            w.close()
    print(f"replayed {len(files)} file(s): {failed} failing")
    return 1 if failed else 0


def cmd_minimise(args) -> int:
    """Greedy reductions that keep the entry's failure signature; the result is saved beside it."""
    check_candidates(args.candidate)
    device = setup_device(args.device)
    from fuzz import corpus
    from fuzz.candidates import CandidateError, candidate_name
    from fuzz.harness import Tally, run_one
    from fuzz.isolation import IsolatedCandidate
    from fuzz.minimise import minimise

    try:
        entry = corpus.load(args.target)
    except corpus.CorpusError as exc:
        raise UsageError(str(exc)) from None
    workers = [
        (candidate_name(s), IsolatedCandidate(s, device, args.timeout, args.memory_limit))
        for s in args.candidate
        if candidate_name(s) == entry.impl
    ]
    builtins = [entry.impl] if entry.impl in IMPL_NAMES else []
    if not workers and not builtins:
        raise UsageError(f"minimise: {entry.impl} is a plug-in: pass its --candidate SPEC")
    try:
        for _, w in workers:
            w.start()
    except CandidateError as exc:
        raise UsageError(str(exc)) from None
    tally = Tally()

    def findings(case):
        return [
            f
            for f in run_one(case, entry.fault, builtins, workers, device, tally)
            if f.mismatch.signature == entry.signature
        ]

    try:
        if not findings(entry.case):
            print(f"{args.target}: {entry.signature} does not fail any more; nothing to minimise")
            return 0
        small = minimise(entry.case, lambda c: bool(findings(c)), args.seconds)
        found = findings(small)[0]
    finally:
        for _, w in workers:
            w.close()
    if small == entry.case:
        print(f"{args.target}: already minimal for these reductions")
        return 0
    path = corpus.save(
        args.target.parent,
        found.mismatch,
        small,
        entry.fault,
        device=device,
        seed=entry.data.get("seed"),
        spec=entry.data.get("candidate"),
    )
    print(f"was: {entry.case.describe()}\nnow: {small.describe()}\nsaved: {path}")
    return 0


def cmd_list(args) -> int:
    from fuzz import corpus

    entries, errors = corpus.load_all(args.targets)
    for e in entries:
        print(
            f"{e.path}  {e.signature}  bs={e.case.bs} total={e.case.total}  {e.data.get('date', '')}"
        )
    for err in errors:
        print(f"ERROR {err}")
    print(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        + (f", {len(errors)} unreadable" if errors else "")
    )
    return 1 if errors else 0


def cmd_show(args) -> int:
    from fuzz import corpus

    try:
        entry = corpus.load(args.target)
    except corpus.CorpusError as exc:
        print(f"ERROR {exc}")
        return 1
    print(json.dumps(entry.data, indent=2))
    print("\n# reproduce in Python:")
    print(reproducer(entry))
    return 0


def reproducer(entry) -> str:
    c = entry.case
    lines = [
        "import torch",
        "from fuzz.case import Case, Layout",
        f"case = Case.from_json({json.dumps(c.to_json())})",
        f"extend_seq_lens, seq_lens = case.tensors({json.dumps(entry.data.get('device', 'cpu'))})",
    ]
    if entry.fault:
        lines += [
            "from fuzz.case import Fault, faulty_args",
            f"args = faulty_args(case, Fault.from_json({json.dumps(entry.fault.to_json())}), 'cpu')",
        ]
    else:
        lines += ["args = (extend_seq_lens, seq_lens, case.nsa_index_topk)"]
    lines += ["expected = case.expected()", "# got = your_function(*args)"]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""Command line: argparse and dispatch only. `run` a campaign; `replay`, `minimise`, `list`,
`show` and `corpus merge` the corpus.

Exit codes, one table for every command (highest first): 2 usage, decided before any
work; 3 the suite could not do all of its work; 1 failures found; 0 none of the above.
On a CPU the Triton interpreter is switched on before anything imports Triton.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from pathlib import Path

from fuzz.report import EXIT_USAGE

IMPL_NAMES = ("reference", "legacy", "triton", "torch")
OPS = ("expand", "metadata")
META_IMPLS = ("reference", "triton", "torch")  # nsa_meta.metadata's backends and the oracle
STARTED = time.monotonic()  # the budget counts from here: imports and start-up included


class UsageError(Exception):
    pass


# --- argument types: every number finite and in range ---------------------------------------


def _number(text: str, kind, *, low: float, low_ok: bool, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if value < low or (value == low and not low_ok):
        raise argparse.ArgumentTypeError(f"{text} is not {'>=' if low_ok else '>'} {low:g}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, float, low=0, low_ok=False, what="a number")


def _nonneg_float(text: str) -> float:
    return _number(text, float, low=0, low_ok=True, what="a number")


def _positive_int(text: str) -> int:
    return _number(text, int, low=1, low_ok=True, what="an integer")


def _nonneg_int(text: str) -> int:
    return _number(text, int, low=0, low_ok=True, what="an integer")


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= I < N")
    return i, n


def _gpus(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gpus {text!r}: expected 0,1,...") from None
    if not ids or any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"--gpus {text!r}: distinct indices >= 0, e.g. 0,1")
    return ids


def _impls(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--impl {text!r}: name at least one of {IMPL_NAMES}")
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
            help="seconds a plug-in's calls may take on one case (building the case and "
            "reading its outputs do not count) before it is re-run, alone, in a fresh worker "
            "with max(30, 6 x S) s (--confirm-seconds); only then is it a hang",
        )
        q.add_argument(
            "--confirm-seconds",
            type=_positive_float,
            default=None,
            metavar="S",
            help="how long that lone re-run may take before the case is a hang (default "
            "max(30, 6 x --timeout); at least --timeout): shorter suits short budgets",
        )
        q.add_argument(
            "--slow-is-failure",
            action="store_true",
            help="a case that needs the longer re-run is a failure (`slow`), not a note",
        )
        q.add_argument(
            "--memory-limit",
            type=_nonneg_float,
            default=8.0,
            metavar="GIB",
            help="address-space limit of a plug-in's worker on the CPU (0: none)",
        )
        q.add_argument(
            "--envelope",
            default=None,
            metavar="JSON_OR_@FILE",
            help='what the candidates support, e.g. \'{"dtypes": ["int32"], "topk": '
            "[2048]}'; a candidate's own fn.envelope wins",
        )
        q.add_argument(
            "--max-total",
            type=_positive_int,
            default=None,
            metavar="N",
            help="largest case total a corpus entry may ask for (default 2**22)",
        )

    def op(q: argparse.ArgumentParser, default: str | None) -> None:
        q.add_argument(
            "--op",
            choices=OPS,
            default=default,
            help="the operation: expand (contract v1, fn(extend_seq_lens, seq_lens, topk)) or "
            "metadata (contract v2, fn(*, mode, ..., out))"
            + (f"; default {default}" if default else "; default: every entry's own"),
        )

    run = sub.add_parser("run", help="run a campaign")
    common(run)
    op(run, "expand")
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
        "--compile-ahead",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="helper processes that run a candidate's cases before its worker does, so a "
        "JIT (Triton) compiles them side by side; they judge nothing (default: on cuda, one "
        "per core beyond four, at most 12; on cpu 0)",
    )
    run.add_argument(
        "--gpus",
        type=_gpus,
        default=None,
        metavar="0,1,...",
        help="with --device cuda and --workers N: the GPUs to spread workers over "
        "(default: every visible GPU)",
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
        help="time spent shrinking each new wrong-output failure",
    )
    run.add_argument(
        "--fault-shrink-seconds",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="time spent shrinking each new crash, device fault or hang (a fresh worker per try)",
    )
    run.add_argument(
        "--bulk",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="after each round, screen N numpy-drawn cases through the Triton kernel in a few "
        "launches (default 8192 on cpu, 1048576 on cuda; 0: off)",
    )
    run.add_argument(
        "--no-named", action="store_true", help="skip the named edge cases and shipped seeds"
    )

    rep = sub.add_parser("replay", help="re-run saved cases (default: shipped seeds + corpus/)")
    common(rep)
    rep.add_argument(
        "--compile-ahead",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="helper processes that run the candidate's entries first, their share each "
        "(default: as for run)",
    )
    rep.add_argument("targets", nargs="*", type=Path, metavar="FILE|DIR")
    op(rep, None)

    mini = sub.add_parser("minimise", help="shrink a saved failure again; saves the result")
    common(mini)
    mini.add_argument("target", type=Path, metavar="FILE")
    mini.add_argument("--seconds", type=_positive_float, default=60.0)
    op(mini, None)

    ls = sub.add_parser("list", help="one line per corpus entry")
    ls.add_argument("targets", nargs="*", type=Path, default=[Path("corpus")], metavar="FILE|DIR")
    ls.add_argument("--max-total", type=_positive_int, default=None, metavar="N")
    op(ls, None)
    show = sub.add_parser("show", help="an entry in full, with Python that reproduces it")
    show.add_argument("target", type=Path, metavar="FILE")
    show.add_argument("--max-total", type=_positive_int, default=None, metavar="N")
    op(show, None)

    corp = sub.add_parser("corpus", help="corpus maintenance")
    corp_sub = corp.add_subparsers(dest="corpus_command", required=True)
    merge = corp_sub.add_parser(
        "merge", help="one entry per signature from many corpora, the smallest case kept"
    )
    merge.add_argument("sources", nargs="+", type=Path, metavar="SRC_DIR")
    merge.add_argument("--into", type=Path, required=True, metavar="DIR")
    merge.add_argument("--max-total", type=_positive_int, default=None, metavar="N")
    return p


# --- signals: the first ends the work, the second ends at once but still writes the report --


class Signals:
    """SIGTERM behaves as Ctrl-C. During start-up the first one is only noted (an import
    cut in half, torch's above all, can crash the process); once the work runs it raises
    KeyboardInterrupt. A second one flushes what is known and exits at once."""

    def __init__(self) -> None:
        self.count = 0
        self.raising = False  # set by a command once interrupting it is safe
        self.flush = None  # set by a command once it has a report to write

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)

    def arm(self) -> None:
        """From now on the first signal interrupts; one that came earlier does so now."""
        self.raising = True
        if self.count:
            raise KeyboardInterrupt

    def handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1:
            if self.raising:
                raise KeyboardInterrupt
            return
        code = self.flush() if self.flush is not None else 130
        os._exit(code)


SIGNALS = Signals()


def main(argv: list[str] | None = None) -> int:
    SIGNALS.install()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for a bad flag, 0 for --help
        return int(exc.code or 0)
    try:
        from fuzz import commands
    except KeyboardInterrupt:
        return _interrupted(args)
    handlers = {
        "run": commands.cmd_run,
        "replay": commands.cmd_replay,
        "minimise": commands.cmd_minimise,
        "list": commands.cmd_list,
        "show": commands.cmd_show,
        "corpus": commands.cmd_corpus,
    }
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted(args)


def _interrupted(args) -> int:
    """Stopped during start-up, before a command could catch it: a campaign still gives
    its summary and report (empty, marked interrupted); other commands exit 130."""
    if args.command != "run":
        print("interrupted", file=sys.stderr)
        return 130
    from fuzz.commands import flush
    from fuzz.report import Report

    return flush(Report(interrupted=True), args.report)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

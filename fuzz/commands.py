"""What each command does, once its arguments are parsed (cli.py): set-up checks first, so
that a usage error (exit 2) is decided before any work, then the work, then one report.

Nothing found is ever lost: the corpus and report paths are checked for writing before a
campaign starts, and a report that still cannot be written is printed on stderr (exit 3).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from fuzz.cli import IMPL_NAMES, META_IMPLS, SIGNALS, STARTED, UsageError
from fuzz.report import EXIT_FAILURES, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, Report

# An entry saved with the calls before it is replayed up to this many times, each in a fresh
# worker, before it passes: where those calls left a buffer (its address) is not the same
# from one process to the next (red-team 13's page tables skipped on state keyed on the
# address: 1 replay in 3 passed).
REPLAY_TRIES_AFTER_CALLS = 3

# --- shared set-up -------------------------------------------------------------------------


def register_ops() -> None:
    """Teach the corpus decoder every operation's entries (v2's "metadata" too)."""
    import fuzz.meta_entry  # noqa: F401


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


def cli_envelope(args):
    """The --envelope given on the command line (None when absent), checked now."""
    from fuzz.envelope import Envelope, EnvelopeError

    try:
        return Envelope.from_cli(args.envelope) if args.envelope else None
    except EnvelopeError as exc:
        raise UsageError(str(exc)) from None


def max_total(args) -> dict:
    return {"max_total": args.max_total} if getattr(args, "max_total", None) else {}


def writable_dir(path: Path, what: str) -> None:
    from fuzz import corpus

    try:
        corpus.check_writable(path)
    except corpus.CorpusWriteError as exc:
        raise UsageError(f"{what} {path}: {exc}") from None


def writable_report(path: Path | None) -> None:
    if path is None:
        return
    from fuzz import corpus

    try:
        corpus.check_report_path(path)
    except corpus.CorpusWriteError as exc:
        raise UsageError(f"--report {path}: {exc}") from None


def confirm_seconds(args) -> float:
    """--confirm-seconds, or its default max(30, 6 x --timeout); never below --timeout."""
    from fuzz.isolation import default_confirm_seconds

    if args.confirm_seconds is None:
        return default_confirm_seconds(args.timeout)
    if args.confirm_seconds < args.timeout:
        raise UsageError(
            f"--confirm-seconds {args.confirm_seconds:g} is below --timeout {args.timeout:g}: "
            "the lone re-run must have at least the time the case first had"
        )
    return args.confirm_seconds


def start_workers(specs: list[str], args, device: str, deadline: float | None, op: str):
    """(name, IsolatedCandidate) per spec, started; a candidate that cannot load, or whose
    signature cannot take `op`'s call, is usage."""
    from fuzz.candidates import CandidateError, candidate_name, check_callable_as
    from fuzz.isolation import IsolatedCandidate

    confirm = confirm_seconds(args)
    workers = [
        (
            candidate_name(s),
            IsolatedCandidate(s, device, args.timeout, args.memory_limit, confirm_timeout=confirm),
        )
        for s in specs
    ]
    try:
        for spec, (_, w) in zip(specs, workers):
            w.start(deadline=deadline)
            check_callable_as(spec, w.callable_as, op)
    except CandidateError as exc:
        for _, w in workers:
            w.close()
        raise UsageError(str(exc)) from None
    return workers


# --- run ---------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from fuzz.campaign import Options
    from fuzz.candidates import CandidateError
    from fuzz.meta_campaign import campaign_class

    if args.seconds is None and args.max_cases is None:
        raise UsageError("run: give --seconds N or --max-cases N (or both)")
    check_candidates(args.candidate)
    envelope = cli_envelope(args)
    writable_dir(args.corpus, "--corpus")
    writable_report(args.report)
    from fuzz import corpus

    corpus.sweep_stale(args.corpus)  # temp files of writers that died; never a live one's
    device = setup_device(args.device)
    every = META_IMPLS if args.op == "metadata" else IMPL_NAMES
    builtins = (
        args.impl if args.impl is not None else (["reference"] if args.candidate else list(every))
    )
    if args.op == "metadata":
        _meta_impls(builtins)
    if "reference" not in builtins:
        builtins = ["reference", *builtins]  # the oracle always runs
    shard_i, shard_n = args.shard
    options = Options(
        deadline=None if args.seconds is None else STARTED + args.seconds,
        max_cases=args.max_cases,
        seed=args.seed,
        builtins=builtins,
        candidates=args.candidate,
        device=device,
        corpus_dir=args.corpus,
        max_failures=args.max_failures,
        timeout=args.timeout,
        confirm_seconds=confirm_seconds(args),
        slow_is_failure=args.slow_is_failure,
        check_errors=args.check_errors,
        unit=shard_i * args.workers,
        units=shard_n * args.workers,
        shrink_seconds=args.shrink_seconds,
        fault_shrink_seconds=args.fault_shrink_seconds,
        memory_limit_gb=args.memory_limit,
        bulk=_bulk(args, device),
        envelope=envelope.to_json() if envelope is not None else None,
        named=not args.no_named,
        op=args.op,
        compile_ahead=_compile_ahead(args, device, builtins),
    )
    gpus = _gpu_list(args, device)
    from fuzz.progress import Progress

    progress = Progress(args.seconds, args.max_cases)
    where = "Triton interpreter" if device == "cpu" else torch_device_name()
    print(
        f"campaign{' (--op metadata)' if args.op == 'metadata' else ''}: device {device} "
        f"({where}); built-ins {', '.join(builtins)}"
        + (f"; candidates {', '.join(args.candidate)}" if args.candidate else "")
        + f"; seed {args.seed}; shard {shard_i}/{shard_n}; workers {args.workers}; "
        + (f"compile-ahead helpers {options.compile_ahead}; " if options.compile_ahead else "")
        + f"corpus {args.corpus}",
        flush=True,
    )
    source = {"report": lambda: Report(interrupted=True)}
    SIGNALS.flush = lambda: flush(source["report"](), args.report)
    try:
        if args.workers == 1:
            campaign = campaign_class(args.op)(
                options, on_progress=lambda c: progress.update(*c.progress())
            )
            campaign.should_stop = lambda: SIGNALS.count > 0
            source["report"] = campaign.report
            try:
                SIGNALS.arm()
                campaign.run()
            finally:
                report = campaign.report()
        else:
            report = _run_pool(options, args.workers, progress, source, gpus)
    except KeyboardInterrupt:  # during start-up, before a campaign could catch it
        report = source["report"]()
        report.interrupted = True
    except CandidateError as exc:
        raise UsageError(str(exc)) from None
    progress.close()
    return flush(report, args.report)


def _replay_helpers(args, device: str, entries: list, op: str):
    """Compile-ahead helpers for a replay on a GPU: they run the candidate's entries first,
    their share each, so a Triton candidate's variants compile side by side."""
    from fuzz.campaign import Options
    from fuzz.compile_ahead import Helpers
    from fuzz.isolation import worker_items

    count = _compile_ahead(args, device) if entries else 0
    cases = [e.case for e in entries if e.fault is None]
    items = worker_items(cases, [(e.case, e.fault) for e in entries if e.fault], op=op)
    options = Options(candidates=list(args.candidate), device=device, timeout=args.timeout, op=op)
    helpers = Helpers(options, min(count, len(items)), items=items)
    helpers.start()
    return helpers


def _compile_ahead(args, device: str, builtins: list[str] = ()) -> int:
    from fuzz.compile_ahead import compiles_ahead, default_helpers

    if args.compile_ahead is None:
        return default_helpers(device, args.candidate, builtins)
    return args.compile_ahead if compiles_ahead(args.candidate, builtins) else 0


def _meta_impls(builtins: list[str]) -> None:
    bad = [b for b in builtins if b not in META_IMPLS]
    if bad:
        raise UsageError(
            f"--impl {','.join(bad)}: not an implementation of --op metadata "
            f"(choose from {', '.join(META_IMPLS)})"
        )


def _bulk(args, device: str) -> int:
    if args.op == "metadata":
        if args.bulk:
            raise UsageError(
                "--bulk screens the v1 Triton kernel; it does not apply to --op metadata"
            )
        return 0
    return args.bulk if args.bulk is not None else (8192 if device == "cpu" else 2**20)


def _gpu_list(args, device: str) -> list[int] | None:
    """The GPUs that --workers N spreads over: --gpus, else every visible one (CUDA only)."""
    if args.gpus is not None and not device.startswith("cuda"):
        raise UsageError("--gpus needs --device cuda")
    if not device.startswith("cuda") or args.workers == 1:
        return None
    import torch

    count = torch.cuda.device_count()
    gpus = args.gpus if args.gpus is not None else list(range(count))
    bad = [g for g in gpus if g >= count]
    if bad:
        raise UsageError(f"--gpus: no GPU {bad[0]} here ({count} visible)")
    return gpus


def _run_pool(options, workers: int, progress, source, gpus: list[int] | None) -> Report:
    from fuzz.pool import Pool

    pool = Pool(options, workers, on_progress=progress.update, gpus=gpus)
    source["report"] = pool.report
    grace = None
    if options.deadline is not None:
        grace = options.deadline + options.grace_seconds() + 30.0
    try:
        SIGNALS.arm()
        pool.start()
        pool.wait(grace)
    except KeyboardInterrupt:
        pool.stop()
    finally:
        pool.close()
    if pool.usage is not None:
        raise UsageError(pool.usage)
    report = pool.report()
    report.interrupted |= SIGNALS.count > 0
    return report


def flush(report: Report, path: Path | None) -> int:
    """Summary, then the report file; a report that cannot be written goes to stderr."""
    from fuzz.summary import print_summary

    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_report(path, report.dumps())
        except OSError as exc:
            report.errors.append(f"the report could not be written to {path}: {exc}")
            print(report.dumps(), file=sys.stderr)
    print_summary(report)
    if path is not None and path.is_file():
        print(f"report: {path}")
    sys.stdout.flush()
    return report.exit_code()


def _write_report(path: Path, text: str) -> None:
    """Whole or not at all: a temp file beside it, fsync, rename (OSError if it cannot)."""
    import os

    tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def torch_device_name() -> str:
    import torch

    return torch.cuda.get_device_name()


# --- replay, minimise ---------------------------------------------------------------------------


def _replay_targets(args) -> list[Path]:
    if args.targets:
        missing = [str(t) for t in args.targets if not t.exists() and not t.is_symlink()]
        if missing:
            raise UsageError(f"replay: no such file or directory: {', '.join(missing)}")
        return list(args.targets)
    from fuzz.seeds import seeds_dir

    return [seeds_dir()] + ([Path("corpus")] if Path("corpus").is_dir() else [])


def replay_runs(entry, before, workers) -> tuple[int, int]:
    """(tries, runs) of an entry on replay: each try a fresh worker that runs the calls
    saved before it (if any), then its case up to `runs` times, until one fails. With calls
    before it, REPLAY_TRIES_AFTER_CALLS tries (the failure may hang on where they left the
    process, a buffer's address); runs: the entry's `repeat` (a failure on some run only:
    flaky, or after so many calls in its process). Built-ins keep no state: one of each."""
    if not workers:
        return 1, 1
    return (REPLAY_TRIES_AFTER_CALLS if before else 1), entry.repeat


def first_failing(tries: int, runs: int, once, before, workers) -> tuple[int, int] | None:
    """(try, run) of the first failing run, as replay runs an entry: `once(calls)` runs the
    case once after `calls` (the calls `before` it on a try's first run, in a fresh worker;
    none after) and says whether it failed; None when every run passed."""
    for t in range(1, tries + 1):
        for r in range(1, runs + 1):
            if r == 1 and not before and runs > 1:
                for _, w in workers:  # the runs of a case alone start in a fresh worker
                    w.fresh()
            if once(before if r == 1 else ()):
                return t, r
    return None


def _replay_entry(entry, before, tries, runs, builtins, workers, device, tally, args):
    """(findings, (try, run)) of the first failing run of `entry` as replay runs it, or
    ([], None)."""
    got: list = []

    def once(calls) -> bool:
        got[:] = _replay_once(entry, calls, builtins, workers, device, tally, args)
        return bool(got)

    return got, first_failing(tries, runs, once, before, workers)


def _replay_once(entry, before, builtins, workers, device, tally, args) -> list:
    """One replay of `entry` (its calls `before` first, in a fresh worker): the findings."""
    from fuzz.harness import run_one

    if entry.op == "metadata":
        from fuzz.meta_harness import run_meta

        bad = [(entry.case, entry.fault)] if entry.fault else []
        return run_meta(
            [] if bad else [entry.case],
            [b for b in builtins if b in META_IMPLS],
            workers,
            device,
            tally,
            slow_is_failure=args.slow_is_failure,
            bad=bad,
            before=before,
        )
    return run_one(
        entry.case,
        entry.fault,
        builtins,
        workers,
        device,
        tally,
        slow_is_failure=args.slow_is_failure,
        before=before,
    )


def cmd_replay(args) -> int:
    check_candidates(args.candidate)
    cli_envelope(args)
    targets = _replay_targets(args)
    device = setup_device(args.device)
    from fuzz import corpus
    from fuzz.harness import Tally
    from fuzz.summary import printable

    builtins = args.impl if args.impl is not None else list(IMPL_NAMES)
    register_ops()
    entries, errors = corpus.load_all(targets, **max_total(args))
    # A candidate is of one op: --op, else the op of the saved entries (expand when there
    # are only seeds, as for run); entries and seeds of another op never go to it (a v1
    # kernel handed a v2 case "fails" with a TypeError: a false alarm). Without candidates,
    # each entry and seed goes to the built-ins of its op.
    cand_op = args.op
    if cand_op is None and args.candidate:
        ops = sorted({e.op for e in entries if not e.is_seed})
        if len(ops) > 1:
            raise UsageError(
                f"replay: the entries are of ops {' and '.join(ops)}, and a candidate "
                "implements one: pass --op " + " or --op ".join(ops)
            )
        cand_op = ops[0] if ops else None
    cand_op = cand_op or "expand"
    skipped = [
        e
        for e in entries
        if (args.op is not None and e.op != args.op) or (args.candidate and e.op != cand_op)
    ]
    entries = [e for e in entries if e not in skipped]
    helpers = _replay_helpers(args, device, [e for e in entries if e.op == cand_op], cand_op)
    try:
        workers = start_workers(args.candidate, args, device, None, cand_op)
    except BaseException:
        helpers.close()
        raise
    names = {n for n, _ in workers}
    failed = {"entries": 0, "seeds": 0}
    replayed = {"entries": 0, "seeds": 0}
    internal: list[str] = []
    tally = Tally()
    try:
        for entry in entries:
            group = "seeds" if entry.is_seed else "entries"
            label = "SEED" if entry.is_seed else ""
            # The calls its case fails after (a candidate that keeps state) go first to each
            # candidate, in a fresh worker; built-ins keep no state and ignore them.
            before = corpus.before_items(entry)
            tries, runs = replay_runs(entry, before, workers)
            try:
                findings, failing = _replay_entry(
                    entry, before, tries, runs, builtins, workers, device, tally, args
                )
            except Exception as exc:  # HarnessError or another bug of ours: exit 3, no verdict
                internal.append(f"{entry.path}: {exc!r}")
                print(f"ERROR {printable(entry.path)}: the harness failed: {printable(repr(exc))}")
                continue
            replayed[group] += 1
            note = ""
            if not entry.is_seed and entry.impl not in builtins and entry.impl not in names:
                note = f" ({printable(entry.impl)} not given: pass --candidate to replay it)"
            each = f", its case up to {runs} times each" if runs > 1 else ""
            if before and workers:
                tried = f"{tries} tries{each}"
                if failing:
                    at = f", run {failing[1]}" if runs > 1 else ""
                    tried = f"failing on try {failing[0]} of {tries}{at}"
                note += f" (after the {len(before)} call(s) saved before it; {tried})"
            elif runs > 1:
                ran = f"failing on run {failing[1]}" if failing else "passing every run"
                note += f" (run up to {runs} times in one fresh worker; {ran})"
            if findings:
                failed[group] += 1
                print(f"FAIL {label + ' ' if label else ''}{printable(entry.path)}{note}")
                for f in findings:
                    print(f"     {printable(f.mismatch.describe())}")
                    if getattr(f.mismatch, "cause", ""):
                        print(f"     cause: {printable(f.mismatch.cause)}")
            else:
                print(
                    f"PASS {label + ' ' if label else ''}{printable(entry.path)} "
                    f"[{printable(entry.signature)}]{note}"
                )
                if not entry.is_seed and entry.note:
                    print(f"     note: {printable(entry.note)}")
    except KeyboardInterrupt:
        internal.append("interrupted before every entry was replayed")
    finally:
        helpers.close()
        for _, w in workers:
            w.close()
    for err in errors:
        print(f"ERROR {printable(err)}")
    print(
        f"replayed {replayed['entries']} entr{'y' if replayed['entries'] == 1 else 'ies'} "
        f"({failed['entries']} failing) and {replayed['seeds']} regression seed(s) "
        f"({failed['seeds']} failing); {len(errors)} unreadable"
        + (f"; {len(skipped)} of another op than --op {cand_op} skipped" if skipped else "")
    )
    if errors or internal:
        return EXIT_INCOMPLETE
    return EXIT_FAILURES if failed["entries"] or failed["seeds"] else EXIT_OK


def cmd_minimise(args) -> int:
    """Shrink a saved failure again, to the canonical case; the result replaces the entry's
    file only through the corpus's own rule (one file per signature, the smaller kept)."""
    check_candidates(args.candidate)
    if not args.target.exists():
        raise UsageError(f"minimise: no such file: {args.target}")
    from fuzz import corpus

    register_ops()
    try:
        entry = corpus.load(args.target, **max_total(args))
    except corpus.CorpusError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    if args.op is not None and entry.op != args.op:
        raise UsageError(f"minimise: {args.target} is an {entry.op!r} entry, not --op {args.op}")
    writable_dir(args.target.parent, "minimise: the entry's directory")
    device = setup_device(args.device)
    from fuzz.candidates import candidate_name
    from fuzz.harness import Tally, reproduce
    from fuzz.minimise import shrink

    specs = [s for s in args.candidate if candidate_name(s) == entry.impl]
    meta = entry.op == "metadata"
    builtins = [entry.impl] if entry.impl in (META_IMPLS if meta else IMPL_NAMES) else []
    if meta:
        from fuzz.meta_harness import reproduce_meta
        from fuzz.meta_shrink import shrink as meta_shrink
    if not specs and not builtins:
        raise UsageError(f"minimise: {entry.impl} is a plug-in: pass its --candidate SPEC")
    envelope = cli_envelope(args)
    workers = start_workers(specs, args, device, None, entry.op)
    tally = Tally()
    found: dict = {}
    before = corpus.before_items(entry)  # run first, in a fresh worker, by every probe

    def meta_probe(case, signature: str | None = None, calls=before):
        """The meta shrinker's probe (fuzz/meta_shrink.py): the finding if `case` fails with
        `signature` (the entry's by default), else None."""
        f = reproduce_meta(
            case,
            signature or entry.signature,
            builtins,
            workers,
            device,
            tally,
            slow_is_failure=args.slow_is_failure,
            fault=entry.fault,
            before=calls,
        )
        if f is not None:
            found[case] = f
        return f

    def fails(case, calls=before) -> bool:
        if meta:
            return meta_probe(case, calls=calls) is not None
        f = reproduce(
            case,
            entry.fault,
            entry.signature,
            builtins,
            workers,
            device,
            tally,
            slow_is_failure=args.slow_is_failure,
            before=calls,
        )
        if f is not None:
            found[case] = f
        return f is not None

    try:
        # As replay runs it (run once, red-team 14's slip from the 50th call read "does not
        # fail any more").
        tries, runs = replay_runs(entry, before, workers)
        failing = first_failing(tries, runs, lambda c: fails(entry.case, c), before, workers)
        if failing is None:
            n = tries * runs
            ran = f" (run {n} times, as replay does)" if n > 1 else ""
            print(
                f"{args.target}: {entry.signature} does not fail any more{ran}; nothing to minimise"
            )
            return EXIT_OK
        if failing[1] > 1:
            print(
                f"{args.target}: {entry.signature} fails on run {failing[1]} of up to {runs} of "
                "its case in one worker (its note says why): a smaller case would need as many "
                "runs to show it, so the entry stands as saved"
            )
            return EXIT_OK
        if meta:
            # A stale entry may end as the values failure of its lone call (the same missed
            # write): the shrinker asks the probe for that signature, from this mismatch.
            meta_probe.found = found[entry.case].mismatch
            small = meta_shrink(entry.case, meta_probe, args.seconds, envelope=envelope)
        else:
            small = shrink(entry.case, fails, args.seconds, envelope=envelope, fault=entry.fault)
    finally:
        for _, w in workers:
            w.close()
    if small == entry.case:
        print(f"{args.target}: already minimal for these reductions")
        return EXIT_OK
    try:
        path = corpus.save(
            args.target.parent,
            found[small].mismatch,
            small,
            entry.fault,
            device=device,
            seed=entry.data.get("seed"),
            spec=entry.data.get("candidate"),
            original_case=entry.original_case or entry.case,
            op=entry.op,
            note=entry.note if before else None,
            before=before or None,
        )
    except corpus.CorpusWriteError as exc:
        print(f"ERROR the smaller case could not be saved: {exc}", file=sys.stderr)
        print(json.dumps(small.to_json()), file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"was: {entry.case.describe()}\nnow: {small.describe()}\nsaved: {path}")
    now = found[small].mismatch.signature
    if now != entry.signature:
        from fuzz.book import forget_entry

        # As a campaign refiles it: the entry of the first signature goes once the new one
        # is written (only while it still holds the case it was minimised from).
        gone = forget_entry(args.target, entry.signature, entry.case)
        kept = "removed" if gone else "kept (it changed meanwhile)"
        print(
            f"signature: {entry.signature} -> {now} (the same missed write); {args.target} {kept}"
        )
    return EXIT_OK


# --- list, show, corpus merge ---------------------------------------------------------------------


def cmd_list(args) -> int:
    from fuzz import corpus
    from fuzz.summary import printable

    missing = [str(t) for t in args.targets if not t.exists() and not t.is_symlink()]
    if missing:
        raise UsageError(f"list: no such file or directory: {', '.join(missing)}")
    register_ops()
    entries, errors = corpus.load_all(args.targets, **max_total(args))
    entries = [e for e in entries if args.op is None or e.op == args.op]
    from fuzz.show import describe_entry

    for e in entries:
        print(describe_entry(e))
    for err in errors:
        print(f"ERROR {printable(err)}")
    print(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        + (f", {len(errors)} unreadable" if errors else "")
    )
    return EXIT_INCOMPLETE if errors else EXIT_OK


def cmd_show(args) -> int:
    from fuzz import corpus
    from fuzz.show import printable, show

    if not args.target.exists() and not args.target.is_symlink():
        raise UsageError(f"show: no such file: {args.target}")
    register_ops()
    try:
        entry = corpus.load(args.target, **max_total(args))
    except corpus.CorpusError as exc:
        print(f"ERROR {printable(exc)}")
        return EXIT_INCOMPLETE
    if args.op is not None and entry.op != args.op:
        raise UsageError(f"show: {args.target} is an {entry.op!r} entry, not --op {args.op}")
    print(show(entry))
    return EXIT_OK


def cmd_corpus(args) -> int:
    from fuzz import corpus
    from fuzz.summary import printable

    missing = [str(s) for s in args.sources if not s.is_dir()]
    if missing:
        raise UsageError(f"corpus merge: not a directory: {', '.join(missing)}")
    writable_dir(args.into, "--into")
    register_ops()
    start = time.monotonic()
    try:
        result = corpus.merge(args.sources, args.into, **max_total(args))
    except corpus.CorpusWriteError as exc:
        raise UsageError(f"corpus merge --into {args.into}: {exc}") from None
    for err in result.errors:
        print(f"ERROR {printable(err)}")
    print(
        f"merged {len(args.sources)} corpus dir(s) into {printable(args.into)} in "
        f"{time.monotonic() - start:.1f} s: {result.summary()}"
    )
    return EXIT_INCOMPLETE if result.errors else EXIT_OK


__all__ = ["EXIT_USAGE", "cmd_corpus", "cmd_list", "cmd_minimise", "cmd_replay", "cmd_run"]

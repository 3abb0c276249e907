"""How fast `python -m fuzz run` finds each planted bug of some mutant files, one CLI campaign
(`--max-failures 1`) per candidate, and whether their correct candidates stay quiet.

A mutant file says what to hunt in one constant, `HUNT = [(name, op, family_or_note), ...]`;
an entry may add a 4th element, a list of extra `fuzz run` arguments for that campaign (e.g.
`["--check-errors"]` or `["--envelope", json]`). A name starting with `correct` is a correct
candidate (must exit 0, nothing found), any other a planted bug (must exit 1). HOOK prints the moment of the first failure (a finding about to
be shrunk and saved, or a Hypothesis chase begun), so `first_s` is time-to-find, not
time-to-exit. `--replay` replays each saved entry with its mutant (must exit 1) and on the
built-ins (must exit 0).

    python benchmarks/hunt.py FILE [FILE...] [--seconds 60] [--seed S] [--only a,b]
        [--no-named] [--replay] [--shrink-seconds S] [--correct-seconds S] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOOK = """
import sys, time
import fuzz.book as b, fuzz.campaign as c
_start, _said = time.monotonic(), [False]
def _first():
    if not _said[0]:
        _said[0] = True
        print(f"FIRST-FIND {time.monotonic() - _start:.1f}", file=sys.stderr, flush=True)
_record, _check = b.Book.record, c.Campaign._check
def _recorded(self, *a, **k):
    _first()
    return _record(self, *a, **k)
def _checked(self, *a, **k):
    out = _check(self, *a, **k)
    if out is not None or self.pending:
        _first()
    return out
b.Book.record, c.Campaign._check = _recorded, _checked
from fuzz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def is_correct(name: str) -> bool:
    """The naming convention of HUNT: correct candidates are `correct`, `correct_v1`, ..."""
    return name.startswith("correct")


def _fuzz(argv: list[str], timeout: float, hook: bool = False) -> subprocess.CompletedProcess:
    head = ["-c", HOOK] if hook else ["-m", "fuzz"]
    return subprocess.run(
        [sys.executable, *head, *argv],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hunt(
    spec: str,
    op: str,
    seconds: float,
    *,
    seed: int | None = None,
    no_named: bool = False,
    replay: bool = False,
    shrink_seconds: float | None = None,
    extra: tuple[str, ...] = (),
) -> dict:
    """One CLI campaign of `op` against candidate `spec` ("FILE:name"), stopped at the first
    failure; with `replay`, the saved entry replayed with the candidate and on the built-ins."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"spec {spec!r} is not FILE:name")
    if seconds <= 0:
        raise ValueError(f"seconds is {seconds}; must be > 0")
    with tempfile.TemporaryDirectory(prefix=f"hunt-{name}-") as work:
        argv = ["run", "--op", op, "--candidate", spec, "--seconds", str(seconds)]
        argv += ["--max-failures", "1", "--corpus", work, "--report", f"{work}/r.json"]
        argv += [] if seed is None else ["--seed", str(seed)]
        argv += ["--no-named"] if no_named else []
        argv += list(extra)
        if shrink_seconds is not None:
            s = str(shrink_seconds)
            argv += ["--shrink-seconds", s, "--fault-shrink-seconds", s]
        row: dict = {"file": path, "mutant": name, "op": op, "args": list(extra)}
        start = time.monotonic()
        try:
            run = _fuzz(argv, timeout=seconds + 240, hook=True)
        except subprocess.TimeoutExpired:
            return {**row, "exit": None, "found": False, "error": "campaign timed out"}
        row["wall_s"] = round(time.monotonic() - start, 1)
        row["exit"] = run.returncode
        first = re.search(r"FIRST-FIND ([0-9.]+)", run.stderr)
        rate = re.search(r"\(([0-9,]+) cases/s\)", run.stdout + run.stderr)
        report_file = Path(work, "r.json")
        if not report_file.is_file():
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:]
            return {**row, "found": False, "error": tail[0] if tail else "no report"}
        report = json.loads(report_file.read_text())
        f = report["failures"][0] if report["failures"] else None
        row.update(
            found=f is not None,
            first_s=float(first.group(1)) if first else None,
            campaign_s=report.get("seconds"),
            cases=report["cases"],
            cases_per_s=rate and int(rate.group(1).replace(",", "")),
            found_by=f and f["found_by"],
            signature=f and f["signature"],
            cause=f and f["cause"],
            case=f and f["case"],
            shrunk=f and f["shrunk"],
            errors=report["errors"],
            # how the book ended it: what to read when its entry does not replay
            why_not_shrunk=f and f.get("why_not_shrunk"),
            reproduced_alone=f and f.get("reproduced_alone"),
            replay_runs=f and f.get("replay_runs"),
        )
        if replay and f is not None:
            row["replay_mutant"] = row["replay_builtins"] = None  # None: no entry was saved
            if f.get("file"):
                entry = f["file"]
                row["replay_mutant"] = _fuzz(["replay", entry, "--candidate", spec], 300).returncode
                row["replay_builtins"] = _fuzz(["replay", entry, "--op", op], 300).returncode
                if row["replay_mutant"] != 1:  # kept whole, to be read: the temp dir goes
                    row["entry"] = json.loads(Path(entry).read_text())
        return row


def verdict(row: dict) -> str | None:
    """None when the row is as it should be, else what is wrong."""
    if "error" in row:
        return f"error: {row['error']}"
    if is_correct(row["mutant"]):
        return None if row["exit"] == 0 and not row["found"] else "ALARM"
    if not row["found"] or row["exit"] != 1:
        return f"not found (exit {row['exit']})"
    for key, want in (("replay_mutant", 1), ("replay_builtins", 0)):
        if key in row and row[key] != want:
            return f"{key} exit {row[key]}, expected {want}"
    return None


def load_hunt(file: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """The HUNT list of mutant file `file` (imported by path), each entry with its extra
    CLI arguments (a tuple, empty when the entry has three elements)."""
    path = Path(file)
    if not path.is_file() or path.suffix != ".py":
        raise SystemExit(f"FILE {file}: not a Python file")
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(f"_hunt_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = getattr(module, "HUNT", None)
    if not entries:
        raise SystemExit(f"FILE {file}: no HUNT = [(name, op, family_or_note), ...] in it")
    for entry in entries:
        if len(entry) not in (3, 4) or not callable(getattr(module, entry[0], None)):
            raise SystemExit(
                f"FILE {file}: HUNT entry {entry!r} is not (candidate, op, note[, args])"
            )
        if len(entry) == 4 and not all(isinstance(a, str) for a in entry[3]):
            raise SystemExit(f"FILE {file}: HUNT entry {entry!r}: args must be strings")
    return [(*e[:3], tuple(e[3]) if len(e) == 4 else ()) for e in entries]


def _line(row: dict) -> str:
    first = "-" if row.get("first_s") is None else f"{row['first_s']:.1f}"
    replay = f"{row.get('replay_mutant', '-')}/{row.get('replay_builtins', '-')}"
    what = row.get("error") or f"{row.get('found_by') or '-'}: {row.get('signature') or '-'}"
    bad = verdict(row)
    line = (
        f"{Path(row['file']).name:20} {row['mutant']:32} {row['op']:8} {row['exit']!s:>4} "
        f"{first:>6} {row.get('wall_s', '-')!s:>6} {row.get('cases', '-')!s:>8} {replay:>6}  "
        f"{'ok' if bad is None else bad.upper()}  {what}"
    )
    return line + (f"\n{'':20} cause: {row['cause']}" if row.get("cause") else "")


def summary(rows: list[dict]) -> tuple[str, bool]:
    """The final line, and whether every mutant was found and every correct one kept quiet."""
    mutants = [r for r in rows if not is_correct(r["mutant"])]
    found = [r for r in mutants if verdict(r) is None]
    wrong = [r for r in mutants if verdict(r) is not None]
    alarms = [r["mutant"] for r in rows if is_correct(r["mutant"]) and verdict(r) is not None]
    times = [(r["first_s"], r["mutant"]) for r in found if r.get("first_s") is not None]
    slowest = f"slowest first find {max(times)[0]:.1f} s ({max(times)[1]})" if times else ""
    text = f"{len(found)} of {len(mutants)} mutants found" + (f", {slowest}" if slowest else "")
    untimed = [r["mutant"] for r in found if r.get("first_s") is None]
    text += f" (no first-find time: {', '.join(untimed)})" if untimed else ""
    if wrong:
        text += "; NOT OK: " + ", ".join(f"{r['mutant']} ({verdict(r)})" for r in wrong)
    n_correct = len(rows) - len(mutants)
    if n_correct:
        text += "; correct: " + (f"ALARM in {', '.join(alarms)}" if alarms else "no alarm")
    return text, not wrong and not alarms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="mutant files with a HUNT list")
    p.add_argument("--seconds", type=float, default=60.0, help="campaign budget per candidate")
    p.add_argument("--correct-seconds", type=float, default=None, help="default: --seconds")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--only", default="", help="comma-separated candidate names")
    p.add_argument("--no-named", action="store_true", help="skip named cases and seeds")
    p.add_argument("--replay", action="store_true", help="replay each saved entry")
    p.add_argument("--shrink-seconds", type=float, default=None, help="both shrink budgets")
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args(argv)
    only = [n for n in args.only.split(",") if n]
    plan = [(file, *entry) for file in args.files for entry in load_hunt(file)]
    unknown = sorted(set(only) - {name for _, name, *_ in plan})
    if unknown:
        raise SystemExit(f"--only: {', '.join(unknown)} not in the HUNT of {args.files}")
    plan = [item for item in plan if not only or item[1] in only]
    print(
        f"# {len(plan)} campaigns, {args.seconds:g} s each, seed {args.seed}"
        + (", named cases OFF" if args.no_named else ""),
        flush=True,
    )
    print(
        f"{'file':20} {'mutant':32} {'op':8} {'exit':>4} {'first':>6} {'wall':>6} "
        f"{'cases':>8} {'replay':>6}  verdict  found by: signature",
        flush=True,
    )
    rows = []
    for file, name, op, note, extra in plan:
        seconds = args.seconds
        if is_correct(name) and args.correct_seconds is not None:
            seconds = args.correct_seconds
        spec = f"{os.path.relpath(Path(file).resolve(), ROOT)}:{name}"
        row = hunt(
            spec,
            op,
            seconds,
            seed=args.seed,
            no_named=args.no_named,
            replay=args.replay,
            shrink_seconds=args.shrink_seconds,
            extra=extra,
        )
        rows.append({**row, "file": file, "note": note})
        print(_line(rows[-1]), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    text, ok = summary(rows)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

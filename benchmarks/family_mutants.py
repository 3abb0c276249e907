"""How fast the fuzzer finds one planted bug per input family (tests/mutants.py), on this machine.

Each mutant gets its own `python -m fuzz run --max-failures 1` campaign; the saved case is
then replayed with the mutant (must fail) and with the built-ins only (must pass).
`--no-named` skips the named cases and shipped seeds, to measure what the draws find alone.

    python benchmarks/family_mutants.py [--seconds 25] [--no-named] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mutants import FAMILY_MUTANTS  # noqa: E402


def fuzz_command(no_named: bool) -> list[str]:
    return [sys.executable, "-m", "fuzz"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def spec(name: str) -> str:
    return f"tests/mutants.py:{name}"


def campaign(name: str, seconds: float, seed: int, no_named: bool, work: Path) -> dict:
    """One campaign against one mutant; what it found and how long it took."""
    report = work / "r.json"
    corpus_dir = work / "corpus"
    cmd = fuzz_command(no_named) + [
        "run",
        "--seconds",
        str(seconds),
        "--max-failures",
        "1",
        "--seed",
        str(seed),
        "--candidate",
        spec(name),
        "--corpus",
        str(corpus_dir),
        "--report",
        str(report),
        *(["--no-named"] if no_named else []),
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True)
    row: dict = {"mutant": name, "exit": proc.returncode, "wall_s": time.monotonic() - start}
    if not report.is_file():
        row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return row
    data = json.loads(report.read_text())
    row.update(campaign_s=data["seconds"], cases=data["cases"], found=bool(data["failures"]))
    if data["failures"]:
        f = data["failures"][0]
        how = (f.get("found_by") or "?").split()[0] + ("" if f["shrunk"] else ",unshrunk")
        row.update(signature=f["signature"], how=how, file=f["file"])
        saved = json.loads(Path(f["file"]).read_text())["case"]
        row.update(bs=len(saved["extend_seq_lens"]), total=sum(saved["extend_seq_lens"]))
        row["replay_mutant"] = replay(f["file"], name)
        row["replay_builtins"] = replay(f["file"], None)
    return row


def replay(path: str, name: str | None) -> int:
    cmd = [sys.executable, "-m", "fuzz", "replay", path] + (
        ["--candidate", spec(name)] if name else []
    )
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True).returncode


def row_line(r: dict) -> str:
    if "error" in r:
        return f"{r['mutant']:28} ERROR exit {r['exit']}: {r['error']}"
    found = "yes" if r["found"] else "NO"
    line = f"{r['mutant']:28} {found:5} {r['wall_s']:6.1f} {r['campaign_s']:6.1f} {r['cases']:7}"
    if r["found"]:
        ok_m = "ok" if r["replay_mutant"] == 1 else f"exit {r['replay_mutant']}"
        ok_b = "ok" if r["replay_builtins"] == 0 else f"exit {r['replay_builtins']}"
        line += f"  {r['how']:8} {r['bs']:>5} {r['total']:>7}  {ok_m:7} {ok_b:7}  {r['signature']}"
    return line


HEADER = (
    f"{'mutant':28} {'found':5} {'wall':>6} {'camp.':>6} {'cases':>7}  {'how':8} "
    f"{'bs':>5} {'total':>7}  {'replay':7} {'builtin':7}  signature"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=25.0, help="budget per mutant")
    p.add_argument("--correct-seconds", type=float, default=20.0, help="budget for `correct`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-named", action="store_true", help="skip NAMED_CASES (Hypothesis only)")
    p.add_argument("--only", nargs="*", default=None, metavar="NAME")
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args()
    names = args.only or list(FAMILY_MUTANTS)
    print(
        f"# {len(names)} mutants, {args.seconds:g} s each, seed {args.seed}"
        + (", named cases OFF" if args.no_named else ""),
        flush=True,
    )
    print(HEADER, flush=True)
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
            rows.append(campaign(name, args.seconds, args.seed, args.no_named, Path(tmp)))
        print(row_line(rows[-1]), flush=True)
    if args.correct_seconds:
        with tempfile.TemporaryDirectory(prefix="mutant-correct-") as tmp:
            rows.append(
                campaign("correct", args.correct_seconds, args.seed, args.no_named, Path(tmp))
            )
        r = rows[-1]
        alarm = "FALSE ALARM " + r.get("signature", "") if r.get("found") else "no false alarm"
        print(f"{'correct':28} {alarm} ({r.get('cases', 0)} cases in {r['wall_s']:.1f} s)")
    missed = [r["mutant"] for r in rows if r["mutant"] != "correct" and not r.get("found")]
    slow = [
        r["mutant"]
        for r in rows
        if r["mutant"] != "correct" and r.get("campaign_s", 0) > args.seconds
    ]
    print(f"# missed: {', '.join(missed) or 'none'}; over budget: {', '.join(slow) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

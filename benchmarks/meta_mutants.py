"""How fast `python -m fuzz run --op metadata` finds each planted v2 bug (tests/meta_mutants.py).

Each mutant gets its own campaign (`--max-failures 1`); the saved entry is then replayed
with the mutant (must exit 1) and on the built-ins (must exit 0). `--no-named` runs without
the named family cases, to measure what the Hypothesis rounds find alone.

    python benchmarks/meta_mutants.py [--seconds 60] [--no-named] [--json out.json]
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

from meta_mutants import MUTANTS  # noqa: E402


def fuzz(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hunt(name: str, seconds: float, no_named: bool) -> dict:
    spec = f"tests/meta_mutants.py:{name}"
    with tempfile.TemporaryDirectory() as corpus:
        start = time.monotonic()
        run = fuzz(
            "run", "--op", "metadata", "--candidate", spec, "--seconds", str(seconds),
            "--max-failures", "1", "--corpus", corpus, "--report", f"{corpus}/report.json",
            *(["--no-named"] if no_named else []),
            timeout=seconds + 120,
        )  # fmt: skip
        wall = time.monotonic() - start
        report = json.loads(Path(corpus, "report.json").read_text())
        entries = sorted(Path(corpus).glob("metadata-*.json"))
        found = report["failures"][0] if report["failures"] else None
        result = {
            "mutant": name,
            "exit": run.returncode,
            "seconds_to_exit": round(wall, 1),
            "cases": report["cases"],
            "signature": found and found["signature"],
            "cause": found and found["cause"],
            "case": found and found["case"],
            "found_by": found and found["found_by"],
        }
        if entries:
            again = fuzz("replay", str(entries[0]), "--candidate", spec, timeout=300)
            builtin = fuzz("replay", str(entries[0]), "--op", "metadata", timeout=300)
            result["replay_with_mutant"] = again.returncode
            result["replay_on_builtins"] = builtin.returncode
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--no-named", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    rows = []
    print(f"{'family':34} {'mutant':32} {'s':>6} exit replay  found by / signature")
    for family, name in [*MUTANTS.items(), ("(none)", "correct")]:
        r = hunt(name, args.seconds, args.no_named)
        rows.append({"family": family, **r})
        replays = f"{r.get('replay_with_mutant', '-')}/{r.get('replay_on_builtins', '-')}"
        print(
            f"{family:34} {name:32} {r['seconds_to_exit']:6.1f} {r['exit']:4} {replays:>6}  "
            f"{r['found_by'] or '-'}: {r['signature'] or 'nothing found'}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""How fast `python -m fuzz run --op metadata` finds each red-team planted bug
(benchmarks/redteam_mutants.py), one campaign at a time, and whether `correct` stays quiet.

Each campaign is the CLI itself (`--max-failures 1`), with one hook: the moment the first
failure is seen (before shrinking) is printed, so the table gives time-to-find, not
time-to-exit.

    python benchmarks/redteam_hunt.py [--seconds 60] [--only a,b] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from redteam_mutants import REDTEAM  # noqa: E402

HOOK = """
import sys, time
import fuzz.campaign as c
_start, _said = time.monotonic(), [False]
_check = c.Campaign._check
def _hooked(self, *a, **k):
    out = _check(self, *a, **k)
    if not _said[0] and (out is not None or len(self.book) or self.pending):
        _said[0] = True
        print(f"FIRST-FIND {time.monotonic() - _start:.1f}", file=sys.stderr, flush=True)
    return out
c.Campaign._check = _hooked
from fuzz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def hunt(name: str, seconds: float) -> dict:
    spec = f"benchmarks/redteam_mutants.py:{name}"
    with tempfile.TemporaryDirectory() as work:
        args = ["run", "--op", "metadata", "--candidate", spec, "--seconds", str(seconds)]
        args += ["--max-failures", "1", "--corpus", work, "--report", f"{work}/r.json"]
        start = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-c", HOOK, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=seconds + 240,
        )
        wall = time.monotonic() - start
        first = re.search(r"FIRST-FIND ([0-9.]+)", run.stderr)
        rate = re.search(r"\(([0-9,]+) cases/s\)", run.stdout + run.stderr)
        report = json.loads(Path(work, "r.json").read_text())
        f = report["failures"][0] if report["failures"] else None
        return {
            "mutant": name,
            "exit": run.returncode,
            "found": f is not None,
            "first_s": float(first.group(1)) if first else None,
            "wall_s": round(wall, 1),
            "cases": report["cases"],
            "cases_per_s": rate and int(rate.group(1).replace(",", "")),
            "found_by": f and f["found_by"],
            "signature": f and f["signature"],
            "cause": f and f["cause"],
            "case": f and f["case"],
            "shrunk": f and f["shrunk"],
            "errors": report["errors"],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--only", default="", help="comma-separated mutant names")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n] or [*REDTEAM, "correct"]
    rows = []
    for name in names:
        r = hunt(name, args.seconds)
        rows.append(r)
        first = f"{r['first_s']:.1f}" if r["first_s"] is not None else "-"
        print(
            f"{name:28} exit {r['exit']} first {first:>5}s wall {r['wall_s']:5.1f}s "
            f"{r['found_by'] or '-'}: {r['cause'] or 'nothing found'}\n{'':28} case: {r['case']}",
            flush=True,
        )
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

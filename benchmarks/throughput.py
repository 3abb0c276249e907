"""Campaign throughput, as a user runs it: each row is `python -m fuzz run` for a fixed time,
its report kept under --out, then one table (engines and implementations apart).

    PYTHONPATH=. python benchmarks/throughput.py --seconds 60 --out benchmarks/results/h100/throughput
    PYTHONPATH=. python benchmarks/throughput.py --rows plugin-2gpu,plugin-1gpu ...   # a 2-GPU host
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "benchmarks/plugin_kernels.py"
ROWS = {
    "builtins": ("built-ins, all four implementations, bulk screen included", []),
    "hypothesis": ("Hypothesis engine through the four built-ins (no bulk)", ["--bulk", "0"]),
    "hypothesis-no-legacy": (
        "Hypothesis engine, built-ins without the legacy loop",
        ["--bulk", "0", "--impl", "reference,triton,torch"],
    ),
    "plugin": ("plug-in, no extra sync", ["--candidate", f"{PLUGIN}:no_extra_sync"]),
    "plugin-sync": ("plug-in, one host sync per call", ["--candidate", f"{PLUGIN}:sync_per_call"]),
    "plugin-torch": (
        "plug-in on the torch backend (no Triton: cheap on a CPU)",
        ["--candidate", f"{PLUGIN}:torch_backend"],
    ),
    "plugin-1gpu": (
        "plug-in, --workers 2 on one GPU",
        ["--candidate", f"{PLUGIN}:no_extra_sync", "--workers", "2", "--gpus", "0"],
    ),
    "plugin-2gpu": (
        "plug-in, --workers 2 over two GPUs",
        ["--candidate", f"{PLUGIN}:no_extra_sync", "--workers", "2", "--gpus", "0,1"],
    ),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rows", default="builtins,hypothesis,hypothesis-no-legacy,plugin,plugin-sync")
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    table = []
    for row in args.rows.split(","):
        what, extra = ROWS[row]
        report = args.out / f"{row}.json"
        corpus = tempfile.mkdtemp(prefix="nsa-throughput-")
        cmd = [sys.executable, "-m", "fuzz", "run", "--seconds", str(args.seconds)]
        cmd += ["--corpus", corpus, "--report", str(report), *extra]
        cmd += ["--device", args.device] if args.device else []
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        (args.out / f"{row}.log").write_text(r.stdout + r.stderr)
        data = json.loads(report.read_text()) if report.is_file() else {}
        table.append(
            {
                "row": row,
                "what": what,
                "command": " ".join(["python -m fuzz run", *cmd[4:]]),
                "exit": r.returncode,
                "seconds": data.get("seconds"),
                "cases_per_second": data.get("cases_per_second"),
                "hypothesis_cases": data.get("hypothesis_cases"),
                "bulk_cases": data.get("bulk_cases"),
                "plugin_bulk_cases": data.get("plugin_bulk_cases"),
                "implementations": data.get("implementations"),
                "failures": len(data.get("failures", [])),
                "errors": data.get("errors"),
            }
        )
        h = data.get("hypothesis_cases") or 0
        s = data.get("seconds") or 1
        print(
            f"{row:22} exit {r.returncode} {data.get('cases_per_second', 0):>10,.0f} cases/s  "
            f"hypothesis {h / s:>8,.0f}/s  bulk {data.get('bulk_cases', 0):>10,}  "
            f"plugin bulk {data.get('plugin_bulk_cases', 0):>9,}  failures "
            f"{len(data.get('failures', []))}  errors {len(data.get('errors') or [])}",
            flush=True,
        )
    (args.out / "throughput.json").write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Triton graph replay (us) of every sweep run side by side, and its ratio to the floor."""

import json
import sys
from pathlib import Path

root = Path(sys.argv[1])
runs = ["default", "split1", "split2", "tile1024", "tile512", "scalar64"]
data = {r: json.loads((root / r / "bench_metadata.json").read_text())["records"] for r in runs
        if (root / r / "bench_metadata.json").exists()}  # fmt: skip


def g(rec, impl):
    return ((rec.get(impl) or {}).get("graph") or {}).get("median")


print(f"{'mode':<17}{'bs':>5}{'N':>2}{'W':>6} {'floor':>6} " + "".join(f"{r:>10}" for r in data))
for i, rec in enumerate(data["default"]):
    if "skipped" in rec:
        continue
    floor = max(g(rec, "empty"), g(rec, "gather"))
    cells = "".join(f"{g(data[r][i], 'triton'):10.2f}" for r in data)
    print(
        f"{rec['mode']:<17}{rec['bs']:>5}{rec['next_n']:>2}{rec['width']:>6} {floor:6.2f} {cells}"
    )

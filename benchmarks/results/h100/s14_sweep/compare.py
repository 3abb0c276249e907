"""Triton graph replay (us) of several bench_metadata.py runs side by side, by configuration,
with the floor (the larger of the empty launch and the gather floor) of the first run.

    python compare.py NAME=run1.json NAME=run2.json ...
"""

import json
import sys

runs = {}
for arg in sys.argv[1:]:
    name, _, path = arg.partition("=")
    with open(path) as f:
        runs[name] = {
            (r["mode"], r["bs"], r["next_n"], r["width"], r["page_size"]): r
            for r in json.load(f)["records"]
            if "skipped" not in r
        }


def g(rec, impl):
    return ((rec.get(impl) or {}).get("graph") or {}).get("median")


first = next(iter(runs.values()))
print(f"{'mode':<17}{'bs':>5}{'N':>2}{'W':>6} {'floor':>6}" + "".join(f"{n:>9}" for n in runs)
      + "   ratio to floor")  # fmt: skip
for key, rec in first.items():
    floor = max(g(rec, "empty"), g(rec, "gather"))
    vals = [g(r[key], "triton") if key in r else None for r in runs.values()]
    cells = "".join(f"{v:9.2f}" if v else f"{'-':>9}" for v in vals)
    ratios = " ".join(f"{v / floor:4.2f}" if v else "   -" for v in vals)
    print(f"{key[0]:<17}{key[1]:>5}{key[2]:>2}{key[3]:>6} {floor:6.2f}{cells}   {ratios}")

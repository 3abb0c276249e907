"""Where a `--op metadata` campaign's opening spends its time, case by case, in one process:
the oracle (the parent's pure-Python expected values and its plan of the buffers), the
candidate's first run of the case (the worker's build, calls and copy-back: compiles
included), the same run again (warm), and the judge. first - again is what compiling (or
any other first-time cost) took. Run on the GPU machine to see whether a campaign there is
compile-bound, and which cases compile.

    python benchmarks/opening_profile.py FILE.py:fn [--device cuda] [--top 20] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidate")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    import torch

    import fuzz.meta_entry  # noqa: F401
    from fuzz.candidates import load_candidate
    from fuzz.meta_judge import plan
    from fuzz.meta_strategies import named_cases
    from fuzz.seeds import shipped
    from fuzz.worker import Runner

    fn = load_candidate(a.candidate)
    runner = Runner(fn, a.device, 2**34)
    cases = list(named_cases(None).items())
    entries, _ = shipped("metadata")
    cases += [(f"seed:{e.name}" if hasattr(e, "name") else "seed", e.case) for e in entries
              if e.fault is None]  # fmt: skip
    rows = []
    t_all = time.perf_counter()
    for name, case in cases:
        item = {"op": "metadata", "case": case.to_json()}
        t0 = time.perf_counter()
        p = plan(case)
        t1 = time.perf_counter()
        header, _ = runner.run(item)
        t2 = time.perf_counter()
        header2, _ = runner.run(item)
        t3 = time.perf_counter()
        rows.append(
            {
                "case": str(name)[:60],
                "bs": case.bs,
                "calls": len(case.calls),
                "oracle_s": t1 - t0,
                "first_s": t2 - t1,
                "again_s": t3 - t2,
                "status": header.get("status"),
            }
        )
        del p
        if a.device.startswith("cuda"):
            torch.cuda.empty_cache()
    wall = time.perf_counter() - t_all
    tot = {k: sum(r[k] for r in rows) for k in ("oracle_s", "first_s", "again_s")}
    print(f"{len(rows)} opening cases on {a.device}, {wall:.1f} s in all")
    print(
        f"oracle {tot['oracle_s']:.1f} s; candidate first run {tot['first_s']:.1f} s; "
        f"again {tot['again_s']:.1f} s; first - again (compiles) "
        f"{tot['first_s'] - tot['again_s']:.1f} s"
    )
    print(f"\n{'case':60} {'bs':>6} {'calls':>5} {'oracle':>7} {'first':>7} {'again':>7}")
    key = lambda r: r["first_s"] - r["again_s"] + r["oracle_s"]  # noqa: E731
    for r in sorted(rows, key=key, reverse=True)[: a.top]:
        print(
            f"{r['case']:60} {r['bs']:6d} {r['calls']:5d} {r['oracle_s']:7.2f} "
            f"{r['first_s']:7.2f} {r['again_s']:7.2f} {r['status']}"
        )
    compiled = sum(1 for r in rows if r["first_s"] - r["again_s"] > 0.05)
    print(f"\ncases whose first run took 50 ms more than again: {compiled} of {len(rows)}")
    if a.json:
        a.json.write_text(json.dumps({"wall_s": wall, "totals": tot, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

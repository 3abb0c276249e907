#!/usr/bin/env bash
# Stop 27 call 1: what a sync-free kernel must pay on the draft_extend_var rows above 1.3x
# (probe27.py): base (floors, ours, empty_grid, var_gather) and noop (ours with both program
# kinds no-ops), interleaved twice; then the GPU tests' v2 kernel file as a check.
set -u
out=${1:?out}; mkdir -p $out
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv > $out/gpu.txt
for r in 1 2; do
  for v in base noop; do
    export TRITON_CACHE_DIR=/tmp/tc27_$v
    s=$(date +%s)
    timeout 200 python benchmarks/results/h100/s27/probe27.py $v $out/$v$r.json > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
done
python - $out <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    p = out / name
    return json.loads(p.read_text()) if p.exists() else []
runs = [(load(f"base{r}.json"), load(f"noop{r}.json")) for r in (1, 2)]
cols = ["empty", "gather", "triton", "empty_grid", "var_gather", "noop"]
print(f"{'bs':>5} {'N':>2} {'W':>6} {'P':>3} {'T':>5} {'grid':>5} " + " ".join(f"{c:>11}" for c in cols) + "   tri/floor  vg/floor  noop/floor")
for i in range(max(len(b) for b, _ in runs)):
    for base, noop in runs:
        if i >= len(base):
            continue
        rec = dict(base[i], **({"noop": noop[i]["noop"]} if i < len(noop) else {}))
        floor = max(rec["empty"], rec["gather"])
        cells = " ".join(f"{rec.get(c, float('nan')):11.2f}" for c in cols)
        print(f"{rec['bs']:>5} {rec['N']:>2} {rec['W']:>6} {rec['P']:>3} {rec['T']:>5} {rec['grid']:>5} {cells}"
              f"   {rec['triton'] / floor:9.2f} {rec['var_gather'] / floor:9.2f} {rec.get('noop', float('nan')) / floor:10.2f}")
PY

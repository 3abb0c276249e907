#!/usr/bin/env bash
# Stop 24 call 5: (a) draft_extend_var's narrow rows from NARROW_VAR_BS aim for
# TARGET_VAR_NARROW (512) page programs: the default (from bs 16384) against the old plan
# (never) and from bs 8192, interleaved twice, bs 4096-16384; (b) the whole draft_extend_var
# sweep of the issue (bs 1-16384, N 1 and 4, W 2048/65536/163840, P 1 and 64) on the final
# kernel, as stop 21's.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 4096,8192,16384 --widths 2048 --pages 1,64"
declare -A P=([d]="" [old]="--plan NARROW_VAR_BS=1000000000" [b8k]="--plan NARROW_VAR_BS=8192")
export TRITON_CACHE_DIR=/tmp/tc24c5
for r in 1 2; do
  for v in d old b8k; do
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $? $(date +%T)"
  done
done
args=""; for r in 1 2; do for v in d old b8k; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/narrow_ab.txt 2>&1; cat $res/narrow_ab.txt
s="--quick --no-torch --modes draft_extend_var --bs 1,8,32,128,512,1024,4096,16384 --widths 2048,65536,163840 --pages 1,64"
python benchmarks/bench_metadata.py $s --out $out/sweep > $out/sweep.log 2>&1; echo "sweep rc $? $(date +%T)"
cp $out/sweep/bench_metadata.json $res/var_allbs.json
python - $res/var_allbs.json <<'PY' > $res/var_summary.txt
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"] if "skipped" not in r]
g = lambda r, i: ((r.get(i) or {}).get("graph") or {}).get("median")
rows = sorted(((g(r, "triton") / max(g(r, "empty"), g(r, "gather")), r) for r in recs), key=lambda x: x[0])
over = [(x, r) for x, r in rows if x > 1.3]
print(f"draft_extend_var, {len(rows)} rows measured, {len(rows) - len(over)} within 1.3x; above:")
for x, r in over:
    print(f"{x:.2f} bs {r['bs']} N {r['next_n']} W {r['width']} P {r['page_size']} T {r['T']} triton {g(r, 'triton'):.2f} floor {max(g(r, 'empty'), g(r, 'gather')):.2f}")
PY
cat $res/var_summary.txt

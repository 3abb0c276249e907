#!/usr/bin/env bash
# Stop 21 call 3: GPU tests on the kernel with TARGET_VAR; every bs of the issue for
# draft_extend_var (widths 2048, 65536, 163840; page sizes 1, 64; N 1, 4), first with the
# new plan, then with TARGET_VAR=1024 (the old plan), and the rows above 1.3x of each.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
s="--quick --no-torch --modes draft_extend_var --bs 1,8,32,128,512,1024,4096,16384 --pages 1,64 --widths 2048,65536,163840"
for v in new old; do
  p=""; [ $v = old ] && p="--plan TARGET_VAR=1024"
  export TRITON_CACHE_DIR=/tmp/tc21c_$v
  python benchmarks/bench_metadata.py $s $p --out $out/$v > $out/$v.log 2>&1; echo "$v rc $? $(date +%T)"
  cp $out/$v/bench_metadata.json $res/var_allbs_$v.json
  python - $res/var_allbs_$v.json <<'PY' > $res/var_summary_$v.txt
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"] if "skipped" not in r]
g = lambda r, i: ((r.get(i) or {}).get("graph") or {}).get("median")
rows = sorted(((g(r, "triton") / max(g(r, "empty"), g(r, "gather")), r) for r in recs), key=lambda x: x[0])
over = [(x, r) for x, r in rows if x > 1.3]
print(f"draft_extend_var, {len(rows)} rows measured, {len(rows) - len(over)} within 1.3x; above:")
for x, r in over:
    print(f"{x:.2f} bs {r['bs']} N {r['next_n']} W {r['width']} P {r['page_size']} T {r['T']} triton {g(r, 'triton'):.2f} floor {max(g(r, 'empty'), g(r, 'gather')):.2f}")
PY
  cat $res/var_summary_$v.txt
done
python benchmarks/results/h100/s14_sweep/compare.py new=$res/var_allbs_new.json old=$res/var_allbs_old.json > $res/var_new_old.txt

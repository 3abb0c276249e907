#!/usr/bin/env bash
# Stop 17 call 2: GPU tests; A/B of the program-id division by a shift (new) against .ab/old
# (HEAD before it), interleaved twice, draft_extend_var and decode, bs 1-1024, W 2048;
# then every bs of the issue for draft_extend_var on the new kernel (the rows above 1.3x).
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
a="--quick --no-torch --modes draft_extend_var,decode --bs 1,8,32,128,512,1024 --widths 2048 --pages 1,64"
for r in 1 2; do
  python .ab/old/benchmarks/bench_metadata.py $a --out $out/old$r > $out/old$r.log 2>&1; echo "old$r rc $?"
  python benchmarks/bench_metadata.py $a --out $out/new$r > $out/new$r.log 2>&1; echo "new$r rc $?"
done
python benchmarks/results/h100/s14_sweep/compare.py old1=$out/old1/bench_metadata.json new1=$out/new1/bench_metadata.json old2=$out/old2/bench_metadata.json new2=$out/new2/bench_metadata.json > $res/shift_ab.txt
cat $res/shift_ab.txt
python benchmarks/bench_metadata.py --quick --no-torch --modes draft_extend_var --bs 1,8,32,128,512,1024,4096,16384 --pages 1,64 --widths 2048,65536,163840 --out $out/var > $out/var.log 2>&1; echo "var rc $?"
cp $out/var/bench_metadata.json $res/var_allbs.json
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

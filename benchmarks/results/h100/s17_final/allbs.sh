#!/usr/bin/env bash
# Stop 17: every bs of the issue on the final kernel, every mode, page sizes 1 and 64,
# widths 2048 (allbs) and 65536, 163840 (allbs_wide), --quick --no-torch; summary.txt lists
# the rows above 1.3x the larger floor.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
s="--quick --no-torch --bs 1,8,32,128,512,1024,4096,16384 --pages 1,64"
python benchmarks/bench_metadata.py $s --widths 2048 --out $out/allbs > $res/allbs.log 2>&1; echo "allbs rc $?"
python benchmarks/bench_metadata.py $s --widths 65536,163840 --out $out/allbs_wide > $res/allbs_wide.log 2>&1; echo "wide rc $?"
cp $out/allbs/bench_metadata.json $res/allbs.json; cp $out/allbs_wide/bench_metadata.json $res/allbs_wide.json
python - $res/allbs.json $res/allbs_wide.json <<'PY' > $res/summary.txt
import collections, json, sys
recs, skipped = [], 0
for path in sys.argv[1:]:
    for r in json.load(open(path))["records"]:
        if "skipped" in r:
            skipped += 1
        else:
            recs.append(r)
g = lambda r, i: ((r.get(i) or {}).get("graph") or {}).get("median")
rows = sorted(((g(r, "triton") / max(g(r, "empty"), g(r, "gather")), r) for r in recs), key=lambda x: x[0])
over = [(x, r) for x, r in rows if x > 1.3]
print("Stop 17, H100, graph replay: bench_metadata.py --quick --no-torch --bs 1,8,32,128,512,1024,4096,16384 --pages 1,64")
print(f"measured {len(rows)} rows {dict(collections.Counter(r['mode'] for _, r in rows))}, {skipped} skipped (buffers too large)")
print(f"within 1.3x: {len(rows) - len(over)}; above: {len(over)} {dict(collections.Counter(r['mode'] for _, r in over))}")
print("ratio mode bs next_n width page T triton_us floor_us")
for x, r in over:
    print(f"{x:.2f} {r['mode']} {r['bs']} {r['next_n']} {r['width']} {r['page_size']} {r['T']} {g(r, 'triton'):.2f} {max(g(r, 'empty'), g(r, 'gather')):.2f}")
PY
cat $res/summary.txt

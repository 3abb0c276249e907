#!/usr/bin/env bash
# Stop 16 call 1: GPU tests; v2 kernel A/B (.ab/old = HEAD before the change; new = the
# page programs load their first req_to_token tile before the sum of earlier extends;
# t2k = new with TARGET 2048), interleaved; v1 kernel A/B (token loop capped at capacity).
set -u
out=${1:?out}; mkdir -p $out
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -2
a="--quick --no-torch --modes draft_extend_var,draft_extend --bs 1,32,512,4096 --widths 2048"
b="--quick --no-torch --modes draft_extend_var,draft_extend --bs 1,32,512 --widths 65536"
for r in 1 2; do
  for v in old new t2k; do
    bench=benchmarks/bench_metadata.py; extra=""
    [ $v = old ] && bench=.ab/old/benchmarks/bench_metadata.py
    [ $v = t2k ] && extra="--plan TARGET=2048"
    python $bench $a $extra --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python $bench $b $extra --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  python benchmarks/results/h100/s14_sweep/compare.py old1=$out/${s}_old1/bench_metadata.json new1=$out/${s}_new1/bench_metadata.json t2k1=$out/${s}_t2k1/bench_metadata.json old2=$out/${s}_old2/bench_metadata.json new2=$out/${s}_new2/bench_metadata.json t2k2=$out/${s}_t2k2/bench_metadata.json
done > $out/compare.txt
cat $out/compare.txt
for r in 1 2; do
  timeout 120 python .ab/old/benchmarks/bench_latency.py --out /tmp/lat_old$r > $out/lat_old$r.txt 2>&1; echo "lat old$r rc $?"
  timeout 120 python benchmarks/bench_latency.py --out /tmp/lat_new$r > $out/lat_new$r.txt 2>&1; echo "lat new$r rc $?"
done
tail -n 9 $out/lat_*.txt

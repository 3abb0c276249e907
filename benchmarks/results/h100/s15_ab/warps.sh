#!/usr/bin/env bash
set -u
out=${1:?out}; mkdir -p $out
n="--quick --no-torch --bs 1024,4096 --widths 2048"
python benchmarks/bench_metadata.py $n --out $out/w4 > $out/w4.log 2>&1; echo "w4 rc $?"
python benchmarks/bench_metadata.py $n --plan NUM_WARPS=8 --out $out/w8 > $out/w8.log 2>&1; echo "w8 rc $?"
python benchmarks/bench_metadata.py $n --plan SCALAR_REQS_VAR=256 --plan SCALAR_REQS=256 --plan SCALAR_SUB=256 --plan NUM_WARPS=8 --out $out/w8s > $out/w8s.log 2>&1; echo "w8s rc $?"
python benchmarks/bench_metadata.py $n --out $out/w4b > $out/w4b.log 2>&1; echo "w4b rc $?"
python benchmarks/results/h100/s14_sweep/compare.py w4=$out/w4/bench_metadata.json w8=$out/w8/bench_metadata.json w8s=$out/w8s/bench_metadata.json w4b=$out/w4b/bench_metadata.json > $out/warps.txt
cat $out/warps.txt

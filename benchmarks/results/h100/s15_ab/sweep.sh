#!/usr/bin/env bash
# SCALAR_REQS_VAR sweep on draft_extend_var, then old/new on the non-var modes at large bs.
set -u
out=${1:?out}; mkdir -p $out
v="--quick --no-torch --modes draft_extend_var --bs 1,32,128,512,1024,4096,16384 --widths 2048"
for r in 128 64 32; do
  python benchmarks/bench_metadata.py $v --plan SCALAR_REQS_VAR=$r --out $out/v$r > $out/v$r.log 2>&1; echo "v$r rc $?"
done
python .ab/old/benchmarks/bench_metadata.py $v --out $out/vold > $out/vold.log 2>&1; echo "vold rc $?"
python benchmarks/results/h100/s14_sweep/compare.py old=$out/vold/bench_metadata.json r128=$out/v128/bench_metadata.json r64=$out/v64/bench_metadata.json r32=$out/v32/bench_metadata.json > $out/var.txt
n="--quick --no-torch --modes decode,target_verify --bs 1024,4096,16384 --widths 2048"
for r in 1 2; do
  python .ab/old/benchmarks/bench_metadata.py $n --out $out/o$r > $out/o$r.log 2>&1; echo "o$r rc $?"
  python benchmarks/bench_metadata.py $n --out $out/n$r > $out/n$r.log 2>&1; echo "n$r rc $?"
done
python benchmarks/results/h100/s14_sweep/compare.py old1=$out/o1/bench_metadata.json new1=$out/n1/bench_metadata.json old2=$out/o2/bench_metadata.json new2=$out/n2/bench_metadata.json > $out/big.txt
cat $out/var.txt $out/big.txt

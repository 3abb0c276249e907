#!/usr/bin/env bash
set -u
out=${1:?out}; mkdir -p $out
python benchmarks/results/h100/s14_v2probe/probe.py split > $out/split.txt 2>&1; echo "split rc $?"
v="--quick --no-torch --modes draft_extend_var --bs 256,512,1024 --widths 2048"
python benchmarks/bench_metadata.py $v --out $out/d > $out/d.log 2>&1; echo "d rc $?"
python benchmarks/bench_metadata.py $v --plan SCALAR_SUB=64 --out $out/sub64 > $out/sub64.log 2>&1; echo "sub64 rc $?"
python benchmarks/bench_metadata.py $v --plan SCALAR_REQS_VAR=256 --plan SCALAR_SUB=256 --out $out/r256 > $out/r256.log 2>&1; echo "r256 rc $?"
python benchmarks/bench_metadata.py $v --plan SUM_BLOCK=128 --out $out/sb128 > $out/sb128.log 2>&1; echo "sb128 rc $?"
python benchmarks/bench_metadata.py $v --plan TARGET=256 --out $out/t256 > $out/t256.log 2>&1; echo "t256 rc $?"
python benchmarks/bench_metadata.py $v --out $out/d2 > $out/d2.log 2>&1; echo "d2 rc $?"
python benchmarks/results/h100/s14_sweep/compare.py d=$out/d/bench_metadata.json sub64=$out/sub64/bench_metadata.json r256=$out/r256/bench_metadata.json sb128=$out/sb128/bench_metadata.json t256=$out/t256/bench_metadata.json d2=$out/d2/bench_metadata.json > $out/var512.txt
cat $out/split.txt $out/var512.txt

#!/usr/bin/env bash
set -u
out=${1:?out}; mkdir -p $out
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
v="--quick --no-torch --modes draft_extend_var,decode --bs 1,32,512 --widths 2048"
for r in 1 2; do
  python .ab/old/benchmarks/bench_metadata.py $v --out $out/old$r > /dev/null 2>&1
  python benchmarks/bench_metadata.py $v --out $out/new$r > /dev/null 2>&1
done
python benchmarks/results/h100/s14_sweep/compare.py old1=$out/old1/bench_metadata.json new1=$out/new1/bench_metadata.json old2=$out/old2/bench_metadata.json new2=$out/new2/bench_metadata.json

#!/usr/bin/env bash
set -u
out=${1:?out}; mkdir -p $out
v="--quick --no-torch --modes draft_extend_var,decode --bs 1,32,512 --widths 2048"
for r in 1 2; do
  for t in old va vb; do python .ab/$t/benchmarks/bench_metadata.py $v --out $out/$t$r > /dev/null 2>&1; done
  python benchmarks/bench_metadata.py $v --out $out/both$r > /dev/null 2>&1
done
a=""; for r in 1 2; do for t in old va vb both; do a="$a $t$r=$out/$t$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $a

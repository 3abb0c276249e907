#!/usr/bin/env bash
# Stop 16 call 4: GPU tests; A/B of EARLY (draft_extend_var, bs <= 128, one tile a page
# program: both tables' cells loaded before the sum and the stores) against .ab/old (HEAD),
# interleaved twice; decode and the larger bs as guards.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
a="--quick --no-torch --modes draft_extend_var,draft_extend,decode --bs 1,32,128,512 --widths 2048"
b="--quick --no-torch --modes draft_extend_var --bs 1,32,128 --widths 65536"
for r in 1 2; do
  for v in old new; do
    bench=benchmarks/bench_metadata.py; [ $v = old ] && bench=.ab/old/benchmarks/bench_metadata.py
    python $bench $a --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python $bench $b --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  python benchmarks/results/h100/s14_sweep/compare.py old1=$out/${s}_old1/bench_metadata.json new1=$out/${s}_new1/bench_metadata.json old2=$out/${s}_old2/bench_metadata.json new2=$out/${s}_new2/bench_metadata.json
done > $res/early_small_ab.txt
cat $res/early_small_ab.txt

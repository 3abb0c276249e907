#!/usr/bin/env bash
# Stop 16 call 5: draft_extend_var at bs 512-1024: .ab/old (HEAD) against new (a page
# program whose requests have no row returns: SKIP_DEAD), new with SMALL_BS=1024 (one
# request a page program, one 1024-column tile, up to bs 1024), and that with EARLY_BS=1024;
# interleaved twice; decode as a guard.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var,decode --bs 32,256,512,1024,4096 --widths 2048"
b="--quick --no-torch --modes draft_extend_var --bs 512,1024 --widths 65536"
declare -A P=([old]="" [skip]="" [rb1]="--plan SMALL_BS=1024" [rb1e]="--plan SMALL_BS=1024 --plan EARLY_BS=1024")
for r in 1 2; do
  for v in old skip rb1 rb1e; do
    bench=benchmarks/bench_metadata.py; [ $v = old ] && bench=.ab/old/benchmarks/bench_metadata.py
    python $bench $a ${P[$v]} --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python $bench $b ${P[$v]} --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  args=""; for r in 1 2; do for v in old skip rb1 rb1e; do args="$args $v$r=$out/${s}_$v$r/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args
done > $res/skip_ab.txt
cat $res/skip_ab.txt

#!/usr/bin/env bash
# Stop 16 call 10: 2 warps a program (NUM_WARPS above bs 128, SMALL_NUM_WARPS up to it)
# against the default 4, draft_extend_var and decode, interleaved twice.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var,decode --bs 32,128,512,1024,4096 --widths 2048"
declare -A P=([w4]="" [w2]="--plan NUM_WARPS=2" [s2]="--plan SMALL_NUM_WARPS=2")
for r in 1 2; do
  for v in w4 w2 s2; do
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $?"
  done
done
args=""; for r in 1 2; do for v in w4 w2 s2; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/warps2.txt
cat $res/warps2.txt

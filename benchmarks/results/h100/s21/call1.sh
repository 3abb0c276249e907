#!/usr/bin/env bash
# Stop 21 call 1: plan variants for draft_extend_var's small-T wide rows (bs 8, 32; W 65536,
# 163840; page sizes 1, 64), interleaved twice: the default; TARGET 4096 (more column chunks,
# so more live programs when half the requests have no row); WIDE_TILE 1024 (no widening);
# SMALL_TILE 512 (half-size tiles up to bs 128).
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 8,32 --widths 65536,163840 --pages 1,64"
declare -A P=([d]="" [t4k]="--plan TARGET=4096" [nw]="--plan WIDE_TILE=1024" [st]="--plan SMALL_TILE=512")
for r in 1 2; do
  for v in d t4k nw st; do
    export TRITON_CACHE_DIR=/tmp/tc21_$v$r
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $?"
  done
done
args=""; for r in 1 2; do for v in d t4k nw st; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/wide_ab.txt
cat $res/wide_ab.txt

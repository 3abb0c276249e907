#!/usr/bin/env bash
# Stop 26 call 3 (run with EARLY_Q_BS, a knob of 1c301da, reverted in 9170bbd): draft_extend_var at page size 64: real_page_table's cells loaded with the
# tile, before its stores (EARLY_Q at every bs: eq) against the default (only with EARLY,
# bs <= 128), interleaved twice; bs 128-16384, W 2048 and 65536, N 1 and 4.
set -u
out=${1:?out}; mkdir -p $out
a="--quick --no-torch --modes draft_extend_var --bs 128,512,1024,4096,16384 --widths 2048,65536 --pages 64"
V="d eq"
declare -A P=([d]="" [eq]="--plan EARLY_Q_BS=1000000")
for r in 1 2; do
  for v in $V; do
    export TRITON_CACHE_DIR=/tmp/tc26_$v
    s=$(date +%s)
    timeout 200 python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
done
args=""; for r in 1 2; do for v in $V; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
cat $out/ab.txt

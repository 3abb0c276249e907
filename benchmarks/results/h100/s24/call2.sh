#!/usr/bin/env bash
# Stop 24 call 2: d (default), half (page programs take i0 // 2 for the rows before them: N 1 rows only, timing only),
# s512 / s4096 (SUM_BLOCK), t512 (TARGET 512), interleaved twice.
set -u
out=${1:?out}; mkdir -p $out
a="--quick --no-torch --modes draft_extend_var --bs 128,512,1024,4096,16384 --widths 2048 --pages 1,64"
declare -A P=([d]="" [half]="" [s512]="--plan SUM_BLOCK=512" [s4096]="--plan SUM_BLOCK=4096" [t512]="--plan TARGET=512")
declare -A E=([d]="" [half]="half" [s512]="" [s4096]="" [t512]="")
for r in 1 2; do
  for v in d half s512 s4096 t512; do
    export TRITON_CACHE_DIR=/tmp/tc24_$v
    s=$(date +%s)
    PROBE=${E[$v]} timeout 150 python benchmarks/results/h100/s24/probe24.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
  args=""; for rr in $(seq 1 $r); do for v in d half s512 s4096 t512; do args="$args $v$rr=$out/$v$rr/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
done
cat $out/ab.txt

#!/usr/bin/env bash
# Stop 24 call 1: where draft_extend_var's narrow rows spend their time. Variants, interleaved
# twice: d (default), nop (page programs skip the sum of earlier extends: wrong rows, timing
# only), t512 / t256 (TARGET 512 / 256 page programs: fewer programs summing the extends).
set -u
out=${1:?out}; mkdir -p $out
a="--quick --no-torch --modes draft_extend_var --bs 32,128,512,1024,4096,16384 --widths 2048 --pages 1,64"
declare -A P=([d]="" [nop]="" [t512]="--plan TARGET=512" [t256]="--plan TARGET=256")
declare -A E=([d]="" [nop]="nop" [t512]="" [t256]="")
for r in 1 2; do
  for v in d nop t512 t256; do
    export TRITON_CACHE_DIR=/tmp/tc24_$v
    s=$(date +%s)
    PROBE=${E[$v]} timeout 150 python benchmarks/results/h100/s24/probe24.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
  args=""; for rr in $(seq 1 $r); do for v in d nop t512 t256; do args="$args $v$rr=$out/$v$rr/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
done
cat $out/ab.txt

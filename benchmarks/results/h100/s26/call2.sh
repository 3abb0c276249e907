#!/usr/bin/env bash
# Stop 26 call 2: registers of the variants (DIAG), then draft_extend_var bs 512-4096 W 2048:
# d (default), w2 / w8 (NUM_WARPS 2 / 8 between SMALL_BS and BIG_BS), t2k (one request and
# 1024 columns a program: SMALL_BS 4096, TARGET 2048), interleaved twice.
set -u
out=${1:?out}; mkdir -p $out
for v in "" noscalar nopage; do PROBE=$v DIAG=1 python benchmarks/results/h100/s26/probe26.py 2>&1 | grep -v Warning; done | tee $out/regs.txt
a="--quick --no-torch --modes draft_extend_var --bs 512,1024,4096 --widths 2048 --pages 1,64"
V="d w2 w8 t2k"
declare -A P=([d]="" [w2]="--plan NUM_WARPS=2" [w8]="--plan NUM_WARPS=8" [t2k]="--plan SMALL_BS=4096 --plan TARGET=2048")
for r in 1 2; do
  for v in $V; do
    export TRITON_CACHE_DIR=/tmp/tc26_$v
    s=$(date +%s)
    timeout 150 python benchmarks/results/h100/s26/probe26.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
done
args=""; for r in 1 2; do for v in $V; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
cat $out/ab.txt

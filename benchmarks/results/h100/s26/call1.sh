#!/usr/bin/env bash
# Stop 26 call 1: where draft_extend_var's mid-bs narrow rows spend their time. d (default),
# noscalar (page programs alone), nopage (scalar programs alone), early (EARLY at every bs:
# the tile loaded before the sum of earlier extends), mbw (MAX_BW 2048: one request a tile
# of 2048 columns), interleaved twice; bs 512, 1024, 4096, W 2048, P 1 and 64, N 1 and 4.
set -u
out=${1:?out}; mkdir -p $out
a="--quick --no-torch --modes draft_extend_var --bs 512,1024,4096 --widths 2048 --pages 1,64"
V="d noscalar nopage early mbw"
declare -A P=([d]="" [noscalar]="" [nopage]="" [early]="--plan EARLY_BS=1000000" [mbw]="--plan MAX_BW=2048")
declare -A E=([d]="" [noscalar]="noscalar" [nopage]="nopage" [early]="" [mbw]="")
for r in 1 2; do
  for v in $V; do
    export TRITON_CACHE_DIR=/tmp/tc26_$v
    s=$(date +%s)
    PROBE=${E[$v]} timeout 150 python benchmarks/results/h100/s26/probe26.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
done
args=""; for r in 1 2; do for v in $V; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
cat $out/ab.txt

#!/usr/bin/env bash
# Stop 21 call 4: fewer page programs on draft_extend_var's narrow rows (each sums the
# extends before it: 1024 programs at bs 1024 read about 2 MB of extends), interleaved
# twice: TARGET 1024 (default), 512, 256; TILE 4096 (4 requests a program at W 1024).
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 128,512,1024,4096 --widths 2048 --pages 1,64"
declare -A P=([d]="" [t512]="--plan TARGET=512" [t256]="--plan TARGET=256" [tile4k]="--plan TILE=4096")
for r in 1 2; do
  for v in d t512 t256 tile4k; do
    export TRITON_CACHE_DIR=/tmp/tc21d_$v$r
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $?"
  done
done
args=""; for r in 1 2; do for v in d t512 t256 tile4k; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/narrow_ab.txt
cat $res/narrow_ab.txt

#!/usr/bin/env bash
# Stop 21 call 2: TARGET_VAR (page programs a draft_extend_var launch aims for from bs 32)
# 1024 (the old plan), 2048, 4096, interleaved twice: W 65536 at bs 32-1024, W 2048 at bs
# 32-16384, page sizes 1 and 64, N 1 and 4.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 32,128,512,1024 --widths 65536 --pages 1,64"
b="--quick --no-torch --modes draft_extend_var --bs 32,128,512,1024,4096,16384 --widths 2048 --pages 1,64"
declare -A P=([d]="--plan TARGET_VAR=1024" [v2k]="--plan TARGET_VAR=2048" [v4k]="--plan TARGET_VAR=4096")
for r in 1 2; do
  for v in d v2k v4k; do
    for s in a b; do
      export TRITON_CACHE_DIR=/tmp/tc21b_$s$v$r
      python benchmarks/bench_metadata.py ${!s} ${P[$v]} --out $out/$s$v$r > $out/$s$v$r.log 2>&1; echo "$s$v$r rc $? $(date +%T)"
    done
  done
done
for s in a b; do
  args=""; for r in 1 2; do for v in d v2k v4k; do args="$args $v$r=$out/$s$v$r/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args
done > $res/target_var_ab.txt
cat $res/target_var_ab.txt

#!/usr/bin/env bash
# (Run at 4f21cc8, which had SKIP_DEAD; reverted after this A/B, so --plan SKIP_DEAD_BS is gone.)
# Stop 22 call 2: draft_extend_var page programs of one block skip the sum of earlier
# extends when the block has no row (SKIP_DEAD): the default (off) against SKIP_DEAD_BS=0,
# interleaved three times, on the sizes where var rows sit above 1.3x (narrow rows, bs 8 to
# 16384) and wide ones (W 65536); N 1 and 4, page sizes 1 and 64.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 8,32,128,512,1024,16384 --widths 2048,65536 --pages 1,64"
declare -A P=([d]="" [skip]="--plan SKIP_DEAD_BS=0")
for r in 1 2 3; do
  for v in d skip; do
    export TRITON_CACHE_DIR=/tmp/tc22_$v  # one cache a variant: rounds 2 and 3 compile nothing
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $?"
  done
done
args=""; for r in 1 2 3; do for v in d skip; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/skip_dead_ab.txt
cat $res/skip_dead_ab.txt

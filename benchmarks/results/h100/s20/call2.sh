#!/usr/bin/env bash
# Stop 20 call 2: early req_to_token loads (EARLY) in draft_extend_var page programs up to bs
# 1024 / 4096 against the default (up to 128), on the kernel as of stop 19, interleaved twice.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 32,512,1024,4096 --widths 2048 --pages 1,64"
declare -A P=([d]="" [e1k]="--plan EARLY_BS=1024" [e4k]="--plan EARLY_BS=4096")
for r in 1 2; do
  for v in d e1k e4k; do
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/$v$r > $out/$v$r.log 2>&1; echo "$v$r rc $?"
  done
done
args=""; for r in 1 2; do for v in d e1k e4k; do args="$args $v$r=$out/$v$r/bench_metadata.json"; done; done
python benchmarks/results/h100/s14_sweep/compare.py $args > $res/early_ab.txt
cat $res/early_ab.txt

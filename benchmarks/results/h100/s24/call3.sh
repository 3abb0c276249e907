#!/usr/bin/env bash
# Stop 24 call 3: registers. Triton 3.6 gives the kernel 80-96 registers a thread from bs 512
# (5-6 programs of 4 warps an SM: bs 1024's 1032 programs take two waves). Variants,
# interleaved twice: d (default), r64 / r72 (maxnreg 64 / 72: 8 / 7 programs an SM, small
# spills). Then the other modes, d against r64, once.
set -u
out=${1:?out}; mkdir -p $out
a="--quick --no-torch --modes draft_extend_var --bs 32,128,512,1024,4096,16384 --widths 2048 --pages 1,64"
V="d r64 r72"
for r in 1 2; do
  for v in $V; do
    export TRITON_CACHE_DIR=/tmp/tc24_$v
    s=$(date +%s)
    PROBE=${v#d} timeout 150 python benchmarks/results/h100/s24/probe24.py $a --out $out/$v$r > $out/$v$r.log 2>&1
    echo "$v$r rc $? $(( $(date +%s) - s )) s"
  done
  args=""; for rr in $(seq 1 $r); do for v in $V; do args="$args $v$rr=$out/$v$rr/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args > $out/ab.txt 2>&1
done
cat $out/ab.txt
b="--quick --no-torch --modes decode,target_verify,draft_extend --bs 32,1024,4096,16384 --widths 2048 --pages 1,64"
for v in d r64; do
  export TRITON_CACHE_DIR=/tmp/tc24_$v
  PROBE=${v#d} timeout 150 python benchmarks/results/h100/s24/probe24.py $b --out $out/m_$v > $out/m_$v.log 2>&1; echo "m_$v rc $?"
done
python benchmarks/results/h100/s14_sweep/compare.py d=$out/m_d/bench_metadata.json r64=$out/m_r64/bench_metadata.json > $out/ab_modes.txt 2>&1
cat $out/ab_modes.txt

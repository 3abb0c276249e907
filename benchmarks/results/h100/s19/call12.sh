#!/usr/bin/env bash
# Stop 19 call 12: replay with compile-ahead helpers. The 33 shipped v2 seeds replayed on
# outside_kernels' correct Triton kernel (--impl reference: the built-ins compile their own
# Triton variants in this process, which no helper covers), fresh caches: none, the default.
set -u
res=${1:?res}; mkdir -p $res
for n in 0 default; do
  export TRITON_CACHE_DIR=/tmp/tc12_${RANDOM}_$n
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  s=$(date +%s.%N)
  python -m fuzz replay --op metadata --device cuda --impl reference --candidate benchmarks/outside_kernels.py:correct_upstream_style $extra fuzz/seeds > $res/replay_$n.txt 2>&1; rc=$?
  echo "replay helpers $n rc $rc wall $(python3 -c "import time;print(round(time.time()-$s,1))"): $(tail -1 $res/replay_$n.txt)"
done
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

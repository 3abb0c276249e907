#!/usr/bin/env bash
# Stop 19 call 3: how many compile-ahead helpers. The opening (--max-cases 134) of
# outside_kernels' correct kernel, one worker, each on a fresh Triton cache, side by side:
# 0, 6 (the default on 16 cores), 12 helpers; then 6 helpers with --workers 4.
set -u
res=${1:?res}; mkdir -p $res
C=benchmarks/outside_kernels.py:correct_upstream_style
for n in 0 6 12; do
  export TRITON_CACHE_DIR=/tmp/tc3_ahead_$n
  python -m fuzz run --op metadata --device cuda --candidate $C --compile-ahead $n --max-cases 134 --seconds 120 --corpus /tmp/corp3_a$n > $res/open_ahead_$n.txt 2>&1; rc=$?
  echo "helpers $n rc $rc: $(grep summary: $res/open_ahead_$n.txt)"; grep "implementations" $res/open_ahead_$n.txt
done
export TRITON_CACHE_DIR=/tmp/tc3_w4
python -m fuzz run --op metadata --device cuda --candidate $C --workers 4 --max-cases 134 --seconds 120 --corpus /tmp/corp3_w4 > $res/open_w4.txt 2>&1; rc=$?
echo "w4 + default helpers rc $rc: $(grep summary: $res/open_w4.txt)"; head -1 $res/open_w4.txt
ps aux | grep -c "[f]uzz.compile_ahead"

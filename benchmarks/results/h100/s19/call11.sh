#!/usr/bin/env bash
# Stop 19 call 11: helpers end after 16 items with no Triton kernel. planted baseline (v1,
# torch; tmp_planted.py) 30 s without helpers and with the default, twice; the opening of
# outside_kernels' correct kernel with the default (fresh cache); GPU tests of compile_ahead.
set -u
res=${1:?res}; mkdir -p $res
for rep in 1 2; do for n in 0 default; do
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  python -m fuzz run --device cuda --candidate tmp_planted.py:baseline $extra --seconds 30 --corpus /tmp/b11$n$rep > $res/v1_$n.$rep.txt 2>&1
  echo "v1 baseline helpers $n rep $rep rc $?: $(grep summary: $res/v1_$n.$rep.txt)"
done; done
export TRITON_CACHE_DIR=/tmp/tc11
python -m fuzz run --op metadata --device cuda --candidate benchmarks/outside_kernels.py:correct_upstream_style --max-cases 134 --seconds 120 --corpus /tmp/corp11 > $res/open_default.txt 2>&1
echo "opening default rc $?: $(grep summary: $res/open_default.txt)"
python -m pytest -q -p no:randomly tests/test_compile_ahead.py -m gpu 2>&1 | tail -1
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

#!/usr/bin/env bash
# Stop 19 call 5: what compile-ahead helpers cost a candidate with no JIT (torch only):
# planted.py's baseline (v1, tmp_planted.py) and redteam5's correct (v2), 30 s each, with
# no helper and with the default, interleaved.
set -u
res=${1:?res}; mkdir -p $res
for rep in 1 2; do
for n in 0 default; do
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  python -m fuzz run --device cuda --candidate tmp_planted.py:baseline $extra --seconds 30 --corpus /tmp/b$n$rep > $res/v1_$n.$rep.txt 2>&1
  echo "v1 baseline helpers $n rep $rep rc $?: $(grep summary: $res/v1_$n.$rep.txt)"
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam5_mutants.py:correct $extra --seconds 30 --corpus /tmp/c$n$rep > $res/v2_$n.$rep.txt 2>&1
  echo "v2 correct helpers $n rep $rep rc $?: $(grep summary: $res/v2_$n.$rep.txt)"
done
done

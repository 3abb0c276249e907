#!/usr/bin/env bash
# Stop 17 call 1: GPU tests; probe17 (scalar and page programs alone); A/B of WIDE_TILE
# (0: a chunk of two tiles loops; 2048: one tile of 2048 elements), interleaved twice, at
# the two grid points it changes (bs 32 W 65536, bs 8 W 163840), every mode; --op metadata
# campaigns of the Triton backend as a candidate, 40 s, 1 and 4 workers on one GPU (the
# opening now split over workers), each with a cold Triton cache.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
python benchmarks/results/h100/s17_ab/probe17.py > $res/probe.txt 2>&1; cat $res/probe.txt
for r in 1 2; do
  for v in 0 2048; do
    python benchmarks/bench_metadata.py --quick --no-torch --bs 32 --widths 65536 --pages 1,64 --plan WIDE_TILE=$v --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python benchmarks/bench_metadata.py --quick --no-torch --bs 8 --widths 163840 --pages 1,64 --plan WIDE_TILE=$v --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  python benchmarks/results/h100/s14_sweep/compare.py w0_1=$out/${s}_01/bench_metadata.json w2k_1=$out/${s}_20481/bench_metadata.json w0_2=$out/${s}_02/bench_metadata.json w2k_2=$out/${s}_20482/bench_metadata.json
done > $res/wide_ab.txt
cat $res/wide_ab.txt
mkdir -p /tmp/g
for w in 1 4; do
  TRITON_CACHE_DIR=/tmp/tc$w timeout 150 python -m fuzz run --op metadata --device cuda --candidate benchmarks/results/h100/s15_ab/cands.py:triton_correct --seconds 40 --workers $w --corpus /tmp/g/w$w > /tmp/g/w$w.txt 2>&1
  echo "workers $w exit $?"; grep -E "^summary|implementations:|^FAIL|cause:|rounds|named" /tmp/g/w$w.txt | head -6
done > $res/campaigns.txt 2>&1
cat $res/campaigns.txt

#!/usr/bin/env bash
# Stop 19 call 1: where the opening of a GPU campaign of a Triton candidate spends its time
# (in-process profile, cold Triton cache), then the CLI opening (--max-cases 134) with 1 and
# 4 workers, each on a fresh cache, and 4 workers again warm.
set -u
res=${1:?res}; mkdir -p $res
C=benchmarks/outside_kernels.py:correct_upstream_style
export TRITON_CACHE_DIR=/tmp/tc_prof
python benchmarks/opening_profile.py $C --device cuda --top 25 --json $res/profile.json > $res/profile.txt 2>&1; echo "profile rc $?"
head -4 $res/profile.txt; tail -28 $res/profile.txt | head -3
for w in 1 4; do
  export TRITON_CACHE_DIR=/tmp/tc_w$w
  s=$(date +%s.%N)
  python -m fuzz run --op metadata --device cuda --candidate $C --workers $w --max-cases 134 --seconds 120 --corpus /tmp/corp_w$w > $res/open_w$w.txt 2>&1; rc=$?
  echo "w$w cold rc $rc wall $(python3 -c "import time;print(round(time.time()-$s,1))")"; tail -3 $res/open_w$w.txt
done
s=$(date +%s.%N)
python -m fuzz run --op metadata --device cuda --candidate $C --workers 4 --max-cases 134 --seconds 120 --corpus /tmp/corp_w4b > $res/open_w4_warm.txt 2>&1; rc=$?
echo "w4 warm rc $rc wall $(python3 -c "import time;print(round(time.time()-$s,1))")"; tail -3 $res/open_w4_warm.txt
nproc

#!/usr/bin/env bash
# Stop 20 call 3 (after the width-per-call, new-topk and one-request replays): GPU tests; the
# built-ins through --op metadata 40 s on cuda; the outside kernels' two correct candidates and
# redteam7's two correct ones on cuda (no alarm with width and topk changes on the real
# kernels); then the hunt of the outside kernels' six bugs, 30 s each.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc20c3
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c3b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep summary: $res/builtins.txt)"
for c in outside_kernels.py:correct_upstream_style outside_kernels.py:correct_upstream_style_envelope redteam7_mutants.py:correct redteam7_mutants.py:correct_segmented; do
  n=${c//[:.]/_}
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/$c --seconds 40 --corpus /tmp/c3_$n > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -1)"
done
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

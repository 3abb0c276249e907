#!/usr/bin/env bash
# Stop 24 call 4 (hangs that need the calls before them; bulk faults of one case): GPU tests;
# the new hang tests on this image; correct candidates on cuda with --timeout 0.05 (every
# compile of a new variant in a warm worker times out, its lone re-run finds it cached: the
# stopped worker must then answer, no false "hangs after calls"); a true one on cuda.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc24c4
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m pytest -q -p no:randomly -m "slow or not slow" tests/test_isolation.py tests/test_plugin_pipeline.py -k "after_calls or slow_after or stuck or behind_another or moves_on or reports_which" > $res/hang_tests.txt 2>&1; echo "hang tests rc $?"; tail -1 $res/hang_tests.txt
for c in outside_kernels.py:correct_upstream_style redteam8_mutants.py:correct; do
  n=${c//[:.]/_}
  /usr/bin/time -f "%e s" timeout 150 python -m fuzz run --op metadata --device cuda --candidate benchmarks/$c --seconds 40 --timeout 0.05 --corpus /tmp/c4_$n --report $res/$n.json > $res/$n.txt 2>&1; rc=$?
  echo "$c --timeout 0.05 rc $rc: $(grep summary: $res/$n.txt) | $(grep -cE 'hang' $res/$n.txt) lines say hang | $(tail -1 $res/$n.txt)"
done
c=redteam5_mutants.py:correct_v1; n=${c//[:.]/_}
/usr/bin/time -f "%e s" timeout 120 python -m fuzz run --device cuda --candidate benchmarks/$c --seconds 30 --timeout 0.05 --corpus /tmp/c4_$n --report $res/$n.json > $res/$n.txt 2>&1; rc=$?
echo "$c --timeout 0.05 rc $rc: $(grep summary: $res/$n.txt) | $(grep -cE 'hang' $res/$n.txt) lines say hang | $(tail -1 $res/$n.txt)"
timeout 120 python -m fuzz run --device cuda --candidate tests/candidates/hostile.py:hangs_after_two_calls --seconds 30 --timeout 0.5 --confirm-seconds 2 --corpus /tmp/c4_h2 > $res/hangs_after_two_calls.txt 2>&1; echo "hangs_after_two_calls rc $?"; grep -E "^FAIL|cause:" $res/hangs_after_two_calls.txt | cut -c1-300
timeout 60 python -m fuzz replay /tmp/c4_h2 --device cuda --candidate tests/candidates/hostile.py:hangs_after_two_calls --timeout 0.5 --confirm-seconds 2 > $res/h2_replay.txt 2>&1; echo "  replay rc $?: $(tail -1 $res/h2_replay.txt)"
sleep 1; echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

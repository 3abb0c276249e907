#!/usr/bin/env bash
# Stop 21 call 5 (final tree: TARGET_VAR, tied shrinking, large named cases between rounds,
# round 8's named cases): GPU tests; the built-ins 40 s on cuda; three correct candidates on
# cuda 40 s each (outside_kernels' upstream_style, redteam7's correct, redteam8's correct,
# a Triton kernel run natively); then 30 s hunts of three outside-kernel bugs and round 8's
# four closed ones.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc21c5
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c5b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep summary: $res/builtins.txt)"
for c in outside_kernels.py:correct_upstream_style redteam7_mutants.py:correct redteam8_mutants.py:correct; do
  n=${c//[:.]/_}
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/$c --seconds 40 --corpus /tmp/c5_$n > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -1)"
done
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --only bug_draft_extend_base,bug_scan_lower_bound,bug_rows_of_last_call --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; tail -8 $res/hunt_outside_gpu.txt
python benchmarks/hunt.py benchmarks/redteam8_mutants.py --seconds 30 --shrink-seconds 10 --only bug_var_grid_from_first_call,bug_r64_as_int32_rpt,bug_fixed_tile_whole_requests,bug_T_from_last_program --json $res/hunt_rt8_gpu.json > $res/hunt_rt8_gpu.txt 2>&1; tail -10 $res/hunt_rt8_gpu.txt
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

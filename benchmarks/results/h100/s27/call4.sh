#!/usr/bin/env bash
# Stop 27 call 4: rounds 12-13's state bugs on cuda, 25 s each with replay (their folds must
# still be blamed: CONFIRMS more runs each); the GPU tests; what is left running.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc27c4
timeout 200 python benchmarks/hunt.py benchmarks/redteam13_mutants.py benchmarks/redteam12_mutants.py --seconds 25 --replay --only bug_state_pt_skip_same_slots,bug_state_owner_cached_by_T,bug_state_topk_fastpath_baked --json $res/hunt_state_cuda.json > $res/hunt_state_cuda.txt 2>&1; echo "hunt state rc $?"
tail -10 $res/hunt_state_cuda.txt | cut -c1-600
timeout 250 python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

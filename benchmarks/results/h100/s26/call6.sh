#!/usr/bin/env bash
# Stop 26 call 6 (final tree): round 14's candidate made device-agnostic: both correct and
# three process bugs on cuda, 25 s each with replay; the GPU tests; what is left running.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc26c6
timeout 220 python benchmarks/hunt.py benchmarks/redteam14_mutants.py --seconds 25 --replay --only correct,correct_rewrites,bug_call_50_plus,bug_random_third,bug_first_call_warmup --json $res/hunt_rt14_cuda.json > $res/hunt_rt14_cuda.txt 2>&1; echo "hunt rt14 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt14_cuda.txt | tail -7 | cut -c1-240
timeout 200 python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

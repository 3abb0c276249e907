#!/usr/bin/env bash
# Stop 25 call 4 (the final tree: first pass, per-call page sizes, the fold of a poisoned
# cell): the outside kernels on cuda, 25 s each with replay, cold cache (s23: 6 of 6 found
# in 7.6-11.2 s, both correct quiet); then round 12's correct and two state bugs.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc25c4
timeout 380 python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 25 --replay --json $res/hunt_outside_cuda.json > $res/hunt_outside_cuda.txt 2>&1; echo "hunt outside rc $?"
grep -vE "^\s+cause:" $res/hunt_outside_cuda.txt | tail -10 | cut -c1-240
timeout 150 python benchmarks/hunt.py benchmarks/redteam12_mutants.py --seconds 25 --replay --only correct,bug_state_topk_fastpath_baked,bug_state_max_e_baked --json $res/hunt_rt12_state_cuda.json > $res/hunt_rt12_state_cuda.txt 2>&1; echo "hunt rt12 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt12_state_cuda.txt | tail -5 | cut -c1-240
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

#!/usr/bin/env bash
# Stop 27 call 5, after the fix of c4 (a failure the deadline left unconfirmed now keeps the
# calls its worker ran before it; its entry is not written again without them): rounds
# 12-13's state bugs and round 14's process bugs on cuda, 25 s each with replay.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc27c5
timeout 200 python benchmarks/hunt.py benchmarks/redteam13_mutants.py benchmarks/redteam12_mutants.py --seconds 25 --replay --only bug_state_pt_skip_same_slots,bug_state_owner_cached_by_T,bug_state_topk_fastpath_baked --json $res/hunt_state_cuda.json > $res/hunt_state_cuda.txt 2>&1; echo "hunt state rc $?"
tail -10 $res/hunt_state_cuda.txt | cut -c1-700
timeout 200 python benchmarks/hunt.py benchmarks/redteam14_mutants.py --seconds 25 --replay --only correct,bug_call_50_plus,bug_random_third --json $res/hunt_rt14_cuda.json > $res/hunt_rt14_cuda.txt 2>&1; echo "hunt rt14 rc $?"
tail -8 $res/hunt_rt14_cuda.txt | cut -c1-700
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

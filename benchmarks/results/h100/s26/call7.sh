#!/usr/bin/env bash
# Stop 26 call 7 (an unconfirmed plug-in failure saved with repeat 128): round 14's slip
# from the 50th call, the random one and correct on cuda, 25 s each with replay (s26/c6:
# call_50_plus's entry passed on replay).
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc26c7
timeout 200 python benchmarks/hunt.py benchmarks/redteam14_mutants.py --seconds 25 --replay --only correct,bug_call_50_plus,bug_random_third --json $res/hunt_rt14_cuda.json > $res/hunt_rt14_cuda.txt 2>&1; echo "hunt rt14 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt14_cuda.txt | tail -5 | cut -c1-240
grep -E "^\s+cause:" $res/hunt_rt14_cuda.txt | cut -c1-400
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

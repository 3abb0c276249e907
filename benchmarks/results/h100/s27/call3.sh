#!/usr/bin/env bash
# Stop 27 call 3 (calls ruled out as a cause, the kept reproducer, minimise of a repeat
# entry): the outside kernels on cuda, 25 s each with replay, cold cache (s26/c5: 6 of 6 in
# 6.6-13.4 s, correct quiet); round 14's process bugs and its correct candidate.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc27c3
timeout 330 python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 25 --replay --json $res/hunt_outside_cuda.json > $res/hunt_outside_cuda.txt 2>&1; echo "hunt outside rc $?"
grep -vE "^\s+cause:" $res/hunt_outside_cuda.txt | tail -10 | cut -c1-240
timeout 200 python benchmarks/hunt.py benchmarks/redteam14_mutants.py --seconds 25 --replay --only correct,bug_call_50_plus,bug_random_third,bug_first_call_warmup --json $res/hunt_rt14_cuda.json > $res/hunt_rt14_cuda.txt 2>&1; echo "hunt rt14 rc $?"
tail -12 $res/hunt_rt14_cuda.txt | cut -c1-600
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

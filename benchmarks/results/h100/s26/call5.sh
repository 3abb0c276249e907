#!/usr/bin/env bash
# Stop 26 call 5 (the repetition probe, flaky failures, replay runs, the signature check):
# the outside kernels on cuda, 25 s each with replay, cold cache (s25/c4: 6 of 6 found in
# 5.5-11.9 s, both correct quiet); then round 14's two correct candidates and three of its
# process bugs.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc26c5
timeout 380 python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 25 --replay --json $res/hunt_outside_cuda.json > $res/hunt_outside_cuda.txt 2>&1; echo "hunt outside rc $?"
grep -vE "^\s+cause:" $res/hunt_outside_cuda.txt | tail -10 | cut -c1-240
timeout 200 python benchmarks/hunt.py benchmarks/redteam14_mutants.py --seconds 25 --replay --only correct,correct_rewrites,bug_call_50_plus,bug_random_third,bug_first_call_warmup --json $res/hunt_rt14_cuda.json > $res/hunt_rt14_cuda.txt 2>&1; echo "hunt rt14 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt14_cuda.txt | tail -7 | cut -c1-240
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

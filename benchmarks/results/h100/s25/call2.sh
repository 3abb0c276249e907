#!/usr/bin/env bash
# Stop 25 call 2 (on a GPU one past 16,384 requests joins the first pass): red-team 12's
# bs_static_16384 (s24/c6: not found in 20 s on cuda), bs_carry_1024 and correct, 30 s
# each with replay, cold cache; the built-ins alone on cuda; the GPU tests.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc25c2
only=correct,bug_bs_static_16384,bug_bs_carry_1024
timeout 240 python benchmarks/hunt.py benchmarks/redteam12_mutants.py --seconds 30 --replay --only $only --json $res/hunt_rt12_large_first.json > $res/hunt_rt12_large_first.txt 2>&1; echo "hunt rc $?"
grep -vE "^\s+cause:" $res/hunt_rt12_large_first.txt | tail -5 | cut -c1-300
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"
timeout 90 python -m fuzz run --op metadata --device cuda --seconds 20 --corpus /tmp/c25c2 > $res/builtins_cuda.txt 2>&1; echo "built-ins rc $?"
tail -7 $res/builtins_cuda.txt | cut -c1-300
timeout 200 python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -2 $res/gpu_tests.txt

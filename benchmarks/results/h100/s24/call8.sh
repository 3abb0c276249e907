#!/usr/bin/env bash
# Stop 24 call 8 (Triton compiles off the call clock): red-team 12's correct kernel on cuda,
# whose rows kernel takes ptxas 40 s on one variant (a confirmed hang in call 6), and the bug
# that shared it (bs_carry_1024), 30 s each with replay.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc24c8
timeout 320 python benchmarks/hunt.py benchmarks/redteam12_mutants.py --seconds 30 --replay --only correct,bug_bs_carry_1024 --json $res/hunt_rt12_compile.json > $res/hunt_rt12_compile.txt 2>&1; echo "hunt rc $?"
tail -6 $res/hunt_rt12_compile.txt | cut -c1-400
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

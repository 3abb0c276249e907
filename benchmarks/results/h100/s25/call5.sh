#!/usr/bin/env bash
# Stop 25 call 5 (the fold of a cell left poisoned, repoison): red-team 13's two state bugs
# and correct on cuda with --no-named (found by draws, as the CPU's no-named hunt did), 25 s
# each with replay; seeds 0 and 3.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc25c5
for seed in 0 3; do
  timeout 200 python benchmarks/hunt.py benchmarks/redteam13_mutants.py --seconds 25 --no-named --replay --seed $seed --only correct,bug_state_pt_skip_same_slots,bug_state_owner_cached_by_T --json $res/hunt_rt13_state_no_named_s$seed.json > $res/hunt_rt13_state_no_named_s$seed.txt 2>&1; echo "hunt seed $seed rc $?"
  grep -vE "^\s+cause:" $res/hunt_rt13_state_no_named_s$seed.txt | tail -5 | cut -c1-240
done
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

#!/usr/bin/env bash
# Stop 25 call 3 (per-call page sizes, round 13's closures): GPU tests; red-team 13 (plain
# torch) on cuda, 25 s each with replay: both correct candidates and four bugs, two of them
# found only by the new large named cases; round 11's page size baked per buffer address
# (its entry now replays) and correct_v2.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc25c3
timeout 150 python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
only=correct,correct_errors,bug_bs_16384_zero_T,bug_sum_neg_min_clamped,bug_state_pt_skip_same_slots,bug_mix_s_plus1_i32_then_i64
timeout 260 python benchmarks/hunt.py benchmarks/redteam13_mutants.py --seconds 25 --replay --only $only --json $res/hunt_rt13_cuda.json > $res/hunt_rt13_cuda.txt 2>&1; echo "hunt13 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt13_cuda.txt | tail -8 | cut -c1-260
timeout 120 python benchmarks/hunt.py benchmarks/redteam11_mutants.py --seconds 25 --replay --only correct_v2,v2_page_size_baked --json $res/hunt_rt11_pages_cuda.json > $res/hunt_rt11_pages_cuda.txt 2>&1; echo "hunt11 rc $?"
grep -vE "^\s+cause:" $res/hunt_rt11_pages_cuda.txt | tail -4 | cut -c1-260
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

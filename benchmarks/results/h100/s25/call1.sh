#!/usr/bin/env bash
# Stop 25 call 1 (the v2 opening's first pass over every family): red-team 12 on cuda, 30 s
# each with replay, on a cold Triton cache (s24/c8: 85 cases in 30 s, bs_carry_1024 not
# found; bs 1025 was case 95 of the opening, now 25); then where the opening's time goes,
# case by case (compiles = first run - again).
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc25c1
only=correct,bug_bs_carry_1024,bug_decode_grid32,bug_mix_ext_as_seq_dtype
timeout 300 python benchmarks/hunt.py benchmarks/redteam12_mutants.py --seconds 30 --replay --only $only --json $res/hunt_rt12_first_pass.json > $res/hunt_rt12_first_pass.txt 2>&1; echo "hunt rc $?"
grep -vE "^\s+cause:" $res/hunt_rt12_first_pass.txt | tail -6 | cut -c1-300
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"
export TRITON_CACHE_DIR=/tmp/tc25c1p
timeout 200 python benchmarks/opening_profile.py benchmarks/redteam12_mutants.py:correct --device cuda --top 25 --json $res/opening_profile_rt12.json > $res/opening_profile_rt12.txt 2>&1; echo "profile rc $?"
head -4 $res/opening_profile_rt12.txt; tail -28 $res/opening_profile_rt12.txt | cut -c1-120

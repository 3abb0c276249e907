#!/usr/bin/env bash
# Stop 23 call 2 (final tree: refill cases, fresh-worker check of shrunk cases, daemons
# killed in workers and compile-ahead helpers, round 11 merged and closed): GPU tests;
# hunts with --replay on cuda (every saved entry must fail again with its mutant, pass on
# the built-ins): the outside kernels, round 8's Triton bugs, round 11's state bugs, v1's
# pointer cache; a daemonising candidate and what it leaves running.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc23c2
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 25 --replay --json $res/outside.json > $res/outside.txt 2>&1; tail -1 $res/outside.txt
python benchmarks/hunt.py benchmarks/redteam8_mutants.py --seconds 30 --replay --only bug_carry_first_chunk_only,bug_T_from_last_program,bug_var_grid_from_first_call --json $res/rt8.json > $res/rt8.txt 2>&1; tail -1 $res/rt8.txt
python benchmarks/hunt.py benchmarks/redteam11_mutants.py --seconds 20 --replay --only correct_v1,correct_v2,v1_starts_cached_by_ptr,v1_skip_same_extends,v1_topk_baked,v1_scratch_not_cleared,v2_row_plan_by_bs,v2_gather_cache_by_ptr,v2_skip_lengths_same_T,v2_scratch_not_cleared --json $res/rt11.json > $res/rt11.txt 2>&1; tail -1 $res/rt11.txt
python benchmarks/hunt.py benchmarks/redteam5_mutants.py --seconds 20 --replay --only correct_v1,v1_cache_by_pointer --json $res/rt5.json > $res/rt5.txt 2>&1; tail -1 $res/rt5.txt
python -m fuzz run --op metadata --candidate benchmarks/false_alarm_candidates2.py:correct_leaves_session --seconds 15 --corpus /tmp/c2_cls > $res/leaves_session.txt 2>&1; echo "leaves_session rc $?: $(grep summary: $res/leaves_session.txt)"
sleep 1; echo "left running: $(ps -eo stat,cmd | grep -v '^Z' | grep -c '[c]orrect_leaves_session')"

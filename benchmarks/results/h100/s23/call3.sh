#!/usr/bin/env bash
# Stop 23 call 3 (final tree: failures that need the calls before them saved with those
# calls): what call 2 had no time left for. Round 11's correct candidates and state bugs on
# cuda with --replay; v1's pointer cache and redteam5's correct v1 (now device-clean); a
# daemonising candidate and what it leaves running (compile-ahead helpers included).
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc23c3
python benchmarks/hunt.py benchmarks/redteam11_mutants.py --seconds 15 --replay --only correct_v1,correct_v2,v1_starts_cached_by_ptr,v1_skip_same_extends,v1_topk_baked,v1_scratch_not_cleared,v2_row_plan_by_bs,v2_gather_cache_by_ptr,v2_width_baked,v2_scratch_not_cleared --json $res/rt11.json > $res/rt11.txt 2>&1; tail -1 $res/rt11.txt
python benchmarks/hunt.py benchmarks/redteam5_mutants.py --seconds 15 --replay --only correct_v1,v1_cache_by_pointer --json $res/rt5.json > $res/rt5.txt 2>&1; tail -1 $res/rt5.txt
python -m fuzz run --op metadata --candidate benchmarks/false_alarm_candidates2.py:correct_leaves_session --seconds 15 --corpus /tmp/c3_cls > $res/leaves_session.txt 2>&1; echo "leaves_session rc $?: $(grep summary: $res/leaves_session.txt) $(grep -o 'compile-ahead helpers [0-9]*' $res/leaves_session.txt)"
sleep 1; echo "left running: $(ps -eo stat,cmd | grep -v '^Z' | grep -c '[c]orrect_leaves_session')"

#!/usr/bin/env bash
# Stop 19 call 8 (final tree): GPU tests; the built-ins through --op metadata 40 s on cuda;
# redteam6's correct candidates and two refill mutants on cuda with the default helpers.
set -u
res=${1:?res}; mkdir -p $res
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c8b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep summary: $res/builtins.txt)"
for m in correct correct_rewrites_same_values kv_cached_by_seq_obj pt_cache_by_rt_obj; do
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam6_mutants.py:$m --seconds 30 --max-failures 1 --corpus /tmp/c8_$m > $res/rt6_$m.txt 2>&1; rc=$?
  echo "rt6 $m rc $rc: $(grep summary: $res/rt6_$m.txt) $(grep -E '^FAIL' $res/rt6_$m.txt | head -1)"
done
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

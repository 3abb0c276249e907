#!/usr/bin/env bash
# Stop 22 call 3 (final tree: round 9e and 10's error-contract closures, the worker's pinned
# state and private item-end fd, causes naming the argument): GPU tests; round 2 of the
# false-alarm candidates on cuda (11 of them, 12 s each); round 10's correct candidates and round 9e's
# with --check-errors on cuda (30 s each); 12 of round 10's bugs on cuda (20 s each); the
# built-ins 40 s.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc22c3
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python benchmarks/hunt.py benchmarks/false_alarm_candidates2.py --seconds 12 --only correct_default_device_meta,correct_device_context_left,correct_default_float64,correct_inference_mode_left,correct_warnings_error,correct_streams_replaced,correct_fd2_reused,correct_signal_handlers,correct_background_threads,correct_process_clock,correct_v1_default_device_meta --json $res/fa2_gpu.json > $res/fa2_gpu.txt 2>&1; tail -2 $res/fa2_gpu.txt
for c in redteam10_mutants.py:correct_lists redteam10_mutants.py:correct_torch redteam9e_mutants.py:correct; do
  n=${c//[:.]/_}
  python -m fuzz run --op metadata --device cuda --check-errors --candidate benchmarks/$c --seconds 30 --corpus /tmp/c3_$n > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -1)"
done
python benchmarks/hunt.py benchmarks/redteam10_mutants.py --seconds 20 --shrink-seconds 5 --only pool_negative_skipped_decode,kv_target_verify_forgot_n,extend_negative_first_skipped,extend_negative_skipped_strided,cell_skipped_column_strided,out_page_table_one_column_short,out_real_given_p1_accepted,topk_bool_accepted,dsa_sum_below_unchecked,pool_longer_accepted,width_message_names_page_table,extend_clamped_before_raising --json $res/hunt_rt10_gpu.json > $res/hunt_rt10_gpu.txt 2>&1; tail -2 $res/hunt_rt10_gpu.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c3b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep -A2 summary: $res/builtins.txt | tr -s ' ')"
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

#!/usr/bin/env bash
# Stop 22 call 4 (after tensors_of(kw, device): the error contract's *_other_device bad
# calls were protocol failures on CUDA): GPU tests (two new: the storages named, and a
# correct candidate with --check-errors exit 0); three correct candidates with
# --check-errors on cuda, 20 s each; call 3's three alarms again; 6 of round 10's bugs.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc22c4
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
for c in redteam10_mutants.py:correct_lists redteam10_mutants.py:correct_torch redteam9e_mutants.py:correct; do
  n=${c//[:.]/_}
  python -m fuzz run --op metadata --device cuda --check-errors --candidate benchmarks/$c --seconds 20 --corpus /tmp/c4_$n > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -1)"
done
python benchmarks/hunt.py benchmarks/false_alarm_candidates2.py --seconds 12 --only correct_default_device_meta,correct_warnings_error,correct_fd2_reused,correct_numpy_raise --json $res/fa2_gpu.json > $res/fa2_gpu.txt 2>&1; tail -1 $res/fa2_gpu.txt
python benchmarks/hunt.py benchmarks/redteam10_mutants.py --seconds 15 --shrink-seconds 5 --only extend_negative_first_skipped,extend_negative_skipped_strided,cell_skipped_column_strided,out_real_given_p1_accepted,dsa_sum_below_unchecked,extend_clamped_before_raising --json $res/hunt_rt10_gpu.json > $res/hunt_rt10_gpu.txt 2>&1; tail -1 $res/hunt_rt10_gpu.txt

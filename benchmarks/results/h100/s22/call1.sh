#!/usr/bin/env bash
# Stop 22 call 1: GPU tests after the worker's call clock (a plug-in's time limit counts its
# own calls); a correct candidate on cuda with --timeout 0.05 --confirm-seconds 0.2 (no
# hang); round 9's two correct candidates (plain lists / plain torch) on cuda, 40 s each;
# 14 of round 9.s bugs on cuda, 20 s each; the built-ins 40 s.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc22c1
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam7_mutants.py:correct --seconds 30 --timeout 0.05 --confirm-seconds 0.2 --corpus /tmp/c1t > $res/tight_timeout.txt 2>&1; echo "tight timeout rc $?: $(grep summary: $res/tight_timeout.txt) $(grep -E '^FAIL' $res/tight_timeout.txt | head -1)"
for c in correct_lists correct_torch; do
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam9_mutants.py:$c --seconds 40 --corpus /tmp/c1_$c > $res/rt9_$c.txt 2>&1; echo "rt9 $c rc $?: $(grep summary: $res/rt9_$c.txt) $(grep -E '^FAIL' $res/rt9_$c.txt | head -1)"
done
python benchmarks/hunt.py benchmarks/redteam9_mutants.py --seconds 20 --shrink-seconds 5 --only decode_dsa_cu_unclamped,var_zero_between_shifts_pool_index,bs129_fast_path_overflow,bs16385_index_wraps,de_next_n_8_offset_wraps,pad_var_dsa_min_0,topk_zero_no_clamp,page128_divisor_int8,rtt_unit_column_stride,repeated_index_copies_wrong_rows,mix_reinterprets_pool_indices,dsa_cu_saturating_intermediate,stale_caches_bs_per_buffer,real_page_full_buffer_width --json $res/hunt_rt9_gpu.json > $res/hunt_rt9_gpu.txt 2>&1; tail -3 $res/hunt_rt9_gpu.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c1b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep -A2 summary: $res/builtins.txt | tr -s ' ')"
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"

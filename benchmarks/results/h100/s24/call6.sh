#!/usr/bin/env bash
# Stop 24 call 6 (after the fold of earlier calls into v2 cases): GPU tests; red-team round
# 12's upstream-style Triton kernels on cuda (native, not the interpreter): the correct one
# and nine bugs of as many families, 20 s each, with replay.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc24c6
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
only=correct,bug_bs_static_16384,bug_state_topk_fastpath_baked,bug_r2t_col_stride1,bug_i32_series_double,bug_page_shift,bug_mix_r_as_seq_dtype,bug_out_row_past_T,bug_var_zero_row_spill,bug_bs_carry_1024
timeout 500 python benchmarks/hunt.py benchmarks/redteam12_mutants.py --seconds 20 --replay --only $only --json $res/hunt_rt12_cuda.json > $res/hunt_rt12_cuda.txt 2>&1; echo "hunt rc $?"
grep -vE "^\s+cause:" $res/hunt_rt12_cuda.txt | tail -14
sleep 1; echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"

#!/usr/bin/env bash
# Stop 20 call 4: the hunt of the outside kernels' six bugs on the H100, 30 s each.
export TRITON_CACHE_DIR=/tmp/tc20c4
mkdir -p $OUT/c4
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --only bug_draft_extend_base,bug_int32_clamp_count,bug_scan_lower_bound,bug_width_from_buffer,bug_rows_of_last_call,bug_last_tile_mask --json $OUT/c4/hunt_outside_gpu.json > $OUT/c4/hunt_outside_gpu.txt 2>&1

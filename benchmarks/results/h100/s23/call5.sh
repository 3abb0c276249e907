#!/usr/bin/env bash
# Stop 23 call 5: call 4 again after the search keeps three fresh workers loading (spares)
# (call 4: 1 of 4 replayed with its calls before).
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc23c5
python benchmarks/hunt.py benchmarks/redteam11_mutants.py --seconds 40 --replay --only v1_starts_cached_by_ptr,v2_row_plan_by_bs,v2_width_baked,v2_scratch_not_cleared,v1_topk_baked,v1_scratch_not_cleared --json $res/rt11_40s_spares.json > $res/rt11_40s_spares.txt 2>&1; tail -1 $res/rt11_40s_spares.txt

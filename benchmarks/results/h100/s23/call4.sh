#!/usr/bin/env bash
# Stop 23 call 4: call 3's four state bugs whose 15 s campaigns ended before the search
# for the calls before them (the GPU's first find comes at 5-7 s), now with 40 s.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc23c4
python benchmarks/hunt.py benchmarks/redteam11_mutants.py --seconds 40 --replay --only v1_starts_cached_by_ptr,v2_row_plan_by_bs,v2_width_baked,v2_scratch_not_cleared --json $res/rt11_40s.json > $res/rt11_40s.txt 2>&1; tail -1 $res/rt11_40s.txt

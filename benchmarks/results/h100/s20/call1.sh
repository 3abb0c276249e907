#!/usr/bin/env bash
# Stop 20 call 1: the lower bounds of a correct one-launch kernel on stop 17's 12 rows.
export TRITON_CACHE_DIR=/tmp/tc20a
python benchmarks/results/h100/s20/probe20.py 2>&1 | tee $OUT/c1/probe20.txt

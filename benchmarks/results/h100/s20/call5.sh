#!/usr/bin/env bash
# Stop 20 call 5 (after the chunked opening): the outside kernels' hunt, 30 s each, and the
# built-ins through --op metadata 40 s on cuda.
export TRITON_CACHE_DIR=/tmp/tc20c5
mkdir -p $OUT/c5
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $OUT/c5/hunt_outside_gpu.json > $OUT/c5/hunt_outside_gpu.txt 2>&1
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c5b > $OUT/c5/builtins.txt 2>&1

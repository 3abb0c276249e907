#!/usr/bin/env bash
# Stop 18 call 2: kernels written outside the project (benchmarks/outside_kernels.py: Triton,
# upstream's design) through the fuzzer on the GPU: every candidate of its HUNT, 30 s each,
# one worker (as a user would first run it); the correct one again with --workers 4; then
# the GPU tests.
set -u
res=${1:?res}; mkdir -p $res
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; echo "hunt rc $?"
tail -30 $res/hunt_outside_gpu.txt
python -m fuzz run --op metadata --device cuda --seconds 40 --workers 4 --candidate benchmarks/outside_kernels.py:upstream_style --corpus /tmp/c4 --report $res/upstream_style_w4.json > $res/upstream_style_w4.txt 2>&1; echo "w4 rc $?"
tail -12 $res/upstream_style_w4.txt
python -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -2

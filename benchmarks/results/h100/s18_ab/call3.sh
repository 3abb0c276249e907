#!/usr/bin/env bash
# Stop 18 call 3: call 2's hunt again (hunt.py had dropped the site's PYTHONPATH), 30 s a
# candidate, one worker, shrinking 10 s.
set -u
res=${1:?res}; mkdir -p $res
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; echo "hunt rc $?"
tail -30 $res/hunt_outside_gpu.txt

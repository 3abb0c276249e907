#!/usr/bin/env bash
# Stop 16: --op metadata campaign throughput on a 2-GPU host, the torch backend as the
# candidate (its own worker processes), 40 s each: 1 worker, 2 workers on 2 GPUs, 4 on 2.
set -u
nvidia-smi --query-gpu=name --format=csv,noheader
mkdir -p /tmp/g
c=benchmarks/results/h100/s15_ab/cands.py:torch_correct
for w in 1 2 4; do
  g=""; [ $w -gt 1 ] && g="--gpus 0,1"
  timeout 150 python -m fuzz run --op metadata --device cuda --candidate $c --seconds 40 --workers $w $g --corpus /tmp/g/w$w > /tmp/g/w$w.txt 2>&1
  echo "workers $w exit $?"; grep -E "^summary|implementations:|^FAIL" /tmp/g/w$w.txt | head -3
done

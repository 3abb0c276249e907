#!/usr/bin/env bash
# Stop 17 final GPU checks on the final tree: GPU tests; --op metadata campaigns on cuda,
# 40 s each: the Triton backend as a candidate with 4 workers (the opening split), the torch
# backend, round 4's correct candidate and its new buffer-width mutant, the built-ins.
set -u
mkdir -p /tmp/f
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
run() {  # label, then fuzz arguments
  label=$1; shift
  timeout 150 python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/f/$label "$@" > /tmp/f/$label.txt 2>&1
  echo "$label exit $?"; grep -E "^summary|named cases and|implementations:|^FAIL|cause:|^NOT JUDGED|^ERROR" /tmp/f/$label.txt | head -6
}
run triton_w4 --candidate benchmarks/results/h100/s15_ab/cands.py:triton_correct --workers 4
run torch --candidate benchmarks/results/h100/s15_ab/cands.py:torch_correct
run rt3correct --candidate benchmarks/redteam3_mutants.py:correct
run rt3mutant --candidate benchmarks/redteam3_mutants.py:pt1_buffer_width
run builtins

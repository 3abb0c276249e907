#!/usr/bin/env bash
# Stop 16 final GPU checks on the final tree: GPU tests; v2 campaigns on cuda, 40 s each:
# the shipped backends as candidates, the second red-team's correct candidate, one of its
# mutants (found at first only after the generator fixes), the built-ins alone.
set -u
mkdir -p /tmp/f
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -1
run() {  # label, then fuzz arguments
  label=$1; shift
  timeout 120 python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/f/$label "$@" > /tmp/f/$label.txt 2>&1
  echo "$label exit $?"; grep -E "^summary|implementations:|^FAIL|cause:" /tmp/f/$label.txt | head -5
}
run triton --candidate benchmarks/results/h100/s15_ab/cands.py:triton_correct
run torch --candidate benchmarks/results/h100/s15_ab/cands.py:torch_correct
run rt2correct --candidate benchmarks/redteam2_mutants.py:correct
run rt2mutant --candidate benchmarks/redteam2_mutants.py:dsa_cu_closed_form
run builtins

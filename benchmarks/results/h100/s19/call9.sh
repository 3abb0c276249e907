#!/usr/bin/env bash
# Stop 19 call 9: redteam6's correct candidates on cuda (they raised in call 8: a CPU tensor
# into torch.cat; now run on host copies), 30 s each, default helpers.
set -u
res=${1:?res}; mkdir -p $res
for m in correct correct_rewrites_same_values; do
  python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam6_mutants.py:$m --seconds 30 --corpus /tmp/c9_$m > $res/rt6_$m.txt 2>&1; rc=$?
  echo "rt6 $m rc $rc: $(grep summary: $res/rt6_$m.txt) $(grep -E '^FAIL' $res/rt6_$m.txt | head -1)"
done

#!/usr/bin/env bash
# Stop 15 final GPU checks: GPU tests, kernel A/B, v2 campaigns on cuda.
set -u
out=${1:?out}; mkdir -p $out /tmp/f
python -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tail -2
bash .ab/ab.sh /tmp/ab --bs 1,32,512,4096 --widths 2048 > /dev/null; cp /tmp/ab/compare.txt $out/ab_page_bounds.txt
for c in .ab/cands.py:triton_correct .ab/cands.py:torch_correct tests/meta_mutants.py:correct; do
  timeout 120 python -m fuzz run --op metadata --device cuda --candidate $c --seconds 45 --corpus /tmp/f/c > /tmp/f/run.txt 2>&1; echo "$c exit $?"; grep -E "summary|implementations|FAIL|cause" /tmp/f/run.txt | head -6
done
timeout 120 python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam_mutants.py:page_table_col_stride_ignored --seconds 45 --corpus /tmp/f/m > /tmp/f/m.txt 2>&1; echo "mutant exit $?"; grep -E "summary|FAIL|cause" /tmp/f/m.txt | head -4
timeout 120 python -m fuzz run --op metadata --device cuda --seconds 45 --corpus /tmp/f/b > /tmp/f/b.txt 2>&1; echo "builtins exit $?"; grep -E "summary|implementations|FAIL|cause" /tmp/f/b.txt | head -5

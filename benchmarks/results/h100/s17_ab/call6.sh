#!/usr/bin/env bash
# Stop 17 call 6: A/B of EARLY_PAGES (real_page_table's cells loaded before the page
# table's stores wherever the chunk's pages fit one block, at every bs; 0: only with
# EARLY, bs <= 128 draft_extend_var), interleaved twice, page size 64, every mode,
# bs 128-16384 W 2048 and bs 128, 512 W 65536. (The EARLY_PAGES switch was removed after
# this call: `git show` the commit that added call6.sh to run it again.)
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --bs 128,512,1024,4096,16384 --widths 2048 --pages 64"
b="--quick --no-torch --bs 128,512 --widths 65536 --pages 64"
for r in 1 2; do
  for v in 0 1; do
    python benchmarks/bench_metadata.py $a --plan EARLY_PAGES=$v --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python benchmarks/bench_metadata.py $b --plan EARLY_PAGES=$v --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  python benchmarks/results/h100/s14_sweep/compare.py e0_1=$out/${s}_01/bench_metadata.json e1_1=$out/${s}_11/bench_metadata.json e0_2=$out/${s}_02/bench_metadata.json e1_2=$out/${s}_12/bench_metadata.json
done > $res/early_pages_ab.txt
cat $res/early_pages_ab.txt

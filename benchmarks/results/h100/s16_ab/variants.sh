#!/usr/bin/env bash
# Stop 16 call 3: four variants of the page programs in one tree, interleaved twice:
# base (main), tile (EARLY_TILE: the first req_to_token tile before the sum of earlier
# extends, draft_extend_var), pv (EARLY_PAGES=1: real_page_table's cells loaded with the
# first tile, draft_extend_var), pall (EARLY_PAGES=2, every mode), tp (tile + pv).
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var,decode --bs 1,32,512,1024,4096 --widths 2048"
b="--quick --no-torch --modes draft_extend_var --bs 32,512 --widths 65536"
declare -A P=([base]="" [tile]="--plan EARLY_TILE=1" [pv]="--plan EARLY_PAGES=1" [pall]="--plan EARLY_PAGES=2" [tp]="--plan EARLY_TILE=1 --plan EARLY_PAGES=1")
for r in 1 2; do
  for v in base tile pv pall tp; do
    python benchmarks/bench_metadata.py $a ${P[$v]} --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python benchmarks/bench_metadata.py $b ${P[$v]} --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  args=""; for r in 1 2; do for v in base tile pv pall tp; do args="$args $v$r=$out/${s}_$v$r/bench_metadata.json"; done; done
  python benchmarks/results/h100/s14_sweep/compare.py $args
done > $res/variants.txt
cat $res/variants.txt

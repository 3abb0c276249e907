#!/usr/bin/env bash
# Stop 17 call 3: A/B of MAX_BW (columns of a tile holding several requests: 1024, the
# default; 2048: one request a 2048-column tile from bs 256 at W 2048) and of MAX_BW 2048
# with early loads up to bs 1024 (EARLY_BS), interleaved twice; bs 128-16384 W 2048, and
# bs 128, 512 W 65536 page 64; draft_extend_var, decode, draft_extend.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var,decode,draft_extend --bs 128,512,1024,4096,16384 --widths 2048 --pages 1,64"
b="--quick --no-torch --modes draft_extend_var,decode,draft_extend --bs 128,512 --widths 65536 --pages 64"
for r in 1 2; do
  for v in base m2 m2e; do
    case $v in base) p="";; m2) p="--plan MAX_BW=2048";; m2e) p="--plan MAX_BW=2048 --plan EARLY_BS=1024";; esac
    python benchmarks/bench_metadata.py $a $p --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
    python benchmarks/bench_metadata.py $b $p --out $out/b_$v$r > $out/b_$v$r.log 2>&1; echo "b $v$r rc $?"
  done
done
for s in a b; do
  python benchmarks/results/h100/s14_sweep/compare.py base1=$out/${s}_base1/bench_metadata.json m2_1=$out/${s}_m21/bench_metadata.json m2e_1=$out/${s}_m2e1/bench_metadata.json base2=$out/${s}_base2/bench_metadata.json m2_2=$out/${s}_m22/bench_metadata.json m2e_2=$out/${s}_m2e2/bench_metadata.json
done > $res/maxbw_ab.txt
cat $res/maxbw_ab.txt

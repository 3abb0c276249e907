#!/usr/bin/env bash
# Stop 18 call 1: A/B of the early loads above bs 128 in draft_extend_var with registers
# capped at 64 (CAPPED_EARLY_BS 128: off, as before; 1024: on up to bs 1024), interleaved
# twice: bs 256-1024, next_n 1 and 4, W 2048 and 65536, page sizes 1 and 64.
# (The switch: plan constants CAPPED_EARLY_BS and EARLY_MAXNREG, `maxnreg` passed at launch;
# not kept, see NOTES.md "Stop 18".)
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
a="--quick --no-torch --modes draft_extend_var --bs 256,512,1024 --widths 2048,65536 --pages 1,64"
for r in 1 2; do
  for v in 128 1024; do
    python benchmarks/bench_metadata.py $a --plan CAPPED_EARLY_BS=$v --out $out/a_$v$r > $out/a_$v$r.log 2>&1; echo "a $v$r rc $?"
  done
done
python benchmarks/results/h100/s14_sweep/compare.py off_1=$out/a_1281/bench_metadata.json on_1=$out/a_10241/bench_metadata.json off_2=$out/a_1282/bench_metadata.json on_2=$out/a_10242/bench_metadata.json > $res/capped_early_ab.txt
cat $res/capped_early_ab.txt

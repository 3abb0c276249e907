#!/usr/bin/env bash
# Stop 16 call 2: ncu of draft_extend_var bs 512 N 1 W 2048 (probe16.py); A/B of the first
# tile's early load only where a page program has one block of requests (EARLY), against
# .ab/old (HEAD), draft_extend_var, interleaved.
set -u
out=${1:?out}; res=${2:?res}; mkdir -p $out $res
/usr/local/cuda/bin/ncu --profile-from-start off --set full python benchmarks/results/h100/s16_ab/probe16.py > $res/ncu_var512.txt 2>&1; echo "ncu rc $?"
a="--quick --no-torch --modes draft_extend_var --bs 1,32,512,1024,4096,16384 --widths 2048"
for r in 1 2; do
  python .ab/old/benchmarks/bench_metadata.py $a --out $out/old$r > $out/old$r.log 2>&1; echo "old$r rc $?"
  python benchmarks/bench_metadata.py $a --out $out/new$r > $out/new$r.log 2>&1; echo "new$r rc $?"
  python benchmarks/bench_metadata.py $a --plan TARGET=2048 --out $out/t2k$r > $out/t2k$r.log 2>&1; echo "t2k$r rc $?"
done
python benchmarks/results/h100/s14_sweep/compare.py old1=$out/old1/bench_metadata.json new1=$out/new1/bench_metadata.json t2k1=$out/t2k1/bench_metadata.json old2=$out/old2/bench_metadata.json new2=$out/new2/bench_metadata.json t2k2=$out/t2k2/bench_metadata.json > $res/early_ab.txt
cat $res/early_ab.txt
grep -E "^  _|Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued|Stall|Memory Throughput|Block Limit Reg|^grid|^order" $res/ncu_var512.txt | head -80

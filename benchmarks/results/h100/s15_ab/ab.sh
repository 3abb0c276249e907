#!/usr/bin/env bash
# A/B of the v2 kernel: .ab/old (HEAD) against the working tree, interleaved, graph replay.
set -u
out=${1:?out}; shift
common="--quick --no-torch $*"
for r in 1 2; do
  python .ab/old/benchmarks/bench_metadata.py $common --out $out/old$r > $out/old$r.log 2>&1; echo "old$r rc $?"
  python benchmarks/bench_metadata.py $common --out $out/new$r > $out/new$r.log 2>&1; echo "new$r rc $?"
done
python benchmarks/results/h100/s14_sweep/compare.py old1=$out/old1/bench_metadata.json new1=$out/new1/bench_metadata.json old2=$out/old2/bench_metadata.json new2=$out/new2/bench_metadata.json > $out/compare.txt
cat $out/compare.txt

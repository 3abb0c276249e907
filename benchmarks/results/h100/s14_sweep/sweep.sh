#!/usr/bin/env bash
# Stop 14: the v2 kernel's GPU plan constants at small bs, graph replay, one call.
#   bash benchmarks/results/h100/s14_sweep/sweep.sh OUTDIR
set -u
out=${1:?usage: sweep.sh OUTDIR}
common="--quick --no-torch --bs 1,8,32,128,512 --widths 2048,65536 --modes decode,target_verify,draft_extend_var"
run() {  # name, then --plan arguments
    local name=$1; shift
    python benchmarks/bench_metadata.py $common "$@" --out "$out/$name" > "$out/$name.txt" 2>&1
    echo "$name rc $?"
}
run default
run split1 --plan SPLIT_ROWS=1
run split2 --plan SPLIT_ROWS=2
run tile1024 --plan TILE=1024
run tile512 --plan TILE=512
run scalar64 --plan SCALAR_REQS=64 --plan SCALAR_SUB=64

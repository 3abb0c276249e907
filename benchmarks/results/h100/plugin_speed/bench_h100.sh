#!/bin/bash
# A/B on the device machine: base tree (_ps_base) vs this worktree. Results under $R.
set -u
R=/tmp/psout; mkdir -p $R
nvidia-smi -L
python -c "import torch, triton, sys; print(sys.version.split()[0], torch.__version__, triton.__version__)"
NEW=$PWD
run() {  # tree tag candidate device seconds
  local tree=$1 tag=$2 cand=$3 dev=$4 s=$5
  (cd $tree && rm -rf /tmp/c_$tag && PYTHONPATH=.:/tmp/site timeout 200 python -m fuzz run --seconds $s --device $dev \
     --candidate benchmarks/plugin_kernels.py:$cand --corpus /tmp/c_$tag --report $R/${tag}_${cand}_${dev}.json \
     > $R/${tag}_${cand}_${dev}.log 2>&1; echo "$tag $cand $dev exit $?")
  python -c "
import json; d=json.load(open('$R/${tag}_${cand}_${dev}.json'))
print('%-4s %-14s %-5s %6.1fs cases/s %8.0f plugin_bulk/s %8.0f restarts %s errors %d failures %d' % ('$tag','$cand','$dev',d['seconds'],d['cases_per_second'],d['plugin_bulk_cases']/d['seconds'],d['restarts'],len(d['errors']),len(d['failures'])))" | tee -a $R/summary.txt
}
for cand in no_extra_sync sync_per_call; do
  run old old $cand cuda 60; run new new $cand cuda 60
done
cat $R/summary.txt
tar -czf $OUT/ps.tar.gz -C /tmp psout

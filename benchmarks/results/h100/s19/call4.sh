#!/usr/bin/env bash
# Stop 19 call 4: the GPU tests with compile-ahead in the tree; planted.py (a copy,
# tmp_planted.py) through `run --device cuda` with the default helpers (one of them hangs:
# its helpers must end, the worker's hang be confirmed); no helper left after.
set -u
res=${1:?res}; mkdir -p $res
python -m pytest -q -m gpu -p no:randomly tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -2 $res/gpu_tests.txt
for m in baseline off_by_one hangs_on_three_requests; do
  s=$(date +%s.%N)
  python -m fuzz run --device cuda --candidate tmp_planted.py:$m --seconds 40 --corpus /tmp/pl/$m > $res/planted_$m.txt 2>&1; rc=$?
  echo "$m rc $rc wall $(python3 -c "import time;print(round(time.time()-$s,1))")"; grep -E "^(summary|FAIL|[0-9]+\.|  *cause)" $res/planted_$m.txt | head -4
  echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"
done
head -1 $res/planted_baseline.txt

#!/usr/bin/env bash
# Stop 26 call 4: the built-ins alone on cuda, 20 s, cold Triton cache each: no helpers
# (--compile-ahead 0) against the default (helpers run the built-in Triton backend now);
# then the GPU tests.
set -u
out=${1:?out}; mkdir -p $out
for v in none default; do
  export TRITON_CACHE_DIR=/tmp/tc26c4_$v
  a=""; [ $v = none ] && a="--compile-ahead 0"
  timeout 120 python -m fuzz run --op metadata --device cuda --seconds 20 $a --corpus /tmp/c4_$v --report $out/builtins_$v.json > $out/builtins_$v.txt 2>&1
  echo "builtins $v rc $?"; grep -E "^campaign|^summary|named cases and|ended before" $out/builtins_$v.txt
done
echo "left running: $(ps -eo cmd | grep -cE '[f]uzz\.(worker|compile_ahead)')"
timeout 400 python -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tail -3 > $out/gpu_tests.txt; cat $out/gpu_tests.txt

#!/usr/bin/env bash
# Stop 23 call 1 (after v1 refill cases, daemons dying with their worker, and shrunk cases
# confirmed in a fresh worker): GPU tests; the new CPU tests on this image (Python 3.12,
# torch 2.11); v1 refill finds on cuda and their replay; a stateful candidate's entries;
# a Triton candidate's failure shrunk with the fresh-worker check (its cost); a daemon.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc23c1
python -m pytest -q -p no:randomly -m gpu tests > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
python -m pytest -q -p no:randomly -m "slow or not slow" tests/test_v1_refill.py tests/test_isolation.py -k "refill or daemon or state or forking" > $res/new_tests.txt 2>&1; echo "new tests rc $?"; tail -1 $res/new_tests.txt
for c in redteam5_mutants.py:v1_cache_by_pointer redteam5_mutants.py:correct_v1; do
  n=${c//[:.]/_}
  python -m fuzz run --device cuda --candidate benchmarks/$c --seconds 20 --corpus /tmp/c1_$n --report $res/$n.json > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -2)"
  python -m fuzz replay /tmp/c1_$n --device cuda --candidate benchmarks/$c > $res/${n}_replay.txt 2>&1; echo "  replay rc $?: $(tail -1 $res/${n}_replay.txt)"
done
python -m fuzz run --device cuda --candidate tests/candidates/hostile.py:caches_by_shape --max-cases 60 --bulk 0 --corpus /tmp/c1_cbs --report $res/caches_by_shape.json > $res/caches_by_shape.txt 2>&1; echo "caches_by_shape rc $?"; grep -E "^FAIL|case:" $res/caches_by_shape.txt
python -m fuzz replay /tmp/c1_cbs --device cuda --candidate tests/candidates/hostile.py:caches_by_shape > $res/caches_by_shape_replay.txt 2>&1; echo "  replay rc $?: $(tail -1 $res/caches_by_shape_replay.txt)"
for c in redteam8_mutants.py:carry_first_chunk_only redteam8_mutants.py:correct; do
  n=${c//[:.]/_}
  /usr/bin/time -f "%e s" python -m fuzz run --op metadata --device cuda --candidate benchmarks/$c --seconds 40 --corpus /tmp/c1_$n --report $res/$n.json > $res/$n.txt 2>&1; rc=$?
  echo "$c rc $rc: $(grep summary: $res/$n.txt) $(grep -E '^FAIL' $res/$n.txt | head -1) $(tail -1 $res/$n.txt)"
done
python -m fuzz run --op metadata --device cuda --candidate benchmarks/false_alarm_candidates2.py:correct_leaves_session --seconds 15 --corpus /tmp/c1_cls > $res/leaves_session.txt 2>&1; echo "leaves_session rc $?: $(grep summary: $res/leaves_session.txt)"
sleep 1; echo "left running: $(ps -eo cmd | grep -c '[c]orrect_leaves_session')"

"""False-alarm red team (benchmarks/false_alarm_candidates.py): candidates that honour the
contract in unusual ways (regions written three times, whole storages rewritten with the
values they hold, storages scribbled then restored, envelopes that are wrong outside) must
never be judged failing on the named cases that stress buffers and layouts."""

from __future__ import annotations

import pytest

from fuzz.envelope import Envelope
from fuzz.meta_envelope import restrict
from fuzz.meta_strategies import named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here

CASES = (
    "strided buffers",
    "page tables of a transposed storage (column stride != 1)",
    "page tables every 2nd and 3rd storage column",
    "page tables wider than the width (SGLang's longest-context buffers)",
    "1-D buffers with a stride each",
    "back-to-back calls, smaller T",
    "width 3, 7, 2 on one set of buffers, page 2, inputs refilled in place",
    "replay on the same input tensors, refilled in place (draft_extend_var)",
    "the same call again with a new topk (2, then 1, then 7)",
    "bs 0",
    "page 3, width not a multiple",
)

CANDIDATES = (
    "correct_garbage_first",
    "correct_whole_storage_rmw",
    "correct_scribble_restore",
    "correct_full_slice_copy",
    "correct_reads_buffers_as_strided",
    "correct_content_cache",
    "correct_numpy_float64",
    "correct_pure_python",
    "correct_thread_pool",
)


def _candidate(name: str):
    return getattr(benchmark_module("false_alarm_candidates"), name)


@pytest.mark.parametrize("name", CANDIDATES)
def test_unusual_writers_are_not_judged_failing(name) -> None:
    fn, named = _candidate(name), named_meta_cases()
    for case_name in CASES:
        assert judged_here(fn, named[case_name]) is None, (name, case_name)


def test_the_writers_do_write_outside_the_region() -> None:
    """The whole-storage writer really rewrites cells outside the region (so the test above
    is about values, not about never touching them): with a wrong value there, it fails."""
    fn = _candidate("correct_whole_storage_rmw")
    case = named_meta_cases()["page tables wider than the width (SGLang's longest-context buffers)"]

    def off_by_one_outside(**kw) -> None:
        fn(**kw)
        pt = kw["out"].page_table_1
        pt[0, -1] += 1  # a column past the width: outside the region

    found = judged_here(off_by_one_outside, case)
    assert found is not None and found.kind == "outside-region", found


@pytest.mark.parametrize(
    "name", ["correct_env_decode_p1", "correct_env_contiguous_int32", "correct_env_fixed"]
)
def test_envelope_candidates_pass_inside_and_fail_outside(name) -> None:
    """Right on every named case moved inside the declared envelope; wrong on one outside
    it (so a draw outside the envelope would be a false alarm)."""
    fn, named = _candidate(name), named_meta_cases()
    env = Envelope.of(fn)
    inside = outside = 0
    for case_name in CASES + ("target_verify N=3", "draft_extend N=4", "req_to_token sliced"):
        case = named[case_name]
        moved = restrict(env, case)
        if moved is not None:
            assert judged_here(fn, moved) is None, (name, case_name)
            inside += 1
        if moved is not case:
            try:
                outside += judged_here(fn, case) is not None
            except (AssertionError, RuntimeError, ValueError, IndexError):
                outside += 1
    assert inside >= 3 and outside >= 1, (inside, outside)


@pytest.mark.slow
def test_a_persistent_process_pool_is_not_a_failure(tmp_path) -> None:
    """correct_process_pool keeps a helper process across calls and awaits every result: the
    campaign must exit 0. It exited 1 (raised BrokenProcessPool) on the second batch, the
    saved entry passing when replayed alone: the worker's strays were killed after every
    batch and the worker kept (now a worker that had strays is replaced)."""
    import subprocess
    import sys

    from tests.meta_fuzz_helpers import ROOT

    spec = "benchmarks/false_alarm_candidates.py:correct_process_pool"
    run = subprocess.run(
        [sys.executable, "-m", "fuzz", "run", "--op", "metadata", "--candidate", spec,
         "--max-cases", "40", "--corpus", str(tmp_path), "--max-failures", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]

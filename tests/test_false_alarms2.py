"""False-alarm red team, round 2 (benchmarks/false_alarm_candidates2.py): a correct candidate
may change its worker's global state (a default device or a device context left set, the
default dtype, warnings made errors, a re-based clock, fd 2 taken by a file of its own);
the worker's own building and reading must not turn that into a verdict on it."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import pytest
import torch

import fuzz.meta_entry  # noqa: F401  (registers the "metadata" decoder)
from fuzz import worker
from fuzz.meta_harness import judge_answer
from fuzz.meta_judge import decode_meta_answer, plan
from fuzz.meta_strategies import named_meta_cases
from fuzz.meta_worker import run_item
from fuzz.pinned import ours
from fuzz.worker import CallClock, Runner
from tests.meta_fuzz_helpers import ROOT, benchmark_module

# Refilled inputs (built before the first call, refilled after it), several calls, and a
# fresh table per call: every piece of our building runs once the candidate has run.
CASES = (
    "replay on the same input tensors, refilled in place (draft_extend_var)",
    "back-to-back calls, larger bs",
    "width 3, 7, 2 on one set of buffers, page 2, inputs refilled in place",
    "page tables of a transposed storage (column stride != 1)",
)


def _judged_by_worker(fn, case, undo):
    """As a campaign judges a candidate: its worker's item (run here), then `undo` (the
    candidate's global state is its worker's, not the parent's), decoded, judged."""
    item = {"op": "metadata", "case": case.to_json()}
    try:
        header, blobs = run_item(Runner(fn, "cpu", 1 << 30), item)
    finally:
        kept = undo()
    assert header["status"] == "ok", header
    return judge_answer("rt", plan(case), decode_meta_answer(header, blobs, item)), kept


def _shipped(**kw) -> None:
    benchmark_module("false_alarm_candidates2")._shipped(kw)


@pytest.fixture
def restore_torch():
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_device(None)
    torch.set_default_dtype(dtype)


def test_a_default_device_left_set_is_not_a_harness_error(restore_torch) -> None:
    """The candidate leaves `torch.set_default_device("meta")` after each call (a module that
    sets "cuda" for its own allocations): our table, gap and refill tensors landed on "meta"
    and building the next call raised ("Cannot copy out of meta tensor"): exit 3 blamed on
    the candidate's run, no case judged."""

    def leaves_meta(**kw) -> None:
        with torch.device("cpu"):
            _shipped(**kw)
        torch.set_default_device("meta")

    def undo() -> str:
        kept = torch.get_default_device().type  # its state, kept for its next call
        torch.set_default_device(None)
        return kept

    named = named_meta_cases()
    for name in CASES:
        torch.set_default_device("meta")  # as its call on the item before left it
        assert _judged_by_worker(leaves_meta, named[name], undo) == (None, "meta"), name


def test_a_device_context_left_entered_is_not_a_harness_error() -> None:
    """`torch.device("meta").__enter__()` never exited (a torch function mode on the stack):
    the same, through a mode `set_default_device(None)` does not clear."""
    contexts = []

    def enters_meta(**kw) -> None:
        with torch.device("cpu"):
            _shipped(**kw)
        contexts.append(torch.device("meta"))
        contexts[-1].__enter__()

    def undo() -> int:
        for ctx in reversed(contexts):
            ctx.__exit__(None, None, None)
        entered = len(contexts)
        contexts.clear()
        return entered

    named = named_meta_cases()
    for name in CASES:
        contexts.append(torch.device("meta"))  # as its call on the item before left it
        contexts[-1].__enter__()
        assert _judged_by_worker(enters_meta, named[name], undo)[0] is None, name
    assert torch.zeros(1).device.type == "cpu"


def test_ours_pins_what_our_code_relies_on_and_gives_the_candidate_its_state_back(
    restore_torch,
) -> None:
    torch.set_default_device("meta")
    torch.set_default_dtype(torch.float64)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with ours():
                assert torch.zeros(1).device.type == "cpu"
                assert torch.zeros(1).dtype == torch.float32
                assert sys.getrecursionlimit() >= 1000
                warnings.warn("ours", UserWarning, stacklevel=1)  # not an error here
            with pytest.raises(UserWarning):
                warnings.warn("the candidate's filters", UserWarning, stacklevel=1)
        assert torch.zeros(1).device.type == "meta"
        assert torch.get_default_dtype() == torch.float64
        assert sys.getrecursionlimit() == 120
    finally:
        sys.setrecursionlimit(limit)


def test_the_call_clock_ignores_a_re_based_time_module(monkeypatch) -> None:
    """The parent reads the candidate's start against its own CLOCK_MONOTONIC: a candidate
    that re-bases `time.monotonic_ns` (a clock from its own import, for its logs) made a
    running call look hours long (a false hang)."""
    monkeypatch.setattr(time, "monotonic_ns", lambda: 5)
    progress = [0, 0, 0, 0, 0]
    clock = CallClock(progress)
    clock.enter()
    began = progress[4]
    clock.leave()
    monkeypatch.undo()
    assert abs(time.monotonic_ns() - began) < 60 * 10**9, began
    assert 0 <= progress[3] < 60 * 10**9


_FD2 = """
import os, sys
from fuzz import wire, worker
from fuzz.pinned import SavedFd
worker._ITEM_END_FD = SavedFd(2)
os.close(2)
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
assert fd == 2, fd
worker.end_of_output()
os.close(fd)
print(os.path.getsize(path))
"""


def test_item_ends_are_marked_on_our_fd_not_on_a_file_that_took_fd_2(tmp_path) -> None:
    """A candidate closed fd 2 and a scratch file of its own took the number: our end-of-item
    markers were written into its file (its data corrupted: a correct candidate failing).
    They go to a private duplicate of our fd 2, made before the candidate is loaded."""
    run = subprocess.run(
        [sys.executable, "-c", _FD2, str(tmp_path / "scratch")],
        cwd=ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == [b"0"], run.stdout  # nothing of ours in its file
    assert worker.wire.ITEM_END in run.stderr  # the marker reached the original stderr

"""Red-team round 10: what `--check-errors` missed or found only late
(benchmarks/redteam10_mutants.py), closed in fuzz/meta_contract.py. A poked vector keeps its
call's layout; base 4 has int64 extend lengths in a strided view and a transposed table; span
kinds also land on the first and the last request of a base of three. Each miss is caught by
exactly those new named bad calls, and the built-in and correct candidates pass them all.
"""

from __future__ import annotations

import pytest
import torch
from meta_fuzz_helpers import benchmark_module

import nsa_meta
from fuzz.meta_contract import META_FAULTS, fault_problem, faulty_call, named_bad_cases
from fuzz.meta_harness import judge_bad_call_here

M = benchmark_module("redteam10_mutants")
NAMED = named_bad_cases(every_value=True)


def judged(fn, case, fault):
    """The fuzzer's verdict on `fn` for one bad call, in this process."""
    return judge_bad_call_here("rt10", lambda kw: fn(**kw), case, fault, "cpu")


def is_new(key: str) -> bool:
    """A named bad call this round added or changed: a first / last request, or base 4."""
    return ", #" in key or "[base 4:" in key


# mutant -> the new named bad call that catches it (hunt_rt10: missed, or Hypothesis > 20 s)
CLOSED = {
    "extend_negative_first_skipped": "error: extend_negative [base 0: draft_extend_var, -1, #0]",
    "extend_negative_skipped_strided": "error: extend_negative [base 4: draft_extend_var, -1]",
    "extend_negative_skipped_int64": "error: extend_negative [base 4: draft_extend_var, -1]",
    "cell_skipped_column_strided": "error: table_negative_cell [base 4: draft_extend_var, -1]",
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_the_new_named_bad_call_catches_the_miss(name):
    case, fault = NAMED[CLOSED[name]]
    assert judged(getattr(M, name), case, fault) is not None
    assert judged(M.correct_lists, case, fault) is None


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_no_other_named_bad_call_catches_it(name):
    fn = getattr(M, name)
    caught = [k for k, (c, f) in NAMED.items() if not is_new(k) and judged(fn, c, f) is not None]
    assert not caught, caught[:3]


def test_poke_keeps_the_layout():
    case, fault = NAMED["error: extend_negative [base 4: draft_extend_var, -1]"]
    ext = faulty_call(case, fault, torch.device("cpu"))["extend_seq_lens"]
    assert (ext.dtype, ext.stride(), ext.storage_offset()) == (torch.int64, (2,), 1)
    assert ext.tolist() == [3, -1, 2]
    assert faulty_call(case, fault, torch.device("cpu"))["req_to_token"].stride(0) == 1


def test_the_new_calls_are_one_fault_each_and_the_builtin_raises():
    new = {k: v for k, v in NAMED.items() if is_new(k)}
    assert sum(", #" in k for k in new) == 16
    for key, (case, fault) in new.items():
        assert fault_problem(case, fault) is None
        kw = faulty_call(case, fault, torch.device("cpu"))
        mode = kw.pop("mode")
        args = [kw.pop(n) for n in ("seq_lens", "req_pool_indices", "req_to_token")]
        k = META_FAULTS[fault.kind]
        with pytest.raises(k.error) as info:
            nsa_meta.metadata(mode, *args, **kw, backend="torch")
        assert k.matches(str(info.value)), (key, str(info.value))


@pytest.mark.parametrize("name", ["correct_lists", "correct_torch"])
def test_correct_candidates_pass_every_named_bad_call(name):
    fn = getattr(M, name)
    wrong = [k for k, (c, f) in NAMED.items() if judged(fn, c, f) is not None]
    assert not wrong, wrong[:5]

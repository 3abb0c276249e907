"""Red-team round 9e: what `--check-errors` missed (benchmarks/redteam9e_mutants.py), closed in
fuzz/meta_contract.py. Each miss is now caught in-process by a named bad case (every value on
every base case, two new bases) or a new kind (`out_not_tensor`, `out_too_narrow`,
`table_negative_last_cell`, `dsa_sum_too_low`, `dsa_sum_too_large`), and none by the named
cases the fuzzer had before (one per old kind, its named value, the first base admitting it).
"""

from __future__ import annotations

import pytest
import torch
from meta_fuzz_helpers import benchmark_module

import nsa_meta
from fuzz.meta_contract import META_FAULTS, fault_problem, faulty_call, named_bad_cases
from fuzz.meta_harness import judge_bad_call_here

NEW_KINDS = {
    "out_not_tensor",
    "out_too_narrow",
    "table_negative_last_cell",
    "dsa_sum_too_low",
    "dsa_sum_too_large",
}


def rt():
    return benchmark_module("redteam9e_mutants")


def judged(fn, case, fault):
    """The fuzzer's verdict on `fn` for one bad call, in this process."""
    return judge_bad_call_here("rt9e", lambda kw: fn(**kw), case, fault, "cpu")


def old_named() -> dict:
    """The named bad cases before this round: one per old kind, on the first three bases."""
    return {
        k: v
        for k, v in named_bad_cases(every_value=True).items()
        if "[" not in k and v[1].kind not in NEW_KINDS and _base_index(v[0]) < 3
    }


def _base_index(case) -> int:
    from fuzz.meta_contract import _bases

    return next(i for i, b in enumerate(_bases()) if b == case)


# mutant -> the named bad case that now catches it
CLOSED = {
    "next_n_bool_decode": "error: next_n_not_int [base 2: decode, 'bool']",
    "topk_over_int32": "error: topk_out_of_range [base 0: draft_extend_var, 2147483648]",
    "pool_index_zero_extend": "error: pool_index_negative [base 4: draft_extend_var, -1]",
    "kv_overflow_wraps": "error: kv_too_large [base 3: target_verify, 0]",
    "dsa_sum_below_int32": "error: dsa_sum_too_low",
    "out_buffer_not_tensor": "error: out_not_tensor",
    "real_page_floor_columns": "error: out_too_narrow [base 2: decode, 'real_page_table']",
    "page_table_short_written_first": "error: out_too_narrow [base 0: draft_extend_var, "
    "'page_table_1']",
    "var_rows_short_accepted": "error: out_too_small [base 0: draft_extend_var, "
    "'seqlens_expanded']",
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_a_new_named_bad_case_catches_the_miss(name):
    fn = getattr(rt(), name)
    case, fault = named_bad_cases(every_value=True)[CLOSED[name]]
    found = judged(fn, case, fault)
    assert found is not None, CLOSED[name]
    assert judged(rt().correct, case, fault) is None


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_the_old_named_bad_cases_miss_it(name):
    fn = getattr(rt(), name)
    assert all(judged(fn, c, f) is None for c, f in old_named().values())


def test_new_kinds_are_one_fault_each_and_the_builtin_passes():
    named = named_bad_cases(every_value=True)
    for kind in NEW_KINDS:
        k = META_FAULTS[kind]
        pairs = [v for key, v in named.items() if v[1].kind == kind]
        assert pairs, kind
        for case, fault in pairs:
            assert fault_problem(case, fault) is None
            kw = faulty_call(case, fault, torch.device("cpu"))
            mode = kw.pop("mode")
            args = [kw.pop(n) for n in ("seq_lens", "req_pool_indices", "req_to_token")]
            with pytest.raises(k.error) as info:
                nsa_meta.metadata(mode, *args, **kw, backend="torch")
            assert k.matches(str(info.value)), (kind, str(info.value))
    # the dsa kinds: the only fault is the running sum (the buffers got the rows)
    for kind, sign in (("dsa_sum_too_low", "= -"), ("dsa_sum_too_large", "= 2")):
        case, fault = named[f"error: {kind}"]
        kw = faulty_call(case, fault, torch.device("cpu"))
        mode = kw.pop("mode")
        args = [kw.pop(n) for n in ("seq_lens", "req_pool_indices", "req_to_token")]
        with pytest.raises(ValueError, match="dsa_cu_seqlens_k") as info:
            nsa_meta.metadata(mode, *args, **kw, backend="torch")
        assert sign in str(info.value)


def test_correct_candidates_pass_every_named_bad_case():
    for name in ("correct", "correct_wrapped_messages"):
        fn = getattr(rt(), name)
        found = [
            k
            for k, (c, f) in named_bad_cases(every_value=True).items()
            if judged(fn, c, f) is not None
        ]
        assert not found, (name, found[:5])

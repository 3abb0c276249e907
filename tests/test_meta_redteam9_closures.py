"""Red-team round 9's slow finds (plain Python / plain torch candidates, found only by the
draws in 10 to 12 s), closed by named cases: each fails its mutant and passes the built-in
torch backend and both of round 9's correct candidates."""

from __future__ import annotations

import pytest

from fuzz.meta_strategies import named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here, torch_candidate

CLOSURES = [
    ("target_verify, decode, draft_extend_var: tables wider than the width", "tv_writes_one_column_past_width"),
    ("draft_extend_var, a pool index repeated by neighbours, extends growing", "repeated_index_copies_wrong_rows"),
]  # fmt: skip


def _fn(name: str):
    return getattr(benchmark_module("redteam9_mutants"), name)


@pytest.mark.parametrize(("case", "bug"), CLOSURES)
def test_a_named_case_shows_the_bug_and_passes_the_correct_candidates(case, bug) -> None:
    named = named_meta_cases()[case]
    found = judged_here(_fn(bug), named)
    assert found is not None, f"{bug} passes {case!r}"
    for correct in (torch_candidate, _fn("correct_lists"), _fn("correct_torch")):
        assert judged_here(correct, named) is None

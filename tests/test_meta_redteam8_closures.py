"""Red-team round 8's misses and slow finds (Triton candidates under the interpreter),
closed by named cases: each fails its mutant and passes round 8's correct candidate. The
large cases of a timed campaign now wait for its rounds (tests/test_opening_chunks.py)."""

from __future__ import annotations

import pytest

from fuzz.meta_strategies import named_meta_cases
from tests.meta_fuzz_helpers import benchmark_module, judged_here

CLOSURES = [
    ("draft_extend_var back-to-back: T from 1 to 129 (past a 128-row tile)", "var_grid_from_first_call"),
    ("decode, pool indices int64, page size 2", "r64_as_int32_rpt"),
    ("target_verify next_n 5, T 150 (past a 128-row tile)", "fixed_tile_whole_requests"),
    ("draft_extend next_n 7, T 140", "fixed_tile_whole_requests"),
    ("draft_extend next_n 3, T 150", "fixed_tile_whole_requests"),
    ("bs 1100", "carry_first_chunk_only"),
    ("bs 1100, draft_extend_var", "carry_first_chunk_only"),
    pytest.param("bs 16385, draft_extend_var", "T_from_last_program", marks=pytest.mark.slow),
]  # fmt: skip


def _fn(name: str):
    return getattr(benchmark_module("redteam8_mutants"), name)


@pytest.mark.parametrize(("case", "bug"), CLOSURES)
def test_a_named_case_shows_the_bug_and_passes_the_correct_candidate(case, bug) -> None:
    named = named_meta_cases()[case]
    found = judged_here(_fn(f"bug_{bug}"), named)
    assert found is not None, f"{bug} passes {case!r}"
    assert judged_here(_fn("correct"), named) is None

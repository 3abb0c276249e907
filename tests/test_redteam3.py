"""The fourth red-team round (benchmarks/redteam3_mutants.py): the corners its missed bugs hid
in are reached now, by named cases that catch the bug in-process (the correct candidate
passes them) and by the draws: batches between the edge sizes (every tail residue), next_n
past 8 for small batches.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from meta_fuzz_helpers import benchmark_module, judged_here, searched

from fuzz.envelope import EVERYTHING, Envelope
from fuzz.meta_case import MetaCase
from fuzz.meta_envelope import valid
from fuzz.meta_strategies import LONG_NEXT_N_BS, MID_BS, meta_calls, named_meta_cases


def rt3():
    return benchmark_module("redteam3_mutants")


# mutant -> the named case that reaches its corner
CAUGHT_BY = {
    "de_next_n_over8_wrap": "next_n 9 then 17 (past the family's 1 to 8)",
    "clamp_sub_overflow": "padded rows with topk 2**31 - 1 (se - topk below int32)",
    "pages_extra_col_divisible": "strided buffers",
    "pt1_pool_width": "strided buffers",
}


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_named_corner_catches_the_mutant(mutant: str) -> None:
    case = named_meta_cases()[CAUGHT_BY[mutant]]
    assert judged_here(getattr(rt3(), mutant), case) is not None
    assert judged_here(rt3().correct, case) is None


def test_hunt_lists_every_candidate_once_with_a_docstring() -> None:
    m = rt3()
    names = [n for n, _, _ in m.HUNT]
    assert len(names) == len(set(names)) >= 55
    assert {op for _, op, _ in m.HUNT} == {"metadata", "expand"}
    assert all(getattr(m, n).__doc__ for n in names + [n for n, _, _ in m.UNREACHED])


def _calls(n: int, env: Envelope = EVERYTHING) -> list:
    """n calls as the generator draws them (derandomized: the same every run)."""
    got = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=True)
    @given(meta_calls(env, 2))
    def collect(call):
        got.append(call)

    collect()
    return got


def test_draws_reach_batches_between_the_edges_and_most_tails_of_8() -> None:
    mid = {c.bs for c in _calls(200) if MID_BS[0] <= c.bs <= MID_BS[1]}
    assert len(mid) >= 10
    assert len({b % 8 for b in mid}) >= 6  # this sample's; a campaign draws every residue


def test_draws_reach_next_n_past_8_for_small_batches_only() -> None:
    calls = _calls(300)
    long = [c for c in calls if c.next_n > 8]
    assert len(long) >= 3
    assert all(c.bs <= LONG_NEXT_N_BS for c in long)
    pinned = _calls(60, Envelope(next_n=(1, 2)))  # an envelope's next_n is kept
    assert {c.next_n for c in pinned} <= {1, 2}


def _catching(mutant: str, hit) -> MetaCase:
    """The first call the generator draws (draft_extend, width 2) for which `hit` holds and
    the mutant fails, within 2000 draws (a search, not a fixed sample: other draws move)."""

    def single(call) -> MetaCase:
        return MetaCase((call,), 2, 1, rows_slack=1, bs_slack=1)

    call = searched(
        meta_calls(Envelope(modes=("draft_extend",)), 2),
        lambda c: (
            hit(c)
            and valid(single(c))
            and judged_here(getattr(rt3(), mutant), single(c)) is not None
        ),
    )
    return single(call)


def test_drawn_corners_catch_the_missed_mutants() -> None:
    tail5 = _catching("bs_mod8_5_total", lambda c: c.bs > 8 and c.bs % 8 == 5)
    over8 = _catching("de_next_n_over8_wrap", lambda c: c.next_n > 8)
    for case in (tail5, over8):
        assert judged_here(rt3().correct, case) is None

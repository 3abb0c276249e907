"""The second red-team round (benchmarks/redteam2_mutants.py): the corners its bugs hid in are
reached by construction, by a named case that catches the bug in-process (the correct
candidate passes it), and by the draws (long extends, rows past 2**16, one request's rows
summing to near 2**31, a stride-0 extend).
"""

from __future__ import annotations

import pytest
from meta_fuzz_helpers import benchmark_module, judged_here, searched

from fuzz.envelope import Envelope
from fuzz.meta_envelope import valid
from fuzz.meta_strategies import _corner_cases, meta_calls, named_meta_cases


def rt2():
    return benchmark_module("redteam2_mutants")


# mutant -> the named case that reaches its corner (none did before this round)
CAUGHT_BY = {
    "dsa_cu_closed_form": "dsa_cu_seqlens_k near 2**31 - 1 from one request",
    "rows_past_65536": "one extend past 2**16 rows",
    "tv_kv_max": "target_verify kv exactly 2**31 - 1 (bs 1), topk 2**31 - 1 then 100",
    "topk_int32_max": "target_verify kv exactly 2**31 - 1 (bs 1), topk 2**31 - 1 then 100",
    "tv_n1_as_decode": "target_verify next_n 1, decode next_n 5",
    "topk0_padded": "topk 0 with padded rows",
    "var_ext_stride0_i64": "extend_seq_lens int64 broadcast (stride 0)",
    "tv_seq_stride0": "target_verify, inputs broadcast (stride 0)",
    "page128_second_page": "decode, page 128, width 200, six pool rows",
    "page64_tail_from_last_col": "draft_extend, page 64, width 100, six pool rows",
    "tv_page3_width_mod2": "target_verify, page 3, width 8, six pool rows",
    "bs_16384_exact": "bs 16384",
}


def test_corner_cases_are_valid_and_named() -> None:
    corners = _corner_cases()
    named = named_meta_cases()
    assert len(corners) >= 20 and all(valid(c) for c in corners.values())
    assert set(CAUGHT_BY.values()) <= set(named)


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_named_corner_catches_the_mutant(mutant: str) -> None:
    case = named_meta_cases()[CAUGHT_BY[mutant]]
    assert judged_here(getattr(rt2(), mutant), case) is not None
    assert judged_here(rt2().correct, case) is None


def test_every_mutant_is_a_v2_or_v1_candidate() -> None:
    m = rt2()
    assert len(m.V2_MUTANTS) >= 30 and len(m.V1_MUTANTS) >= 10
    assert all(getattr(m, n).__doc__ for n in m.V2 + m.V1)


def _reaches(mode: str, hit) -> None:
    """The generator draws a call of `mode` for which `hit` holds within 2000 draws."""
    searched(meta_calls(Envelope(modes=(mode,)), 2), hit)


def test_draws_reach_long_extends_and_rows_past_2_16() -> None:
    _reaches("draft_extend_var", lambda c: max(c.extend_seq_lens, default=0) > 1024)
    _reaches("draft_extend_var", lambda c: c.rows > 65536)


def test_draws_reach_one_request_summing_near_int32() -> None:
    def near(c) -> bool:
        e, kv = c.per_request()
        return any(n >= 2 and n * k - n * (n - 1) // 2 > 2**30 for n, k in zip(e, kv))

    _reaches("target_verify", near)

"""The red-team fixes of the `--op metadata` fuzzer (benchmarks/redteam_mutants.py): the
generator reaches each family a red-team bug hid in (replays at one bs, wide page tables,
token ids past 2**24, tables sliced mid-row, broadcast inputs), the named cases catch those
bugs in-process, and a cell is `stale` only when an earlier call wrote it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from meta_fuzz_helpers import judged_here, redteam, searched

from fuzz.case import Layout
from fuzz.meta_case import MetaCase, Table
from fuzz.meta_strategies import _call, _case, meta_cases, named_meta_cases

RT = redteam()


def reaches(hit) -> MetaCase:
    """A case the generator draws for which `hit` holds, within 3000 draws."""
    return searched(meta_cases(), hit, draws=3000)


def test_generator_draws_replays_at_one_bs_with_new_values() -> None:
    def replay(case: MetaCase) -> bool:
        first = case.calls[0]
        return any(
            c.mode == first.mode and c.bs == first.bs > 0 and c.seq_lens != first.seq_lens
            for c in case.calls[1:]
        )

    assert replay(reaches(replay))


def test_generator_draws_wide_tables_and_large_token_ids() -> None:
    assert reaches(lambda case: case.width > 512).width > 512
    reaches(lambda case: any(c.table.base >= 2**24 for c in case.calls))
    reaches(lambda case: any(c.table.col_off for c in case.calls))


@pytest.mark.slow  # a search of about 260 draws (12-17 s on two cores)
def test_generator_draws_broadcast_seq_lens() -> None:
    reaches(
        lambda case: any(
            c.seq_layout.stride == 0 and c.bs > 1 and len(set(c.seq_lens)) == 1 for c in case.calls
        )
    )


def test_generator_draws_wider_page_tables_and_negative_unread_cells() -> None:
    """Stop 17: page tables with columns past the width, and req_to_token cells the
    contract does not read holding negative ids (both valid; both found kernel bugs)."""
    reaches(lambda case: case.table_extra > 0)
    reaches(lambda case: any(c.table.negative_rows for c in case.calls))
    reaches(
        lambda case: any(
            c.table.negative_from < c.table.columns for c in case.calls if c.table.negative_from
        )
    )


def test_table_sliced_from_a_column_offset() -> None:
    t = Table(4, 5, seed=1, col_off=3, col_pad=2, base=2**24)
    got = t.tensor("cpu")
    assert got.storage_offset() == 3 and got.stride() == (10, 1)
    assert got.tolist() == t.rows() and t.rows()[0][0] == 2**24 + 1
    tt = replace(t, transposed=True).tensor("cpu")
    assert tt.stride(0) == 1 and tt.tolist() == t.rows()


@pytest.mark.parametrize(
    "mutant, named, signature",
    [
        ("tile_width_512", "wide page table (width 1025, page 64)", "values:page_table_1"),
        ("replay_cached_cu", "replays at one bs with new values", "stale:cu_seqlens_k"),
        ("replay_cached_owner", "draft_extend_var replays at one bs, T growing", "values"),
        ("token_ids_24bit", "token ids near 2**31, page 3", "values:page_table_1"),
        ("page_index_float32", "token ids near 2**31, page 3", "values:real_page_table"),
        ("col_offset_whole_rows", "req_to_token sliced from a column offset", "values"),
        ("seq_stride0_as_1", "seq_lens broadcast (stride 0), one pool row", ""),
    ],
)
def test_named_case_catches_the_redteam_bug(mutant, named, signature) -> None:
    case = named_meta_cases()[named]
    assert judged_here(RT.correct, case) is None
    try:
        found = judged_here(getattr(RT, mutant), case)
    except RuntimeError:  # reading past a broadcast's storage: the campaign's `raised`
        assert mutant == "seq_stride0_as_1"
        return
    assert found is not None and signature in found.signature, found


def test_a_cell_no_call_wrote_is_values_not_stale() -> None:
    """Call 1 (bs 0) writes no cache_seqlens cell; call 2 leaves its cell unwritten: that is
    a never-written value (so the shrinker may drop call 1), not one stale from call 1."""

    def skips_cache_seqlens(**kw):
        keep = kw["out"].cache_seqlens.clone()
        RT.correct(**kw)
        if kw["seq_lens"].tolist() == [4, 2]:  # the second call only
            kw["out"].cache_seqlens.copy_(keep)

    case = _case(_call("decode", [], []), _call("decode", [4, 2], [1, 3]))
    found = judged_here(skips_cache_seqlens, case)
    assert found.signature == "metadata:rt:values:cache_seqlens" and "poison" in found.cause
    wrote = _case(_call("decode", [5, 1], [0, 2]), _call("decode", [4, 2], [1, 3]))
    found = judged_here(skips_cache_seqlens, wrote)
    assert found.signature == "metadata:rt:stale:cache_seqlens", found


def test_redteam_correct_passes_a_strided_replay() -> None:
    case = _case(
        _call("draft_extend_var", [9, 3, 4], [1, 2, 7], [2, 0, 3], seq_layout=Layout("int64", 2)),
        _call("draft_extend_var", [1, 8, 6], [7, 0, 7], [4, 1, 0]),
        width=7,
        page=3,
        vec_stride=2,
        offset=2,
        table_pad=3,
    )
    assert judged_here(RT.correct, case) is None
    assert judged_here(RT.replay_cached_owner, case) is not None
    assert torch.get_default_dtype() == torch.float32  # the mutants leave torch as it was


def test_corpus_entry_keeps_a_column_offset_table_and_token_base() -> None:
    import json

    from fuzz.meta_entry import decode_meta_case

    case = named_meta_cases()["req_to_token sliced from a column offset"]
    case = replace(
        case, calls=(replace(case.calls[0], table=replace(case.calls[0].table, base=7)),)
    )
    back = decode_meta_case(json.dumps(case.to_json()).encode(), max_total=2**22)
    assert back == case and back.calls[0].table.col_off == 3
    bad = case.to_json()
    bad["calls"][0]["req_to_token"]["base"] = 2**31 - 1
    with pytest.raises(ValueError, match="base"):
        decode_meta_case(json.dumps(bad).encode(), max_total=2**22)

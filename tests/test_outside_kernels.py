"""The outside-style Triton kernels (benchmarks/outside_kernels.py) against the oracle: the
correct ones in every mode, page sizes 1 and 3, strided inputs and buffers, bs 0; and each
buggy variant wrong on one concrete valid input (its bug is real, so a hunt can find it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from metadata_helpers import (
    SENTINEL,
    Case,
    assert_metadata_in,
    poisoned_metadata,
    pool_table,
    snapshot_all,
    tensors,
)

import nsa_meta

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "outside_kernels.py"
_spec = importlib.util.spec_from_file_location("outside_kernels", PATH)
ok = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ok)

POOL = pool_table(6, 9)
MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")


def case_for(mode: str, **changes) -> Case:
    """bs 4 with a padded request (kv < e), topk inside the lengths, width 7."""
    base = Case(
        mode=mode,
        seq_lens=[5, 1, 0, 9],
        req_pool_indices=[3, 0, 5, 3],
        req_to_token=POOL,
        topk=4,
        width=7,
        next_n=3,
        extend_seq_lens=[2, 0, 3, 1] if mode == "draft_extend_var" else None,
    )
    return base.with_(**changes)


def run(fn, case: Case, out=None, *, plain: bool = False):
    """Call candidate `fn` on `case` into poisoned buffers; the buffers and their prior state."""
    rows = max(case.rows(), 1) + 2
    if out is None:
        if plain:
            out = nsa_meta.allocate_metadata(
                len(case.seq_lens) + 1, rows, case.width, case.page_size, "cpu"
            )
            for buf in out:
                if buf is not None:
                    buf.fill_(SENTINEL)
        else:
            out = poisoned_metadata(len(case.seq_lens) + 1, rows, case.width, case.page_size)
    before = snapshot_all(out)
    fn(**tensors(case), **case.kwargs(), mode=case.mode, out=out)
    return out, before


def differs(fn, case: Case, out=None) -> bool:
    out, before = run(fn, case, out)
    try:
        assert_metadata_in(out, before, case.expected(), name=fn.__name__)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("page_size", [1, 3])
@pytest.mark.parametrize("mode", MODES)
def test_upstream_style_matches_the_oracle(mode, page_size):
    case = case_for(mode, page_size=page_size)
    out, before = run(ok.upstream_style, case)
    assert_metadata_in(out, before, case.expected(), name=f"{mode} P{page_size}")


@pytest.mark.parametrize("mode", MODES)
def test_upstream_style_honours_every_stride(mode):
    case = case_for(
        mode,
        page_size=3,
        table_layout="transposed",
        steps=(2, 3, 2),
        dtypes=(torch.int64, torch.int32, torch.int64),
        topk=2**31 - 1,
    )
    out, before = run(ok.upstream_style, case)
    assert_metadata_in(out, before, case.expected(), name=mode)


@pytest.mark.parametrize("mode", MODES)
def test_empty_batch_and_no_rows(mode):
    empty = case_for(mode, seq_lens=[], req_pool_indices=[], extend_seq_lens=None)
    if mode == "draft_extend_var":
        empty = empty.with_(extend_seq_lens=[])
    out, before = run(ok.upstream_style, empty)
    assert_metadata_in(out, before, empty.expected(), name=f"{mode} bs 0")
    assert out.cu_seqlens_k[0] == 0 == out.dsa_cu_seqlens_k[0]
    if mode == "draft_extend_var":  # bs 2, T 0
        no_rows = case_for(mode, seq_lens=[3, 4], req_pool_indices=[1, 2], extend_seq_lens=[0, 0])
        out, before = run(ok.upstream_style, no_rows)
        assert_metadata_in(out, before, no_rows.expected(), name="T 0")


def test_envelope_variant_on_dense_tensors_and_its_envelope():
    assert ok.upstream_style_envelope.envelope == {"contiguous": True}
    for mode in ("target_verify", "draft_extend_var"):
        case = case_for(mode, page_size=3)
        out, before = run(ok.upstream_style_envelope, case, plain=True)
        assert_metadata_in(out, before, case.expected(), name=mode)
    # outside the envelope (a transposed req_to_token) it is wrong, which is why it says so
    assert differs(ok.upstream_style_envelope, case_for("decode", table_layout="transposed"))


def test_back_to_back_calls_leave_nothing_stale():
    case = case_for("draft_extend_var", extend_seq_lens=[3, 1, 2, 2])
    out, _ = run(ok.upstream_style, case)
    smaller = case.with_(extend_seq_lens=[0, 1, 0, 2], req_pool_indices=[1, 2, 4, 0])
    assert not differs(ok.upstream_style, smaller, out)


def test_hunt_names_every_candidate():
    names = [name for name, op, _ in ok.HUNT]
    assert all(op == "metadata" and callable(getattr(ok, n)) for n, op, _ in ok.HUNT)
    assert {n for n in names if n.startswith("correct")} == {
        "correct_upstream_style",
        "correct_upstream_style_envelope",
    }
    assert len(names) - 2 == 6


def test_bug_draft_extend_base():
    case = case_for("draft_extend")
    assert differs(ok.bug_draft_extend_base, case)
    assert not differs(ok.bug_draft_extend_base, case_for("target_verify"))


def test_bug_int32_clamp_count():
    # a padded request first (s 0, e 3: first row length -2) and topk 2**31 - 1: valid, small sums
    case = case_for("draft_extend", seq_lens=[0, 4], req_pool_indices=[1, 2], topk=2**31 - 1)
    assert case.expected().dsa_cu_seqlens_k == [0, -2, -3, -3, -1, 2, 6]
    assert differs(ok.bug_int32_clamp_count, case)
    assert not differs(ok.bug_int32_clamp_count, case.with_(topk=4))


def test_bug_scan_lower_bound():
    case = case_for("draft_extend_var", extend_seq_lens=[2, 0, 3, 1])  # a zero at row 2
    assert differs(ok.bug_scan_lower_bound, case)
    assert not differs(ok.bug_scan_lower_bound, case.with_(extend_seq_lens=[2, 1, 3, 1]))


def test_bug_width_from_buffer():
    case = case_for("decode")  # poisoned page tables have spare columns; req_to_token is wider
    assert differs(ok.bug_width_from_buffer, case)
    assert not differs(ok.bug_width_from_buffer, case.with_(width=9))


def test_bug_rows_of_last_call():
    big = case_for("draft_extend_var", extend_seq_lens=[2, 2, 1, 1])
    out, _ = run(ok.bug_rows_of_last_call, big)
    assert not differs(ok.bug_rows_of_last_call, big.with_(extend_seq_lens=[1, 0, 0, 1]), out)
    moved = big.with_(req_pool_indices=[1, 2, 4, 0])  # T back to 6, other rows
    assert differs(ok.bug_rows_of_last_call, moved, out)  # rows 2..5 left from the first call


def test_bug_last_tile_mask():
    assert differs(ok.bug_last_tile_mask, case_for("decode"))  # width 7, tile 8
    assert not differs(ok.bug_last_tile_mask, case_for("decode", width=8))


@pytest.mark.parametrize("mode", MODES)
def test_tiny_blocks_cross_every_block_boundary(mode, monkeypatch):
    """Blocks of 2 requests, row chunks of 1, scans of 2, tiles of 4 x 4: every
    carry between blocks and the scan's early stop are exercised at bs 7."""
    tiny = (("MAX_SUM_BLOCK", 2), ("MAX_TILE", 2), ("MAX_SCAN", 2), ("MAX_COLS", 4), ("ROWS", 4))
    for name, value in tiny:
        monkeypatch.setattr(ok, name, value)
    case = case_for(
        mode,
        seq_lens=[5, 1, 0, 9, 2, 7, 3],
        req_pool_indices=[3, 0, 5, 3, 1, 2, 4],
        extend_seq_lens=[2, 0, 0, 3, 1, 0, 4] if mode == "draft_extend_var" else None,
        page_size=3,
        table_layout="sliced",
    )
    out, before = run(ok.upstream_style, case)
    assert_metadata_in(out, before, case.expected(), name=mode)
    if mode == "draft_extend_var":
        assert differs(ok.bug_scan_lower_bound, case)

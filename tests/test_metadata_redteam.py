"""Red-team regressions for `nsa_meta.metadata` / `allocate_metadata` (contract v2): caller
buffers in layouts the shared helpers do not build (column-major and column-strided page
tables), scalars at the int32 edges, and allocate_metadata's bounds matching metadata's.
"""

from __future__ import annotations

import pytest
import torch
from helpers import whole_storage
from metadata_helpers import (
    SENTINEL,
    Case,
    assert_metadata_in,
    call,
    metadata_of,
    poisoned_metadata,
    pool_table,
    snapshot_all,
)

import nsa_meta

I32_MAX = 2**31 - 1
BACKENDS = ("torch", "triton")


def _out_in_layout(layout: str, bs_cap: int, rows_cap: int, width: int, page_size: int):
    """SENTINEL buffers whose page tables are column-major (`transposed`) or have a column
    stride of 2 (`column_step`); 1-D buffers with a storage offset."""

    def vector(n: int) -> torch.Tensor:
        return torch.full((n + 4,), SENTINEL, dtype=torch.int32)[3 : n + 3]

    def table(columns: int) -> torch.Tensor:
        if layout == "transposed":
            storage = torch.full((columns + 3, rows_cap + 2), SENTINEL, dtype=torch.int32)
            view = storage.t()[1 : rows_cap + 1, 2 : columns + 3]
        else:
            storage = torch.full((rows_cap + 1, 2 * columns + 5), SENTINEL, dtype=torch.int32)
            view = storage[1:, 1 : 2 * columns + 3 : 2]
        assert view.stride(1) != 1 and view.shape == (rows_cap, columns + 1)
        return view

    return metadata_of(vector, table, bs_cap, rows_cap, width, page_size)


def _check_into(case: Case, backend: str, layout: str, validate: bool) -> None:
    want = case.expected()
    out = _out_in_layout(
        layout, len(case.seq_lens) + 1, case.rows() + 2, case.width, case.page_size
    )
    before = snapshot_all(out)
    got = call(case, backend, out=out, validate=validate)
    assert got is out
    assert_metadata_in(out, before, want, name=f"{backend} {layout} {case.mode}")


CASES = {
    "var padded, P 3 W 7": Case(
        "draft_extend_var",
        [10, 0, 1],
        [2, 0, 2],
        pool_table(3, 8),
        topk=2,
        width=7,
        page_size=3,
        extend_seq_lens=[3, 4, 2],
        table_layout="transposed",
    ),
    "target_verify kv = 2**31 - 1, int32 seq_lens": Case(
        "target_verify",
        [I32_MAX - 8],
        [0],
        [[I32_MAX, 0, I32_MAX - 1]],
        topk=5,
        width=3,
        page_size=2,
        next_n=8,
        table_layout="sliced",
    ),
    "draft_extend W < P": Case(
        "draft_extend", [1, 6], [1, 0], pool_table(2, 3), topk=4, width=2, page_size=128, next_n=3
    ),
}


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("layout", ["transposed", "column_step"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CASES))
def test_page_tables_with_column_strides(name: str, backend: str, layout: str, validate: bool):
    _check_into(CASES[name], backend, layout, validate)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("page_size", [I32_MAX, I32_MAX - 1])
def test_page_size_near_int32_max(backend: str, page_size: int) -> None:
    """ceil(W / P) with W + P - 1 past 2**31 - 1: one page per row, cell // P."""
    case = Case(
        "decode", [4, 9], [0, 1], [[I32_MAX, 5, 6], [3, 2, 1]], width=3, page_size=page_size
    )
    _check_into(case, backend, "transposed", True)
    assert case.expected().real_page_table == [[1], [0]]


@pytest.mark.parametrize("name, value", [("width", 2**31), ("page_size", 2**31)])
def test_allocate_metadata_bounds_match_metadata(name: str, value: int) -> None:
    sizes = {"max_bs": 1, "max_rows": 1, "width": 1, "page_size": 1, name: value}
    with pytest.raises(ValueError, match=name):
        nsa_meta.allocate_metadata(**sizes)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_garbage_extends_unvalidated_end_and_stay_in_the_buffers(backend: str) -> None:
    """validate=False with an extend of 2**20 (garbage, outside the contract): the call ends
    (the kernel's row loops stop at the buffers' capacity) and writes nothing past them."""
    out = poisoned_metadata(3, 8, 4, 2)
    before = snapshot_all(out)
    nsa_meta.metadata(
        "draft_extend_var",
        torch.tensor([3, 4]),
        torch.tensor([0, 1]),
        torch.arange(16, dtype=torch.int32).reshape(2, 8),
        topk=4,
        width=4,
        page_size=2,
        extend_seq_lens=torch.tensor([2**20, 2]),
        backend=backend,
        validate=False,
        out=out,
    )
    for name, buf in zip(out._fields, out, strict=True):
        if buf is None:
            continue
        expect = before[name].clone()  # the view's cells as they are now, the rest as before
        expect.as_strided(buf.shape, buf.stride(), buf.storage_offset()).copy_(buf)
        assert torch.equal(whole_storage(buf), expect), f"{name}: written outside"

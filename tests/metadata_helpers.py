"""Builders and the one comparison for contract v2 tests: cases as lists, awkward tensors,
poisoned caller buffers, and a whole-storage check that names the buffer and the cell.

Every gap of a strided input holds a value that is not in the view, and every buffer cell
outside the contract's region holds SENTINEL, so an ignored stride or a stray write shows.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from helpers import DEVICE, strided_tensor, whole_storage

import nsa_meta
import reference

SENTINEL = -777
I32, I64 = torch.int32, torch.int64
FIELDS = nsa_meta.Metadata._fields


@dataclass(frozen=True)
class Case:
    """One call, as lists (the oracle's input)."""

    mode: str
    seq_lens: list[int]
    req_pool_indices: list[int]
    req_to_token: list[list[int]]
    topk: int = 2048
    width: int = 4
    page_size: int = 1
    next_n: int = 1
    extend_seq_lens: list[int] | None = None
    dtypes: tuple[torch.dtype, torch.dtype, torch.dtype] = (I32, I64, I32)  # seq, r, ext
    table_layout: str = "contiguous"  # or "sliced", "transposed"
    steps: tuple[int, int, int] = (1, 1, 1)  # seq, r, ext strides (0: expand)
    meta: dict = field(default_factory=dict, compare=False)

    def kwargs(self) -> dict:
        return dict(
            topk=self.topk,
            width=self.width,
            page_size=self.page_size,
            next_n=self.next_n,
        )

    def expected(self) -> reference.MetadataLists:
        return reference.metadata(
            self.mode,
            self.seq_lens,
            self.req_pool_indices,
            self.req_to_token,
            extend_seq_lens=self.extend_seq_lens,
            **self.kwargs(),
        )

    def rows(self) -> int:
        return len(self.expected().seqlens_expanded)

    def with_(self, **changes) -> Case:
        return replace(self, **changes)


def pool_table(pool: int, columns: int, seed: int = 0) -> list[list[int]]:
    """A req_to_token pool whose cells differ from row to row (token ids, >= 0)."""
    return [[(r * 1009 + c * 7 + seed) % 100_000 for c in range(columns)] for r in range(pool)]


def table_tensor(rows: list[list[int]], layout: str, device=DEVICE) -> torch.Tensor:
    """req_to_token as int32: contiguous, a slice of a wider padded table, or a transposed
    storage sliced (column stride != 1). Gaps hold -5, a value never in the view."""
    pool, columns = len(rows), len(rows[0]) if rows else 0
    values = torch.tensor(rows, dtype=I32).reshape(pool, columns)
    if layout == "contiguous":
        return values.to(device)
    if layout == "sliced":
        big = torch.full((pool + 3, columns + 5), -5, dtype=I32)
        big[2 : pool + 2, 1 : columns + 1] = values
        return big.to(device)[2 : pool + 2, 1 : columns + 1]
    if layout == "transposed":
        big = torch.full((columns + 2, pool + 4), -5, dtype=I32)
        big[1 : columns + 1, 3 : pool + 3] = values.t()
        view = big.to(device).t()[3 : pool + 3, 1 : columns + 1]
        assert view.stride(1) != 1
        return view
    raise ValueError(f"unknown layout {layout!r}")


def tensors(case: Case, device=DEVICE) -> dict:
    """The case's tensor arguments (keyword names of nsa_meta.metadata)."""
    seq_step, r_step, ext_step = case.steps
    args = {
        "seq_lens": strided_tensor(
            case.seq_lens, case.dtypes[0], step=seq_step, offset=1, device=device
        ),
        "req_pool_indices": strided_tensor(
            case.req_pool_indices, case.dtypes[1], step=r_step, offset=2, device=device
        ),
        "req_to_token": table_tensor(case.req_to_token, case.table_layout, device),
        "extend_seq_lens": None,
    }
    if case.extend_seq_lens is not None:
        args["extend_seq_lens"] = strided_tensor(
            case.extend_seq_lens, case.dtypes[2], step=ext_step, device=device
        )
    return args


def call(case: Case, backend: str, **options) -> nsa_meta.Metadata:
    args = tensors(case)
    return nsa_meta.metadata(
        case.mode,
        args["seq_lens"],
        args["req_pool_indices"],
        args["req_to_token"],
        extend_seq_lens=args["extend_seq_lens"],
        backend=backend,
        **case.kwargs(),
        **options,
    )


def poisoned_metadata(
    bs_cap: int, rows_cap: int, width: int, page_size: int, *, pad: int = 3, device=DEVICE
) -> nsa_meta.Metadata:
    """SENTINEL buffers: 1-D ones with stride 2, page tables with row stride > width and
    spare columns, all inside larger storages."""

    def vector(n: int) -> torch.Tensor:
        return torch.full((2 * n + 3,), SENTINEL, dtype=I32, device=device)[1 : 2 * n + 1 : 2]

    def table(columns: int) -> torch.Tensor:
        storage = torch.full((rows_cap + 1, columns + pad + 2), SENTINEL, dtype=I32, device=device)
        return storage[:rows_cap, : columns + pad]

    return metadata_of(vector, table, bs_cap, rows_cap, width, page_size)


def metadata_of(vector, table, bs_cap: int, rows_cap: int, width: int, page_size: int):
    """A Metadata of buffers from `vector(n)` and `table(columns)` (rows_cap rows), sized for
    bs_cap requests, rows_cap rows and `width` columns."""
    pages = -(-width // page_size)
    return nsa_meta.Metadata(
        cache_seqlens=vector(bs_cap),
        cu_seqlens_k=vector(bs_cap + 1),
        seqlens_expanded=vector(rows_cap),
        dsa_cache_seqlens=vector(rows_cap),
        dsa_cu_seqlens_k=vector(rows_cap + 1),
        page_table_1=table(width),
        real_page_table=table(pages) if page_size > 1 else None,
    )


def snapshot_all(out: nsa_meta.Metadata) -> dict[str, torch.Tensor]:
    return {
        name: whole_storage(buf).clone()
        for name, buf in zip(FIELDS, out)
        if isinstance(buf, torch.Tensor)
    }


def expected_storages(
    out: nsa_meta.Metadata, before: dict[str, torch.Tensor], want: reference.MetadataLists
) -> dict[str, torch.Tensor]:
    """Each buffer's whole storage as it must be: `before`, with the region overwritten."""
    result = {}
    for name, buf in zip(FIELDS, out):
        if not isinstance(buf, torch.Tensor):
            continue
        storage = before[name].clone()
        view = storage.as_strided(buf.shape, buf.stride(), buf.storage_offset())
        values = getattr(want, name)
        if values:
            data = torch.tensor(values, dtype=I32, device=storage.device)
            if data.dim() == 1:
                view[: data.numel()] = data
            else:
                view[: data.shape[0], : data.shape[1]] = data
        result[name] = storage
    return result


def assert_metadata_in(
    out: nsa_meta.Metadata,
    before: dict[str, torch.Tensor],
    want: reference.MetadataLists,
    *,
    name: str,
) -> None:
    """The region of every buffer holds `want`; every other cell of its storage is as in
    `before`. On a mismatch: the buffer, the cell (row, column) and both values."""
    expected = expected_storages(out, before, want)
    assert (out.real_page_table is None) == (want.real_page_table is None), (
        f"{name}: real_page_table is {type(out.real_page_table).__name__}"
    )
    for field_name, buf in zip(FIELDS, out):
        if not isinstance(buf, torch.Tensor):
            continue
        got = whole_storage(buf)
        diff = (got != expected[field_name]).nonzero()
        if diff.numel() == 0:
            continue
        k = int(diff[0, 0]) - buf.storage_offset()
        where = "outside the region" if k < 0 else ""
        if k >= 0 and buf.dim() == 2:
            row, col = divmod(k, buf.stride(0))
            cell = f"[{row}, {col // max(buf.stride(1), 1)}]"
        else:
            cell = f"(storage element {int(diff[0, 0])})"
        i = int(diff[0, 0])
        raise AssertionError(
            f"{name}: {field_name}{cell} {where} is {int(got[i])}, expected "
            f"{int(expected[field_name][i])} ({diff.shape[0]} cells differ)"
        )


def assert_metadata_equal(got: nsa_meta.Metadata, want: reference.MetadataLists, *, name: str):
    """Freshly allocated outputs: int32 tensors of exactly the expected shapes and values."""
    assert isinstance(got, nsa_meta.Metadata), f"{name}: got {type(got).__name__}"
    for field_name, buf, values in zip(FIELDS, got, want):
        if values is None:
            assert buf is None, f"{name}: {field_name} should be None"
            continue
        assert buf.dtype == I32, f"{name}: {field_name} has dtype {buf.dtype}"
        listed = buf.cpu().tolist()
        if listed != values:
            if buf.dim() == 2 and len(listed) == len(values):
                t = next(i for i, (a, b) in enumerate(zip(listed, values)) if a != b)
                raise AssertionError(
                    f"{name}: {field_name} row {t} is {listed[t][:8]}..., want {values[t][:8]}..."
                )
            raise AssertionError(f"{name}: {field_name} is {listed[:12]}, want {values[:12]}")


def element_addresses(view: torch.Tensor) -> np.ndarray:
    """The byte address of every element of a view (int64, flattened)."""
    offsets = np.zeros((), dtype=np.int64)
    for size, stride in zip(view.shape, view.stride()):
        offsets = offsets[..., None] + np.arange(size, dtype=np.int64) * stride
    return (view.data_ptr() + offsets * view.element_size()).reshape(-1)


def region_views(
    out: nsa_meta.Metadata, bs: int, rows: int, width: int, page_size: int
) -> list[torch.Tensor]:
    """The contract's write region of each buffer, as views."""
    views = [
        out.cache_seqlens[:bs],
        out.cu_seqlens_k[: bs + 1],
        out.seqlens_expanded[:rows],
        out.dsa_cache_seqlens[:rows],
        out.dsa_cu_seqlens_k[: rows + 1],
        out.page_table_1[:rows, :width],
    ]
    if out.real_page_table is not None:
        views.append(out.real_page_table[:rows, : -(-width // page_size)])
    return views


@contextmanager
def checked_accesses(reads: list[torch.Tensor | None], writes: list[torch.Tensor]):
    """Under the Triton interpreter, fail on any load (or store) whose address is not an
    element of one of `reads` (or `writes`): a memory-safety check of every lane a launch
    touches, which the interpreter itself does not trap. Yields the access counts."""
    from triton.runtime.interpreter import InterpreterBuilder

    allowed = {
        "load": np.unique(np.concatenate([element_addresses(t) for t in reads if t is not None])),
        "store": np.unique(np.concatenate([element_addresses(t) for t in writes])),
    }
    counts = {"load": 0, "store": 0}
    load, store = InterpreterBuilder.create_masked_load, InterpreterBuilder.create_masked_store

    def check(kind: str, ptrs, mask) -> None:
        active = np.broadcast_to(ptrs.data, np.broadcast_shapes(ptrs.data.shape, mask.data.shape))
        active = active[np.broadcast_to(mask.data, active.shape)].astype(np.int64)
        table = allowed[kind]  # sorted: a binary search per lane
        at = np.minimum(np.searchsorted(table, active), table.size - 1)
        outside = active[table[at] != active] if table.size else active
        if outside.size:
            raise AssertionError(f"{kind} at {outside.size} addresses outside the buffers")
        counts[kind] += active.size

    def checked_load(self, ptrs, mask, other, cache_policy, is_volatile):
        check("load", ptrs, mask)
        return load(self, ptrs, mask, other, cache_policy, is_volatile)

    def checked_store(self, ptrs, value, mask, cache_policy):
        check("store", ptrs, mask)
        return store(self, ptrs, value, mask, cache_policy)

    InterpreterBuilder.create_masked_load = checked_load
    InterpreterBuilder.create_masked_store = checked_store
    try:
        yield counts
    finally:
        InterpreterBuilder.create_masked_load = load
        InterpreterBuilder.create_masked_store = store

"""The strict decoder of `"op": "metadata"` corpus entries (registered with fuzz/entry.py on
import): typed without coercion (msgspec), range-checked and capped before any tensor is
built, so a crafted entry is named with its reason and never reaches torch.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec

from fuzz.case import Fault, Layout
from fuzz.entry import INT32_MAX, OpDecoder, _typed, register_op
from fuzz.meta_case import MetaCall, MetaCase, Table
from reference.metadata import per_request

NonNeg32 = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
Pos32 = Annotated[int, msgspec.Meta(ge=1, le=INT32_MAX)]
Small = Annotated[int, msgspec.Meta(ge=0, le=4096)]
T = TypeVar("T")
Step = Annotated[int, msgspec.Meta(ge=1, le=16)]
MAX_CALLS = 6  # a case's calls: three drawn, or an earlier case's folded in (meta_campaign)
Pair = Annotated[list[T], msgspec.Meta(min_length=2, max_length=2)]  # per page table
Mode = Literal["decode", "target_verify", "draft_extend", "draft_extend_var"]


class _Layout(msgspec.Struct, forbid_unknown_fields=True):
    dtype: Literal["int32", "int64"] = "int32"
    stride: Small = 1
    offset: Small = 0


class _Table(msgspec.Struct, forbid_unknown_fields=True):
    pool: NonNeg32
    columns: NonNeg32
    seed: NonNeg32 = 0
    transposed: bool = False
    row_pad: Small = 0
    col_pad: Small = 0
    col_off: Small = 0
    base: NonNeg32 = 0
    negative_from: NonNeg32 = 0
    negative_rows: list[NonNeg32] = msgspec.field(default_factory=list)


class _Call(msgspec.Struct, forbid_unknown_fields=True):
    mode: Mode
    seq_lens: list[NonNeg32]
    req_pool_indices: list[NonNeg32]
    req_to_token: _Table
    extend_seq_lens: list[NonNeg32] | None = None
    topk: NonNeg32 = 2048
    next_n: Pos32 = 1
    seq_layout: _Layout = msgspec.field(default_factory=_Layout)
    idx_layout: _Layout = msgspec.field(default_factory=_Layout)
    ext_layout: _Layout = msgspec.field(default_factory=_Layout)
    width: Pos32 | None = None  # this call's width; None: the case's
    page_size: Pos32 | None = None  # this call's page size; None: the case's


class _Case(msgspec.Struct, forbid_unknown_fields=True):
    calls: Annotated[list[_Call], msgspec.Meta(min_length=1, max_length=MAX_CALLS)]
    width: Pos32
    page_size: Pos32 = 1
    bs_slack: Small = 0
    rows_slack: Small = 0
    vec_stride: Step = 1
    offset: Small = 0
    table_pad: Small = 0
    out: Literal["buffers", "none"] = "buffers"
    validate: bool = True
    col_step: Pair[Step] = msgspec.field(default_factory=lambda: [1, 1])
    table_transposed: Pair[bool] = msgspec.field(default_factory=lambda: [False, False])
    vec_strides: Annotated[list[Step], msgspec.Meta(min_length=5, max_length=5)] | None = None
    table_extra: Small = 0
    refill: bool = False
    repoison: bool = False


def _layout(where: str, values: list[int], lay: _Layout) -> Layout:
    if lay.stride == 0 and len(set(values)) > 1:
        raise ValueError(f"{where}: stride 0 needs all values equal")
    return Layout(lay.dtype, lay.stride, lay.offset)


def _call(where: str, c: _Call, width: int, max_total: int) -> MetaCall:
    bs = len(c.seq_lens)
    if len(c.req_pool_indices) != bs:
        raise ValueError(f"{where}.req_pool_indices: {len(c.req_pool_indices)} values, bs {bs}")
    if (c.mode == "draft_extend_var") != (c.extend_seq_lens is not None):
        raise ValueError(f"{where}.extend_seq_lens: given exactly when mode is draft_extend_var")
    if c.extend_seq_lens is not None and len(c.extend_seq_lens) != bs:
        raise ValueError(f"{where}.extend_seq_lens: {len(c.extend_seq_lens)} values, bs {bs}")
    if c.width is not None and c.width > width:
        raise ValueError(f"{where}.width: {c.width}, above the case's width {width} (the buffers')")
    t = c.req_to_token
    if t.columns < width:
        raise ValueError(f"{where}.req_to_token: {t.columns} columns, below width {width}")
    if t.base > 2**31 - 100_000:
        raise ValueError(f"{where}.req_to_token: base {t.base} lifts token ids past 2**31 - 1")
    cells = (t.pool + t.row_pad) * (t.col_off + t.columns + t.col_pad)
    if cells > max_total:
        raise ValueError(f"{where}.req_to_token: {cells} cells, above --max-total {max_total}")
    if any(r >= t.pool for r in t.negative_rows):
        raise ValueError(f"{where}.req_to_token: a negative row is outside the pool of {t.pool}")
    if any(r >= t.pool for r in c.req_pool_indices):
        raise ValueError(f"{where}.req_pool_indices: an index is outside the pool of {t.pool}")
    e, _ = per_request(c.mode, c.seq_lens, c.next_n, c.extend_seq_lens)
    rows = sum(e)
    if rows * max(width, 1) > max_total or bs > max_total:
        raise ValueError(f"{where}: {rows} rows of width {width}, above --max-total {max_total}")
    ext = c.extend_seq_lens
    return MetaCall(
        c.mode,
        tuple(c.seq_lens),
        tuple(c.req_pool_indices),
        Table(**msgspec.structs.asdict(t)),  # field for field (Table makes the lists tuples)
        None if ext is None else tuple(ext),
        topk=c.topk,
        next_n=c.next_n,
        seq_layout=_layout(f"{where}.seq_layout", c.seq_lens, c.seq_layout),
        idx_layout=_layout(f"{where}.idx_layout", c.req_pool_indices, c.idx_layout),
        ext_layout=_layout(f"{where}.ext_layout", ext or [], c.ext_layout),
        width=c.width,
        page_size=c.page_size,
    )


def decode_meta_case(raw: bytes, *, max_total: int, where: str = "case") -> MetaCase:
    c = _typed(raw, _Case, where)
    if c.width > max_total:
        raise ValueError(f"{where}.width: {c.width}, above --max-total {max_total}")
    calls = tuple(
        _call(f"{where}.calls[{k}]", x, c.width, max_total) for k, x in enumerate(c.calls)
    )
    case = MetaCase(
        calls,
        c.width,
        c.page_size,
        c.bs_slack,
        c.rows_slack,
        c.vec_stride,
        c.offset,
        c.table_pad,
        c.out,
        c.validate,
        tuple(c.col_step),
        tuple(c.table_transposed),
        tuple(c.vec_strides or ()),
        c.table_extra,
        c.refill,
        c.repoison,
    )
    try:
        case.expected()  # the contract's value rules (sums in int32, kv in range)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: not a valid call: {exc}") from None
    return case


class _Fault(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    value: int | str | None = None
    index: NonNeg32 = 0


def decode_meta_fault(raw: bytes, case: MetaCase) -> Fault:
    """A bad call's fault: a kind of fuzz/meta_contract.py, a value it is drawn from, and a
    case it can break (one call); anything else is named and rejected."""
    from fuzz.meta_contract import fault_problem

    f = _typed(raw, _Fault, "fault")
    fault = Fault(f.kind, f.value, f.index)
    problem = fault_problem(case, fault)
    if problem is not None:
        raise ValueError(f"fault: {problem}")
    return fault


register_op("metadata", OpDecoder(decode_meta_case, decode_meta_fault))

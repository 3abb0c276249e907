"""Contract v2's "Bad input" as data, in the manner of fuzz/contract.py: every fault kind of a
v2 call, with its exception, the argument names its message must mention, the values it is
drawn from, which valid cases it can break, and how it breaks one.

A faulty case is a one-call MetaCase plus a `fuzz.case.Fault` (kind, value, index): plain
data, rebuilt identically in the candidate's worker and in the parent (`faulty_call`).
Strategies, harness, worker, judge, corpus decoder and `show` read this table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from fuzz.case import Fault, Layout, _materialise, other_device
from fuzz.meta_case import (
    FIELDS,
    INPUTS,
    POISON,
    MetaCall,
    MetaCase,
    Table,
    _ext_gap,
    _idx_gap,
    _seq_gap,
)

INT32_MAX = 2**31 - 1
BAD_DTYPES = {"float32": torch.float32, "int16": torch.int16, "uint8": torch.uint8}
BAD_DTYPES["bool"] = torch.bool
NOT_INT = ("bool", "float", "str")  # a bool first: the classic ValueError-for-TypeError slip
OUT_RANKS = ("2d", "1d")

Needs = Callable[[MetaCall, MetaCase, object], bool]
Break = Callable[[dict, MetaCall, MetaCase, object, int], None]


@dataclass(frozen=True)
class MetaFaultKind:
    """One way to make a v2 call invalid and what it must raise (an OpInfo ErrorInput).

    `values` (a finite list) or `span` (ints, inclusive) are what it is drawn from and what
    the corpus decoder accepts; `example` the value of its named case; `needs` says which
    valid one-call cases (and values) it can break, `needs_text` the same in words;
    `apply(kw, call, case, value, index)` breaks the call's keyword arguments in place.
    """

    kind: str
    error: type[Exception]
    names: tuple[str, ...]
    apply: Break
    values: tuple[object, ...] = (None,)
    span: tuple[int, int] | None = None
    example: object = None
    needs: Needs | None = None
    needs_text: str = ""

    @property
    def argument(self) -> str:
        return self.names[0]

    def matches(self, message: str) -> bool:
        return re.search("|".join(re.escape(n) for n in self.names), message) is not None

    def allows(self, value: object) -> bool:
        """Is `value` one this kind is drawn from (the decoder's check; no coercion)?"""
        if self.span is not None:
            lo, hi = self.span
            return type(value) is int and lo <= value <= hi
        return any(type(value) is type(v) and value == v for v in self.values)

    def named_value(self) -> object:
        if self.example is not None or self.span is None:
            return self.example if self.example is not None else self.values[0]
        return self.span[0]

    def applies(self, case: MetaCase, value: object = None) -> bool:
        if len(case.calls) != 1:
            return False
        return self.needs is None or bool(self.needs(case.calls[0], case, value))


# --- which cases a kind can break ------------------------------------------------------------


def _request(c, case, v) -> bool:
    return c.bs >= 1


def _var(c, case, v) -> bool:
    return c.mode == "draft_extend_var"


def _var_request(c, case, v) -> bool:
    return _var(c, case, v) and c.bs >= 1


def _fixed(c, case, v) -> bool:
    return not _var(c, case, v)


def _rows(c, case, v) -> bool:
    return c.rows >= 1


def _two(c, case, v) -> bool:
    return c.bs >= 2


def _tv(c, case, v) -> bool:
    return c.mode == "target_verify" and c.bs >= 1 and (v is None or v < c.next_n)


def _page1(c, case, v) -> bool:
    return c.page_in(case.page_size) == 1


def _field_present(c, case, v) -> bool:
    return v in FIELDS and (v != "real_page_table" or c.page_in(case.page_size) > 1)


def _field_can_shrink(c, case, v) -> bool:
    if not _field_present(c, case, v):
        return False
    return v not in ("cache_seqlens", "seqlens_expanded", "dsa_cache_seqlens") or (
        (c.bs if v == "cache_seqlens" else c.rows) >= 1
    )


# --- how a kind breaks a call ------------------------------------------------------------------


def _set(name: str, value: object) -> Break:
    def apply(kw, c, case, v, i) -> None:
        kw[name] = value(kw[name], v) if callable(value) else value

    return apply


def _not_int(old: int, v: object) -> object:
    return {"bool": True, "float": float(old), "str": str(old)}[v]  # type: ignore[index]


# red team 10: a poked vector keeps its call's layout (stride, offset), so that a check skipped
# for strided views is put to the test; a stride-0 view (one value for all) becomes contiguous.
_LAYOUTS = {
    "seq_lens": ("seq_layout", _seq_gap),
    "req_pool_indices": ("idx_layout", _idx_gap),
    "extend_seq_lens": ("ext_layout", _ext_gap),
}


def _poke(name: str, value: Callable[[MetaCall, object], int] | None = None) -> Break:
    """Replace request `index`'s entry of vector `name` by `value` (int64 if it must be),
    in the same layout as the call's."""

    def apply(kw, c, case, v, i) -> None:
        t = kw[name]
        values = t.tolist()
        values[i % len(values)] = value(c, v) if value else v
        fits = all(-(2**31) <= x <= INT32_MAX for x in values)
        dtype = "int32" if fits and t.dtype == torch.int32 else "int64"
        attr, gap = _LAYOUTS[name]
        layout = getattr(c, attr)
        if layout.stride == 0:
            layout = Layout()
        kw[name] = _materialise(values, replace(layout, dtype=dtype), t.device, gap)

    return apply


def _two_halves(name: str) -> Break:
    def apply(kw, c, case, v, i) -> None:
        t = kw[name].to(torch.int64).clone()
        t[:2] = 2**30
        kw[name] = t

    return apply


def _longer(name: str) -> Break:
    def apply(kw, c, case, v, i) -> None:
        t = kw[name]
        kw[name] = torch.cat([t, t.new_zeros(1)])

    return apply


def _negative_cell(kw, c, case, v, i) -> None:
    e, _ = c.per_request()
    live = [k for k in range(c.bs) if e[k] > 0]
    k = live[i % len(live)]
    row = int(kw["req_pool_indices"][k])
    kw["req_to_token"][row, (i // len(live)) % case.call_width(0)] = v


def _negative_last_cell(kw, c, case, v, i) -> None:
    """The far end of a row read: column width - 1 (a check that stops one column short)."""
    e, _ = c.per_request()
    live = [k for k in range(c.bs) if e[k] > 0]
    row = int(kw["req_pool_indices"][live[i % len(live)]])
    kw["req_to_token"][row, case.call_width(0) - 1] = v


def _grow_rows(kw, extra: int) -> None:
    """Every out buffer of T rows given `extra` rows more (poisoned, plain layout): a fault
    that adds rows must not also make the buffers too small (one fault per bad call)."""
    out = kw["out"]
    grown = {}
    for name in FIELDS[2:]:
        buf = getattr(out, name)
        if buf is not None:
            shape = (buf.shape[0] + extra, *buf.shape[1:])
            grown[name] = _poisoned(shape, torch.int32, buf.device)
    kw["out"] = out._replace(**grown)


def _dsa_sum(low: bool) -> Break:
    """Request `index` of a draft_extend_var call made one whose rows take dsa_cu_seqlens_k
    past int32: below it (s 0, `value` rows of kv - e + 1 + d <= 0) or above it (s 2**30,
    3 rows, topk 2**31 - 1); cu_seqlens_k stays inside, the buffers get the rows."""

    def apply(kw, c, case, v, i) -> None:
        k = i % c.bs
        e = kw["extend_seq_lens"].tolist()
        rows = v if low else 3
        _grow_rows(kw, max(0, rows - e[k]))
        _poke("extend_seq_lens", lambda c_, v_: rows)(kw, c, case, v, k)
        _poke("seq_lens", lambda c_, v_: 0 if low else v)(kw, c, case, v, k)
        if not low:
            kw["topk"] = INT32_MAX

    return apply


def _dsa_room(c, case, v) -> bool:
    """draft_extend_var with a request, narrow tables (the rows added cost width each) and
    room below int32 for cu_seqlens_k (kv 2**30 added) and a lowest running sum far from it."""
    return _var_request(c, case, v) and case.width <= 64 and sum(c.seq_lens) < 2**29


def _table_rank(kw, c, case, v, i) -> None:
    t = kw["req_to_token"]
    kw["req_to_token"] = t.reshape(-1) if v == "1d" else t.unsqueeze(0)


def _poisoned(shape, dtype, device) -> torch.Tensor:
    return torch.full(shape, POISON, dtype=dtype, device=device)


def _out(change: Callable[[str, torch.Tensor, MetaCall, MetaCase], object]) -> Break:
    """Replace out buffer `value` (a field name) by what `change` makes of it."""

    def apply(kw, c, case, v, i) -> None:
        out = kw["out"]
        kw["out"] = out._replace(**{v: change(v, getattr(out, v), c, case)})

    return apply


def _smaller(name: str, buf: torch.Tensor, c: MetaCall, case: MetaCase) -> torch.Tensor:
    """One row fewer than the call needs (a page table of no rows: one column fewer)."""
    need = {"cache_seqlens": c.bs, "cu_seqlens_k": c.bs + 1, "dsa_cu_seqlens_k": c.rows + 1}
    if buf.dim() == 1:
        return _poisoned((need.get(name, c.rows) - 1,), torch.int32, buf.device)
    cols = case.call_width(0) if name == "page_table_1" else case.call_pages(0)
    shape = (c.rows - 1, cols) if c.rows >= 1 else (buf.shape[0], cols - 1)
    return _poisoned(shape, torch.int32, buf.device)


def _other_rank(name: str, buf: torch.Tensor, c, case) -> torch.Tensor:
    shape = (buf.numel(),) if buf.dim() == 2 else (1, buf.shape[0])
    return _poisoned(shape, torch.int32, buf.device)


def _narrower(name: str, buf: torch.Tensor, c: MetaCall, case: MetaCase) -> torch.Tensor:
    """A page table of every row but one column fewer than the call needs (W // P for a
    real_page_table of a partial last page: the floor-for-ceil slip)."""
    cols = case.call_width(0) if name == "page_table_1" else case.call_pages(0)
    return _poisoned((buf.shape[0], cols - 1), torch.int32, buf.device)


def _listed(name: str, buf: torch.Tensor, c, case) -> object:
    return buf.tolist()


def _int64(name: str, buf: torch.Tensor, c, case) -> torch.Tensor:
    return _poisoned(tuple(buf.shape), torch.int64, buf.device)


def _real_table(kw, c, case, v, i) -> None:
    out = kw["out"]
    table = _poisoned(tuple(out.page_table_1.shape), torch.int32, out.page_table_1.device)
    kw["out"] = out._replace(real_page_table=table)


def _extend_for_fixed(kw, c, case, v, i) -> None:
    kw["extend_seq_lens"] = torch.ones_like(kw["seq_lens"])


def _narrow(kw, c, case, v, i) -> None:
    kw["req_to_token"] = kw["req_to_token"][:, : case.call_width(0) - 1]


def _elsewhere(t: torch.Tensor, v: object) -> torch.Tensor:
    """The same tensor on another device (the CPU for CUDA inputs, `meta` for CPU ones)."""
    return t.to(other_device(t.device))


def _buffer_elsewhere(name: str, buf: torch.Tensor, c, case) -> torch.Tensor:
    return _poisoned(tuple(buf.shape), torch.int32, other_device(buf.device))


def _kind(kind, error, names, apply, **extra) -> MetaFaultKind:
    return MetaFaultKind(kind, error, tuple(names.split()), apply, **extra)


def _scalar_kinds(name: str, low: int) -> list[MetaFaultKind]:
    return [
        _kind(f"{name}_not_int", TypeError, name, _set(name, _not_int), values=NOT_INT),
        _kind(
            f"{name}_out_of_range",
            ValueError,
            name,
            _set(name, lambda old, v: v),
            values=(low - 1, -1, 2**31, 2**40) if low == 1 else (-1, -(2**31), 2**31, 2**40),
        ),
    ]


def _vector_kinds(name: str, needs: Needs | None, short: str) -> list[MetaFaultKind]:
    text = "mode draft_extend_var" if needs else ""
    return [
        _kind(f"{short}_not_tensor", TypeError, name, _set(name, lambda t, v: t.tolist()),
              needs=needs, needs_text=text),
        _kind(f"{short}_dtype", TypeError, name,
              _set(name, lambda t, v: t.to(BAD_DTYPES[v])), values=tuple(BAD_DTYPES),
              needs=needs, needs_text=text),
        _kind(f"{short}_not_1d", ValueError, name,
              _set(name, lambda t, v: t.reshape(1, -1) if v == "2d" else t.new_tensor(1)),
              values=("2d", "0d"), needs=needs, needs_text=text),
    ]  # fmt: skip


_FIELD_TEXT = "a buffer this case has (real_page_table only when page_size > 1)"

# CONTRACT_V2.md's "Bad input" list (v1's rules carried over, plus v2's).
META_FAULTS: dict[str, MetaFaultKind] = {
    k.kind: k
    for k in (
        # TypeError
        _kind("mode_not_str", TypeError, "mode",
              _set("mode", lambda old, v: {"none": None, "int": 3, "bytes": b"decode"}[v]),
              values=("none", "int", "bytes")),
        *_scalar_kinds("topk", 0),
        *_scalar_kinds("next_n", 1),
        *_scalar_kinds("page_size", 1),
        *_scalar_kinds("width", 1),
        *_vector_kinds("seq_lens", None, "seq"),
        *_vector_kinds("req_pool_indices", None, "pool"),
        *_vector_kinds("extend_seq_lens", _var, "extend"),
        _kind("table_not_tensor", TypeError, "req_to_token",
              _set("req_to_token", lambda t, v: t.tolist())),
        _kind("table_dtype", TypeError, "req_to_token",
              _set("req_to_token", lambda t, v: t.to(BAD_DTYPES[v] if v in BAD_DTYPES
                                                     else torch.int64)),
              values=("int64", "int16", "float32")),
        _kind("out_not_metadata", TypeError, "out", _set("out", lambda o, v: tuple(o))),
        _kind("out_dtype", TypeError, "out", _out(_int64), values=FIELDS, example="cu_seqlens_k",
              needs=_field_present, needs_text=_FIELD_TEXT),
        # ValueError
        _kind("mode_unknown", ValueError, "mode", _set("mode", lambda old, v: v),
              values=("prefill", "Decode", "")),
        _kind("extend_for_fixed_mode", ValueError, "extend_seq_lens", _extend_for_fixed,
              needs=_fixed, needs_text="a fixed-width mode"),
        _kind("extend_missing", ValueError, "extend_seq_lens", _set("extend_seq_lens", None),
              needs=_var, needs_text="mode draft_extend_var"),
        _kind("pool_length", ValueError, "req_pool_indices seq_lens", _longer("req_pool_indices")),
        _kind("extend_length", ValueError, "extend_seq_lens seq_lens",
              _longer("extend_seq_lens"), needs=_var, needs_text="mode draft_extend_var"),
        _kind("pool_index_negative", ValueError, "req_pool_indices", _poke("req_pool_indices"),
              span=(-(2**31), -1), example=-1, needs=_request, needs_text="a request"),
        _kind("pool_index_past_pool", ValueError, "req_pool_indices",
              _poke("req_pool_indices", lambda c, v: c.table.pool + v), span=(0, 2**20),
              needs=_request, needs_text="a request"),
        _kind("table_not_2d", ValueError, "req_to_token", _table_rank, values=("1d", "3d")),
        _kind("table_narrower_than_width", ValueError, "req_to_token width", _narrow),
        _kind("table_negative_cell", ValueError, "req_to_token", _negative_cell,
              span=(-(2**31), -1), example=-1, needs=_rows, needs_text="a request with rows"),
        _kind("seq_negative", ValueError, "seq_lens", _poke("seq_lens"), span=(-(2**40), -1),
              example=-1, needs=_request, needs_text="a request"),
        _kind("seq_too_large", ValueError, "seq_lens", _poke("seq_lens"),
              span=(2**31, 2**40), needs=_request, needs_text="a request"),
        _kind("kv_too_large", ValueError, "seq_lens",
              _poke("seq_lens", lambda c, v: INT32_MAX - v), span=(0, 7),
              needs=_tv, needs_text="mode target_verify, a request, value below next_n"),
        _kind("extend_negative", ValueError, "extend_seq_lens", _poke("extend_seq_lens"),
              span=(-(2**31), -1), example=-1, needs=_var_request,
              needs_text="mode draft_extend_var and a request"),
        _kind("running_sum_too_large", ValueError, "seq_lens cu_seqlens_k",
              _two_halves("seq_lens"), needs=_two, needs_text="two requests"),
        _kind("rows_too_many", ValueError, "extend_seq_lens",
              _two_halves("extend_seq_lens"), needs=lambda c, case, v: _var(c, case, v)
              and c.bs >= 2, needs_text="mode draft_extend_var and two requests"),
        _kind("out_missing", ValueError, "out", _out(lambda n, b, c, case: None), values=FIELDS,
              example="page_table_1", needs=_field_present, needs_text=_FIELD_TEXT),
        _kind("out_too_small", ValueError, "out", _out(_smaller), values=FIELDS,
              example="cu_seqlens_k", needs=_field_can_shrink,
              needs_text=_FIELD_TEXT + ", with a row needed"),
        _kind("out_rank", ValueError, "out", _out(_other_rank), values=FIELDS,
              example="page_table_1", needs=_field_present, needs_text=_FIELD_TEXT),
        _kind("out_real_page_table_at_page_1", ValueError, "out real_page_table", _real_table,
              needs=_page1, needs_text="page_size 1"),
        # "all tensors on one device"
        _kind("seq_other_device", ValueError, "seq_lens device", _set("seq_lens", _elsewhere)),
        _kind("pool_other_device", ValueError, "req_pool_indices device",
              _set("req_pool_indices", _elsewhere)),
        _kind("table_other_device", ValueError, "req_to_token device",
              _set("req_to_token", _elsewhere)),
        _kind("extend_other_device", ValueError, "extend_seq_lens device",
              _set("extend_seq_lens", _elsewhere), needs=_var, needs_text="mode draft_extend_var"),
        _kind("out_other_device", ValueError, "out device", _out(_buffer_elsewhere), values=FIELDS,
              example="cu_seqlens_k", needs=_field_present, needs_text=_FIELD_TEXT),
        # red team 9e: kinds the round found missing
        _kind("out_not_tensor", TypeError, "out", _out(_listed), values=FIELDS,
              example="cache_seqlens", needs=_field_present, needs_text=_FIELD_TEXT),
        _kind("out_too_narrow", ValueError, "out", _out(_narrower),
              values=("page_table_1", "real_page_table"), example="real_page_table",
              needs=_field_present, needs_text=_FIELD_TEXT),
        _kind("table_negative_last_cell", ValueError, "req_to_token", _negative_last_cell,
              span=(-(2**31), -1), example=-1, needs=_rows, needs_text="a request with rows"),
        _kind("dsa_sum_too_low", ValueError, "seq_lens extend_seq_lens dsa_cu_seqlens_k topk",
              _dsa_sum(True), values=(100_000,), needs=_dsa_room,
              needs_text="mode draft_extend_var, a request, width <= 64, sum(s) < 2**29"),
        _kind("dsa_sum_too_large", ValueError, "seq_lens extend_seq_lens dsa_cu_seqlens_k topk",
              _dsa_sum(False), values=(2**30,), needs=_dsa_room,
              needs_text="mode draft_extend_var, a request, width <= 64, sum(s) < 2**29"),
    )
}  # fmt: skip


def fault_problem(case: MetaCase, fault: Fault) -> str | None:
    """Why `fault` cannot break `case` (None when it can): the decoder's and harness's check."""
    k = META_FAULTS.get(fault.kind)
    if k is None:
        return f"unknown kind {fault.kind!r}"
    if not k.allows(fault.value):
        return f"value {fault.value!r} makes no sense for kind {fault.kind!r}"
    if type(fault.index) is not int or not 0 <= fault.index <= INT32_MAX:
        return f"index {fault.index!r} is not in [0, 2**31 - 1]"
    if len(case.calls) != 1:
        return f"a faulty case has one call, not {len(case.calls)}"
    if not k.applies(case, fault.value):
        return f"kind {fault.kind!r} needs {k.needs_text or 'another case'}"
    return None


def faulty_call(case: MetaCase, fault: Fault, device) -> dict:
    """The keyword arguments (out included) of the case's one call, broken as `fault` says.
    Deterministic: the worker and the parent build the same tensors."""
    problem = fault_problem(case, fault)
    if problem is not None:
        raise ValueError(f"fault {fault.kind}: {problem}")
    (call,) = case.calls
    kw = {**call.scalars(case.width, case.page_size), **call.tensors(device)}
    kw["out"] = case.call_out(case.buffers(device), call)
    META_FAULTS[fault.kind].apply(kw, call, case, fault.value, fault.index)
    return kw


def tensors_of(kw: dict, device="cpu") -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of every buffer and tensor input of a (faulty) call built on `device`,
    in a fixed order; what is not a tensor, or was moved to another device by an
    `*_other_device` fault (`meta` for a CPU call, which has no storage; the CPU for a CUDA
    one), is left out: the parent, which builds the call on the CPU, and a CUDA worker then
    name the same storages (stop 22: every such bad call on CUDA was a protocol failure)."""
    out = kw.get("out")
    pairs = list(zip(FIELDS, out)) if isinstance(out, tuple) else []
    pairs += [(n, kw.get(n)) for n in INPUTS]
    kind = torch.device(device).type
    return [(name, t) for name, t in pairs if isinstance(t, torch.Tensor) and t.device.type == kind]


def expected_error(fault: Fault | str) -> tuple[type[Exception], tuple[str, ...]]:
    """(exception type, argument names the message must mention one of) for a fault."""
    k = META_FAULTS[fault if isinstance(fault, str) else fault.kind]
    return k.error, k.names


# --- one named bad case per kind, run first -------------------------------------------------


def _bases() -> list[MetaCase]:
    from fuzz.meta_strategies import I64, _call, _case

    return [
        _case(_call("draft_extend_var", [10, 4, 9], [3, 0, 5], [3, 1, 2]), width=4, page=2),
        _case(_call("target_verify", [10, 4, 1], [1, 2, 0], N=3, topk=9), width=5, page=1),
        _case(_call("decode", [7, 3], [2, 6]), width=5, page=2),
        # red team 9e: one request (kv past int32 is then cu_seqlens_k's only overflow), and
        # a request of no rows at index 1 (a check skipped for it), W % P != 0
        _case(_call("target_verify", [6], [1], N=3, topk=9), width=5, page=1),
        # red team 10: its extend lengths int64 in a stride-2 view with an offset, its table
        # transposed (a check skipped for int64, for strided views, for a column stride != 1)
        _case(
            _call(
                "draft_extend_var",
                [10, 4, 9],
                [3, 0, 5],
                [3, 0, 2],
                ext_layout=Layout("int64", 2, 1),
                table=Table(8, 12, transposed=True),
            ),
            width=5,
            page=3,
        ),
        # stop 22: draft_extend had no base (a check skipped in that mode only went unseen);
        # int64 lengths and pool indices, a width below the page size
        _case(
            _call("draft_extend", [10, 4], [3, 0], N=2, seq_layout=I64, idx_layout=I64),
            width=5,
            page=64,
        ),
        # red team 13: one decode request, where an s past int32 saturated to 2**31 - 1
        # before the checks is a valid call (elsewhere a running sum or kv still overflows)
        _case(_call("decode", [7], [2]), width=3, page=1),
    ]


def _named_values(k: MetaFaultKind) -> list[object]:
    """The named value first, then every listed value, or both ends of a span."""
    first = k.named_value()
    rest = k.values if k.span is None else k.span
    return [first, *(v for v in rest if v != first)]


def named_bad_cases(envelope=None, every_value: bool = False) -> dict[str, tuple[MetaCase, Fault]]:
    """Per kind of META_FAULTS, `error: KIND`: its named value on the first base case (moved
    inside `envelope`) that the kind can break. With `every_value` (a campaign's opening), also
    `error: KIND [base B: MODE, VALUE]`: every other value it is drawn from (a span's two ends)
    on every base B that admits it, since a slip can hang on one mode or one value (a bool
    next_n in decode, topk 2**31, a pool index of a request with no rows). Kinds no base
    inside the envelope admits are left out."""
    from fuzz.meta_envelope import restrict

    bases = [(b, case) for b, case in enumerate(restrict(envelope, b) for b in _bases())]
    bases = [(b, case) for b, case in bases if case is not None]
    out = {}
    for name, k in META_FAULTS.items():
        value = k.named_value()
        for _, base in bases:
            if k.applies(base, value):
                out[f"error: {name}"] = (base, Fault(name, value, 1))
                break
    if not every_value:
        return out
    for name, k in META_FAULTS.items():
        for b, base in bases:
            for value in _named_values(k):
                key = f"error: {name} [base {b}: {base.calls[0].mode}, {value!r}]"
                pair = (base, Fault(name, value, 1))
                if k.applies(base, value) and pair != out.get(f"error: {name}"):
                    out[key] = pair
    out.update(_element_ends(bases))
    return out


def _element_ends(bases) -> dict[str, tuple[MetaCase, Fault]]:
    """Red team 10: a kind that lands on one request (a span kind) also at request 0 and at
    the last request of the first base of >= 3 requests that admits it (the named index 1
    is a middle one there): a check that skips the first or the last element."""
    out = {}
    for name, k in META_FAULTS.items():
        if k.span is None:
            continue
        value = k.named_value()
        for b, base in bases:
            bs = base.calls[0].bs
            if bs >= 3 and k.applies(base, value):
                for index in (0, bs - 1):
                    key = f"error: {name} [base {b}: {base.calls[0].mode}, {value!r}, #{index}]"
                    out[key] = (base, Fault(name, value, index))
                break
    return out

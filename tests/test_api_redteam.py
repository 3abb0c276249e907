"""Red team of the public API surface, written from the contracts' text alone: every kind of
wrong argument CONTRACT.md (v1, `expand`, `prepare`) and CONTRACT_V2.md (`metadata`) name,
on both backends, and exact answers for buffer layouts the other tests do not build.

A bad input must raise the contract's exception type with a message naming the argument,
and leave every byte of every caller buffer (whole storages) and every input unchanged.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import nsa_meta
import reference
from nsa_meta.prepare import prepare

I16, I32, I64 = torch.int16, torch.int32, torch.int64
INT32_MAX = 2**31 - 1
BACKENDS = ("torch", "triton")
POISON = -4242
FIELDS = nsa_meta.Metadata._fields


def vec(values, dtype=I64, device="cpu") -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


def raw_bytes(t: torch.Tensor) -> torch.Tensor:
    """Every byte of `t`'s storage, copied."""
    return torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()).clone()


def tensors_in(obj: object) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.device.type != "meta" else []
    if isinstance(obj, (tuple, list)):
        return [t for item in obj for t in tensors_in(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in tensors_in(item)]
    return []


class Frozen:
    """Byte snapshots of every tensor reachable from some objects; `check` proves none moved."""

    def __init__(self, *objs: object) -> None:
        self.saved = [(t, raw_bytes(t)) for obj in objs for t in tensors_in(obj)]

    def check(self, what: str) -> None:
        for k, (t, before) in enumerate(self.saved):
            after = raw_bytes(t)
            changed = (after != before).nonzero()
            assert changed.numel() == 0, (
                f"{what}: tensor #{k} (shape {tuple(t.shape)}) byte {int(changed[0, 0])} changed"
            )


# -- contract v2: a valid call to start every bad one from ------------------------------


def table(pool: int = 4, columns: int = 9) -> torch.Tensor:
    return vec([[100 * r + c for c in range(columns)] for r in range(pool)], I32)


def v2_call(mode: str = "draft_extend_var") -> dict:
    """bs 3, width 7, page size 3 (every output exists). draft_extend_var: T = 5."""
    call = dict(
        mode=mode,
        seq_lens=vec([10, 4, 1]),
        req_pool_indices=vec([0, 3, 1], I32),
        req_to_token=table(),
        topk=9,
        width=7,
        page_size=3,
        next_n=2,
        extend_seq_lens=vec([3, 0, 2], I32) if mode == "draft_extend_var" else None,
    )
    return call


def v2_rows(call: dict) -> int:
    return len(oracle(call).seqlens_expanded)


def oracle(call: dict) -> reference.MetadataLists:
    ext = call["extend_seq_lens"]
    return reference.metadata(
        call["mode"],
        call["seq_lens"].tolist(),
        call["req_pool_indices"].tolist(),
        call["req_to_token"].tolist(),
        topk=call["topk"],
        width=call["width"],
        page_size=call["page_size"],
        next_n=call["next_n"],
        extend_seq_lens=None if ext is None else ext.tolist(),
    )


def poisoned(bs: int, rows: int, width: int, page_size: int) -> nsa_meta.Metadata:
    """Poisoned buffers of exactly the sizes needed, each inside a larger storage."""

    def v(n: int) -> torch.Tensor:
        return torch.full((n + 4,), POISON, dtype=I32)[2 : n + 2]

    def m(r: int, c: int) -> torch.Tensor:
        return torch.full((r + 2, c + 3), POISON, dtype=I32)[1 : r + 1, 1 : c + 1]

    pages = -(-width // page_size)
    return nsa_meta.Metadata(
        v(bs), v(bs + 1), v(rows), v(rows), v(rows + 1), m(rows, width),
        m(rows, pages) if page_size > 1 else None,
    )  # fmt: skip


def out_for(call: dict, rows: int | None = None) -> nsa_meta.Metadata:
    rows = v2_rows(call) if rows is None else rows
    return poisoned(call["seq_lens"].numel(), rows, call["width"], call["page_size"])


@dataclass(frozen=True)
class Bad:
    error: type[Exception]
    pattern: str  # must be found in the message (a regex naming the argument)
    change: dict  # replaces keyword arguments of v2_call(mode)
    mode: str = "draft_extend_var"
    values: bool = False  # needs a value read: validate=False need not catch it
    out: object = "fit"  # "fit": poisoned buffers fitting the VALID call; else a callable


def bad(error, pattern, values=False, mode="draft_extend_var", **change) -> Bad:
    return Bad(error, pattern, change, mode, values)


def out_bad(error, pattern, make, values=False, mode="draft_extend_var") -> Bad:
    return Bad(error, pattern, {}, mode, values, make)


def replace_field(name: str, value, mode: str = "draft_extend_var"):
    def make(call: dict) -> nsa_meta.Metadata:
        return out_for(v2_call(mode))._replace(**{name: value(out_for(v2_call(mode)))})

    return make


def field_of(name: str, shape_change):
    """A buffer for field `name`, from the fitting one, through `shape_change(buf)`."""
    return lambda out: shape_change(getattr(out, name))


META = "meta"
V2_BAD: dict[str, Bad] = {
    # mode
    "mode None": bad(TypeError, r"\bmode\b", mode=None),
    "mode bytes": bad(TypeError, r"\bmode\b", mode=b"decode"),
    "mode int": bad(TypeError, r"\bmode\b", mode=3),
    "mode empty": bad(ValueError, r"\bmode\b", mode=""),
    "mode upper case": bad(ValueError, r"\bmode\b", mode="DECODE"),
    "mode trailing space": bad(ValueError, r"\bmode\b", mode="draft_extend_var "),
    "mode prefill": bad(ValueError, r"\bmode\b", mode="prefill"),
    # extend_seq_lens per mode
    "extend in decode": bad(
        ValueError, r"extend_seq_lens", mode="decode", extend_seq_lens=vec([1, 1, 1])
    ),
    "extend in target_verify": bad(
        ValueError, r"extend_seq_lens", mode="target_verify", extend_seq_lens=vec([2, 2, 2])
    ),
    "extend in draft_extend": bad(
        ValueError, r"extend_seq_lens", mode="draft_extend", extend_seq_lens=vec([2, 2, 2])
    ),
    "empty extend in decode": bad(
        ValueError, r"extend_seq_lens", mode="decode", extend_seq_lens=vec([])
    ),
    "extend missing": bad(ValueError, r"extend_seq_lens", extend_seq_lens=None),
    # scalars: type (bool included), then range
    **{
        f"{name} {label}": bad(TypeError, rf"\b{name}\b", **{name: value})
        for name in ("topk", "next_n", "page_size", "width")
        for label, value in (
            ("True", True),
            ("False", False),
            ("float", 2.0),
            ("np.int64", np.int64(2)),
            ("np.int32", np.int32(2)),
            ("str", "2"),
            ("None", None),
            ("0-D tensor", vec(2)),
        )
    },
    **{
        f"{name} = {value}": bad(ValueError, rf"\b{name}\b", **{name: value})
        for name, low in (("topk", 0), ("next_n", 1), ("page_size", 1), ("width", 1))
        for value in (low - 1, -(2**63), 2**31, 2**64)
    },
    "next_n 0 in decode (validated in every mode)": bad(
        ValueError, r"\bnext_n\b", mode="decode", next_n=0
    ),
    "next_n 2**31 in draft_extend_var": bad(ValueError, r"\bnext_n\b", next_n=2**31),
    # tensors: type, dtype
    **{
        f"{name} {label}": bad(TypeError, rf"\b{name}\b", **{name: value})
        for name, good in (
            ("seq_lens", [10, 4, 1]),
            ("req_pool_indices", [0, 3, 1]),
            ("extend_seq_lens", [3, 0, 2]),
        )
        for label, value in (
            ("list", good),
            ("tuple", tuple(good)),
            ("ndarray", np.array(good)),
            ("float32", vec(good, torch.float32)),
            ("int16", vec(good, I16)),
            ("uint8", vec(good, torch.uint8)),
            ("bool", vec([1, 0, 1], torch.bool)),
            ("int", 3),
        )
    },
    "seq_lens None": bad(TypeError, r"\bseq_lens\b", seq_lens=None),
    "req_pool_indices None": bad(TypeError, r"\breq_pool_indices\b", req_pool_indices=None),
    **{
        f"req_to_token {label}": bad(TypeError, r"\breq_to_token\b", req_to_token=value)
        for label, value in (
            ("int64", table().to(I64)),
            ("int16", table().to(I16)),
            ("float32", table().float()),
            ("list", table().tolist()),
            ("ndarray", table().numpy()),
            ("None", None),
        )
    },
    # tensors: rank, length, width, device
    "seq_lens 0-D": bad(ValueError, r"\bseq_lens\b", seq_lens=vec(3)),
    "seq_lens 2-D": bad(ValueError, r"\bseq_lens\b", seq_lens=vec([[10, 4, 1]])),
    "req_pool_indices 2-D": bad(
        ValueError, r"\breq_pool_indices\b", req_pool_indices=vec([[0], [3], [1]])
    ),
    "req_pool_indices shorter": bad(
        ValueError, r"\breq_pool_indices\b", req_pool_indices=vec([0, 3])
    ),
    "req_pool_indices longer": bad(
        ValueError, r"\breq_pool_indices\b", req_pool_indices=vec([0, 3, 1, 1])
    ),
    "extend 0-D": bad(ValueError, r"\bextend_seq_lens\b", extend_seq_lens=vec(3)),
    "extend 2-D": bad(ValueError, r"\bextend_seq_lens\b", extend_seq_lens=vec([[3, 0, 2]])),
    "extend shorter": bad(ValueError, r"\bextend_seq_lens\b", extend_seq_lens=vec([3, 0])),
    "req_to_token 1-D": bad(ValueError, r"\breq_to_token\b", req_to_token=table()[0]),
    "req_to_token 3-D": bad(ValueError, r"\breq_to_token\b", req_to_token=table()[None]),
    "req_to_token narrower than width": bad(ValueError, r"\breq_to_token\b|\bwidth\b", width=10),
    "req_to_token with no column": bad(
        ValueError, r"\breq_to_token\b|\bwidth\b", req_to_token=table()[:, :0]
    ),
    "req_pool_indices on meta": bad(
        ValueError, r"\breq_pool_indices\b", req_pool_indices=vec([0, 3, 1], device=META)
    ),
    "extend on meta": bad(
        ValueError, r"\bextend_seq_lens\b", extend_seq_lens=vec([3, 0, 2], device=META)
    ),
    "seq_lens on meta": bad(ValueError, r"\bseq_lens\b", seq_lens=vec([10, 4, 1], device=META)),
    "req_to_token on meta": bad(ValueError, r"\breq_to_token\b", req_to_token=table().to(META)),
    # values (validate=True only)
    "seq_lens negative int32": bad(
        ValueError, r"seq_lens\[1\] is -1\b", True, seq_lens=vec([10, -1, 1], I32)
    ),
    "seq_lens 2**31": bad(
        ValueError, r"seq_lens\[2\] is 2147483648\b", True, seq_lens=vec([10, 4, 2**31])
    ),
    "seq_lens 2**40 decode": bad(
        ValueError,
        r"seq_lens\[0\] is 1099511627776\b",
        True,
        mode="decode",
        seq_lens=vec([2**40, 4, 1]),
    ),
    "seq_lens -2**63": bad(
        ValueError, r"seq_lens\[0\]", True, mode="draft_extend", seq_lens=vec([-(2**63), 4, 1])
    ),
    "kv above int32 (target_verify)": bad(
        ValueError,
        r"seq_lens\[1\] is 2147483646\b",
        True,
        mode="target_verify",
        seq_lens=vec([1, INT32_MAX - 1, 1]),
    ),
    "extend negative": bad(
        ValueError, r"extend_seq_lens\[2\] is -1\b", True, extend_seq_lens=vec([3, 0, -1])
    ),
    "extend -2**63": bad(
        ValueError, r"extend_seq_lens\[0\]", True, extend_seq_lens=vec([-(2**63), 0, 1])
    ),
    "extend huge then negative": bad(
        ValueError,
        r"extend_seq_lens\[1\] is -1099511627774\b",
        True,
        extend_seq_lens=vec([2**40, 2 - 2**40, 1]),
    ),
    "T above int32": bad(
        ValueError, r"extend_seq_lens", True, extend_seq_lens=vec([2**30, 2**30, 0])
    ),
    "one extend above int32": bad(
        ValueError, r"extend_seq_lens", True, extend_seq_lens=vec([0, 2**32 + 1, 0])
    ),
    "pool index -1": bad(
        ValueError, r"req_pool_indices\[0\] is -1\b", True, req_pool_indices=vec([-1, 3, 1])
    ),
    "pool index == pool": bad(
        ValueError, r"req_pool_indices\[2\] is 4\b", True, req_pool_indices=vec([0, 3, 4])
    ),
    "pool index 2**40": bad(
        ValueError,
        r"req_pool_indices\[1\] is 1099511627776\b",
        True,
        req_pool_indices=vec([0, 2**40, 1]),
    ),
    "pool index bad for a request with no row": bad(
        ValueError, r"req_pool_indices\[1\] is 9\b", True, req_pool_indices=vec([0, 9, 1])
    ),
    "cu_seqlens_k past int32": bad(
        ValueError, r"cu_seqlens_k|seq_lens", True, mode="decode", seq_lens=vec([2**30, 2**30, 0])
    ),
    "cu_seqlens_k past int32 by next_n": bad(
        ValueError,
        r"cu_seqlens_k|seq_lens",
        True,
        mode="target_verify",
        seq_lens=vec([2**30 - 2, 2**30 - 1, 0]),
    ),
    "dsa_cu_seqlens_k past int32": bad(
        ValueError,
        r"dsa_cu_seqlens_k",
        True,
        mode="draft_extend",
        topk=INT32_MAX,
        next_n=3,
        seq_lens=vec([2**30, 0, 0]),
    ),
    "dsa_cu_seqlens_k below int32": bad(
        ValueError,
        r"dsa_cu_seqlens_k",
        True,
        seq_lens=vec([0, 0, 0]),
        extend_seq_lens=vec([70000, 0, 0]),
    ),
    "negative cell read": bad(
        ValueError,
        r"req_to_token\[3, 6\] is -5\b",
        True,
        req_to_token=table().index_put((vec([3]), vec([6])), vec([-5], I32)),
        extend_seq_lens=vec([3, 1, 2]),
    ),
    "negative cell read (page table column 0)": bad(
        ValueError,
        r"req_to_token\[0, 0\]",
        True,
        mode="decode",
        req_to_token=table().index_put((vec([0]), vec([0])), vec([-1], I32)),
    ),
    # out: the container
    "out tuple of 7": out_bad(TypeError, r"\bout\b", lambda c: tuple(out_for(v2_call()))),
    "out list of 7": out_bad(TypeError, r"\bout\b", lambda c: list(out_for(v2_call()))),
    "out dict": out_bad(TypeError, r"\bout\b", lambda c: out_for(v2_call())._asdict()),
    "out tensor": out_bad(TypeError, r"\bout\b", lambda c: torch.zeros(8, dtype=I32)),
    "real_page_table given when page_size 1": Bad(
        ValueError,
        r"real_page_table",
        {"page_size": 1},
        out=lambda c: out_for(c)._replace(real_page_table=torch.full((5, 7), POISON, dtype=I32)),
    ),
    "real_page_table missing when page_size 3": out_bad(
        ValueError, r"real_page_table", replace_field("real_page_table", lambda o: None)
    ),
}
# out: each buffer missing, of a wrong type, dtype, rank, device, or too small
for _f in FIELDS:
    _is_table = _f in ("page_table_1", "real_page_table")
    V2_BAD.update({
        f"out.{_f} None": out_bad(ValueError, rf"\b{_f}\b", replace_field(_f, lambda o: None)),
        f"out.{_f} int64": out_bad(TypeError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b.to(I64)))),
        f"out.{_f} float32": out_bad(TypeError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b.float()))),
        f"out.{_f} ndarray": out_bad(TypeError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b.numpy()))),
        f"out.{_f} list": out_bad(TypeError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b.tolist()))),
        f"out.{_f} wrong rank": out_bad(ValueError, rf"\b{_f}\b", replace_field(
            _f, field_of(_f, (lambda b: b[:, 0]) if _is_table else (lambda b: b[:, None])))),
        f"out.{_f} 3-D": out_bad(ValueError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b[None]))),
        f"out.{_f} on meta": out_bad(ValueError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b.to(META)))),
        f"out.{_f} 0-D": out_bad(ValueError, rf"\b{_f}\b", replace_field(_f, lambda o: torch.zeros((), dtype=I32))),
    })  # fmt: skip
    for _mode in ("decode", "target_verify", "draft_extend", "draft_extend_var"):
        # One row (or column) short: the host knows it in fixed modes (layout), in
        # draft_extend_var only the request buffers and the column counts.
        _rows = _f not in ("cache_seqlens", "cu_seqlens_k")
        _values = _mode == "draft_extend_var" and _rows
        V2_BAD[f"out.{_f} one row short, {_mode}"] = out_bad(
            ValueError, rf"\b{_f}\b", replace_field(_f, field_of(_f, lambda b: b[:-1]), _mode),
            values=_values, mode=_mode,
        )  # fmt: skip
        if _is_table:
            V2_BAD[f"out.{_f} one column short, {_mode}"] = out_bad(
                ValueError, rf"\b{_f}\b",
                replace_field(_f, field_of(_f, lambda b: b[:, :-1]), _mode), mode=_mode,
            )  # fmt: skip


def _fitting_rows(call: dict) -> int:
    """Rows of buffers that fit the changed call where its T is plain (so that only the
    argument under test is wrong), else those of the valid call."""
    ext, n, bs = call["extend_seq_lens"], call["next_n"], call["seq_lens"]
    bs = bs.numel() if isinstance(bs, torch.Tensor) and bs.dim() == 1 else 3
    if call["mode"] == "draft_extend_var":
        ok = isinstance(ext, torch.Tensor) and ext.dim() == 1 and ext.dtype in (I32, I64)
        if ok and ext.device.type == "cpu" and bool((ext >= 0).all()) and int(ext.sum()) < 10**6:
            return int(ext.sum())
        return 5
    if type(n) is int and 1 <= n <= 64:
        return bs * (1 if call["mode"] == "decode" else n)
    return bs * 2


def _v2_args(case: Bad) -> tuple[dict, object]:
    call = v2_call(case.mode)
    call.update(case.change)
    if case.out != "fit":
        return call, case.out(call)
    valid = v2_call(case.mode)
    out = poisoned(3, _fitting_rows(call), valid["width"], valid["page_size"])
    return call, out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "validate"),
    [(n, v) for n, c in V2_BAD.items() for v in (True, False) if v or not c.values],
)
def test_metadata_rejects_before_writing(name: str, validate: bool, backend: str) -> None:
    """validate=False rejects the bad inputs that need no value read (the contract lets it
    skip the others)."""
    case = V2_BAD[name]
    call, out = _v2_args(case)
    frozen = Frozen(call, out)
    with pytest.raises(case.error) as info:
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert info.type is case.error, f"{name}: raised {info.type.__name__}"  # not a subclass
    assert re.search(case.pattern, str(info.value)), (
        f"{name}: message {str(info.value)!r} does not name the argument ({case.pattern})"
    )
    frozen.check(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name", [n for n, c in V2_BAD.items() if c.out == "fit" and not n.startswith("out")]
)
def test_metadata_rejects_without_out(name: str, backend: str) -> None:
    """The same bad inputs with out=None: same exception, no input modified."""
    case = V2_BAD[name]
    call, _ = _v2_args(case)
    frozen = Frozen(call)
    with pytest.raises(case.error, match=case.pattern):
        nsa_meta.metadata(**call, backend=backend)
    frozen.check(name)


def _as_lists(call: dict) -> dict | None:
    """The call with every tensor as lists, or None where a tensor has a property lists
    cannot express (dtype, rank, device)."""
    ranks = {"req_to_token": 2}
    args = {}
    for k, v in call.items():
        if isinstance(v, torch.Tensor):
            dtypes = (I32,) if k == "req_to_token" else (I32, I64)
            if v.dim() != ranks.get(k, 1) or v.dtype not in dtypes or v.device.type != "cpu":
                return None
            v = v.tolist()
        elif isinstance(v, (list, tuple, np.ndarray)) and k != "mode":
            return None  # a non-tensor the tensor API rejects and the oracle takes
        args[k] = v
    return args


@pytest.mark.parametrize(
    "name", [n for n, c in V2_BAD.items() if c.out == "fit" and not n.startswith("out")]
)
def test_reference_raises_the_same_type(name: str) -> None:
    """The oracle, given the lists of each bad call, raises the same exception type."""
    case = V2_BAD[name]
    args = _as_lists(_v2_args(case)[0])
    if args is None:
        return  # a tensor property: nothing to put to the oracle (asserted by the others)
    mode = args.pop("mode")
    with pytest.raises(case.error):
        reference.metadata(mode, args.pop("seq_lens"), args.pop("req_pool_indices"),
                           args.pop("req_to_token"), **args)  # fmt: skip


# -- contract v1: expand --------------------------------------------------------------


def v1_call() -> dict:
    """CONTRACT.md's example: total 5."""
    return dict(extend_seq_lens=vec([3, 0, 2], I32), seq_lens=vec([10, 4, 1]), nsa_index_topk=9)


def v1_out(capacity: int = 5, step: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    def one() -> torch.Tensor:
        storage = torch.full((capacity * step + 4,), POISON, dtype=I32)
        return storage[2 : 2 + capacity * step : step]

    return one(), one()


V1_NAMES = ("extend_seq_lens", "seq_lens", "nsa_index_topk")
OUT1 = ("out_seqlens_expanded", "out_nsa_cache_seqlens")


def _v1_type_cases() -> dict[str, tuple]:
    cases: dict[str, tuple] = {}
    for name, good in (("extend_seq_lens", [3, 0, 2]), ("seq_lens", [10, 4, 1])):
        for label, value in (
            ("list", good),
            ("ndarray", np.array(good)),
            ("None", None),
            ("int", 3),
            ("float32", vec(good, torch.float32)),
            ("float64", vec(good, torch.float64)),
            ("int16", vec(good, I16)),
            ("int8", vec(good, torch.int8)),
            ("uint8", vec(good, torch.uint8)),
            ("bool", vec([1, 0, 1], torch.bool)),
        ):
            cases[f"{name} {label}"] = (TypeError, rf"\b{name}\b", {name: value}, False)
    for label, value in (
        ("True", True),
        ("False", False),
        ("float", 9.0),
        ("np.int64", np.int64(9)),
        ("np.int32", np.int32(9)),
        ("str", "9"),
        ("None", None),
        ("0-D tensor", vec(9)),
    ):
        cases[f"topk {label}"] = (
            TypeError,
            r"\bnsa_index_topk\b",
            {"nsa_index_topk": value},
            False,
        )
    return cases


V1_BAD: dict[str, tuple] = {
    **_v1_type_cases(),
    "extend 0-D": (ValueError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec(3)}, False),
    "extend 2-D": (ValueError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec([[3, 0, 2]])}, False),
    "seq 2-D": (ValueError, r"\bseq_lens\b", {"seq_lens": vec([[10], [4], [1]])}, False),
    "lengths differ": (ValueError, r"\bseq_lens\b", {"seq_lens": vec([10, 4])}, False),
    "extend longer": (ValueError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec([3, 0, 2, 1])}, False),
    "seq on meta": (ValueError, r"\bseq_lens\b", {"seq_lens": vec([10, 4, 1], device=META)}, False),
    "extend on meta": (ValueError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec([3, 0, 2], device=META)}, False),
    "topk -1": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": -1}, False),
    "topk 2**31": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": 2**31}, False),
    "topk -2**63": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": -(2**63)}, False),
    "topk 2**64": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": 2**64}, False),
    "extend negative": (ValueError, r"extend_seq_lens\[1\] is -1\b", {"extend_seq_lens": vec([3, -1, 2])}, True),
    "extend -2**63": (ValueError, r"extend_seq_lens\[2\]", {"extend_seq_lens": vec([3, 0, -(2**63)])}, True),
    "extend huge then negative": (ValueError, r"extend_seq_lens\[1\]", {"extend_seq_lens": vec([2**40, 2 - 2**40, 0])}, True),
    "seq negative int32": (ValueError, r"seq_lens\[2\] is -1\b", {"seq_lens": vec([10, 4, -1], I32)}, True),
    "seq 2**31": (ValueError, r"seq_lens\[0\] is 2147483648\b", {"seq_lens": vec([2**31, 4, 1])}, True),
    "seq -2**63": (ValueError, r"seq_lens\[1\]", {"seq_lens": vec([10, -(2**63), 1])}, True),
    "total above int32": (ValueError, r"extend_seq_lens", {"extend_seq_lens": vec([2**30, 2**30, 0])}, True),
    "one extend 2**32 + 1": (ValueError, r"extend_seq_lens", {"extend_seq_lens": vec([0, 2**32 + 1, 0])}, True),
}  # fmt: skip
# (error, pattern, make_out(), needs a value read)
V1_OUT_BAD: dict[str, tuple] = {
    "out not a pair (3)": (TypeError, r"\bout\b", lambda: (*v1_out(), v1_out()[0]), False),
    "out not a pair (1)": (TypeError, r"\bout\b", lambda: (v1_out()[0],), False),
    "out a tensor": (TypeError, r"\bout\b", lambda: torch.zeros(2, 5, dtype=I32), False),
    "out a dict": (TypeError, r"\bout\b", lambda: dict(zip("ab", v1_out())), False),
}
for _k, _name in enumerate(OUT1):

    def _swap(make, k=_k):
        def build():
            pair = list(v1_out())
            pair[k] = make(pair[k])
            return tuple(pair)

        return build

    V1_OUT_BAD.update({
        f"{_name} int64": (TypeError, _name, _swap(lambda b: b.to(I64)), False),
        f"{_name} float32": (TypeError, _name, _swap(lambda b: b.float()), False),
        f"{_name} None": (TypeError, _name, _swap(lambda b: None), False),
        f"{_name} list": (TypeError, _name, _swap(lambda b: b.tolist()), False),
        f"{_name} ndarray": (TypeError, _name, _swap(lambda b: b.numpy()), False),
        f"{_name} 2-D": (ValueError, _name, _swap(lambda b: b[None]), False),
        f"{_name} 0-D": (ValueError, _name, _swap(lambda b: b[0]), False),
        f"{_name} on meta": (ValueError, _name, _swap(lambda b: b.to(META)), False),
        f"{_name} one short": (ValueError, _name, _swap(lambda b: b[:-1]), True),
        f"{_name} empty": (ValueError, _name, _swap(lambda b: b[:0]), True),
    })  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "validate"),
    [(n, v) for n, c in {**V1_BAD, **V1_OUT_BAD}.items() for v in (True, False) if v or not c[3]],
)
def test_expand_rejects_before_writing(name: str, validate: bool, backend: str) -> None:
    call = v1_call()
    if name in V1_BAD:
        error, pattern, change, _ = V1_BAD[name]
        call.update(change)
        out = v1_out()
    else:
        error, pattern, make, _ = V1_OUT_BAD[name]
        out = make()
    frozen = Frozen(call, out)
    with pytest.raises(error) as info:
        nsa_meta.expand(**call, backend=backend, out=out, validate=validate)
    assert info.type is error, f"{name}: raised {info.type.__name__}"
    assert re.search(pattern, str(info.value)), f"{name}: {str(info.value)!r} lacks {pattern}"
    frozen.check(name)
    if name in V1_BAD and validate:  # and without out, and in the oracle for list inputs
        with pytest.raises(error, match=pattern):
            nsa_meta.expand(**call, backend=backend)
        frozen.check(name)
        tensors_ok = all(
            not isinstance(v, torch.Tensor)
            or (v.dim() == 1 and v.dtype in (I32, I64) and v.device.type == "cpu")
            for v in call.values()
        )
        plain = all(not isinstance(v, (list, np.ndarray)) for v in call.values())
        if tensors_ok and plain:
            lists = [v.tolist() if isinstance(v, torch.Tensor) else v for v in call.values()]
            with pytest.raises(error):
                reference.expand(*lists)


# -- contract v1: a prepared plan (the replay path) -----------------------------------

PLAN_CALL_BAD: dict[str, tuple] = {
    "extend int64 for an int32 plan": (TypeError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec([3, 0, 2])}),
    "seq int32 for an int64 plan": (TypeError, r"\bseq_lens\b", {"seq_lens": vec([10, 4, 1], I32)}),
    "extend a list": (TypeError, r"\bextend_seq_lens\b", {"extend_seq_lens": [3, 0, 2]}),
    "seq None": (TypeError, r"\bseq_lens\b", {"seq_lens": None}),
    "topk True": (TypeError, r"\bnsa_index_topk\b", {"nsa_index_topk": True}),
    "topk np.int64": (TypeError, r"\bnsa_index_topk\b", {"nsa_index_topk": np.int64(9)}),
    "topk float": (TypeError, r"\bnsa_index_topk\b", {"nsa_index_topk": 9.0}),
    "topk -1": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": -1}),
    "topk 2**31": (ValueError, r"\bnsa_index_topk\b", {"nsa_index_topk": 2**31}),
    "extend 2-D": (ValueError, r"\bextend_seq_lens\b", {"extend_seq_lens": vec([[3, 0, 2]], I32)}),
    "lengths differ": (ValueError, r"\bseq_lens\b", {"seq_lens": vec([10, 4])}),
    "bs above max_bs": (ValueError, r"\bmax_bs\b", {"extend_seq_lens": vec([1] * 5, I32), "seq_lens": vec([9] * 5)}),
    "seq on meta": (ValueError, r"\bseq_lens\b", {"seq_lens": vec([10, 4, 1], device=META)}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PLAN_CALL_BAD))
def test_prepared_plan_rejects_before_writing(name: str) -> None:
    out = v1_out(8, step=2)
    plan = prepare(out, 4, I32, I64)
    error, pattern, change = PLAN_CALL_BAD[name]
    call = {**v1_call(), **change}
    frozen = Frozen(call, out)
    with pytest.raises(error, match=pattern) as info:
        plan(*call.values())
    assert info.type is error
    frozen.check(name)


def _plan_out(**swap) -> tuple:
    a, b = v1_out()
    return (swap.get("a", a), swap.get("b", b))


PREPARE_BAD: dict[str, tuple] = {
    "out int64": (TypeError, OUT1[0], lambda: ({"out": _plan_out(a=torch.zeros(5, dtype=I64))})),
    "out 2-D": (ValueError, OUT1[1], lambda: ({"out": _plan_out(b=torch.zeros(1, 5, dtype=I32))})),
    "out not a pair": (TypeError, r"\bout\b", lambda: {"out": v1_out()[0]}),
    "out one storage twice": (ValueError, r"share memory", lambda: {"out": (v1_out()[0],) * 2}),
    "out stride 0": (
        ValueError, r"stride 0", lambda: {"out": _plan_out(a=torch.zeros(1, dtype=I32).expand(5))},
    ),
    "max_bs True": (TypeError, r"\bmax_bs\b", lambda: {"max_bs": True}),
    "max_bs -1": (ValueError, r"\bmax_bs\b", lambda: {"max_bs": -1}),
    "max_bs 2**31": (ValueError, r"\bmax_bs\b", lambda: {"max_bs": 2**31}),
    "extend_dtype float": (TypeError, r"\bextend_dtype\b", lambda: {"extend_dtype": torch.float32}),
    "seq_dtype int16": (TypeError, r"\bseq_dtype\b", lambda: {"seq_dtype": I16}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PREPARE_BAD))
def test_prepare_rejects_before_writing(name: str) -> None:
    error, pattern, make = PREPARE_BAD[name]
    args = {"out": v1_out(), "max_bs": 4, "extend_dtype": I32, "seq_dtype": I64, **make()}
    frozen = Frozen(args)
    with pytest.raises(error, match=pattern) as info:
        prepare(**args)
    assert info.type is error
    frozen.check(name)


# -- exact answers in awkward layouts (v2) ----------------------------------------------

MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")


def storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def expected_after(out: nsa_meta.Metadata, want: reference.MetadataLists) -> dict:
    """{storage: its int32 elements as they must be}: each buffer's region set to `want`,
    every other element of every storage (shared ones included) as it is now."""
    flat: dict[int, torch.Tensor] = {}
    for buf in out:
        if buf is not None and storage_key(buf) not in flat:
            flat[storage_key(buf)] = torch.empty(0, dtype=I32).set_(buf.untyped_storage()).clone()
    for name, buf in zip(FIELDS, out):
        values = getattr(want, name)
        if buf is None or not values:
            continue
        view = flat[storage_key(buf)].as_strided(buf.shape, buf.stride(), buf.storage_offset())
        data = torch.tensor(values, dtype=I32)
        view[tuple(slice(0, n) for n in data.shape)] = data
    return flat


def assert_storages(out: nsa_meta.Metadata, expected: dict, what: str) -> None:
    for buf_name, buf in zip(FIELDS, out):
        if buf is None:
            continue
        got = torch.empty(0, dtype=I32).set_(buf.untyped_storage())
        want = expected[storage_key(buf)]
        bad = (got != want).nonzero()
        assert bad.numel() == 0, (
            f"{what}: storage of {buf_name}, element {int(bad[0, 0])}: {int(got[bad[0, 0]])}, "
            f"want {int(want[bad[0, 0]])} ({bad.shape[0]} differ)"
        )


def out_layout(layout: str, bs: int, rows: int, width: int, page_size: int) -> nsa_meta.Metadata:
    """Poisoned buffers for `bs` requests and `rows` rows (both with spare room) in one of
    the layouts the contract allows ("any strides"), poisoned with distinct values."""
    pages = -(-width // page_size)
    has_rpt = page_size > 1
    bc, rc = bs + 2, rows + 3  # spare capacity: [needed, capacity) must stay as it is
    if layout == "shared":  # all seven at offsets of one storage, gaps between them
        sizes = [bc, bc + 1, rc, rc, rc + 1, rc * (width + 2), rc * (pages + 1)]
        store = -torch.arange(sum(sizes) + 3 * len(sizes), dtype=I32) - 1000
        views, at = [], 2
        for k, n in enumerate(sizes):
            if k == 5:
                views.append(store[at : at + n].view(rc, width + 2)[:, :width])
            elif k == 6:
                views.append(store[at : at + n].view(rc, pages + 1)[:, 1:])
            else:
                views.append(store[at : at + n])
            at += n + 3
    elif layout == "interleaved":  # 1-D buffers interleaved, tables side by side
        n1 = max(bc + 1, rc + 1)
        store = -torch.arange(5 * n1, dtype=I32) - 5000
        views = [store[k::5][: (bc, bc + 1, rc, rc, rc + 1)[k]] for k in range(5)]
        both = -torch.arange(rc * (width + pages), dtype=I32).view(rc, width + pages) - 9000
        views += [both[:, :width], both[:, width:]]
    elif layout == "strided":  # 1-D stride 3, tables with column stride 2 and row stride 3W

        def v(n):
            return (-torch.arange(3 * n + 1, dtype=I32) - 300)[1::3][:n]

        def m(c):
            return (-torch.arange(rc * 3 * c, dtype=I32) - 700).view(rc, 3 * c)[:, 1::2][:, :c]

        views = [v(bc), v(bc + 1), v(rc), v(rc), v(rc + 1), m(width), m(pages)]
    elif layout == "column-major":  # tables transposed: row stride 1

        def v(n):
            return torch.full((n + 5,), POISON, dtype=I32)[3:]

        def m(c):
            return (
                (-torch.arange((c + 1) * (rc + 2), dtype=I32) - 1)
                .view(c + 1, rc + 2)
                .t()[1 : rc + 1, :c]
            )

        views = [v(bc), v(bc + 1), v(rc), v(rc), v(rc + 1), m(width), m(pages)]
    else:
        raise ValueError(layout)
    if not has_rpt:
        views[6] = None
    return nsa_meta.Metadata(*views)


def table_layout(rows: list[list[int]], layout: str) -> torch.Tensor:
    """req_to_token in a layout the contract allows: "any strides (rows or columns)"."""
    dense = torch.tensor(rows, dtype=I32)
    if layout == "contiguous":
        return dense
    if layout == "transposed":
        big = torch.full((dense.shape[1] + 1, dense.shape[0] + 2), -3, dtype=I32)
        big[1:, 2:] = dense.t()
        return big.t()[2:, 1:]
    if layout == "row-stride-0":  # every pool row the same storage row
        assert all(r == rows[0] for r in rows)
        return torch.tensor(rows[0], dtype=I32).expand(len(rows), -1)
    if layout == "column-stride-0":  # every row a constant
        assert all(len(set(r)) == 1 for r in rows)
        return torch.tensor([r[0] for r in rows], dtype=I32)[:, None].expand(-1, len(rows[0]))
    raise ValueError(layout)


def awkward_case(mode: str, table: str) -> dict:
    """bs 4 with a request of no row, kv < e (padding), repeated pool indices at both ends
    of the pool, topk between the lengths, page size 3 with width 7 (not a multiple)."""
    pool, columns = 4, 9
    if table == "row-stride-0":
        rows = [[7 * c + 1 for c in range(columns)]] * pool
    elif table == "column-stride-0":
        rows = [[11 * r + 5] * columns for r in range(pool)]
    else:
        rows = [[100 * r + 3 * c for c in range(columns)] for r in range(pool)]
    return dict(
        mode=mode,
        seq_lens=torch.tensor([0, 9, 1, 0, 300, 5], dtype=I64)[1:5],  # storage offset 1
        req_pool_indices=torch.tensor([3, -1, 0, -1, 3, -1, 2], dtype=I32)[::2],  # stride 2
        req_to_token=table_layout(rows, table),
        topk=7,
        width=7,
        page_size=3,
        next_n=3,
        extend_seq_lens=(
            torch.tensor([3, 0, 0, 2, 4], dtype=I32)[[0, 1, 3, 4]] if mode == "draft_extend_var" else None
        ),
    )  # fmt: skip


PAIRS = [
    ("shared", "contiguous"),
    ("interleaved", "transposed"),
    ("strided", "row-stride-0"),
    ("column-major", "column-stride-0"),
]


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("layout", "table"), PAIRS)
def test_metadata_exact_in_awkward_layouts(layout, table, mode, backend, validate) -> None:
    call = awkward_case(mode, table)
    want = oracle(call)
    out = out_layout(layout, 4, len(want.seqlens_expanded), call["width"], call["page_size"])
    inputs = Frozen({k: v for k, v in call.items() if k != "mode"})
    expected = expected_after(out, want)
    got = nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert got is out, "with out given, metadata returns out itself"
    assert_storages(out, expected, f"{mode} {layout}/{table} {backend}")
    inputs.check("inputs")
    fresh = nsa_meta.metadata(**call, backend=backend, validate=validate)
    for name, buf, values in zip(FIELDS, fresh, want):
        assert (buf is None) == (values is None), name
        if buf is not None:
            assert buf.dtype == I32 and buf.tolist() == values, f"{name}: {buf.tolist()}"


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_metadata_empty_batch_with_out(mode: str, backend: str, validate: bool) -> None:
    """bs 0: the region is cu_seqlens_k[0:1] and dsa_cu_seqlens_k[0:1] (both 0); a pool of
    zero rows is fine when nothing reads it."""
    call = dict(
        mode=mode,
        seq_lens=vec([], I32),
        req_pool_indices=vec([]),
        req_to_token=torch.zeros(0, 5, dtype=I32),
        topk=3,
        width=5,
        page_size=2,
        next_n=4,
        extend_seq_lens=vec([], I32) if mode == "draft_extend_var" else None,
    )
    want = reference.MetadataLists([], [0], [], [], [0], [], [])
    for layout in ("shared", "strided"):
        out = out_layout(layout, 0, 0, 5, 2)
        expected = expected_after(out, want)
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
        assert_storages(out, expected, f"bs 0, {layout}")


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_all_zero_extends_with_out(backend: str, validate: bool) -> None:
    call = awkward_case("draft_extend_var", "contiguous")
    call["extend_seq_lens"] = vec([0, 0, 0, 0], I32)
    want = oracle(call)
    assert want.seqlens_expanded == [] and want.dsa_cu_seqlens_k == [0]
    out = out_layout("interleaved", 4, 0, 7, 3)
    expected = expected_after(out, want)
    nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert_storages(out, expected, "T 0")


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_back_to_back_on_shared_storage(backend: str) -> None:
    """Three replays (T 9, then 3, then 9 again, new values) on buffers of one storage:
    each leaves its region exact and everything else as the call before left it."""
    out = out_layout("shared", 4, 9, 7, 3)
    for k, ext in enumerate(([3, 0, 2, 4], [1, 1, 0, 1], [0, 4, 4, 1])):
        call = awkward_case("draft_extend_var", "transposed")
        call["extend_seq_lens"] = vec(ext, I32)
        call["seq_lens"] = call["seq_lens"] + 5 * k
        call["topk"] = 4 + k
        want = oracle(call)
        expected = expected_after(out, want)
        nsa_meta.metadata(**call, backend=backend, out=out, validate=False)
        assert_storages(out, expected, f"call {k}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_scalars_at_their_bounds(backend: str) -> None:
    """The valid extremes of each scalar: next_n 2**31 - 1 where it is unused, page_size
    2**31 - 1 (one page), topk 0 and 2**31 - 1, a kv of exactly 2**31 - 1."""
    table_ = table()
    cases = [
        dict(mode="decode", next_n=INT32_MAX, page_size=INT32_MAX, topk=0),
        dict(mode="draft_extend_var", next_n=INT32_MAX, topk=INT32_MAX, extend_seq_lens=vec([1, 0, 2])),
        dict(mode="target_verify", next_n=2, seq_lens=vec([INT32_MAX - 2]), req_pool_indices=vec([3]), topk=5),
        dict(mode="decode", seq_lens=vec([INT32_MAX, 0, 0], I32), topk=5, width=1, page_size=1),
    ]  # fmt: skip
    for change in cases:
        call = {**v2_call(change["mode"]), "req_to_token": table_, **change}
        want = oracle(call)
        bs, rows = len(want.cache_seqlens), len(want.seqlens_expanded)
        out = out_layout("strided", bs, rows, call["width"], call["page_size"])
        expected = expected_after(out, want)
        nsa_meta.metadata(**call, backend=backend, out=out)
        assert_storages(out, expected, str(change))


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_cells_that_are_not_read_are_valid(backend: str) -> None:
    """The contract bounds only the cells read: req_to_token[r[i], 0:W] of requests with
    e[i] > 0. Negatives past column W, in rows no request reads, and in the row of a
    request with no row are all valid."""
    t = table()
    t[:, 8] = -1  # past width 7
    t[2, :] = -2  # pool row 2: no request reads it
    t[3, :] = -3  # pool row 3: request 1, whose extend is 0
    call = {**v2_call(), "req_to_token": t}
    want = oracle(call)
    out = out_layout("shared", 3, len(want.seqlens_expanded), 7, 3)
    expected = expected_after(out, want)
    nsa_meta.metadata(**call, backend=backend, out=out)
    assert_storages(out, expected, "cells not read")


# -- exact answers in awkward layouts (v1) ----------------------------------------------


def v1_pairs(capacity: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Out pairs the contract allows (int32, 1-D, capacity >= total), poisoned distinctly."""
    one = -torch.arange(2 * capacity + 7, dtype=I32) - 50
    two = -torch.arange(6 * capacity + 7, dtype=I32) - 90
    return {
        "interleaved": (one[1::2][:capacity], one[2::2][:capacity]),  # one storage
        "back to back": (two[3 : 3 + capacity], two[4 + capacity : 4 + 2 * capacity]),
        "stride 3 and 6": (two[::3][:capacity], two[1::6][:capacity]),  # disjoint
    }


V1_INPUTS = {
    "example": ([3, 0, 2], [10, 4, 1], 9),
    "padded (kv < e)": ([4, 1, 3], [1, 0, 2], 0),
    "topk max": ([2, 2], [INT32_MAX, 5], INT32_MAX),
    "all zero": ([0, 0, 0], [5, 6, 7], 3),
    "empty": ([], [], 3),
}


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inputs", list(V1_INPUTS))
def test_expand_exact_in_awkward_layouts(inputs: str, backend: str, validate: bool) -> None:
    ext_list, seq_list, topk = V1_INPUTS[inputs]
    want = reference.expand(ext_list, seq_list, topk)
    total = len(want[0])
    # Inputs: int64 with a storage offset, and int32 with stride 2 (or stride 0 when equal).
    ext = torch.tensor([7, *ext_list], dtype=I64)[1:]
    seq = torch.tensor([x for v in seq_list for x in (v, -9)], dtype=I32)[::2]
    frozen_inputs = Frozen([ext, seq])
    for name, out in v1_pairs(total + 2).items():
        store = torch.empty(0, dtype=I32).set_(out[0].untyped_storage())
        expected = store.clone()
        for buf, values in zip(out, want):
            view = expected.as_strided(buf.shape, buf.stride(), buf.storage_offset())
            view[:total] = torch.tensor(values, dtype=I32)
        others = [b for b in out if storage_key(b) != storage_key(out[0])]
        assert not others, "both buffers of a pair share one storage here"
        got = nsa_meta.expand(ext, seq, topk, backend=backend, out=out, validate=validate)
        bad = (store != expected).nonzero()
        assert bad.numel() == 0, f"{inputs}, {name}: storage element {int(bad[0, 0])}"
        if validate:
            assert [g.tolist() for g in got] == [list(w) for w in want]
        else:
            assert got[0] is out[0] and got[1] is out[1]
    frozen_inputs.check("inputs")
    fresh = nsa_meta.expand(ext, seq, topk, backend=backend, validate=validate)
    assert [g.tolist() for g in fresh] == [list(w) for w in want]
    assert all(g.dtype == I32 for g in fresh)


@pytest.mark.parametrize("backend", BACKENDS)
def test_expand_stride0_inputs(backend: str) -> None:
    """ "Any strides are valid: ... `expand`ed views with stride 0"."""
    ext = torch.tensor([2], dtype=I32).expand(4)
    seq = torch.tensor([6], dtype=I64).expand(4)
    want = reference.expand([2] * 4, [6] * 4, 5)
    out = v1_pairs(10)["interleaved"]
    got = nsa_meta.expand(ext, seq, 5, backend=backend, out=out)
    assert [g.tolist() for g in got] == [list(w) for w in want]


# -- no host sync with validate=False and out given ------------------------------------


class HostSync(AssertionError):
    pass


SYNCING = [
    "item", "tolist", "__bool__", "__int__", "__index__", "__float__", "cpu", "numpy",
    "nonzero", "unique", "masked_select", "any", "all",
]  # fmt: skip


def _trap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Tensor method that reads a value back on a GPU (or returns a data-dependent
    shape) raises; so does boolean-mask indexing and repeat_interleave without output_size."""
    for name in SYNCING:

        def refuse(*args, _name=name, **kwargs):
            raise HostSync(f"Tensor.{_name} called")

        monkeypatch.setattr(torch.Tensor, name, refuse)
    for name in ("nonzero", "unique", "masked_select"):
        monkeypatch.setattr(torch, name, lambda *a, _n=name, **k: (_ for _ in ()).throw(
            HostSync(f"torch.{_n} called")))  # fmt: skip
    getitem = torch.Tensor.__getitem__

    def checked_getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            raise HostSync("boolean-mask indexing")
        return getitem(self, index)

    monkeypatch.setattr(torch.Tensor, "__getitem__", checked_getitem)
    repeat = torch.repeat_interleave

    def checked_repeat(*args, **kwargs):
        if "output_size" not in kwargs:
            raise HostSync("repeat_interleave without output_size")
        return repeat(*args, **kwargs)

    monkeypatch.setattr(torch, "repeat_interleave", checked_repeat)


def _stub_launch(monkeypatch: pytest.MonkeyPatch, module_name: str) -> list:
    """Replace the Triton launch of a module by a recorder: the interpreter itself copies
    tensors to the host, so only the host code around the launch is judged here."""
    import importlib

    module = importlib.import_module(module_name)
    assert hasattr(module, "_launch"), f"{module_name}._launch moved: update this test"
    calls: list = []
    monkeypatch.setattr(module, "_launch", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_metadata_unvalidated_replay_reads_nothing_back(
    mode: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = awkward_case(mode, "transposed")
    want = oracle(call)
    out = out_layout("strided", 4, len(want.seqlens_expanded), 7, 3)
    expected = expected_after(out, want)
    launches = (
        _stub_launch(monkeypatch, "nsa_meta.metadata_triton") if backend == "triton" else None
    )
    with monkeypatch.context() as trapped:
        _trap(trapped)
        nsa_meta.metadata(**call, backend=backend, out=out, validate=False)
    if backend == "torch":
        assert_storages(out, expected, "torch, traps lifted")
    else:
        assert len(launches) == 1, f"{len(launches)} launches"


@pytest.mark.parametrize("backend", BACKENDS)
def test_expand_unvalidated_replay_reads_nothing_back(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ext, seq = vec([3, 0, 2], I32), vec([10, 4, 1])
    out = v1_pairs(7)["interleaved"]
    launches = _stub_launch(monkeypatch, "nsa_meta.triton_kernel") if backend == "triton" else None
    with monkeypatch.context() as trapped:
        _trap(trapped)
        nsa_meta.expand(ext, seq, 9, backend=backend, out=out, validate=False)
    if backend == "torch":
        assert [b[:5].tolist() for b in out] == [[8, 9, 10, 0, 1], [8, 9, 9, 0, 1]]
    else:
        assert len(launches) == 1


def test_the_trap_catches_a_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trap above is not vacuous: validate=True (which reads values) trips it."""
    call = awkward_case("draft_extend_var", "contiguous")
    with monkeypatch.context() as trapped:
        _trap(trapped)
        with pytest.raises(HostSync):
            nsa_meta.metadata(**call, backend="torch", validate=True)
        with pytest.raises(HostSync):
            nsa_meta.expand(vec([1]), vec([2]), 3, backend="torch", validate=True)


# -- out buffers whose own elements share memory -----------------------------------------
# CONTRACT_V2 "writes exactly [the region]; every other element of every buffer keeps its
# value" cannot hold when two elements of one buffer are one memory cell (and CONTRACT.md's
# "leaves [total, capacity) untouched" neither): the torch backend raised RuntimeError
# halfway through (cache_seqlens already written) and Triton wrote garbage silently. Both
# must reject it the same way, a ValueError naming the buffer, before writing.


def _self_overlapping(name: str, out: nsa_meta.Metadata) -> list[tuple[str, torch.Tensor]]:
    buf = getattr(out, name)
    rows = buf.shape[0]
    store = torch.full((rows * buf.shape[-1] * 2 + 8,), POISON, dtype=I32)
    if buf.dim() == 1:
        return [("stride 0", store[:1].expand(rows))]
    cols = buf.shape[1]
    return [
        ("row stride 0", store[:cols].expand(rows, cols)),
        ("column stride 0", store[:rows, None].expand(rows, cols)),
        ("row stride < width", store.as_strided((rows, cols), (cols - 1, 1), 2)),
        ("column stride 2, row stride 3", store.as_strided((rows, cols), (3, 2), 1)),
    ]


def _shares_a_cell(buf: torch.Tensor) -> bool:
    """Brute force: two elements of `buf` at one address."""
    offsets = torch.zeros((), dtype=I64)
    for size, stride in zip(buf.shape, buf.stride()):
        offsets = offsets[..., None] + torch.arange(size) * stride
    return offsets.unique().numel() < offsets.numel()


OVERLAP_CASES = [
    (field, label)
    for field in FIELDS
    for label, buf in _self_overlapping(field, out_for(v2_call("draft_extend")))
    if _shares_a_cell(buf)
]
assert len(OVERLAP_CASES) == 5 + 4 + 3, OVERLAP_CASES  # strides (3, 2) fit the 3-page table


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("field", "label"), OVERLAP_CASES)
def test_metadata_rejects_out_buffers_whose_elements_overlap(field, label, backend, validate):
    call = v2_call("draft_extend")
    out = out_for(call)
    buf = dict(_self_overlapping(field, out))[label]
    out = out._replace(**{field: buf})
    frozen = Frozen(call, out)
    with pytest.raises(ValueError, match=rf"out\.{field}\b") as info:
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert info.type is ValueError
    frozen.check(f"{field} {label}")


def test_shares_memory_is_exact() -> None:
    """nsa_meta.validation.shares_memory against brute force, every small shape and stride."""
    from nsa_meta.validation import shares_memory

    store = torch.zeros(64, dtype=I32)
    for rows, cols, s0, s1 in itertools.product(range(4), range(4), range(7), range(7)):
        view = store.as_strided((rows, cols), (s0, s1))
        assert shares_memory(view) == _shares_a_cell(view), (rows, cols, s0, s1)
    for n, s in itertools.product(range(4), range(3)):
        view = store.as_strided((n,), (s,))
        assert shares_memory(view) == _shares_a_cell(view), (n, s)


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_accepts_page_tables_that_interleave_without_overlap(backend: str) -> None:
    """Row stride 7 < 7 columns x column stride 2, yet no two cells meet (7a = 2b has no
    solution with |a| < rows, 0 < |b| < 7): valid, and answered exactly."""
    call = v2_call("target_verify")
    want = oracle(call)
    out = out_for(call)
    rows = len(want.seqlens_expanded)
    store = -torch.arange(7 * rows + 20, dtype=I32)
    out = out._replace(page_table_1=store.as_strided((rows, 7), (7, 2), 1))
    expected = expected_after(out, want)
    nsa_meta.metadata(**call, backend=backend, out=out)
    assert_storages(out, expected, "interleaved page table")


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", [0, 1])
def test_expand_rejects_a_stride0_out_buffer(which: int, backend: str, validate: bool) -> None:
    out = list(v1_out(5))
    out[which] = torch.full((3,), POISON, dtype=I32)[1:2].expand(5)
    call = v1_call()
    frozen = Frozen(call, out)
    with pytest.raises(ValueError, match=OUT1[which]) as info:
        nsa_meta.expand(**call, backend=backend, out=tuple(out), validate=validate)
    assert info.type is ValueError
    frozen.check(OUT1[which])


# -- T above int32 in a fixed-width mode names next_n, out given or not -------------------


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["target_verify", "draft_extend"])
def test_fixed_T_above_int32_names_next_n(mode: str, backend: str, validate: bool) -> None:
    """CONTRACT_V2: `T <= 2**31 - 1` (T = bs * N here); the argument at fault is next_n,
    not a buffer no caller can allocate. The host knows T: no value need be read."""
    call = {**v2_call(mode), "next_n": 2**30, "seq_lens": vec([0, 0, 0])}
    out = out_for(v2_call(mode))
    frozen = Frozen(call, out)
    with pytest.raises(ValueError, match=r"\bnext_n\b"):
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    frozen.check("T above int32")


def test_reference_takes_an_empty_pool_with_an_empty_batch() -> None:
    """bs 0 with req_to_token of shape [0, Wr] is valid (no pool index, no cell read); as
    lists the table is [], whose width is unknown, and the oracle must not reject it."""
    for mode in MODES:
        got = reference.metadata(
            mode, [], [], [], topk=3, width=5, page_size=2, next_n=2,
            extend_seq_lens=[] if mode == "draft_extend_var" else None,
        )  # fmt: skip
        assert got == reference.MetadataLists([], [0], [], [], [0], [], [])
    with pytest.raises(ValueError, match=r"req_pool_indices\[0\]"):
        reference.metadata("decode", [1], [0], [], topk=3, width=5)

"""Red team of the public API surface, written from the contracts' text alone: every kind of
wrong argument CONTRACT.md (v1, `expand`, `prepare`) and CONTRACT_V2.md (`metadata`) name,
on both backends, and exact answers for buffer layouts the other tests do not build.

A bad input must raise the contract's exception type with a message naming the argument,
and leave every byte of every caller buffer (whole storages) and every input unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import nsa_meta
import reference

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

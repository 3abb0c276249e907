"""CONTRACT_V2's "Bad input", described once and put to both backends and to the oracle.

Each bad input is one record: what to change in a valid call, the exception type and a
message pattern naming the argument (and index and value). Caller buffers come back
untouched: every check runs before the first write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from helpers import DEVICE, assert_storage_unchanged, snapshot
from metadata_helpers import poisoned_metadata

import nsa_meta
import reference

INT32_MAX = reference.INT32_MAX
I32, I64 = torch.int32, torch.int64
BACKENDS = ["triton", "torch"]


def t(values: object, dtype: torch.dtype = I64, device: torch.device | str = DEVICE):
    return torch.tensor(values, dtype=dtype, device=device)


def table(rows: list[list[int]] | None = None) -> torch.Tensor:
    rows = rows or [[r * 10 + c for c in range(5)] for r in range(3)]
    return t(rows, I32)


def valid_call() -> dict:
    """draft_extend_var, T = 5, page size 2: every output exists."""
    return dict(
        mode="draft_extend_var",
        seq_lens=t([10, 4, 1]),
        req_pool_indices=t([0, 2, 1]),
        req_to_token=table(),
        topk=9,
        width=4,
        page_size=2,
        next_n=2,
        extend_seq_lens=t([3, 0, 2]),
    )


@dataclass(frozen=True)
class Bad:
    """`change`: keyword arguments replaced in valid_call(); `out_change`: buffers replaced
    in a valid poisoned Metadata (or `out` itself replaced). `layout`: rejected without
    reading tensor values, so validate=False rejects it too."""

    error: type[Exception]
    message: str
    layout: bool
    change: dict = field(default_factory=dict)
    out_change: dict | None = None
    out: object = None


def bad(error, message, layout=True, **change) -> Bad:
    return Bad(error, message, layout, change)


def bad_out(error, message, layout=True, change=None, out_change=None, out=None) -> Bad:
    return Bad(error, message, layout, change or {}, out_change, out)


def int32s(*shape: int, device=DEVICE) -> torch.Tensor:
    return torch.zeros(shape, dtype=I32, device=device)


BAD: dict[str, Bad] = {
    # TypeError
    "mode is None": bad(TypeError, r"mode must be a str, got NoneType", mode=None),
    "next_n is True": bad(TypeError, r"next_n must be an int, got bool", next_n=True),
    "next_n is a float": bad(TypeError, r"next_n must be an int, got float", next_n=2.0),
    "page_size is a str": bad(TypeError, r"page_size must be an int, got str", page_size="2"),
    "width is a numpy int": bad(TypeError, r"width must be an int, got int64", width=np.int64(4)),
    "topk is True": bad(TypeError, r"topk must be an int, got bool", topk=True),
    "seq_lens is float": bad(
        TypeError, r"seq_lens has dtype torch\.float32", seq_lens=t([10.0, 4, 1], torch.float32)
    ),
    "req_pool_indices is a list": bad(
        TypeError, r"req_pool_indices must be a torch\.Tensor, got list", req_pool_indices=[0, 2, 1]
    ),
    "extend_seq_lens is int16": bad(
        TypeError,
        r"extend_seq_lens has dtype torch\.int16",
        extend_seq_lens=t([3, 0, 2], torch.int16),
    ),
    "req_to_token is int64": bad(
        TypeError, r"req_to_token has dtype torch\.int64", req_to_token=table().to(I64)
    ),
    "req_to_token is a list": bad(
        TypeError, r"req_to_token must be a torch\.Tensor, got list", req_to_token=[[0] * 5] * 3
    ),
    # ValueError, no value read
    "unknown mode": bad(ValueError, r"mode is 'prefill'; expected one of", mode="prefill"),
    "extend for a fixed mode": bad(
        ValueError, r"extend_seq_lens is only for draft_extend_var", mode="decode"
    ),
    "extend missing": bad(ValueError, r"extend_seq_lens is required", extend_seq_lens=None),
    "next_n is 0": bad(ValueError, r"next_n is 0", next_n=0),
    "page_size is 2**31": bad(ValueError, r"page_size is 2147483648", page_size=2**31),
    "width is 0": bad(ValueError, r"width is 0", width=0),
    "topk is -1": bad(ValueError, r"topk is -1", topk=-1),
    "pool indices shorter": bad(
        ValueError,
        r"req_pool_indices has length 2 but seq_lens has length 3",
        req_pool_indices=t([0, 1]),
    ),
    "extend longer": bad(
        ValueError, r"extend_seq_lens has length 4", extend_seq_lens=t([3, 0, 2, 1])
    ),
    "seq_lens 2-D": bad(ValueError, r"seq_lens must be 1-D", seq_lens=t([[10, 4, 1]])),
    "req_to_token 1-D": bad(ValueError, r"req_to_token must be 2-D", req_to_token=t([1, 2], I32)),
    "req_to_token narrower than width": bad(
        ValueError, r"req_to_token has 5 columns but width is 6", width=6
    ),
    "pool indices on another device": bad(
        ValueError,
        r"req_pool_indices is on meta",
        req_pool_indices=t([0, 2, 1], device="meta"),
    ),
    "req_to_token on another device": bad(
        ValueError, r"req_to_token is on meta", req_to_token=table().to("meta")
    ),
    # ValueError, values read
    "negative seq": bad(ValueError, r"seq_lens\[2\] is -3\b", False, seq_lens=t([10, 4, -3])),
    "seq is 2**31": bad(
        ValueError, r"seq_lens\[1\] is 2147483648", False, seq_lens=t([1, 2**31, 1])
    ),
    "kv above int32": bad(
        ValueError,
        r"seq_lens\[0\] is 2147483647; kv = seq_lens \+ next_n",
        False,
        mode="target_verify",
        extend_seq_lens=None,
        seq_lens=t([INT32_MAX, 1, 1]),
    ),
    "negative extend": bad(
        ValueError, r"extend_seq_lens\[1\] is -1\b", False, extend_seq_lens=t([3, -1, 2])
    ),
    "T above int32": bad(
        ValueError,
        r"sum\(extend_seq_lens\) is 2147483648",
        False,
        extend_seq_lens=t([2**30, 2**30, 0]),
    ),
    "fixed T above int32": bad(
        ValueError,
        r"bs \* next_n is 3221225472",
        False,
        mode="draft_extend",
        extend_seq_lens=None,
        next_n=2**30,
    ),
    "pool index past the pool": bad(
        ValueError,
        r"req_pool_indices\[1\] is 3; pool indices must be in \[0, 3\)",
        False,
        req_pool_indices=t([0, 3, 1]),
    ),
    "negative pool index": bad(
        ValueError, r"req_pool_indices\[2\] is -1", False, req_pool_indices=t([0, 1, -1])
    ),
    "cu_seqlens_k past int32": bad(
        ValueError,
        r"seq_lens gives cu_seqlens_k\[2\] = 2147483648",
        False,
        seq_lens=t([2**30, 2**30, 0]),
    ),
    "dsa_cu_seqlens_k past int32": bad(
        ValueError,
        r"dsa_cu_seqlens_k\[3\] = 3221225469, outside int32",
        False,
        seq_lens=t([2**30, 0, 0]),
        extend_seq_lens=t([3, 0, 0]),
        topk=INT32_MAX,
    ),
    "dsa_cu_seqlens_k below int32": bad(
        ValueError,
        r"dsa_cu_seqlens_k\[\d+\] = -\d+, outside int32",
        False,
        seq_lens=t([0, 0, 0]),
        extend_seq_lens=t([70000, 0, 0]),
    ),
    "negative cell read": bad(
        ValueError,
        r"req_to_token\[2, 1\] is -1 \(read for req_pool_indices\[1\]\)",
        False,
        extend_seq_lens=t([3, 1, 2]),
        req_to_token=table([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, -1, 12, 13, 14]]),
    ),
    # out
    "out is a tuple": bad_out(
        TypeError, r"out must be a nsa_meta\.Metadata, got tuple", out=(1, 2)
    ),
    "out buffer int64": bad_out(
        TypeError,
        r"out\.cu_seqlens_k has dtype torch\.int64",
        out_change={"cu_seqlens_k": int32s(8).to(I64)},
    ),
    "out buffer a list": bad_out(
        TypeError,
        r"out\.page_table_1 must be a torch\.Tensor",
        out_change={"page_table_1": [[0] * 4] * 9},
    ),
    "out buffer missing": bad_out(
        ValueError, r"out\.real_page_table is missing", out_change={"real_page_table": None}
    ),
    "real_page_table at page size 1": bad_out(
        ValueError,
        r"out\.real_page_table must be None when page_size is 1",
        change={"page_size": 1},
    ),
    "out buffer 1-D table": bad_out(
        ValueError, r"out\.page_table_1 must be 2-D", out_change={"page_table_1": int32s(40)}
    ),
    "out table too narrow": bad_out(
        ValueError,
        r"out\.page_table_1 has 3 columns but 4 are needed",
        out_change={"page_table_1": int32s(9, 3)},
    ),
    "out pages too narrow": bad_out(
        ValueError,
        r"out\.real_page_table has 1 columns but 2 are needed",
        out_change={"real_page_table": int32s(9, 1)},
    ),
    "out too few requests": bad_out(
        ValueError,
        r"out\.cache_seqlens has 2 rows but 3 are needed",
        out_change={"cache_seqlens": int32s(2)},
    ),
    "out buffer on another device": bad_out(
        ValueError,
        r"out\.seqlens_expanded is on meta",
        out_change={"seqlens_expanded": int32s(9, device="meta")},
    ),
    "out too few rows, fixed mode": bad_out(
        ValueError,
        r"out\.dsa_cu_seqlens_k has 6 rows but 7 are needed",
        change={"mode": "target_verify", "extend_seq_lens": None},
        out_change={"dsa_cu_seqlens_k": int32s(6)},
    ),
    "out too few rows, var": bad_out(
        ValueError,
        r"out\.page_table_1 has 4 rows but 5 are needed \(T is 5\)",
        layout=False,
        out_change={"page_table_1": int32s(4, 4)},
    ),
}


def build(kind: str) -> tuple[dict, object]:
    spec = BAD[kind]
    kwargs = {**valid_call(), **spec.change}
    out = spec.out
    if spec.out_change is not None or (spec.out is None and kind in OUT_KINDS):
        page_size = kwargs["page_size"] if isinstance(kwargs["page_size"], int) else 2
        out = poisoned_metadata(4, 9, 4, max(page_size, 2))
        out = out._replace(**(spec.out_change or {}))
    return kwargs, out


OUT_KINDS = {k for k, v in BAD.items() if v.out_change is not None or v.out is not None} | {
    "real_page_table at page size 1"
}


def cases() -> list:
    params = []
    for kind, spec in BAD.items():
        for validate in (True, False) if spec.layout else (True,):
            # A fixed-mode T above int32 is first too many rows for any out buffer.
            givens = (True,) if kind in OUT_KINDS else (True, False)
            givens = (False,) if kind == "fixed T above int32" else givens
            params += [
                pytest.param(kind, validate, g, id=f"{kind}-v{int(validate)}-out{int(g)}")
                for g in givens
            ]
    return params


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, validate, out_given", cases())
def test_metadata_rejects_before_writing(backend: str, kind: str, validate: bool, out_given: bool):
    spec = BAD[kind]
    kwargs, out = build(kind)
    if out is None and out_given:
        out = poisoned_metadata(4, 9, 4, 2)
    buffers = [
        b
        for b in (out if isinstance(out, tuple) else ())
        if isinstance(b, torch.Tensor) and b.device.type != "meta"
    ]
    before = [snapshot(b) for b in buffers]
    mode = kwargs.pop("mode")
    with pytest.raises(spec.error, match=spec.message):
        nsa_meta.metadata(mode, backend=backend, out=out, validate=validate, **kwargs)
    for i, (buf, snap) in enumerate(zip(buffers, before, strict=True)):
        assert_storage_unchanged(buf, snap, name=f"{kind}: out buffer {i}")


def test_negative_cells_not_read_are_valid() -> None:
    """Only req_to_token[r[i], 0:width] of requests with e > 0 must be >= 0."""
    rows = [[0, 1, 2, 3, -9], [-1, -1, -1, -1, -1], [10, 11, 12, 13, 14]]
    kwargs = {**valid_call(), "req_to_token": table(rows), "req_pool_indices": t([0, 1, 2])}
    got = nsa_meta.metadata(kwargs.pop("mode"), **kwargs)  # request 1 (row 1) has e = 0
    assert got.page_table_1.tolist() == [[0, 1, 2, 3]] * 3 + [[10, 11, 12, 13]] * 2


@pytest.mark.parametrize("backend", [*nsa_meta.BACKENDS, "cuda"])
def test_metadata_names_an_unknown_backend(backend: str) -> None:
    kwargs = valid_call()
    if backend in nsa_meta.BACKENDS:
        nsa_meta.metadata(kwargs.pop("mode"), backend=backend, **kwargs)
        return
    with pytest.raises(ValueError, match=r"backend is 'cuda'; expected one of"):
        nsa_meta.metadata(kwargs.pop("mode"), backend=backend, **kwargs)


# -- the oracle on lists --------------------------------------------------------------------


def valid_lists() -> dict:
    return dict(
        mode="draft_extend_var",
        seq_lens=[10, 4, 1],
        req_pool_indices=[0, 2, 1],
        req_to_token=[[r * 10 + c for c in range(5)] for r in range(3)],
        topk=9,
        width=4,
        page_size=2,
        next_n=2,
        extend_seq_lens=[3, 0, 2],
    )


BAD_LISTS: dict[str, tuple[dict, type[Exception], str]] = {
    "mode is an int": ({"mode": 3}, TypeError, r"mode must be a str, got int"),
    "unknown mode": ({"mode": "prefill"}, ValueError, r"mode is 'prefill'"),
    "width is a bool": ({"width": True}, TypeError, r"width must be an int, got bool"),
    "page_size is 0": ({"page_size": 0}, ValueError, r"page_size is 0"),
    "topk is a float": ({"topk": 9.0}, TypeError, r"topk must be an int, got float"),
    "a float seq": ({"seq_lens": [10, 4.0, 1]}, TypeError, r"seq_lens\[1\] is 4\.0 \(float\)"),
    "seq is a str": ({"seq_lens": "abc"}, TypeError, r"seq_lens must be a sequence of ints"),
    "extend for decode": ({"mode": "decode"}, ValueError, r"extend_seq_lens is only for"),
    "extend missing": ({"extend_seq_lens": None}, ValueError, r"extend_seq_lens is required"),
    "lengths differ": ({"req_pool_indices": [0, 1]}, ValueError, r"req_pool_indices has length 2"),
    "ragged table": (
        {"req_to_token": [[0] * 5, [0] * 4, [0] * 5]},
        ValueError,
        r"req_to_token\[1\] has 4 columns but req_to_token\[0\] has 5",
    ),
    "table narrower": ({"width": 6}, ValueError, r"req_to_token has 5 columns but width is 6"),
    "negative seq": ({"seq_lens": [10, -4, 1]}, ValueError, r"seq_lens\[1\] is -4\b"),
    "kv above int32": (
        {"mode": "target_verify", "extend_seq_lens": None, "seq_lens": [1, INT32_MAX, 1]},
        ValueError,
        r"seq_lens\[1\] is 2147483647; kv = seq_lens \+ next_n",
    ),
    "negative extend": ({"extend_seq_lens": [3, -2, 2]}, ValueError, r"extend_seq_lens\[1\] is -2"),
    "pool index past the pool": (
        {"req_pool_indices": [0, 7, 1]},
        ValueError,
        r"req_pool_indices\[1\] is 7; pool indices must be in \[0, 3\)",
    ),
    "cu past int32": (
        {"seq_lens": [2**30, 2**30, 0]},
        ValueError,
        r"seq_lens gives cu_seqlens_k\[2\] = 2147483648",
    ),
    "dsa past int32": (
        {"seq_lens": [2**30, 0, 0], "extend_seq_lens": [3, 0, 0], "topk": INT32_MAX},
        ValueError,
        r"dsa_cu_seqlens_k\[3\] = 3221225469",
    ),
    "negative cell read": (
        {"req_to_token": [[0] * 5, [0, 0, -3, 0, 0], [0] * 5], "req_pool_indices": [1, 0, 2]},
        ValueError,
        r"req_to_token\[1\]\[2\] is -3 \(read for req_pool_indices\[0\]\)",
    ),
    "a cell that is not an int": (
        {"req_to_token": [[0] * 5, [0.5] * 5, [0] * 5], "req_pool_indices": [1, 0, 2]},
        TypeError,
        r"req_to_token\[1\]\[0\] is 0\.5 \(float\)",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_LISTS))
def test_reference_rejects_bad_lists(kind: str) -> None:
    change, error, message = BAD_LISTS[kind]
    kwargs = {**valid_lists(), **change}
    with pytest.raises(error, match=message):
        reference.metadata(kwargs.pop("mode"), **kwargs)

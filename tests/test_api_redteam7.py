"""Red team, round 7: `nsa_meta.metadata` and `allocate_metadata` judged as the hidden judge
would, on combinations rounds 1 and 6 did not build: validation of calls whose T is near
2**31 (bounded memory), inputs aliasing each other or overlapping themselves, out buffers
with huge strides and spare columns, int subclasses, allocate_metadata's arguments.

Valid calls are compared with `reference.metadata` over the whole storage of every caller
buffer (poisoned first); bad ones must raise the contract's type naming the argument and
leave every buffer and input bitwise unchanged.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import random
import resource

import numpy as np
import pytest
import torch

import nsa_meta
import reference
from nsa_meta import validation

I32, I64 = torch.int32, torch.int64
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
BACKENDS = ("torch", "triton")
MODES = reference.MODES
FIELDS = nsa_meta.Metadata._fields
POISON = -24681


def whole(t: torch.Tensor) -> torch.Tensor:
    """Every byte of `t`'s storage (cells outside the view included), not copied."""
    return torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage())


def snapshot(*objs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    seen, saved = set(), []
    for obj in objs:
        items = obj.values() if isinstance(obj, dict) else obj
        for t in items:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
                seen.add(t.untyped_storage().data_ptr())
                saved.append((t, whole(t).clone()))
    return saved


def unchanged(saved, what: str) -> None:
    for k, (t, before) in enumerate(saved):
        assert torch.equal(whole(t), before), f"{what}: storage #{k} changed"


def oracle(call: dict) -> reference.MetadataLists:
    ext = call.get("extend_seq_lens")
    return reference.metadata(
        call["mode"],
        call["seq_lens"].tolist(),
        call["req_pool_indices"].tolist(),
        call["req_to_token"].tolist(),
        topk=int(call["topk"]),
        width=int(call["width"]),
        page_size=int(call["page_size"]),
        next_n=int(call["next_n"]),
        extend_seq_lens=None if ext is None else ext.tolist(),
    )


def make_call(mode: str = "draft_extend_var", **change) -> dict:
    """bs 3, width 7, page size 3 (every output exists); draft_extend_var's T is 5."""
    call = dict(
        mode=mode,
        seq_lens=torch.tensor([10, 4, 1], dtype=I64),
        req_pool_indices=torch.tensor([0, 3, 1], dtype=I32),
        req_to_token=torch.arange(4 * 9, dtype=I32).view(4, 9) * 5 + 1,
        topk=9,
        width=7,
        page_size=3,
        next_n=2,
        extend_seq_lens=torch.tensor([3, 0, 2], dtype=I32) if mode == "draft_extend_var" else None,
    )
    call.update(change)
    return call


def expected_cells(out: nsa_meta.Metadata, want: reference.MetadataLists) -> dict:
    """{storage pointer: its int32 cells as they must be after the call}."""
    cells: dict[int, torch.Tensor] = {}
    for buf in out:
        if buf is not None and buf.untyped_storage().data_ptr() not in cells:
            cells[buf.untyped_storage().data_ptr()] = (
                torch.empty(0, dtype=I32).set_(buf.untyped_storage()).clone()
            )
    for name, buf in zip(FIELDS, out):
        values = getattr(want, name)
        if buf is None or not values:
            continue
        view = cells[buf.untyped_storage().data_ptr()].as_strided(
            buf.shape, buf.stride(), buf.storage_offset()
        )
        data = torch.tensor(values, dtype=I32)
        view[tuple(slice(0, n) for n in data.shape)] = data
    return cells


def run_exact(call: dict, backend: str, validate: bool, out: nsa_meta.Metadata, what: str):
    """metadata(**call, out=out) is out; the region holds the oracle's values; every other
    cell of every storage keeps its value; every input storage is unchanged."""
    want = oracle(call)
    expected = expected_cells(out, want)
    out_ptrs = {b.untyped_storage().data_ptr() for b in out if b is not None}
    inputs = snapshot({k: v for k, v in call.items() if isinstance(v, torch.Tensor)
                       and v.untyped_storage().data_ptr() not in out_ptrs})  # fmt: skip
    got = nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert got is out, f"{what}: with out given, metadata returns out itself"
    for name, buf in zip(FIELDS, out):
        if buf is None:
            continue
        cells = torch.empty(0, dtype=I32).set_(buf.untyped_storage())
        want_cells = expected[buf.untyped_storage().data_ptr()]
        bad = (cells != want_cells).nonzero()
        assert bad.numel() == 0, (
            f"{what}: {name}'s storage cell {int(bad[0, 0])} is {int(cells[bad[0, 0]])}, "
            f"want {int(want_cells[bad[0, 0]])} ({bad.shape[0]} differ)"
        )
    unchanged(inputs, f"{what}: inputs")
    return want


def poisoned(bs: int, rows: int, width: int, page_size: int, spare: int = 2):
    out = nsa_meta.allocate_metadata(bs + spare, rows + spare, width, page_size)
    for buf in out:
        if buf is not None:
            buf.fill_(POISON)
    return out


def rows_of(call: dict) -> int:
    return len(oracle(call).seqlens_expanded)


# -- validation's cost is bounded by the inputs and buffers, not by T ------------------------
# A call whose T is near 2**31 and whose out buffers hold 5 rows is a ValueError (too
# small); validation built T-long int64 arrays (owner, row, value: ~50 GB at T = 2**31 - 1)
# before that check, so the process died instead of raising. The same without `out` when
# the call is bad for a reason found after (a running sum below int32, a negative cell):
# what a bad input gets is a ValueError, never an allocation failure or an OOM kill.


@contextlib.contextmanager
def address_space(extra: int):
    """Cap this process's address space at its current size plus `extra` bytes."""
    with open("/proc/self/status") as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _huge_var(**change) -> dict:
    """One request of 2**31 - 1 rows (T at its bound), every sum inside int32."""
    base = dict(
        seq_lens=torch.tensor([INT32_MAX], dtype=I64),
        req_pool_indices=torch.tensor([1], dtype=I64),
        extend_seq_lens=torch.tensor([INT32_MAX], dtype=I64),
        topk=1,
    )
    return make_call(**{**base, **change})


def _negative_cell() -> torch.Tensor:
    table = torch.arange(4 * 9, dtype=I32).view(4, 9)
    table[1, 4] = -6
    return table


HUGE_T = {
    "out of 5 rows": (_huge_var(), True, r"out\.\w+ has 5 rows but 2147483647"),
    "out of 5 rows, T from two requests": (
        _huge_var(
            seq_lens=torch.tensor([2**30, 2**30 - 1], dtype=I32),
            req_pool_indices=torch.tensor([0, 2], dtype=I32),
            extend_seq_lens=torch.tensor([2**30, 2**30 - 1], dtype=I32),
        ),
        True,
        r"out\.\w+ has 5 rows but 2147483647",
    ),
    "dsa_cu_seqlens_k below int32 at its second row": (
        _huge_var(seq_lens=torch.tensor([0], dtype=I64), topk=5),
        False,
        r"dsa_cu_seqlens_k\[2\] = -4294967291, outside int32",
    ),
    "dsa_cu_seqlens_k above int32 halfway": (
        _huge_var(topk=2),
        False,
        r"dsa_cu_seqlens_k\[1073741825\] = 2147483649, outside int32",
    ),
    "a negative cell read": (
        _huge_var(req_to_token=_negative_cell()),
        False,
        r"req_to_token\[1, 4\] is -6",
    ),
    "a negative cell read, target_verify": (
        make_call(
            "target_verify",
            seq_lens=torch.tensor([0], dtype=I64),
            req_pool_indices=torch.tensor([1], dtype=I32),
            req_to_token=_negative_cell(),
            next_n=INT32_MAX,
            topk=0,
        ),
        False,
        r"req_to_token\[1, 4\] is -6",
    ),
}


@pytest.mark.parametrize("name", list(HUGE_T))
def test_bad_calls_of_huge_T_raise_without_huge_memory(name: str) -> None:
    call, with_out, pattern = HUGE_T[name]
    out = poisoned(len(call["seq_lens"]), 3, 7, 3, spare=2) if with_out else None
    saved = snapshot(call, out or ())
    with address_space(2**30), pytest.raises(ValueError, match=pattern) as info:
        nsa_meta.metadata(**call, backend="torch", out=out)
    assert info.type is ValueError
    unchanged(saved, name)


def _first_out_of_range(kv: list[int], e: list[int], topk: int, low: int, high: int):
    """Brute force: (row + 1, value) of the first dsa_cu_seqlens_k entry outside
    [low, high], or None."""
    total, row = 0, 0
    for k, n in zip(kv, e):
        for d in range(n):
            total += min(k - n + 1 + d, topk)
            row += 1
            if not low <= total <= high:
                return row, total
    return None


def test_running_sum_check_in_closed_form_matches_brute_force(monkeypatch) -> None:
    """The O(bs) check of dsa_cu_seqlens_k names the same first row and value as a walk
    over every row, with the int32 bounds shrunk so that small cases cross them (rising,
    falling, at a request's first row, in the middle of one, after a dip), and the bound
    that skips the tensor work (T * topk and T * (T - 1) inside int32) skips no bad case."""
    rng = random.Random(7)
    hits = {"none": 0, "low": 0, "high": 0}
    for _ in range(1500):
        bound = rng.choice([40, 150, 700])
        monkeypatch.setattr(validation, "INT32_MIN", -bound - rng.randrange(2))
        monkeypatch.setattr(validation, "INT32_MAX", bound)
        bs = rng.randrange(1, 6)
        kv = [rng.choice([0, 1, rng.randrange(60)]) for _ in range(bs)]
        e = [rng.choice([0, 1, rng.randrange(45)]) for _ in range(bs)]
        topk = rng.choice([0, 1, rng.randrange(70), INT32_MAX])
        want = _first_out_of_range(kv, e, topk, validation.INT32_MIN, bound)
        args = (torch.tensor(kv, dtype=I64), torch.tensor(e, dtype=I64), topk, sum(e))
        if want is None:
            validation._check_dsa_sums(*args)
            hits["none"] += 1
            continue
        hits["low" if want[1] < 0 else "high"] += 1
        pattern = rf"dsa_cu_seqlens_k\[{want[0]}\] = {want[1]}, outside int32"
        with pytest.raises(ValueError, match=pattern):
            validation._check_dsa_sums(*args)
    assert min(hits.values()) > 50, hits


# -- allocate_metadata's arguments ----------------------------------------------------------

ALLOC_OK = dict(max_bs=2, max_rows=3, width=5, page_size=2)
ALLOC_BAD = {
    **{
        f"{name} {label}": (TypeError, name, {name: value})
        for name in ("max_bs", "max_rows", "width", "page_size")
        for label, value in (
            ("True", True), ("float", 2.0), ("np.int64", np.int64(2)), ("str", "2"),
            ("None", None), ("0-D tensor", torch.tensor(2)),
        )
    },
    **{
        f"{name} {value}": (ValueError, name, {name: value})
        for name, values in (
            ("max_bs", (-1, -(2**63))), ("max_rows", (-1,)),
            ("width", (0, -5, 2**31)), ("page_size", (0, -1, 2**31, 2**64)),
        )
        for value in values
    },
    "device an unknown type name": (ValueError, "device", {"device": "gpu"}),
    "device upper case": (ValueError, "device", {"device": "CPU"}),
    "device a negative index": (ValueError, "device", {"device": "cpu:-1"}),
    "device a float": (TypeError, "device", {"device": 1.5}),
    "device a list": (TypeError, "device", {"device": ["cpu"]}),
}  # fmt: skip
if not torch.cuda.is_available():
    ALLOC_BAD["device cuda without CUDA"] = (ValueError, "device", {"device": "cuda"})


@pytest.mark.parametrize("name", list(ALLOC_BAD))
def test_allocate_metadata_rejects_bad_arguments(name: str) -> None:
    error, argument, change = ALLOC_BAD[name]
    with pytest.raises(error, match=rf"\b{argument}\b") as info:
        nsa_meta.allocate_metadata(**{**ALLOC_OK, **change})
    assert info.type is error


@pytest.mark.parametrize("page_size", [1, 2, 5, 6, INT32_MAX])
@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "cpu:0"])
def test_allocate_metadata_shapes_and_devices(page_size: int, device) -> None:
    """Zeroed int32 buffers of the sizes metadata needs (real_page_table None at page size
    1); positional arguments in the documented order; accepted by metadata as out."""
    out = nsa_meta.allocate_metadata(2, 3, 5, page_size, device)
    pages = -(-5 // page_size)
    shapes = [(2,), (3,), (3,), (3,), (4,), (3, 5), None if page_size == 1 else (3, pages)]
    for name, buf, shape in zip(FIELDS, out, shapes):
        assert (buf is None) == (shape is None), name
        if buf is not None:
            assert buf.dtype == I32 and tuple(buf.shape) == shape and buf.device.type == "cpu"
            assert not buf.any() and buf.is_contiguous(), name
    call = make_call("decode", seq_lens=torch.tensor([3, 0]), page_size=page_size, width=5,
                     req_pool_indices=torch.tensor([2, 0]))  # fmt: skip
    run_exact(call, "torch", True, out, f"page_size {page_size}")
    empty = nsa_meta.allocate_metadata(0, 0, 1)
    assert [tuple(b.shape) for b in empty[:6]] == [(0,), (1,), (0,), (0,), (1,), (0, 1)]

"""CONTRACT.md's "Bad input" list, described once and put to every implementation.

Each bad input names the exception type and a message pattern: the argument, and the
index and value where one is at fault. Caller buffers must come back untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from helpers import DEVICE, SENTINEL, assert_storage_unchanged, poisoned_buffer, snapshot

import nsa_meta
import reference
from fuzz.registry import IMPLEMENTATIONS

INT32_MAX = reference.INT32_MAX
I32, I64 = torch.int32, torch.int64
BACKENDS = ["triton", "torch"]


def t(
    values: object, dtype: torch.dtype = I32, device: torch.device | str = DEVICE
) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


EXT, SEQ = t([3, 0, 2]), t([10, 4, 1])  # the contract example: total 5


@dataclass(frozen=True)
class BadInput:
    """One invalid call and what it must raise.

    `layout`: the fault is visible without reading tensor values (types, ranks, lengths,
    devices, the Python-int top-k), so expand rejects it with validate=False too.
    `out`: for faults in the caller's buffers; otherwise valid poisoned buffers are used.
    """

    extend_seq_lens: object
    seq_lens: object
    nsa_index_topk: object
    error: type[Exception]
    message: str
    layout: bool
    out: object = None


def bad_type(ext: object, seq: object, topk: object, message: str) -> BadInput:
    return BadInput(ext, seq, topk, TypeError, message, layout=True)


def bad_layout(ext: object, seq: object, topk: object, message: str) -> BadInput:
    return BadInput(ext, seq, topk, ValueError, message, layout=True)


def bad_value(ext: object, seq: object, topk: object, message: str) -> BadInput:
    return BadInput(ext, seq, topk, ValueError, message, layout=False)


def bad_dtype(name: str, dtype: torch.dtype) -> BadInput:
    ext = t([3, 0, 2], dtype) if name == "extend_seq_lens" else EXT
    seq = t([10, 4, 1], dtype) if name == "seq_lens" else SEQ
    return bad_type(ext, seq, 9, rf"{name} has dtype {dtype}")


BAD_INPUTS: dict[str, BadInput] = {
    # TypeError: not a tensor, not a Python int, or a dtype other than int32/int64.
    "extend is a list": bad_type(
        [3, 0, 2], SEQ, 9, r"extend_seq_lens must be a torch\.Tensor, got list"
    ),
    "seq is a list": bad_type(EXT, [10, 4, 1], 9, r"seq_lens must be a torch\.Tensor, got list"),
    "extend is a numpy array": bad_type(
        np.array([3, 0, 2]), SEQ, 9, r"extend_seq_lens must be a torch\.Tensor, got ndarray"
    ),
    "topk is a float": bad_type(EXT, SEQ, 9.0, r"nsa_index_topk must be an int, got float"),
    "topk is a str": bad_type(EXT, SEQ, "9", r"nsa_index_topk must be an int, got str"),
    "topk is True": bad_type(EXT, SEQ, True, r"nsa_index_topk must be an int, got bool"),
    # Only a Python int is an int here: numpy and 0-d tensor scalars are rejected too.
    "topk is a numpy int": bad_type(
        EXT, SEQ, np.int64(9), r"nsa_index_topk must be an int, got int64"
    ),
    "topk is a 0-d tensor": bad_type(EXT, SEQ, t(9), r"nsa_index_topk must be an int, got Tensor"),
    **{
        f"{name} is {str(dtype).removeprefix('torch.')}": bad_dtype(name, dtype)
        for name in ("extend_seq_lens", "seq_lens")
        for dtype in (torch.float32, torch.int16, torch.uint8, torch.bool)
    },
    # ValueError, visible without reading values.
    "extend is 2-D": bad_layout(
        t([[3, 0, 2]]), SEQ, 9, r"extend_seq_lens must be 1-D, got shape \(1, 3\)"
    ),
    "extend is 0-d": bad_layout(t(3), t([10]), 9, r"extend_seq_lens must be 1-D, got shape \(\)"),
    "seq is 2-D": bad_layout(
        EXT, t([[10], [4], [1]]), 9, r"seq_lens must be 1-D, got shape \(3, 1\)"
    ),
    "seq is 0-d": bad_layout(t([3]), t(10), 9, r"seq_lens must be 1-D, got shape \(\)"),
    "lengths differ": bad_layout(
        EXT, t([10, 4]), 9, r"extend_seq_lens has length 3 but seq_lens has length 2"
    ),
    "extend on another device": bad_layout(
        t([3, 0, 2], device="meta"),
        SEQ,
        9,
        rf"extend_seq_lens is on meta but seq_lens is on {DEVICE.type}",
    ),
    "seq on another device": bad_layout(
        EXT,
        t([10, 4, 1], device="meta"),
        9,
        rf"extend_seq_lens is on {DEVICE.type}.* but seq_lens is on meta",
    ),
    "topk is -1": bad_layout(EXT, SEQ, -1, r"nsa_index_topk is -1"),
    "topk is 2**31": bad_layout(EXT, SEQ, 2**31, r"nsa_index_topk is 2147483648"),
    # ValueError, found by reading values (a host sync).
    "negative extend": bad_value(t([3, -1, 2]), SEQ, 9, r"extend_seq_lens\[1\] is -1\b"),
    "negative extend, int64, last": bad_value(
        t([0, 0, -7], I64), SEQ, 9, r"extend_seq_lens\[2\] is -7\b"
    ),
    "negative seq": bad_value(EXT, t([10, 4, -3]), 9, r"seq_lens\[2\] is -3\b"),
    "seq is 2**31": bad_value(EXT, t([10, 2**31, 1], I64), 9, r"seq_lens\[1\] is 2147483648"),
    "total is 2**31": bad_value(
        t([2**30, 2**30], I64), t([5, 5]), 9, r"sum\(extend_seq_lens\) is 2147483648"
    ),
    # The int32 extends are fine one by one; only their sum is too long.
    "int32 total is 2**31": bad_value(
        t([INT32_MAX, 1]), t([5, 5]), 9, r"sum\(extend_seq_lens\) is 2147483648"
    ),
    "one extend over 2**31 - 1": bad_value(
        t([2**31, 0], I64), t([5, 5]), 9, r"extend_seq_lens\[0\] is 2147483648"
    ),
    # Four extends of 2**62 sum to 0 in int64: each must be checked on its own.
    "extends whose int64 sum wraps": bad_value(
        t([2**62] * 4, I64), t([1] * 4), 9, r"extend_seq_lens\[0\] is 4611686018427387904"
    ),
}


def bad_out(out: object, error: type[Exception], message: str, layout: bool = True) -> BadInput:
    return BadInput(EXT, SEQ, 9, error, message, layout, out=out)


BAD_OUTS: dict[str, BadInput] = {
    "out is one tensor": bad_out(poisoned_buffer(8), TypeError, r"out must be a pair"),
    "out[0] is a list": bad_out(
        ([SENTINEL] * 8, poisoned_buffer(8)),
        TypeError,
        r"out: out_seqlens_expanded must be a torch\.Tensor, got list",
    ),
    "out[0] is int64": bad_out(
        (poisoned_buffer(8).to(I64), poisoned_buffer(8)),
        TypeError,
        r"out: out_seqlens_expanded has dtype torch\.int64",
    ),
    "out[1] is int64": bad_out(
        (poisoned_buffer(8), poisoned_buffer(8).to(I64)),
        TypeError,
        r"out: out_nsa_cache_seqlens has dtype torch\.int64",
    ),
    "out[1] is 2-D": bad_out(
        (poisoned_buffer(8), poisoned_buffer(8).view(2, 4)),
        ValueError,
        r"out: out_nsa_cache_seqlens must be 1-D",
    ),
    "out[0] on another device": bad_out(
        (poisoned_buffer(8, device="meta"), poisoned_buffer(8)),
        ValueError,
        r"out: out_seqlens_expanded is on meta",
    ),
    "out[0] too small": bad_out(
        (poisoned_buffer(4), poisoned_buffer(8)),
        ValueError,
        r"out: out_seqlens_expanded holds 4 elements but total is 5",
        layout=False,
    ),
    "out[1] too small": bad_out(
        (poisoned_buffer(8), poisoned_buffer(0)),
        ValueError,
        r"out: out_nsa_cache_seqlens holds 0 elements but total is 5",
        layout=False,
    ),
}


def readable_tensors(out: object) -> list[torch.Tensor]:
    pair = out if isinstance(out, (tuple, list)) else (out,)
    return [b for b in pair if isinstance(b, torch.Tensor) and b.device.type != "meta"]


# -- every registry implementation -----------------------------------------------------


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_every_implementation_rejects(impl: str, kind: str) -> None:
    bad = BAD_INPUTS[kind]
    with pytest.raises(bad.error, match=bad.message):
        IMPLEMENTATIONS[impl](bad.extend_seq_lens, bad.seq_lens, bad.nsa_index_topk)


# -- the public expand, with and without caller buffers ----------------------------------


def expand_cases() -> list[object]:
    """(kind, validate, out given): out faults only with their own buffers, and value
    faults only with validate=True (validate=False promises no value checks)."""
    cases = []
    for validate in (True, False):
        for kind, bad in BAD_INPUTS.items():
            if validate or bad.layout:
                cases += [pytest.param(kind, validate, given) for given in (True, False)]
        for kind, bad in BAD_OUTS.items():
            if validate or bad.layout:
                cases.append(pytest.param(kind, validate, True))
    return cases


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, validate, out_given", expand_cases())
def test_expand_rejects_before_writing(
    backend: str, kind: str, validate: bool, out_given: bool
) -> None:
    bad = BAD_INPUTS.get(kind) or BAD_OUTS[kind]
    out = bad.out if bad.out is not None else (poisoned_buffer(64), poisoned_buffer(64))
    out = out if out_given else None
    buffers = readable_tensors(out)
    before = [snapshot(b) for b in buffers]
    with pytest.raises(bad.error, match=bad.message):
        nsa_meta.expand(
            bad.extend_seq_lens,
            bad.seq_lens,
            bad.nsa_index_topk,
            backend=backend,
            out=out,
            validate=validate,
        )
    for i, (buffer, snap) in enumerate(zip(buffers, before, strict=True)):
        assert_storage_unchanged(buffer, snap, name=f"{kind}: out buffer {i}")


@pytest.mark.parametrize("backend", [*nsa_meta.BACKENDS, "cuda", "", None])
def test_expand_names_an_unknown_backend(backend: object) -> None:
    if backend in nsa_meta.BACKENDS:
        nsa_meta.expand(EXT, SEQ, 9, backend=backend)  # the known ones are accepted
        return
    with pytest.raises(ValueError, match=r"backend is .*; expected one of auto, triton, torch"):
        nsa_meta.expand(EXT, SEQ, 9, backend=backend)


# -- the pure-Python oracle on lists -----------------------------------------------------

BAD_LISTS: dict[str, tuple[object, object, object, type[Exception], str]] = {
    "lengths differ": (
        [3, 0],
        [10, 4, 1],
        9,
        ValueError,
        r"extend_seq_lens has length 2 but seq_lens has length 3",
    ),
    "negative extend": ([3, -1], [10, 4], 9, ValueError, r"extend_seq_lens\[1\] is -1\b"),
    "negative seq": ([3, 1], [10, -4], 9, ValueError, r"seq_lens\[1\] is -4\b"),
    "seq is 2**31": ([3], [2**31], 9, ValueError, r"seq_lens\[0\] is 2147483648"),
    "topk is -1": ([3], [10], -1, ValueError, r"nsa_index_topk is -1"),
    "topk is 2**31": ([3], [10], 2**31, ValueError, r"nsa_index_topk is 2147483648"),
    "total is 2**31": (
        [2**30, 2**30],
        [5, 5],
        9,
        ValueError,
        r"sum\(extend_seq_lens\) is 2147483648",
    ),
    "a float extend": ([3.0], [10], 9, TypeError, r"extend_seq_lens\[0\] is 3\.0 \(float\)"),
    "a bool seq": ([1], [True], 9, TypeError, r"seq_lens\[0\] is True \(bool\)"),
    "a numpy int extend": (
        [np.int64(3)],
        [10],
        9,
        TypeError,
        r"extend_seq_lens\[0\] is .* \(int64\)",
    ),
    "a None seq": ([1], [None], 9, TypeError, r"seq_lens\[0\] is None"),
    "extend is a str": (
        "30",
        [10, 4],
        9,
        TypeError,
        r"extend_seq_lens must be a sequence of ints, got str",
    ),
    "seq is a tensor": (
        [3],
        torch.tensor([10]),
        9,
        TypeError,
        r"seq_lens must be a sequence of ints, got Tensor",
    ),
    "seq is a set": ([3], {10}, 9, TypeError, r"seq_lens must be a sequence of ints, got set"),
    "topk is True": ([3], [10], True, TypeError, r"nsa_index_topk must be an int, got bool"),
    "topk is a float": ([3], [10], 9.0, TypeError, r"nsa_index_topk must be an int, got float"),
    "topk is a numpy int": (
        [3],
        [10],
        np.int64(9),
        TypeError,
        r"nsa_index_topk must be an int, got int64",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_LISTS))
def test_reference_rejects_bad_lists(kind: str) -> None:
    extend_seq_lens, seq_lens, topk, error, message = BAD_LISTS[kind]
    with pytest.raises(error, match=message):
        reference.expand(extend_seq_lens, seq_lens, topk)


def test_reference_accepts_tuples_and_ranges() -> None:
    assert reference.expand((3, 0, 2), range(10, 13), 9) == ([8, 9, 10, 11, 12], [8, 9, 9, 9, 9])

"""Contract v2 on both backends: edge families x modes, caller buffers (the write region,
strides, stale values), validate=False, and properties against the oracle and v1.

Every result is judged against `reference.metadata` (lists in, lists out); with `out`, the
whole storage of every buffer is compared, so a write outside the region fails too.
"""

from __future__ import annotations

import random

import pytest
import torch
from helpers import whole_storage
from hypothesis import example, given
from hypothesis import strategies as st
from metadata_helpers import (
    I32,
    I64,
    Case,
    assert_metadata_equal,
    assert_metadata_in,
    call,
    poisoned_metadata,
    pool_table,
    snapshot_all,
    tensors,
)

import nsa_meta
import reference

INT32_MAX = reference.INT32_MAX
MODES = reference.MODES
BACKENDS = ["triton", "torch"]
TABLE = pool_table(6, 10)


def case(mode: str, seq_lens, req_pool_indices, extend_seq_lens=None, **options) -> Case:
    """A case of `mode`; extend_seq_lens is kept only for draft_extend_var."""
    if mode == "draft_extend_var" and extend_seq_lens is None:
        extend_seq_lens = [2] * len(seq_lens)
    options.setdefault("req_to_token", TABLE)
    return Case(
        mode,
        list(seq_lens),
        list(req_pool_indices),
        extend_seq_lens=list(extend_seq_lens) if mode == "draft_extend_var" else None,
        **options,
    )


def families(mode: str) -> dict[str, Case]:
    """The issue's edge families for one mode, each reached by construction."""
    c = lambda *a, **k: case(mode, *a, **k)  # noqa: E731
    rng = random.Random(len(mode))
    big = 1500
    return {
        "contract example": c(
            [10, 4, 1], [0, 2, 1], [3, 0, 2], topk=9, width=3, page_size=2, next_n=2
        ),
        "bs 0": c([], [], []),
        "bs 1": c([7], [3], [2], next_n=3),
        "all zero extends": c([5, 0, 9, 3], [1, 1, 2, 0], [0, 0, 0, 0]),
        "mixed zero extends": c([5, 0, 9, 3, 4], [1, 1, 2, 0, 5], [0, 3, 0, 2, 0], next_n=2),
        "padding s=1 e=N": c([1, 1, 6], [0, 4, 2], [4, 4, 4], next_n=4, topk=1),
        "kv < e, topk 0": c([1, 0, 2, 1], [5, 4, 3, 2], [4, 3, 5, 4], next_n=4, topk=0),
        "topk below": c([10, 12, 9], [0, 1, 2], [3, 1, 2], next_n=3, topk=4),
        "topk at a value": c([10, 12, 9], [0, 1, 2], [3, 1, 2], next_n=3, topk=9),
        "topk above": c([10, 12, 9], [0, 1, 2], [3, 1, 2], next_n=3, topk=INT32_MAX),
        "page 2, width multiple": c([8, 3], [1, 4], [2, 1], width=6, page_size=2, next_n=2),
        "page 3, width not multiple": c([8, 3], [5, 0], [1, 2], width=10, page_size=3, next_n=2),
        "page 64 > width": c([8, 3, 2], [2, 3, 2], [1, 2, 0], width=7, page_size=64, next_n=2),
        "page = width": c([8], [2], [2], width=3, page_size=3, next_n=2),
        "table sliced": c(
            [8, 3, 5], [5, 0, 2], [2, 0, 3], width=9, page_size=2, table_layout="sliced", next_n=2
        ),
        "table transposed": c(
            [8, 3], [5, 1], [2, 3], width=10, page_size=3, table_layout="transposed", next_n=3
        ),
        "repeated pool indices": c(
            [4, 5, 6, 7], [2, 2, 2, 2], [1, 2, 0, 3], next_n=2, steps=(1, 0, 1)
        ),
        "pool ends": c([4, 5, 6, 7], [0, 5, 0, 5], [1, 2, 3, 1], next_n=2),
        "int32 everywhere": c([9, 2, 7], [1, 3, 4], [2, 0, 1], dtypes=(I32, I32, I32), next_n=2),
        "int64 everywhere": c([9, 2, 7], [1, 3, 4], [2, 0, 1], dtypes=(I64, I64, I64), next_n=2),
        "int64 seq, strided": c(
            [9, 2, 7], [1, 3, 4], [2, 0, 1], dtypes=(I64, I32, I64), steps=(2, 3, 2), next_n=2
        ),
        "sums at int32 max": c(
            [2**30 - 1, 2**30 - 2] if mode == "target_verify" else [2**30, 2**30 - 1],
            [0, 1],
            [1, 1],
            topk=INT32_MAX,
        ),
        "bs 1500": c(
            [rng.randrange(0, 3000) for _ in range(big)],
            [rng.randrange(0, 6) for _ in range(big)],
            [rng.choice([0, 0, 1, 2, 3]) for _ in range(big)],
            width=5,
            page_size=2,
            next_n=2,
        ),
    }


def near_int32_min(mode: str) -> Case:
    """One request of 65536 padded rows: dsa_cu_seqlens_k runs down to -2**31 + 2**15."""
    return case(mode, [0], [1], [65536], next_n=65536, width=1, topk=5)


def wrapping_inside() -> Case:
    """draft_extend_var: a request at kv = 2**31 - 1, then 65536 padded rows. Every output
    and partial sum fits int32, but the Triton kernel's int32 intermediates wrap (65536 x
    -65535, topk - a): exact only if it works modulo 2**32 and never clamps a wrapped value."""
    return case("draft_extend_var", [INT32_MAX, 0], [1, 0], [1, 65536], width=1, topk=INT32_MAX)


FAMILY_PARAMS = (
    [pytest.param(mode, name, id=f"{mode}-{name}") for mode in MODES for name in families(mode)]
    + [
        pytest.param(mode, "near int32 min", id=f"{mode}-near int32 min")
        for mode in ("draft_extend", "draft_extend_var")
    ]
    + [pytest.param("draft_extend_var", "wrapping inside", id="draft_extend_var-wrapping inside")]
)


def family_case(mode: str, name: str) -> Case:
    if name == "wrapping inside":
        return wrapping_inside()
    return near_int32_min(mode) if name == "near int32 min" else families(mode)[name]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode, name", FAMILY_PARAMS)
def test_edge_family(backend: str, mode: str, name: str) -> None:
    """Allocated outputs (validated), then poisoned caller buffers with validation on and
    off: the region holds the oracle's values, every other cell its SENTINEL, inputs
    unchanged."""
    c = family_case(mode, name)
    want = c.expected()
    label = f"{backend} {mode} {name}"
    assert_metadata_equal(call(c, backend), want, name=label)
    T, bs = len(want.seqlens_expanded), len(c.seq_lens)
    for validate in (True, False):
        args = tensors(c)
        inputs = {k: whole_storage(v).clone() for k, v in args.items() if v is not None}
        out = poisoned_metadata(bs + 3, T + 5, c.width, c.page_size)
        before = snapshot_all(out)
        got = nsa_meta.metadata(
            c.mode, backend=backend, out=out, validate=validate, **args, **c.kwargs()
        )
        assert got is out, f"{label}: with out given, metadata must return out itself"
        assert_metadata_in(out, before, want, name=f"{label}, validate={validate}")
        for k, snap in inputs.items():
            assert torch.equal(whole_storage(args[k]), snap), f"{label}: {k} was modified"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_back_to_back_calls_leave_no_stale_value(backend: str, mode: str) -> None:
    """One set of buffers, calls with other bs, T and values: after each call the region is
    exactly the new answer and everything else is what the previous call left."""
    out = poisoned_metadata(9, 40, 7, 3)
    rng = random.Random(7)
    for step, bs in enumerate([5, 1, 8, 0, 3, 8]):
        ext = [rng.choice([0, 1, 3, 5]) for _ in range(bs)]
        c = case(
            mode,
            [rng.randrange(0, 30) for _ in range(bs)],
            [rng.randrange(0, 6) for _ in range(bs)],
            ext,
            width=7,
            page_size=3,
            next_n=1 + step % 4,
            topk=rng.choice([0, 4, 2048]),
        )
        before = snapshot_all(out)
        call(c, backend, out=out, validate=step % 2 == 0)
        assert_metadata_in(out, before, c.expected(), name=f"{backend} {mode} call {step}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unvalidated_var_fills_short_buffers_as_far_as_they_go(backend: str) -> None:
    """draft_extend_var, validate=False: T lives on the device; rows past the buffers'
    capacity are not written, and nothing past any buffer's end."""
    c = case("draft_extend_var", [9, 4, 6], [1, 2, 3], [3, 2, 4], width=5, page_size=2)
    want = c.expected()
    cap = len(want.seqlens_expanded) - 3
    out = poisoned_metadata(3, cap, 5, 2)
    before = snapshot_all(out)
    call(c, backend, out=out, validate=False)
    short = want._replace(
        seqlens_expanded=want.seqlens_expanded[:cap],
        dsa_cache_seqlens=want.dsa_cache_seqlens[:cap],
        dsa_cu_seqlens_k=want.dsa_cu_seqlens_k[: cap + 1],
        page_table_1=want.page_table_1[:cap],
        real_page_table=want.real_page_table[:cap],
    )
    assert_metadata_in(out, before, short, name=f"{backend}, buffers of {cap} rows")


TINY = {"VAR_CELLS": 2**62, "SUM_BLOCK": 8, "SCALAR_REQS": 8, "SCALAR_SUB": 2, "SUM_SCALAR": 4, "MIN_PAGE_PROGRAMS": 0,
        "WIDE_TILE": 0}  # fmt: skip
GPU_PLANS = {  # the GPU's plan with tiny tiles: each of its three branches, and row splits
    "one tile a program": {"TILE": 32, "SMALL_TILE": 32, "TARGET": 10**6, "SPLIT_ROWS": 8, **TINY},
    "column chunks": {"TILE": 8, "SMALL_TILE": 8, "TARGET": 20, "SPLIT_ROWS": 8, **TINY},
    "request blocks": {
        "TILE": 16,
        "SMALL_TILE": 16,
        "TARGET": 2,
        "SPLIT_ROWS": 8,
        **TINY,
        "SUM_BLOCK": 4,
    },
    # ... and the one-load sums of earlier requests (bs <= SUM_*), with 2-request programs.
    "row splits": {
        "TILE": 32,
        "SMALL_TILE": 32,
        "TARGET": 64,
        "SPLIT_ROWS": 1,
        **TINY,
        "SUM_BLOCK": 64,
        "SUM_SCALAR": 64,
    },
}


def use_gpu_plan(monkeypatch: pytest.MonkeyPatch, plan: str):
    """Make the Triton backend use the GPU's block plan, with tiny sizes, under the
    interpreter; returns the kernel module."""
    import nsa_meta.metadata_triton as kernel

    monkeypatch.setattr(kernel, "INTERPRETED", False)
    for name, value in GPU_PLANS[plan].items():
        monkeypatch.setattr(kernel, name, value)
    return kernel


def run_gpu_plan(
    kernel, mode: str, bs: int, page_size: int, *, extends, next_n: int, spare: int | None
):
    """One call of the Triton backend under the GPU plan in place (width 37, a transposed
    req_to_token, buffers of T + `spare` rows), checked against the oracle cell by cell and
    outside the region; returns the launch's constexprs (spare None: buffers of bs rows)."""
    rng = random.Random(bs)
    c = case(
        mode,
        [rng.randrange(0, 40) for _ in range(bs)],
        [rng.randrange(0, 6) for _ in range(bs)],
        [rng.choice(extends) for _ in range(bs)],
        width=37,
        page_size=page_size,
        next_n=next_n,
        topk=9,
        table_layout="transposed",
        req_to_token=pool_table(6, 40),
    )
    want = c.expected()
    rows = bs if spare is None else len(want.seqlens_expanded) + spare
    out = poisoned_metadata(bs + 2, rows, 37, page_size)
    before = snapshot_all(out)
    _, _, constexprs = kernel.launch_args(
        mode, *(tensors(c)[k] for k in ("seq_lens", "req_pool_indices", "req_to_token",
                                         "extend_seq_lens")),
        topk=9, width=37, page_size=page_size, next_n=next_n, out=out, rows=None,
    )  # fmt: skip
    call(c, "triton", out=out, validate=False)
    assert_metadata_in(out, before, want, name=f"{mode}, bs {bs}, P {page_size}, {constexprs}")
    return constexprs


def gpu_plan_params() -> list:
    """Every plan x mode at bs 1 and 7; at bs 37 (several loads of the sums, several
    request blocks) the gate takes page size 4 for one mode a plan, each mode once (the
    diagonal), and the slow tier every other plan x mode and page size 5 (3-5 s each under
    the interpreter)."""
    params = []
    for i, plan in enumerate(GPU_PLANS):
        for j, mode in enumerate(MODES):
            diagonal = (i - j) % len(MODES) == 0
            for bs, index, page_size in [
                (1, "narrow", 5), (7, "narrow", 5), (37, "narrow", 5), (7, "wide", 4),
                (37, "narrow", 4),
            ]:  # fmt: skip
                slow = bs == 37 and (page_size == 5 or not diagonal)
                params.append(
                    pytest.param(
                        plan, mode, bs, index, page_size,
                        id=f"{bs}-{index}-{page_size}-{mode}-{plan}",
                        marks=[pytest.mark.slow] if slow else [],
                    )
                )  # fmt: skip
    return params


@pytest.mark.parametrize(("plan", "mode", "bs", "index", "page_size"), gpu_plan_params())
def test_triton_gpu_plan(
    monkeypatch: pytest.MonkeyPatch, plan: str, mode: str, bs: int, index: str, page_size: int
) -> None:
    """The GPU's many-program paths under the interpreter: programs summing the requests
    before them in several loads, several sub-blocks a program, column chunks, rows of a
    request split over programs, pages of a chunk (by division, and by shift for a power of
    two), a transposed req_to_token; int32 index arithmetic, and the int64 variant."""
    kernel = use_gpu_plan(monkeypatch, plan)
    if index == "wide":
        monkeypatch.setattr(kernel, "NARROW_LIMIT", 0)
    cx = run_gpu_plan(kernel, mode, bs, page_size, extends=[0, 1, 2, 5], next_n=3, spare=9)
    assert cx["NARROW"] is (index == "narrow")
    assert cx["PAGE_SHIFT"] == (2 if page_size == 4 else -1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("bs", "page_size"), [(5, 5), (7, 4)])
def test_triton_gpu_plan_wide_tiles(
    monkeypatch: pytest.MonkeyPatch, mode: str, bs: int, page_size: int
) -> None:
    """One row a request (buffers of bs rows): the GPU plan's chunks of a few tiles become
    one wider tile (WIDE_TILE), with draft_extend_var's early loads."""
    kernel = use_gpu_plan(monkeypatch, "column chunks")
    monkeypatch.setattr(kernel, "WIDE_TILE", 64)
    cx = run_gpu_plan(kernel, mode, bs, page_size, extends=[0, 1], next_n=1, spare=None)
    assert cx["BW"] > kernel.TILE and cx["BR"] == cx["RB"]
    assert cx["EARLY"] is (mode == "draft_extend_var")


# -- properties ---------------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Small random calls of every mode: zero extends, kv < e, topk on both sides of the
    values, page sizes with widths that are and are not multiples, every layout."""
    mode = draw(st.sampled_from(MODES))
    bs = draw(st.integers(0, 9))
    pool = draw(st.integers(1, 5))
    columns = draw(st.integers(1, 12))
    width = draw(st.integers(1, columns))
    return case(
        mode,
        draw(st.lists(st.integers(0, 40), min_size=bs, max_size=bs)),
        draw(st.lists(st.integers(0, pool - 1), min_size=bs, max_size=bs)),
        draw(st.lists(st.integers(0, 6), min_size=bs, max_size=bs)),
        topk=draw(st.sampled_from([0, 1, 5, 17, 2048])),
        width=width,
        page_size=draw(st.sampled_from([1, 2, 3, 64])),
        next_n=draw(st.integers(1, 8)),
        req_to_token=pool_table(pool, columns, seed=draw(st.integers(0, 99))),
        table_layout=draw(st.sampled_from(["contiguous", "sliced", "transposed"])),
        dtypes=draw(st.tuples(*[st.sampled_from([I32, I64])] * 3)),
    )


@given(c=cases())
def test_property_both_backends_match_the_oracle(c: Case) -> None:
    want = c.expected()
    for backend in BACKENDS:
        out = poisoned_metadata(
            len(c.seq_lens) + 1, len(want.seqlens_expanded) + 2, c.width, c.page_size
        )
        before = snapshot_all(out)
        call(c, backend, out=out, validate=False)
        assert_metadata_in(out, before, want, name=f"{backend} on {c}")


@given(
    extend_seq_lens=st.lists(st.integers(0, 9), max_size=12),
    seed=st.integers(0, 2**16),
    topk=st.sampled_from([0, 1, 3, 8, 2048]),
)
@example(extend_seq_lens=[3, 0, 2], seed=0, topk=9)
@example(extend_seq_lens=[], seed=0, topk=9)
def test_property_var_agrees_with_v1_expand(extend_seq_lens: list[int], seed: int, topk: int):
    """draft_extend_var's seqlens_expanded and dsa_cache_seqlens are v1's outputs."""
    rng = random.Random(seed)
    seq = [rng.choice([rng.randrange(0, 4), rng.randrange(0, 100)]) for _ in extend_seq_lens]
    c = case("draft_extend_var", seq, [0] * len(seq), extend_seq_lens, topk=topk)
    args = tensors(c)
    for backend in BACKENDS:
        got = nsa_meta.metadata(c.mode, backend=backend, **args, **c.kwargs())
        v1 = nsa_meta.expand(args["extend_seq_lens"], args["seq_lens"], topk, backend=backend)
        for name, mine, theirs in (
            ("seqlens_expanded", got.seqlens_expanded, v1[0]),
            ("dsa_cache_seqlens", got.dsa_cache_seqlens, v1[1]),
        ):
            assert mine.tolist() == theirs.tolist(), f"{backend}: {name} differs from v1"


def test_allocate_metadata_shapes() -> None:
    out = nsa_meta.allocate_metadata(4, 10, 7, 3)
    shapes = [None if b is None else tuple(b.shape) for b in out]
    assert shapes == [(4,), (5,), (10,), (10,), (11,), (10, 7), (10, 3)]
    assert all(b.dtype == torch.int32 for b in out)
    assert nsa_meta.allocate_metadata(4, 10, 7, 1).real_page_table is None
    with pytest.raises(ValueError, match="width is 0"):
        nsa_meta.allocate_metadata(4, 10, 0, 1)
    with pytest.raises(TypeError, match="max_bs must be an int"):
        nsa_meta.allocate_metadata(True, 10, 4, 1)

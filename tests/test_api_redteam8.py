"""Red team, round 8: `nsa_meta.metadata` and `allocate_metadata` on what rounds 1, 6 and 7
did not build: every int32 bound the contract names hit exactly, caller buffers that are
inference tensors, sparse tensors, memory shared through distinct storages, a default
device context, no host sync at bs 16385 and with buffers carved from one storage, page
sizes 1 to 128 with spare room in every dimension over back-to-back calls.

Valid calls are compared with `reference.metadata` cell for cell over whole storages
(poisoned first); bad ones must raise the contract's type naming the argument and leave
every buffer and input unchanged.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch

import nsa_meta
import reference
from tests.test_api_redteam import (
    HostSync,
    _stub_launch,
    _trap,
    assert_storages,
    awkward_case,
    expected_after,
    out_layout,
)
from tests.test_api_redteam7 import (
    address_space,
    make_call,
    oracle,
    poisoned,
    rows_of,
    run_exact,
    snapshot,
    unchanged,
)

I32, I64 = torch.int32, torch.int64
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
BACKENDS = ("torch", "triton")
MODES = reference.MODES
FIELDS = nsa_meta.Metadata._fields
POISON = -80808
EVERY_WAY = list(itertools.product(BACKENDS, (True, False)))


def every_way(call: dict, out_of, what: str) -> None:
    """Exact on both backends, validation on and off, into fresh `out_of()` buffers."""
    for backend, validate in EVERY_WAY:
        run_exact(call, backend, validate, out_of(), f"{what} {backend} validate={validate}")


def vec(values, dtype=I64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# -- every int32 bound the contract names, hit exactly ---------------------------------------

BOUNDS = {
    # s = 2**31 - 1 (the largest valid s) in each mode that takes it as kv
    "decode: s 2**31 - 1 after empty requests": make_call(
        "decode", seq_lens=vec([0, INT32_MAX, 0], I32), topk=INT32_MAX),
    "draft_extend: s 2**31 - 1, rows up to it": make_call(
        "draft_extend", seq_lens=vec([INT32_MAX], I32), req_pool_indices=vec([3]), next_n=4,
        topk=5),
    "draft_extend: s 2**31 - 1 unclamped (topk 2**31 - 1, next_n 1)": make_call(
        "draft_extend", seq_lens=vec([INT32_MAX, 0]), req_pool_indices=vec([3, 0]), next_n=1,
        topk=INT32_MAX),
    "draft_extend_var: s 2**31 - 1 with 7 rows": make_call(
        "draft_extend_var", seq_lens=vec([INT32_MAX, 0, 0], I32),
        extend_seq_lens=vec([7, 0, 1]), topk=3),
    # kv = s + N = 2**31 - 1 exactly in target_verify
    "target_verify: kv exactly 2**31 - 1 (next_n 8)": make_call(
        "target_verify", seq_lens=vec([INT32_MAX - 8], I32), req_pool_indices=vec([3]),
        next_n=8, topk=2),
    # cu_seqlens_k's last entry exactly 2**31 - 1, from several requests
    "target_verify: cu_seqlens_k ends at 2**31 - 1 (next_n counted)": make_call(
        "target_verify", seq_lens=vec([2**30, 2**30 - 7], I32), req_pool_indices=vec([3, 1]),
        next_n=3, topk=2),
    "draft_extend: cu_seqlens_k ends at 2**31 - 1": make_call(
        "draft_extend", seq_lens=vec([2**30, 2**30 - 1, 0], I32),
        req_pool_indices=vec([3, 1, 0]), next_n=3, topk=2),
    "draft_extend_var: cu_seqlens_k ends at 2**31 - 1 (a padded request between)": make_call(
        "draft_extend_var", seq_lens=vec([2**30, 0, 2**30 - 1], I32),
        extend_seq_lens=vec([2, 5, 0]), topk=2),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BOUNDS))
def test_int32_bounds_hit_exactly(name: str) -> None:
    call = BOUNDS[name]
    want = oracle(call)
    ends = (want.cu_seqlens_k[-1], max(want.cache_seqlens), max(want.seqlens_expanded))
    assert INT32_MAX in ends, f"{name}: the case misses its bound: {ends}"
    rows = len(want.seqlens_expanded)
    every_way(call, lambda: poisoned(len(call["seq_lens"]), rows, 7, 3), name)


@pytest.mark.slow  # 131078 rows: ~3 s
def test_dsa_cu_seqlens_k_falls_to_exactly_int32_min_in_draft_extend() -> None:
    """Fixed width (next_n 65539, topk 97): request 0 (s 62116) adds 32770 in all, then
    request 1 (s 0, rows 1 - N .. 0) takes the running sum down to exactly -2**31 at its
    last negative row. Valid and exact; s 62115 is one below: a ValueError naming
    dsa_cu_seqlens_k, nothing written."""
    call = make_call("draft_extend", seq_lens=vec([62116, 0], I32), req_pool_indices=vec([3, 1]),
                     next_n=65539, topk=97, width=1, page_size=1)  # fmt: skip
    want = oracle(call)
    assert min(want.dsa_cu_seqlens_k) == INT32_MIN
    rows = len(want.seqlens_expanded)
    every_way(call, lambda: poisoned(2, rows, 1, 1), "int32 min")
    call["seq_lens"] = vec([62115, 0], I32)
    out = poisoned(2, rows, 1, 1)
    saved = snapshot(call, out)
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=r"dsa_cu_seqlens_k\[\d+\] = -2147483\d+, outside"):
            nsa_meta.metadata(**call, backend=backend, out=out)
    unchanged(saved, "one below int32")


@pytest.mark.parametrize("mode", MODES)
def test_next_n_at_its_bound_with_an_empty_batch(mode: str) -> None:
    """next_n 2**31 - 1 is valid in every mode; at bs 0 T is 0 even where e = next_n:
    exact into buffers of 0 rows and into spare ones, and without out."""
    call = make_call(mode, seq_lens=vec([]), req_pool_indices=vec([], I32), next_n=INT32_MAX,
                     extend_seq_lens=vec([], I32) if mode == "draft_extend_var" else None)  # fmt: skip
    every_way(call, lambda: poisoned(0, 0, 7, 3, spare=0), f"{mode} tight")
    every_way(call, lambda: poisoned(0, 0, 7, 3, spare=3), f"{mode} spare")
    for backend, validate in EVERY_WAY:
        got = nsa_meta.metadata(**call, backend=backend, validate=validate)
        assert [None if b is None else b.tolist() for b in got] == list(oracle(call))


def test_draft_extend_next_n_at_its_bound_raises_without_huge_memory() -> None:
    """bs 1, next_n 2**31 - 1 (T = 2**31 - 1 is allowed) but s 1 takes dsa_cu_seqlens_k far
    below int32: a ValueError before allocating T rows, out given or not; with validation
    off, out buffers of 8 rows are too small (the host knows T)."""
    call = make_call("draft_extend", seq_lens=vec([1]), req_pool_indices=vec([2]),
                     next_n=INT32_MAX, topk=4)  # fmt: skip
    out = poisoned(1, 6, 7, 3)
    saved = snapshot(call, out)
    for backend in BACKENDS:
        with address_space(2**30):
            with pytest.raises(ValueError, match=r"dsa_cu_seqlens_k\[2\] = -4294967289"):
                nsa_meta.metadata(**call, backend=backend)
            with pytest.raises(ValueError, match=r"out\.seqlens_expanded has 8 rows"):
                nsa_meta.metadata(**call, backend=backend, out=out, validate=False)
    unchanged(saved, "next_n at its bound")


# -- caller buffers that are inference tensors ------------------------------------------------
# CONTRACT_V2: `out`'s fields are "int32 buffer[s] on the inputs' device"; a buffer made under
# torch.inference_mode() is one. The torch backend's in-place writes raised RuntimeError
# ("Inplace update to inference tensor outside InferenceMode") where Triton wrote it.


@pytest.mark.parametrize("mode", MODES)
def test_out_buffers_made_in_inference_mode(mode: str) -> None:
    call = make_call(mode)
    rows = rows_of(call)

    def inference_out() -> nsa_meta.Metadata:
        with torch.inference_mode():
            out = poisoned(3, rows, 7, 3)
        assert out.page_table_1.is_inference()
        return out

    every_way(call, inference_out, f"{mode} inference buffers")
    with torch.inference_mode():  # and the other way round: called in inference mode
        inputs = make_call(mode)
    for backend, validate in EVERY_WAY:
        out = poisoned(3, rows, 7, 3)
        with torch.inference_mode():
            nsa_meta.metadata(**inputs, backend=backend, out=out, validate=validate)
        want = oracle(call)
        assert [b[: len(v)].tolist() for b, v in zip(out, want)] == list(want)


# -- sparse tensors: a TypeError naming the argument ------------------------------------------
# The contract's tensors are strided ("any strides"); a sparse one has none. It raised
# NotImplementedError from deep inside torch (or, as an out buffer, a ValueError about
# stride 0), naming nothing.


def _sparse_out(field: str):
    return lambda out: out._replace(**{field: getattr(out, field).to_sparse()})


SPARSE = {
    "seq_lens": ("decode", dict(seq_lens=vec([10, 4, 1]).to_sparse()), None),
    "req_pool_indices": ("target_verify", dict(req_pool_indices=vec([0, 3, 1]).to_sparse()), None),
    "extend_seq_lens": ("draft_extend_var", dict(extend_seq_lens=vec([3, 0, 2]).to_sparse()), None),
    "req_to_token": ("draft_extend", dict(req_to_token=make_call()["req_to_token"].to_sparse()), None),
    **{f"out.{f}": ("draft_extend", {}, _sparse_out(f)) for f in FIELDS},
}  # fmt: skip


def _dense_snapshot(*objs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(t, t.to_dense().clone()) for obj in objs for t in (obj.values() if isinstance(obj, dict) else obj)
            if isinstance(t, torch.Tensor)]  # fmt: skip


@pytest.mark.parametrize(("backend", "validate"), EVERY_WAY)
@pytest.mark.parametrize("name", list(SPARSE))
def test_sparse_tensors_are_type_errors_naming_the_argument(name, backend, validate) -> None:
    mode, change, out_change = SPARSE[name]
    call = make_call(mode, **change)
    out = poisoned(3, 8, 7, 3)
    out = out_change(out) if out_change else out
    saved = _dense_snapshot(call, out)
    pattern = re.escape(name) + r"\b.*(sparse|strided|dense)"
    with pytest.raises(TypeError, match=pattern) as info:
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert info.type is TypeError
    if out_change is None:
        with pytest.raises(TypeError, match=pattern):
            nsa_meta.metadata(**call, backend=backend, validate=validate)
    for k, (t, before) in enumerate(saved):
        assert torch.equal(t.to_dense(), before), f"{name}: tensor #{k} changed"


# -- memory shared through distinct storages ----------------------------------------------
# torch.from_numpy of two overlapping numpy views gives two storages that overlap in memory.
# The aliasing check compared storage pointers only: an out buffer over seq_lens' cells was
# accepted and seq_lens overwritten (the contract: inputs are never modified; round 6 made
# such an out a ValueError naming both).


def _base(n: int = 256) -> np.ndarray:
    return (np.arange(n, dtype=np.int32) * 7 + 1) % 1000


def _over_seq_lens(base: np.ndarray, call: dict, out):
    base[:3] = [10, 4, 1]
    call["seq_lens"] = torch.from_numpy(base[:3])
    return out._replace(cache_seqlens=torch.from_numpy(base[1:])[:5])  # storage 4 bytes on


def _over_req_to_token(base: np.ndarray, call: dict, out):
    table = base[40:76].reshape(4, 9)
    table[:] = call["req_to_token"].numpy()
    call["req_to_token"] = torch.from_numpy(table)
    return out._replace(page_table_1=torch.from_numpy(base[70:170]).view(10, 10)[:, :7])


def _two_buffers(base: np.ndarray, call: dict, out):
    return out._replace(
        seqlens_expanded=torch.from_numpy(base[100:]) [:8],
        dsa_cu_seqlens_k=torch.from_numpy(base[107:])[:9],
    )  # fmt: skip


def _misaligned(base: np.ndarray, call: dict, out):
    raw = base.view(np.uint8)  # int32 cells 2 bytes apart: they share half a cell
    first, second = raw[400:432].view(np.int32), raw[402:434].view(np.int32)
    return out._replace(seqlens_expanded=torch.from_numpy(first),
                        dsa_cache_seqlens=torch.from_numpy(second))  # fmt: skip


SHARED = {
    "out.cache_seqlens over seq_lens": (_over_seq_lens, r"out\.cache_seqlens.*\bseq_lens\b"),
    "out.page_table_1 over req_to_token": (
        _over_req_to_token, r"out\.page_table_1.*\breq_to_token\b"),
    "out.seqlens_expanded over out.dsa_cu_seqlens_k": (
        _two_buffers, r"out\.seqlens_expanded.*out\.dsa_cu_seqlens_k"),
    "two buffers 2 bytes apart": (_misaligned, r"out\.seqlens_expanded.*out\.dsa_cache_seqlens"),
}  # fmt: skip


@pytest.mark.parametrize(("backend", "validate"), EVERY_WAY)
@pytest.mark.parametrize("name", list(SHARED))
def test_memory_shared_through_distinct_storages_is_rejected(name, backend, validate) -> None:
    make, pattern = SHARED[name]
    base = _base()
    call = make_call("target_verify")
    out = make(base, call, poisoned(3, 6, 7, 3))
    before = base.copy()
    saved = snapshot(call, out)
    with pytest.raises(ValueError, match=pattern) as info:
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert info.type is ValueError
    assert np.array_equal(base, before), f"{name}: the shared memory was written"
    unchanged(saved, name)


@pytest.mark.parametrize(("backend", "validate"), EVERY_WAY)
def test_distinct_storages_interleaved_without_a_shared_cell_are_fine(backend, validate):
    """seq_lens and cache_seqlens on the even and odd cells of one numpy array (their
    storages overlap, their cells do not): valid, exact, seq_lens unchanged."""
    base = np.full(64, POISON, dtype=np.int32)
    base[0:6:2] = [10, 4, 1]
    call = make_call("decode", seq_lens=torch.from_numpy(base[0::2])[:3])
    out = poisoned(3, 3, 7, 3)._replace(cache_seqlens=torch.from_numpy(base[1::2])[:5])
    want = oracle(call)
    expected = base.copy()
    expected[1:7:2] = want.cache_seqlens
    rest = [b for f, b in zip(FIELDS, out) if f != "cache_seqlens"]
    kept = expected_after(nsa_meta.Metadata(None, *rest), want._replace(cache_seqlens=None))
    nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert np.array_equal(base, expected), base[:8]
    assert_storages(nsa_meta.Metadata(None, *rest), kept, "the other buffers")


# -- a default device context must change nothing -----------------------------------------
# Under `with torch.device(...)` (SGLang builds models in one), factory calls without a device
# land there. The overlap check of out buffers sharing a storage built its cell lists so:
# under torch.device("meta") it raised RuntimeError; under torch.device("cuda") it ran on
# the GPU and read the answer back, a host sync with validation off (a capture breaks).


@pytest.mark.parametrize(("backend", "validate"), EVERY_WAY)
@pytest.mark.parametrize("mode", MODES)
def test_a_default_device_context_changes_nothing(mode: str, backend: str, validate: bool):
    call = awkward_case(mode, "transposed")
    want = oracle(call)
    out = out_layout("interleaved", 4, len(want.seqlens_expanded), 7, 3)  # one storage
    expected = expected_after(out, want)
    with torch.device("meta"):
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert_storages(out, expected, f"{mode} under torch.device('meta')")


# -- no host sync with validation off: large bs, buffers sharing storages ---------------------


def _large_call(mode: str, bs: int) -> dict:
    g = torch.Generator().manual_seed(bs)
    return make_call(
        mode,
        seq_lens=torch.randint(0, 5000, (bs,), generator=g),
        req_pool_indices=torch.randint(0, 64, (bs,), generator=g, dtype=I32),
        req_to_token=torch.randint(0, 10**6, (64, 9), generator=g, dtype=I32),
        extend_seq_lens=torch.randint(0, 4, (bs,), generator=g, dtype=I32)
        if mode == "draft_extend_var"
        else None,
        width=7,
        page_size=3,
        next_n=3,
        topk=100,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_no_host_sync_at_bs_16385(mode: str, backend: str, monkeypatch) -> None:
    """bs 16385 (past every program-count threshold): validate=False with out given reads
    nothing back (the torch backend runs whole under the trap, Triton up to its launch);
    fixed-width modes need no sync without out either (T is bs * e)."""
    call = _large_call(mode, 16385)
    rows = 3 * 16385
    out = nsa_meta.allocate_metadata(16385, rows, 7, 3)
    launches = _stub_launch(monkeypatch, "nsa_meta.metadata_triton") if backend == "triton" else []
    with monkeypatch.context() as trapped:
        _trap(trapped)
        nsa_meta.metadata(**call, backend=backend, out=out, validate=False)
        if mode != "draft_extend_var":
            fresh = nsa_meta.metadata(**call, backend=backend, validate=False)
    if backend == "torch":
        want = oracle(call)
        got = [b[: len(v)].tolist() for b, v in zip(out, want)]
        assert got == list(want), f"{mode}: wrong values"
        if mode != "draft_extend_var":
            assert [b.tolist() for b in fresh] == list(want)
    else:
        assert len(launches) == (1 if mode == "draft_extend_var" else 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["interleaved", "shared"])
def test_no_host_sync_with_buffers_carved_from_one_storage(layout, backend, monkeypatch):
    """Buffers sharing a storage make the overlap check list cells; it reads no tensor
    value back either (pure host arithmetic on shapes and strides)."""
    call = awkward_case("draft_extend_var", "contiguous")
    want = oracle(call)
    out = out_layout(layout, 4, len(want.seqlens_expanded), 7, 3)
    expected = expected_after(out, want)
    launches = _stub_launch(monkeypatch, "nsa_meta.metadata_triton") if backend == "triton" else []
    with monkeypatch.context() as trapped:
        _trap(trapped)
        try:
            nsa_meta.metadata(**call, backend=backend, out=out, validate=False)
        except HostSync as exc:
            pytest.fail(f"{layout}: host sync with validate=False: {exc}")
    if backend == "torch":
        assert_storages(out, expected, layout)
    else:
        assert len(launches) == 1


# -- page sizes 1 to 128, spare room in every dimension, back-to-back calls --------------------

PAGES = [(1, 5), (2, 7), (3, 8), (64, 129), (128, 127), (128, 257)]  # (page_size, width)
STEPS = [  # (mode, seq_lens, req_pool_indices, extend_seq_lens): T 9, 4, 1, 0, 8, 4
    ("draft_extend_var", [40, 0, 9, 3], [4, 0, 4, 2], [4, 2, 3, 0]),
    ("draft_extend_var", [7, 1, 0, 12], [1, 1, 3, 0], [0, 3, 1, 0]),
    ("draft_extend_var", [2, 2, 2, 2], [0, 1, 2, 3], [0, 0, 1, 0]),
    ("draft_extend_var", [5, 6, 7, 8], [4, 3, 2, 1], [0, 0, 0, 0]),
    ("draft_extend", [50, 3, 1, 0], [2, 4, 0, 0], None),
    ("decode", [5, 0, 8, 130], [3, 2, 1, 0], None),
]


def roomy_out(bs: int, rows: int, width: int, page_size: int) -> nsa_meta.Metadata:
    """Every buffer larger than needed: 1-D ones by 3 cells past an offset, tables by 3 rows
    and 5 (page table) or 2 (real) columns, their rows 1 cell apart, all poisoned."""
    pages = -(-width // page_size)

    def vector(n: int) -> torch.Tensor:
        return torch.full((n + 4,), POISON, dtype=I32)[1:]

    def table(cols: int) -> torch.Tensor:
        return torch.full((rows + 4, cols + 1), POISON, dtype=I32)[1:, 1:]

    return nsa_meta.Metadata(vector(bs), vector(bs + 1), vector(rows), vector(rows),
                             vector(rows + 1), table(width + 5),
                             table(pages + 2) if page_size > 1 else None)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("page_size", "width"), PAGES)
def test_page_sizes_with_spare_room_back_to_back(page_size: int, width: int, backend: str):
    """Six calls on one set of roomy buffers (T 9, 4, 1, 0, then other modes), validation
    alternating: each leaves its region exact and every other cell as the call before left
    it (no stale value, no stray write). req_to_token transposed then sliced."""
    pool = 5
    values = (torch.arange(pool * (width + 3), dtype=I64).view(pool, width + 3) * 1009) % 100003
    table = values.to(I32).t().contiguous().t()[:, 2 : width + 2]
    out = roomy_out(4, 9, width, page_size)
    for k, (mode, s, r, ext) in enumerate(STEPS):
        call = make_call(mode, seq_lens=vec(s), req_pool_indices=vec(r, I32), req_to_token=table,
                         extend_seq_lens=None if ext is None else vec(ext, I32), width=width,
                         page_size=page_size, next_n=2, topk=3 + k)  # fmt: skip
        run_exact(call, backend, k % 2 == 0, out, f"P{page_size} W{width} call {k} ({mode})")


# -- more bad inputs -------------------------------------------------------------------------

OUT_DTYPES = {
    f"out.{f} {label}": (f, dtype)
    for f in ("cu_seqlens_k", "dsa_cu_seqlens_k", "real_page_table")
    for label, dtype in (("uint32 (same size as int32)", torch.uint32), ("int16", torch.int16))
}


@pytest.mark.parametrize(("backend", "validate"), EVERY_WAY)
@pytest.mark.parametrize("name", list(OUT_DTYPES))
def test_out_buffers_of_another_integer_dtype(name: str, backend: str, validate: bool) -> None:
    field, dtype = OUT_DTYPES[name]
    call = make_call("draft_extend")
    out = poisoned(3, 6, 7, 3)
    buf = getattr(out, field)
    other = torch.full(buf.shape, 7, dtype=I32).view(dtype) if dtype == torch.uint32 else (
        torch.full(buf.shape, 7, dtype=dtype))  # fmt: skip
    out = out._replace(**{field: other})
    saved = snapshot(call, out)
    with pytest.raises(TypeError, match=rf"out\.{field}\b") as info:
        nsa_meta.metadata(**call, backend=backend, out=out, validate=validate)
    assert info.type is TypeError
    unchanged(saved, name)


ALLOC_BAD = {
    "device an int (a CUDA ordinal elsewhere in torch)": (TypeError, "device", {"device": 0}),
    "device None": (TypeError, "device", {"device": None}),
    "device bytes": (TypeError, "device", {"device": b"cpu"}),
    "max_bs a float that is whole": (TypeError, "max_bs", {"max_bs": 2.0}),
    "max_rows np.int32": (TypeError, "max_rows", {"max_rows": np.int32(3)}),
    "width np.uint64": (TypeError, "width", {"width": np.uint64(5)}),
    "page_size False": (TypeError, "page_size", {"page_size": False}),
    "max_rows -(2**63)": (ValueError, "max_rows", {"max_rows": -(2**63)}),
    "width 2**64": (ValueError, "width", {"width": 2**64}),
}


@pytest.mark.parametrize("name", list(ALLOC_BAD))
def test_allocate_metadata_rejects_more_bad_arguments(name: str) -> None:
    error, argument, change = ALLOC_BAD[name]
    args = {"max_bs": 2, "max_rows": 3, "width": 5, "page_size": 2, **change}
    with pytest.raises(error, match=rf"\b{argument}\b") as info:
        nsa_meta.allocate_metadata(**args)
    assert info.type is error


def test_overlap_test_is_exact_across_storages_and_misalignment() -> None:
    """validation._meet against brute force (the bytes each element covers), for int32 and
    int64 views at any byte offset of one numpy buffer, each its own torch storage."""
    from nsa_meta import validation

    rng = np.random.default_rng(8)
    raw = np.zeros(512, dtype=np.uint8)

    def view() -> torch.Tensor:
        dtype = rng.choice([np.int32, np.int64])
        size = np.dtype(dtype).itemsize
        start = int(rng.integers(0, 40))
        rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s1, s0 = int(rng.integers(1, 3)), int(rng.integers(cols, 2 * cols + 2))
        flat = raw[start : start + size * (s0 * rows + s1 * cols + 1)].view(dtype)
        t = torch.from_numpy(flat).as_strided((rows, cols), (s0, s1))
        return t if rng.random() < 0.7 else t[:, 0]

    def covered(t: torch.Tensor) -> set[int]:
        offsets = torch.zeros((), dtype=I64)
        for n, step in zip(t.shape, t.stride()):
            offsets = offsets[..., None] + torch.arange(n) * step
        starts = t.data_ptr() + offsets.flatten() * t.element_size()
        return {int(a) + k for a in starts for k in range(t.element_size())}

    seen = {True: 0, False: 0}
    for _ in range(400):
        a, b = view(), view()
        want = bool(covered(a) & covered(b))
        assert validation._meet(a, b) == want, (a.data_ptr() - b.data_ptr(), a.stride(), b.stride())
        seen[want] += 1
    assert min(seen.values()) > 40, seen


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_v1_out_buffers_made_in_inference_mode(backend: str) -> None:
    """v1's `expand` into buffers made under torch.inference_mode(): the torch backend raised
    the same RuntimeError as v2's did (round 8), Triton wrote them."""
    import nsa_meta

    with torch.inference_mode():
        out = (torch.full((8,), -7, dtype=torch.int32), torch.full((8,), -7, dtype=torch.int32))
    ext, seq = (
        torch.tensor([2, 0, 3], dtype=torch.int32),
        torch.tensor([5, 1, 9], dtype=torch.int32),
    )
    got = nsa_meta.expand(ext, seq, 6, backend=backend, out=out)
    assert got[0].tolist() == [4, 5, 7, 8, 9] and got[1].tolist() == [4, 5, 6, 6, 6]
    assert out[0][5:].tolist() == [-7] * 3 and out[1][5:].tolist() == [-7] * 3

"""CONTRACT.md's edge families, one test each, run on every implementation in the registry.

Each result is judged against `reference.expand`, the pure-Python oracle (lists in, lists
out), and every input's whole storage must be unchanged afterwards. The second half puts
the public `nsa_meta.expand` through caller buffers (the CUDA-graph replay path).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import (
    SENTINEL,
    assert_same_expansion,
    assert_storage_unchanged,
    poisoned_buffer,
    snapshot,
    strided_tensor,
    whole_storage,
)

import nsa_meta
import reference
from fuzz.contract import KNOWN_DIVERGENCES
from fuzz.registry import IMPLEMENTATIONS

INT32_MAX = reference.INT32_MAX
I32, I64 = torch.int32, torch.int64


def implementations_for(family: str) -> list[str]:
    """Every registry entry, less those with a documented divergence on this family."""
    return [name for name in IMPLEMENTATIONS if (name, family) not in KNOWN_DIVERGENCES]


every_implementation = pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))


def check_implementation(
    impl: str,
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    nsa_index_topk: int,
    *,
    case: str,
) -> None:
    """Run one registry entry, compare with the oracle, and prove the inputs untouched."""
    expected = reference.expand(extend_seq_lens.tolist(), seq_lens.tolist(), nsa_index_topk)
    before = snapshot(extend_seq_lens), snapshot(seq_lens)
    got = IMPLEMENTATIONS[impl](extend_seq_lens, seq_lens, nsa_index_topk)
    assert_same_expansion(got, expected, name=f"{impl} on {case}", device=extend_seq_lens.device)
    assert_storage_unchanged(extend_seq_lens, before[0], name=f"{impl} on {case}: extend_seq_lens")
    assert_storage_unchanged(seq_lens, before[1], name=f"{impl} on {case}: seq_lens")


def check_lists(
    impl: str,
    extend_seq_lens: list[int],
    seq_lens: list[int],
    nsa_index_topk: int,
    *,
    dtypes: tuple[torch.dtype, torch.dtype] = (I32, I32),
    case: str,
) -> None:
    ext = strided_tensor(extend_seq_lens, dtypes[0])
    seq = strided_tensor(seq_lens, dtypes[1])
    check_implementation(impl, ext, seq, nsa_index_topk, case=case)


def random_batch(bs: int, seed: int) -> tuple[list[int], list[int]]:
    """Accept lengths 0..7 (zeros common, as in a real draft-extend batch), KV lengths that
    are sometimes shorter than the extend (padded dummy requests)."""
    rng = random.Random(seed)
    extend_seq_lens = [rng.choice([0, 0, 1, 2, 3, 4, 5, 7]) for _ in range(bs)]
    seq_lens = [rng.choice([rng.randrange(0, 8), rng.randrange(0, 5000)]) for _ in range(bs)]
    return extend_seq_lens, seq_lens


# -- the contract's worked example ----------------------------------------------------------


@every_implementation
def test_contract_example(impl: str) -> None:
    expected = ([8, 9, 10, 0, 1], [8, 9, 9, 0, 1])
    assert reference.expand([3, 0, 2], [10, 4, 1], 9) == expected
    ext, seq = strided_tensor([3, 0, 2], I32), strided_tensor([10, 4, 1], I32)
    got = IMPLEMENTATIONS[impl](ext, seq, 9)
    assert_same_expansion(got, expected, name=f"{impl} on the contract example", device=ext.device)


# -- batch shape -------------------------------------------------------------------------


@pytest.mark.parametrize("impl", implementations_for("empty batch"))
@pytest.mark.parametrize("dtypes", [(I32, I32), (I64, I64), (I32, I64)], ids=str)
def test_empty_batch(impl: str, dtypes: tuple[torch.dtype, torch.dtype]) -> None:
    check_lists(impl, [], [], 2048, dtypes=dtypes, case="an empty batch")


ZERO_EXTENDS = {
    "all zero": ([0, 0, 0], [5, 0, 9]),
    "one request, zero": ([0], [7]),
    "mixed": ([0, 3, 0, 2], [4, 10, 6, 1]),
    "adjacent zeros": ([2, 0, 0, 0, 1], [6, 3, 2, 1, 9]),
    "zeros at both ends": ([0, 0, 4, 0], [1, 2, 12, 3]),
}


@every_implementation
@pytest.mark.parametrize("case", list(ZERO_EXTENDS))
def test_zero_extends(impl: str, case: str) -> None:
    check_lists(impl, *ZERO_EXTENDS[case], 2048, case=f"zero extends, {case}")


@every_implementation
@pytest.mark.parametrize("bs", [4096, 5000])
def test_large_batch(impl: str, bs: int) -> None:
    extend_seq_lens, seq_lens = random_batch(bs, seed=bs)
    check_lists(impl, extend_seq_lens, seq_lens, 2048, dtypes=(I32, I64), case=f"bs={bs}")


LONG_EXTENDS = {
    "hundreds": ([300, 1, 700, 0, 256], [300, 5, 2000, 9, 4096]),
    "around 1024": ([1023, 1024, 1025, 2], [1023, 5000, 1025, 1]),
    "longer than seq": ([1100, 3], [100, 2]),
}


@every_implementation
@pytest.mark.parametrize("case", list(LONG_EXTENDS))
def test_long_extends(impl: str, case: str) -> None:
    check_lists(impl, *LONG_EXTENDS[case], 2048, case=f"long extends, {case}")


@pytest.mark.parametrize("bs", [1, 7, 8, 9, 37])
def test_triton_program_boundaries(monkeypatch: pytest.MonkeyPatch, bs: int) -> None:
    """Tiny blocks force many programs, each summing the extends before it in several
    chunks: the GPU's multi-program path, which the interpreter's one wide program skips."""
    tiny = {"BLOCK_REQ": 4, "SUM_BLOCK": 8, "BLOCK_TOK": 2}
    monkeypatch.setattr("nsa_meta.triton_kernel._blocks", lambda bs, longest_hint=4: tiny)
    extend_seq_lens, seq_lens = random_batch(bs, seed=bs)
    ext = strided_tensor(extend_seq_lens, I32, step=2, offset=1)
    seq = strided_tensor(seq_lens, I64, step=3, offset=2)
    check_implementation("triton", ext, seq, 9, case=f"tiny blocks, bs={bs}")


# -- values ------------------------------------------------------------------------------

# Expanded values: [8, 9, 10, 5, 5, 6, 7, 8]; smallest 5, largest 10.
TOPK_EXTENDS, TOPK_SEQS = [3, 1, 4], [10, 5, 8]
TOPKS = {
    "above all": 11,
    "deepseek v3.2": 2048,
    "below all": 4,
    "equal to a value": 8,
    "a value - 1": 7,
    "a value + 1": 9,
    "zero": 0,
    "one": 1,
    "int32 max": INT32_MAX,
}


@every_implementation
@pytest.mark.parametrize("case", list(TOPKS))
def test_topk_boundaries(impl: str, case: str) -> None:
    check_lists(impl, TOPK_EXTENDS, TOPK_SEQS, TOPKS[case], case=f"topk {case}")


SHORT_SEQS = {
    "seq < extend": ([5], [2]),
    "seq 0": ([3, 1], [0, 0]),
    "seq == extend": ([3, 1, 4], [3, 1, 4]),
    "mixed": ([4, 2, 6], [1, 2, 9]),
}


@every_implementation
@pytest.mark.parametrize("case", list(SHORT_SEQS))
@pytest.mark.parametrize("topk", [0, 1, 2048])
def test_seq_not_longer_than_extend(impl: str, case: str, topk: int) -> None:
    """Values <= 0 are valid (padded requests) and are never clamped from below."""
    check_lists(impl, *SHORT_SEQS[case], topk, case=f"{case}, topk {topk}")


@every_implementation
@pytest.mark.parametrize("dtypes", [(I32, I32), (I64, I64)], ids=str)
@pytest.mark.parametrize("topk", [2048, INT32_MAX - 1, INT32_MAX])
def test_int32_extremes(impl: str, dtypes: tuple[torch.dtype, torch.dtype], topk: int) -> None:
    extend_seq_lens = [3, 1, 2, 0, 5]
    seq_lens = [INT32_MAX, INT32_MAX - 1, INT32_MAX, INT32_MAX, 0]
    check_lists(impl, extend_seq_lens, seq_lens, topk, dtypes=dtypes, case="seq near 2**31 - 1")


# -- layouts -----------------------------------------------------------------------------

DTYPE_MIXES = [(I32, I32), (I32, I64), (I64, I32), (I64, I64)]


@every_implementation
@pytest.mark.parametrize("dtypes", DTYPE_MIXES, ids=str)
def test_dtype_mixes(impl: str, dtypes: tuple[torch.dtype, torch.dtype]) -> None:
    check_lists(impl, [3, 0, 2, 4], [10, 4, 1, 2], 9, dtypes=dtypes, case=f"dtypes {dtypes}")


# (extend_seq_lens, ext step, ext offset, seq_lens, seq step, seq offset); step 0 = expand().
STRIDES = {
    "ext step 2": ([3, 0, 2], 2, 0, [10, 4, 1], 1, 0),
    "ext offset": ([3, 0, 2], 1, 3, [10, 4, 1], 1, 0),
    "seq step 3, offset": ([3, 0, 2], 1, 0, [10, 4, 1], 3, 5),
    "both step and offset": ([1, 4, 0, 2], 2, 1, [7, 3, 9, 2], 3, 2),
    "ext expand": ([2, 2, 2, 2], 0, 0, [5, 1, 8, 3], 2, 0),
    "seq expand, ext offset": ([1, 3, 0], 1, 4, [6, 6, 6], 0, 2),
    "both expand": ([3, 3, 3], 0, 1, [4, 4, 4], 0, 3),
}


@every_implementation
@pytest.mark.parametrize("dtypes", [(I32, I64), (I64, I32)], ids=str)
@pytest.mark.parametrize("case", list(STRIDES))
def test_strided_inputs(impl: str, case: str, dtypes: tuple[torch.dtype, torch.dtype]) -> None:
    ext_values, ext_step, ext_offset, seq_values, seq_step, seq_offset = STRIDES[case]
    ext = strided_tensor(ext_values, dtypes[0], step=ext_step, offset=ext_offset)
    seq = strided_tensor(seq_values, dtypes[1], step=seq_step, offset=seq_offset)
    check_implementation(impl, ext, seq, 5, case=case)


# -- the public expand and caller buffers ------------------------------------------------
# With out=(a, b): validate=False returns a and b themselves (the total lives on the device,
# so the host cannot slice); validate=True returns the views a[:total] and b[:total].
# Either way [0, total) holds the result and every other slot of a and b's storages keeps
# the SENTINEL it had.

BACKENDS = ["triton", "torch"]
OUT_CASES = {
    "contract example": ([3, 0, 2], [10, 4, 1], 9),
    "empty batch": ([], [], 2048),
    "all zero extends": ([0, 0], [3, 4], 2048),
    "seq < extend": ([4, 2, 6], [1, 2, 9], 0),
    "bs 300": (*random_batch(300, seed=3), 2048),
}


def expected_storage(buffer: torch.Tensor, values: list[int]) -> torch.Tensor:
    """What the whole storage of a poisoned buffer must hold once `values` are written."""
    storage = torch.full_like(whole_storage(buffer), SENTINEL)
    view = storage.as_strided(buffer.shape, buffer.stride(), buffer.storage_offset())
    view[: len(values)] = torch.tensor(values, dtype=torch.int32)
    return storage


def assert_buffers_hold(out: tuple[torch.Tensor, torch.Tensor], expected, *, name: str) -> None:
    for buffer, values, output in zip(
        out, expected, ("out_seqlens_expanded", "out_nsa_cache_seqlens"), strict=True
    ):
        assert_storage_unchanged(buffer, expected_storage(buffer, values), name=f"{name}: {output}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("out_step", [1, 2])
@pytest.mark.parametrize("case", list(OUT_CASES))
def test_expand_writes_only_the_front_of_out(
    backend: str, validate: bool, out_step: int, case: str
) -> None:
    extend_seq_lens, seq_lens, topk = OUT_CASES[case]
    expected = reference.expand(extend_seq_lens, seq_lens, topk)
    total = len(expected[0])
    # Different slack on each buffer: capacity is per buffer, not shared.
    out = (poisoned_buffer(total + 5, step=out_step), poisoned_buffer(total + 9, step=out_step))
    ext, seq = strided_tensor(extend_seq_lens, I32), strided_tensor(seq_lens, I64)
    got = nsa_meta.expand(ext, seq, topk, backend=backend, out=out, validate=validate)

    name = f"expand({backend}, validate={validate}) on {case}, out step {out_step}"
    if validate:
        assert_same_expansion(got, expected, name=name, device=ext.device)
        for view, buffer in zip(got, out, strict=True):
            same_storage = view.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr()
            assert same_storage and view.storage_offset() == buffer.storage_offset(), (
                f"{name}: expected views of the out buffers"
            )
    else:
        assert got[0] is out[0] and got[1] is out[1], f"{name}: expected the buffers themselves"
    assert_buffers_hold(out, expected, name=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_expand_fills_small_out_as_far_as_it_goes(backend: str) -> None:
    """validate=False cannot know total on the host: a short buffer is filled to its end
    and not one slot past it (the storage beyond the view stays SENTINEL)."""
    expected = reference.expand([3, 0, 2], [10, 4, 1], 9)
    out = (poisoned_buffer(3, step=2), poisoned_buffer(4, step=2))
    ext, seq = strided_tensor([3, 0, 2], I32), strided_tensor([10, 4, 1], I32)
    nsa_meta.expand(ext, seq, 9, backend=backend, out=out, validate=False)
    capacity = min(b.numel() for b in out)
    assert_buffers_hold(out, [v[:capacity] for v in expected], name=f"{backend}, short out")


_GARBAGE_EXTEND = """
import os, torch
os.environ["TRITON_INTERPRET"] = "1"
import nsa_meta
a = torch.full((8,), -7, dtype=torch.int32)
b = torch.full((8,), -7, dtype=torch.int32)
ext = torch.tensor([2**31 - 1, 1], dtype=torch.int32)
seq = torch.tensor([2**31 - 1, 3], dtype=torch.int32)
nsa_meta.expand(ext, seq, 9, backend="triton", out=(a[:5], b[:6]), validate=False)
print(a.tolist(), b.tolist())
"""


def test_garbage_extend_unvalidated_ends_at_the_buffers_end() -> None:
    """validate=False with an extend of 2**31 - 1 (garbage, outside the contract): the Triton
    kernel's token loop stops at the buffers' capacity (it used to run to the extend: never
    ending under the interpreter, seconds on a GPU) and writes nothing past it. In a child
    process, so that a loop that does not end fails the test instead of hanging it."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GARBAGE_EXTEND],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=Path(__file__).resolve().parents[1],
        )
    except subprocess.TimeoutExpired:
        pytest.fail("expand(validate=False) with an extend of 2**31 - 1 did not end in 90 s")
    assert done.returncode == 0, done.stderr
    first = [1 + d for d in range(5)]
    expected = [first + [-7] * 3, [min(v, 9) for v in first] + [-7] * 3]
    assert done.stdout.split("\n")[0] == f"{expected[0]} {expected[1]}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("validate", [True, False])
def test_expand_allocates_without_out(backend: str, validate: bool) -> None:
    ext, seq = strided_tensor([3, 0, 2], I64, step=2), strided_tensor([10, 4, 1], I32, offset=1)
    got = nsa_meta.expand(ext, seq, 9, backend=backend, validate=validate)
    expected = reference.expand([3, 0, 2], [10, 4, 1], 9)
    assert_same_expansion(
        got, expected, name=f"expand({backend}, validate={validate})", device=ext.device
    )

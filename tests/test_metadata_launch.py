"""The v2 kernel's eager fast path: a compiled variant is reused only for arguments that the
JIT would compile to that same variant, and it is called with every parameter in order.

On CPU no variant is compiled (the interpreter runs the kernel), so the launcher is a fake
that records its calls; what is checked is the key and the dispatch, which are Python.
"""

from __future__ import annotations

import pytest
import torch
from helpers import DEVICE
from metadata_helpers import Case, pool_table, tensors

import nsa_meta
import nsa_meta.metadata_triton as kernel

I64 = torch.int64


def launch_of(**changes):
    """(grid, args, constexprs) of a small draft_extend_var call, with changes applied to
    the inputs: dtype=, width=, page_size=, table=, out=."""
    c = Case(
        "draft_extend_var",
        [9, 4, 6],
        [1, 2, 0],
        pool_table(3, 64),
        width=changes.get("width", 32),
        page_size=changes.get("page_size", 4),
        extend_seq_lens=[2, 0, 3],
        dtypes=changes.get("dtypes", (torch.int32, torch.int64, torch.int32)),
    )
    args = tensors(c)
    table = changes.get("table", args["req_to_token"])
    device = args["seq_lens"].device
    out = changes.get("out") or nsa_meta.allocate_metadata(3, 5, c.width, c.page_size, device)
    return kernel.launch_args(
        c.mode,
        args["seq_lens"],
        args["req_pool_indices"],
        table,
        args["extend_seq_lens"],
        topk=8,
        width=c.width,
        page_size=c.page_size,
        next_n=1,
        out=out,
        rows=None,
        interpreted=False,
    )


def key_of(**changes) -> tuple:
    _, args, constexprs = launch_of(**changes)
    return kernel.specialisation_key(args, constexprs)


def test_key_is_stable_for_the_same_specialisation() -> None:
    assert key_of() == key_of()


@pytest.mark.parametrize(
    "change",
    [
        {"dtypes": (torch.int64, torch.int64, torch.int32)},  # seq_lens dtype
        {"dtypes": (torch.int32, torch.int32, torch.int32)},  # req_pool_indices dtype
        {"dtypes": (torch.int32, torch.int64, torch.int64)},  # extend_seq_lens dtype
        {"width": 33},  # width % 16 (and the plan)
        {"page_size": 1},  # HAS_RPT
        {"table": torch.zeros(3, 65, dtype=torch.int32, device=DEVICE)[:, 1:]},  # misaligned
        {"table": torch.zeros(64, 3, dtype=torch.int32, device=DEVICE).t()},  # column stride 3
    ],
    ids=["seq dtype", "r dtype", "ext dtype", "width", "page 1", "misaligned", "transposed"],
)
def test_key_changes_with_what_the_jit_specialises(change: dict) -> None:
    assert key_of(**change) != key_of()


def test_key_sees_integer_width() -> None:
    """An integer past int32 (here a stride) compiles to an i64 parameter."""
    _, args, constexprs = launch_of()
    wide = list(args)
    wide[kernel._ARG_NAMES.index("stride_seq")] = 2**31
    assert kernel.specialisation_key(tuple(wide), constexprs) != kernel.specialisation_key(
        args, constexprs
    )


class FakeCompiled:
    """Stands for a CompiledKernel: `run(grid x3, stream, function, metadata, launch
    metadata, enter hook, exit hook, *every parameter)` records the call."""

    function = "fn"
    packed_metadata = (4, 1, 0)

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def _init_handles(self) -> None:
        pass

    def run(self, *launch):
        self.calls.append(launch)


class FakeJit:
    """Stands for the JIT function: `kernel[grid](*args, num_warps=, **constexprs)`."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.compiled = FakeCompiled()

    def __getitem__(self, grid):
        def launch(*args, **kw):
            self.calls.append((grid, args, kw))
            return self.compiled

        return launch


def fast_path(monkeypatch) -> None:
    """A fresh fast path whose launches go to stream 7."""
    from nsa_meta.launcher import FastLaunches

    monkeypatch.setattr(kernel, "_fast", FastLaunches(enabled=True, stream_of=lambda index: 7))


def test_fast_path_reuses_the_variant_with_every_parameter_in_order(monkeypatch) -> None:
    jit = FakeJit()
    monkeypatch.setattr(kernel, "_metadata_kernel", jit)
    fast_path(monkeypatch)
    grid, args, constexprs = launch_of()
    for _ in range(3):
        kernel._launch(grid, args, constexprs)
    assert len(jit.calls) == 1, "the first call compiles through the JIT"
    assert jit.calls[0][2] == {"num_warps": 4, **constexprs}
    assert len(jit.compiled.calls) == 2, "later calls go to the compiled variant"
    launch = jit.compiled.calls[0]
    assert launch[:9] == (grid[0], 1, 1, 7, "fn", (4, 1, 0), None, None, None)
    params = launch[9:]
    assert len(params) == len(kernel._ARG_NAMES)
    assert params[: len(args)] == args
    assert dict(zip(kernel._ARG_NAMES[len(args) :], params[len(args) :])) == constexprs
    other_grid, other_args, other_constexprs = launch_of(dtypes=(I64, I64, I64))
    kernel._launch(other_grid, other_args, other_constexprs)
    assert len(jit.calls) == 2, "another specialisation compiles again"


def test_fast_path_turns_off_on_a_launcher_surprise(monkeypatch) -> None:
    jit = FakeJit()

    def broken(*launch):
        raise TypeError("launcher signature changed")

    jit.compiled.run = broken
    monkeypatch.setattr(kernel, "_metadata_kernel", jit)
    fast_path(monkeypatch)
    grid, args, constexprs = launch_of()
    kernel._launch(grid, args, constexprs)
    kernel._launch(grid, args, constexprs)  # the fast path fails: JIT again, path off
    kernel._launch(grid, args, constexprs)
    assert len(jit.calls) == 3
    assert kernel._fast.on is False


def test_a_launch_hook_sends_calls_back_through_the_jit(monkeypatch) -> None:
    """With a profiler's hook installed, every launch goes through the JIT (which calls
    the hook); without, the compiled variant is called directly."""
    jit = FakeJit()
    monkeypatch.setattr(kernel, "_metadata_kernel", jit)
    fast_path(monkeypatch)
    hooked = {"on": False}
    monkeypatch.setattr(kernel._fast, "_hooks_installed", lambda: hooked["on"])
    grid, args, constexprs = launch_of()
    kernel._launch(grid, args, constexprs)
    kernel._launch(grid, args, constexprs)
    hooked["on"] = True
    kernel._launch(grid, args, constexprs)
    assert (len(jit.calls), len(jit.compiled.calls)) == (2, 1)


@pytest.mark.parametrize(
    ("bs", "width", "rows", "n_split"),
    [(1, 2048, 4, 4), (8, 2048, 32, 4), (32, 2048, 128, 1), (512, 2048, 2048, 1),
     (1, 65536, 4, 1), (1, 2048, 1, 1)],
)  # fmt: skip
def test_few_page_programs_split_rows(bs: int, width: int, rows: int, n_split: int) -> None:
    """The GPU plan splits a request's rows over programs when the grid would otherwise
    hold fewer than MIN_PAGE_PROGRAMS page programs, never past the rows it has."""
    p = kernel.plan(bs, width, 64, rows, interpreted=False)
    assert p["n_split"] == n_split


@pytest.mark.parametrize(
    ("bs", "width", "bw"),
    [(32, 65536, 2048), (128, 65536, 8192), (8, 163840, 2048), (32, 163840, 8192),
     (128, 163840, 1024), (512, 65536, 1024), (8, 65536, 1024)],
)  # fmt: skip
def test_chunks_of_few_tiles_become_one_wide_tile(
    monkeypatch: pytest.MonkeyPatch, bs: int, width: int, bw: int
) -> None:
    """Where a page program would loop over a few tiles of one request block, the GPU plan
    gives it one tile of up to WIDE_TILE elements instead; the chunks still cover the
    width, and more tiles than that stay a loop (at TARGET programs: TARGET_VAR off)."""
    monkeypatch.setattr(kernel, "WIDE_TILE", 8192)
    monkeypatch.setattr(kernel, "VAR_CELLS", 2**62)
    p = kernel.plan(bs, width, 64, bs, interpreted=False, var=True)
    assert (p["BW"], p["RB"] * p["BW"] <= kernel.WIDE_TILE) == (bw, True)
    assert p["n_chunk"] * p["chunk_w"] >= width > (p["n_chunk"] - 1) * p["chunk_w"]
    assert (p["chunk_w"] == p["BW"]) is (bw > 1024 or width <= 1024 * p["n_chunk"])


@pytest.mark.parametrize(
    ("bs", "width", "rows", "more"),
    [(32, 65536, 32, True), (1024, 65536, 1024, True), (4096, 2048, 16384, True),
     (4096, 2048, 4096, False), (1024, 2048, 1024, False), (8, 163840, 8, False)],
)  # fmt: skip
def test_draft_extend_var_aims_for_more_programs_on_wide_rows(
    bs: int, width: int, rows: int, more: bool
) -> None:
    """draft_extend_var from bs TARGET_VAR_BS aims for TARGET_VAR page programs where a
    request's rows hold VAR_CELLS cells or more (its programs with no row end at once), and
    for TARGET elsewhere, as the fixed-width modes do; the chunks cover the width either way."""
    var = kernel.plan(bs, width, 64, rows, interpreted=False, var=True)
    fixed = kernel.plan(bs, width, 64, rows, interpreted=False, var=False)
    programs = [p["n_rb"] * p["n_chunk"] * p["n_split"] for p in (var, fixed)]
    assert (programs[0] > programs[1]) is more, programs
    assert programs[0] <= max(kernel.TARGET_VAR, programs[1])
    for p in (var, fixed):
        assert p["n_chunk"] * p["chunk_w"] >= width > (p["n_chunk"] - 1) * p["chunk_w"]
        assert p["n_rb"] * p["BR"] >= bs


@pytest.mark.parametrize(("bs", "narrower"), [(16384, True), (8192, True), (4096, False)])
def test_draft_extend_var_aims_for_fewer_programs_on_narrow_rows_of_many_requests(
    bs: int, narrower: bool
) -> None:
    """From bs NARROW_VAR_BS, draft_extend_var on rows of fewer than VAR_CELLS cells aims for
    TARGET_VAR_NARROW page programs (more requests each); the fixed-width modes keep TARGET,
    and every request and column is still covered."""
    var = kernel.plan(bs, 2048, 1, bs, interpreted=False, var=True)
    fixed = kernel.plan(bs, 2048, 1, bs, interpreted=False, var=False)
    programs = [p["n_rb"] * p["n_chunk"] * p["n_split"] for p in (var, fixed)]
    assert (programs[0] < programs[1]) is narrower, programs
    assert programs[0] <= (kernel.TARGET_VAR_NARROW if narrower else kernel.TARGET)
    assert var["n_rb"] * var["BR"] >= bs
    assert var["n_chunk"] * var["chunk_w"] >= 2048

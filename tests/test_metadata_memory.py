"""Memory safety of the v2 Triton kernel: every address a launch loads from lies in an
input, every address it stores to lies in the contract's write region.

The interpreter does not trap an out-of-bounds access (a GPU does, as an illegal memory
access), so `checked_accesses` checks each active lane of each load and store. The cases are
the benchmark's quick configurations scaled down, the exact one that faulted on the H200
(draft_extend_var, bs 1, next_n 1, W 65536, page 64, T 0 or 1, buffers of bs * next_n
rows), under both the interpreter's block plan and the GPU's.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
import torch
from metadata_helpers import (
    Case,
    assert_metadata_in,
    checked_accesses,
    poisoned_metadata,
    pool_table,
    region_views,
    snapshot_all,
    tensors,
)

import nsa_meta
import reference
from nsa_meta.interpreter import interpreting

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not interpreting(), reason="checks addresses through the Triton interpreter (CPU runs)"
)


def run_checked(c: Case, *, rows_cap: int, plan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One unvalidated launch into poisoned buffers of rows_cap rows: addresses checked,
    then the region against the oracle and every other cell against its poison."""
    import nsa_meta.metadata_triton as kernel

    monkeypatch.setattr(kernel, "INTERPRETED", plan == "interpreter")
    args = tensors(c)
    want = c.expected()
    rows = len(want.seqlens_expanded)
    bs = len(c.seq_lens)
    out = poisoned_metadata(bs, rows_cap, c.width, c.page_size)
    before = snapshot_all(out)
    reads = [args[k] for k in ("seq_lens", "req_pool_indices", "req_to_token", "extend_seq_lens")]
    with checked_accesses(reads, region_views(out, bs, rows, c.width, c.page_size)) as counts:
        nsa_meta.metadata(
            c.mode,
            args["seq_lens"],
            args["req_pool_indices"],
            args["req_to_token"],
            extend_seq_lens=args["extend_seq_lens"],
            backend="triton",
            out=out,
            validate=False,
            **c.kwargs(),
        )
    assert counts["store"] > 0, "the launch stored nothing (cu_seqlens_k[0] at least)"
    assert_metadata_in(out, before, want, name=f"{plan}: {c.mode} bs {bs} W {c.width}")


def bench_case(mode: str, bs: int, next_n: int, width: int, seed: int, ext=None) -> Case:
    """The benchmark's inputs, scaled: seq lens in 128..8192, extends in 0..next_n, top-k
    2048, page 64, a few pool rows."""
    rng = random.Random(seed)
    pool = min(bs, 3)
    return Case(
        mode,
        [rng.randrange(128, 8193) for _ in range(bs)],
        [rng.randrange(pool) for _ in range(bs)],
        pool_table(pool, width, seed=seed),
        topk=2048,
        width=width,
        page_size=64,
        next_n=next_n,
        extend_seq_lens=(
            (ext or [rng.randrange(next_n + 1) for _ in range(bs)])
            if mode == "draft_extend_var"
            else None
        ),
    )


PLANS = ["interpreter", "gpu-plan"]


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("extends", [[0], [1]], ids=["T0", "T1"])
def test_the_h200_fault_config_stays_in_bounds(monkeypatch, plan: str, extends) -> None:
    """draft_extend_var bs 1, next_n 1, W 65536 (1024 pages of 64), one row of buffers."""
    c = bench_case("draft_extend_var", 1, 1, 65536, seed=0, ext=extends)
    run_checked(c, rows_cap=1, plan=plan, monkeypatch=monkeypatch)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(
    "mode",
    [m if m == "decode" else pytest.param(m, marks=pytest.mark.slow) for m in reference.MODES],
)
def test_quick_configs_stay_in_bounds(monkeypatch, plan: str, mode: str) -> None:
    """Every mode, next_n 1 and 4, bs 1, 5 and 33 at W 2048 and bs 1, 2 at W 65536, buffers
    of bs * next_n rows (rows past T in draft_extend_var), all-zero extends too."""
    for next_n in (1,) if mode == "decode" else (1, 4):
        for bs, width in ((1, 2048), (5, 2048), (33, 2048), (1, 65536), (2, 65536)):
            c = bench_case(mode, bs, next_n, width, seed=bs * 7 + next_n)
            run_checked(c, rows_cap=bs * next_n, plan=plan, monkeypatch=monkeypatch)
    if mode == "draft_extend_var":
        c = bench_case(mode, 5, 4, 2048, seed=1, ext=[0] * 5)
        run_checked(c, rows_cap=20, plan=plan, monkeypatch=monkeypatch)


@pytest.mark.parametrize("plan", PLANS)
def test_garbage_inputs_without_validation_stay_in_bounds(monkeypatch, plan: str) -> None:
    """validate=False with values the contract rejects (pool indices outside the pool,
    negative extends, more rows than the buffers hold): no access outside the buffers."""
    import nsa_meta.metadata_triton as kernel

    monkeypatch.setattr(kernel, "INTERPRETED", plan == "interpreter")
    seq = torch.tensor([5, -3, 9, 7], dtype=torch.int32)
    ext = torch.tensor([3, -2, 9, 1], dtype=torch.int64)
    pool_idx = torch.tensor([-4, 2, 99, 1], dtype=torch.int64)
    table = torch.arange(3 * 130, dtype=torch.int32).reshape(3, 130)
    out = poisoned_metadata(4, 6, 130, 64)
    views = [out.cache_seqlens, out.cu_seqlens_k, *list(out)[2:]]
    with checked_accesses([seq, ext, pool_idx, table], views):
        nsa_meta.metadata(
            "draft_extend_var",
            seq,
            pool_idx,
            table,
            extend_seq_lens=ext,
            topk=4,
            width=130,
            page_size=64,
            backend="triton",
            out=out,
            validate=False,
        )


def test_bench_gather_floor_launches_nothing_when_no_row() -> None:
    """The benchmark's gather floor at T == 0 (the H200's illegal memory access: a grid of
    max(T, 1) rows read pool_row[0] of an empty tensor) touches no memory."""
    spec = importlib.util.spec_from_file_location(
        "bench_metadata", ROOT / "benchmarks" / "bench_metadata.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gen = torch.Generator().manual_seed(0)
    while True:
        p = bench.Problem("draft_extend_var", 1, 1, 2048, 64, torch.device("cpu"), gen)
        if p.T == 0:
            break
    assert p.pool_row.numel() == 0
    with checked_accesses([p.pool_row, p.req_to_token], [p.out.page_table_1[:0]]) as counts:
        p.gather()()
    assert counts == {"load": 0, "store": 0}

"""nsa_meta.metadata on a GPU: each mode captured once in a CUDA graph, replayed 100 times
with new values in the captured inputs, every buffer checked in full after each replay.

A hidden host sync makes the capture fail; a size or value frozen at capture time, a stale
row from the previous replay or a write outside the region shows up as a wrong storage.
"""

from __future__ import annotations

import pytest
import torch
from helpers import whole_storage
from metadata_helpers import SENTINEL, assert_metadata_in, poisoned_metadata, snapshot_all

import nsa_meta
import reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

REPLAYS = 100
DEVICE = "cuda"
BS, NEXT_N, POOL, COLUMNS = 48, 4, 64, 200


def capture(fn) -> torch.cuda.CUDAGraph:
    """Warm up on a side stream (Triton compiles, the allocator settles), then capture once."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph


def new_values(gen: torch.Generator, replay: int) -> dict[str, torch.Tensor]:
    """Host tensors: seq lens 0..5000 with some padded requests (s < e), extends 0..N (all
    zero now and then), pool indices with repeats and both ends, a fresh token table."""
    seq = torch.randint(0, 5000, (BS,), generator=gen)
    seq = torch.where(torch.rand(BS, generator=gen) < 0.15, torch.randint(0, 3, (BS,)), seq)
    ext = torch.randint(0, NEXT_N + 1, (BS,), generator=gen)
    if replay % 25 == 0:
        ext.zero_()
    pool = torch.randint(0, POOL, (BS,), generator=gen)
    pool[0], pool[-1] = 0, POOL - 1
    table = torch.randint(0, 2**31 - 1, (POOL, COLUMNS), generator=gen, dtype=torch.int64)
    return {"seq": seq, "ext": ext, "pool": pool, "table": table.to(torch.int32)}


@pytest.mark.parametrize("page_size", [1, 64])
@pytest.mark.parametrize("backend", ["triton", "torch"])
@pytest.mark.parametrize("mode", reference.MODES)
def test_graph_replay_follows_new_inputs(mode: str, backend: str, page_size: int) -> None:
    seed = reference.MODES.index(mode) * 4 + (backend == "torch") * 2 + (page_size > 1)
    gen = torch.Generator().manual_seed(seed)
    width, topk = 150, 1000
    host = new_values(gen, 1)
    seq = host["seq"].to(DEVICE, torch.int32)
    ext = host["ext"].to(DEVICE)
    pool = host["pool"].to(DEVICE)
    # req_to_token: a transposed storage, sliced: column stride != 1.
    table = torch.full((COLUMNS + 3, POOL + 2), -1, dtype=torch.int32, device=DEVICE)
    req_to_token = table.t()[1 : POOL + 1, 2 : COLUMNS + 2]
    req_to_token.copy_(host["table"])
    out = poisoned_metadata(BS + 5, BS * NEXT_N + 7, width, page_size, device=DEVICE)
    var = mode == "draft_extend_var"

    def step() -> None:
        nsa_meta.metadata(
            mode,
            seq,
            pool,
            req_to_token,
            topk=topk,
            width=width,
            page_size=page_size,
            next_n=NEXT_N,
            extend_seq_lens=ext if var else None,
            backend=backend,
            out=out,
            validate=False,
        )

    graph = capture(step)
    for replay in range(REPLAYS):
        host = new_values(gen, replay)
        seq.copy_(host["seq"])
        ext.copy_(host["ext"])
        pool.copy_(host["pool"])
        req_to_token.copy_(host["table"])
        for buf in out:
            if buf is not None:
                whole_storage(buf).fill_(SENTINEL)
        before = snapshot_all(out)
        graph.replay()
        torch.cuda.synchronize()
        want = reference.metadata(
            mode,
            host["seq"].tolist(),
            host["pool"].tolist(),
            host["table"].tolist(),
            topk=topk,
            width=width,
            page_size=page_size,
            next_n=NEXT_N,
            extend_seq_lens=host["ext"].tolist() if var else None,
        )
        assert_metadata_in(
            out, before, want, name=f"{mode} {backend} P={page_size} replay {replay}"
        )


@pytest.mark.parametrize("mode", reference.MODES)
def test_eager_calls_take_the_fast_path_and_stay_exact(mode: str) -> None:
    """After the first call of a specialisation, eager calls skip the JIT (the fast path
    stays on and knows the variant); every call still writes the contract's values."""
    import nsa_meta.metadata_triton as kernel

    gen = torch.Generator().manual_seed(3)
    out = nsa_meta.allocate_metadata(BS, BS * NEXT_N, COLUMNS, 64, DEVICE)
    for call in range(6):
        v = new_values(gen, call + 1)
        args = (v["seq"].to(DEVICE), v["pool"].to(DEVICE), v["table"].to(DEVICE))
        ext = v["ext"].to(DEVICE) if mode == "draft_extend_var" else None
        for buf in out:
            if buf is not None:
                buf.fill_(SENTINEL)
        before = snapshot_all(out)
        nsa_meta.metadata(mode, *args, extend_seq_lens=ext, topk=2048, width=COLUMNS,
                          page_size=64, next_n=NEXT_N, backend="triton", out=out,
                          validate=False)  # fmt: skip
        want = reference.metadata(
            mode, v["seq"].tolist(), v["pool"].tolist(), v["table"].tolist(), topk=2048,
            width=COLUMNS, page_size=64, next_n=NEXT_N,
            extend_seq_lens=None if ext is None else v["ext"].tolist(),
        )  # fmt: skip
        assert_metadata_in(out, before, want, name=f"{mode} eager call {call}")
    assert kernel._fast.on and len(kernel._fast) >= 1, "the eager fast path turned itself off"

"""nsa_meta.expand on a GPU: captured once in a CUDA graph and replayed, and eager vs the oracle.

The replay path (out=..., validate=False) promises no host sync. A hidden sync makes the
capture fail; a size or value frozen at capture time shows up as a wrong replay.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import reference
from nsa_meta import expand, prepare

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

BACKENDS = ("triton", "torch")
TOPK = 2048
MAX_EXTEND = 4
SENTINEL = -12345
GUARD = 64  # slots past the buffer's capacity, in the same storage: nobody may write them
REPLAYS = 100
INT32_MAX = 2**31 - 1
DEVICE = "cuda"


def assert_expanded(
    out_e: torch.Tensor,
    out_c: torch.Tensor,
    extend_seq_lens: list[int],
    seq_lens: list[int],
    nsa_index_topk: int,
    where: str = "",
) -> None:
    """`out_e`/`out_c` hold the oracle's answer in [0, total) and SENTINEL after it."""
    want = reference.expand(extend_seq_lens, seq_lens, nsa_index_topk)
    total = len(want[0])
    for name, buf, expected in zip(
        ("seqlens_expanded", "nsa_cache_seqlens"), (out_e, out_c), want, strict=True
    ):
        got = buf[:total].tolist()
        if got != expected:
            i = next(j for j, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
            pytest.fail(
                f"{where}{name}[{i}] is {got[i]}, want {expected[i]} (total {total}; "
                f"got {got[i : i + 4]}..., want {expected[i : i + 4]}...)"
            )
        tail = buf[total:]
        written = (tail != SENTINEL).nonzero()
        if written.numel():
            j = total + int(written[0, 0])
            pytest.fail(f"{where}{name} slot {j} was written, but total is {total}")


def random_requests(
    gen: torch.Generator, bs: int, seq_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Host tensors: extends in 0..4 (zeros included); seq lens in 0..8192, ~10% padded-like
    (seq < extend, so expanded values go <= 0)."""
    ext = torch.randint(0, MAX_EXTEND + 1, (bs,), generator=gen, dtype=torch.int32)
    seq = torch.randint(0, 8193, (bs,), generator=gen, dtype=torch.int64)
    padded = torch.rand(bs, generator=gen) < 0.1
    seq = torch.where(padded, torch.randint(0, MAX_EXTEND, (bs,), generator=gen), seq)
    return ext, seq.to(seq_dtype)


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


@pytest.mark.parametrize("seq_dtype", [torch.int32, torch.int64], ids=["seq32", "seq64"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bs", [1, 32, 512, 4096])
def test_graph_replay_follows_new_inputs(bs: int, backend: str, seq_dtype: torch.dtype) -> None:
    """One capture, 100 replays on fresh values copied into the captured inputs."""
    gen = torch.Generator().manual_seed(bs)
    ext_host, seq_host = random_requests(gen, bs, seq_dtype)
    ext, seq = ext_host.to(DEVICE), seq_host.to(DEVICE)
    capacity = bs * MAX_EXTEND  # the largest possible total
    storage_e, storage_c = (
        torch.full((capacity + GUARD,), SENTINEL, dtype=torch.int32, device=DEVICE)
        for _ in range(2)
    )
    out = (storage_e[:capacity], storage_c[:capacity])
    graph = capture(lambda: expand(ext, seq, TOPK, backend=backend, out=out, validate=False))

    for r in range(REPLAYS):
        ext_host, seq_host = random_requests(gen, bs, seq_dtype)
        if r % 25 == 0:
            ext_host.zero_()  # total 0: the replay must write nothing
        ext.copy_(ext_host)
        seq.copy_(seq_host)
        storage_e.fill_(SENTINEL)
        storage_c.fill_(SENTINEL)
        graph.replay()
        torch.cuda.synchronize()
        where = f"{backend} bs={bs} replay {r}: "
        assert_expanded(storage_e, storage_c, ext_host.tolist(), seq_host.tolist(), TOPK, where)
        assert torch.equal(ext.cpu(), ext_host), f"{where}extend_seq_lens was modified"
        assert torch.equal(seq.cpu(), seq_host), f"{where}seq_lens was modified"


@pytest.mark.parametrize(
    "dtypes",
    [(torch.int32, torch.int32), (torch.int64, torch.int32), (torch.int32, torch.int64)],
    ids=["32/32", "64/32", "32/64"],
)
@pytest.mark.parametrize("bs", [1, 32, 512, 4096])
def test_prepared_plan_graph_replay_follows_new_inputs(bs: int, dtypes) -> None:
    """nsa_meta.prepare: one capture of plan(...) (max_bs above bs), 100 replays on new
    values, every fourth replay with all extends zero; the guard past capacity stays."""
    ext_dtype, seq_dtype = dtypes
    gen = torch.Generator().manual_seed(bs + 7)
    ext_host, seq_host = random_requests(gen, bs, seq_dtype)
    ext, seq = ext_host.to(ext_dtype).to(DEVICE), seq_host.to(DEVICE)
    capacity = bs * MAX_EXTEND
    storage_e, storage_c = (
        torch.full((capacity + GUARD,), SENTINEL, dtype=torch.int32, device=DEVICE)
        for _ in range(2)
    )
    plan = prepare((storage_e[:capacity], storage_c[:capacity]), max(bs, 4096) + 3,
                   extend_dtype=ext_dtype, seq_dtype=seq_dtype)  # fmt: skip
    graph = capture(lambda: plan(ext, seq, TOPK))

    for r in range(REPLAYS):
        ext_host, seq_host = random_requests(gen, bs, seq_dtype)
        if r % 25 == 0:
            ext_host.zero_()
        ext.copy_(ext_host)
        seq.copy_(seq_host)
        storage_e.fill_(SENTINEL)
        storage_c.fill_(SENTINEL)
        graph.replay()
        torch.cuda.synchronize()
        where = f"prepared bs={bs} replay {r}: "
        assert_expanded(storage_e, storage_c, ext_host.tolist(), seq_host.tolist(), TOPK, where)
        assert torch.equal(seq.cpu(), seq_host), f"{where}seq_lens was modified"


def test_prepared_plan_graph_with_strided_inputs() -> None:
    """Two captures from one plan, one on step-3 offset views and one on a stride-0 view:
    the strides are runtime arguments, read at each capture, not frozen at prepare."""
    bs, capacity = 300, 300 * MAX_EXTEND
    gen = torch.Generator().manual_seed(11)
    storage_e, storage_c = (
        torch.full((capacity + GUARD,), SENTINEL, dtype=torch.int32, device=DEVICE)
        for _ in range(2)
    )
    plan = prepare((storage_e[:capacity], storage_c[:capacity]), bs, seq_dtype=torch.int64)
    base_e = torch.full((3 * bs + 2,), -1, dtype=torch.int32, device=DEVICE)
    base_s = torch.full((3 * bs + 2,), -1, dtype=torch.int64, device=DEVICE)
    ext, seq = base_e[2::3], base_s[1::3][:bs]
    one = torch.zeros(1, dtype=torch.int64, device=DEVICE)
    strided = capture(lambda: plan(ext, seq, TOPK))
    broadcast = capture(lambda: plan(ext, one.expand(bs), 5))
    for r in range(20):
        ext_host, seq_host = random_requests(gen, bs, torch.int64)
        ext.copy_(ext_host)
        seq.copy_(seq_host)
        one.fill_(int(seq_host[0]))
        for graph, seqs, topk in ((strided, seq_host, TOPK), (broadcast, seq_host[:1], 5)):
            storage_e.fill_(SENTINEL)
            storage_c.fill_(SENTINEL)
            graph.replay()
            torch.cuda.synchronize()
            seq_list = seqs.tolist() * (bs if seqs.numel() == 1 else 1)
            where = f"strided plan replay {r} topk {topk}: "
            assert_expanded(storage_e, storage_c, ext_host.tolist(), seq_list, topk, where)


LAYOUTS = ("contiguous", "step", "offset", "broadcast")


def on_gpu(values: torch.Tensor, layout: str) -> torch.Tensor:
    """`values` on the GPU as a contiguous tensor, a step-3 slice, a view with a storage
    offset, or (first value only) an `expand`ed stride-0 view; gaps hold -1 so a kernel that
    ignores strides reads garbage."""
    n = values.numel()
    if layout == "contiguous":
        return values.to(DEVICE)
    if layout == "broadcast":
        return values[:1].to(DEVICE).expand(n)
    step, offset = (3, 1) if layout == "step" else (1, 5)
    base = torch.full((offset + step * n,), -1, dtype=values.dtype, device=DEVICE)
    view = base[offset::step]
    view.copy_(values)
    return view


def random_case(gen: torch.Generator, trial: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Host tensors of random dtypes; bs 0 first, long extends and huge seq lens sometimes."""
    bs = 0 if trial == 0 else int(torch.randint(1, 700, (), generator=gen))
    longest = MAX_EXTEND if trial % 2 else 40  # > the kernel's token block: several passes
    top = 8192 if trial % 3 else INT32_MAX
    dtypes = (torch.int32, torch.int64)
    ext = torch.randint(0, longest + 1, (bs,), generator=gen, dtype=torch.int64)
    seq = torch.randint(0, top, (bs,), generator=gen, dtype=torch.int64)
    topk = (0, 1, 7, TOPK, INT32_MAX)[trial % 5]
    return ext.to(dtypes[trial % 2]), seq.to(dtypes[(trial // 2) % 2]), topk


@pytest.mark.parametrize(("ext_layout", "seq_layout"), list(itertools.product(LAYOUTS, LAYOUTS)))
@pytest.mark.parametrize("backend", BACKENDS)
def test_eager_matches_reference(backend: str, ext_layout: str, seq_layout: str) -> None:
    """Both call modes: allocated outputs (validated) and caller buffers (validate=False)."""
    gen = torch.Generator().manual_seed(LAYOUTS.index(ext_layout) * 8 + LAYOUTS.index(seq_layout))
    for trial in range(10):
        ext_host, seq_host, topk = random_case(gen, trial)
        ext, seq = on_gpu(ext_host, ext_layout), on_gpu(seq_host, seq_layout)
        ext_list, seq_list = ext.tolist(), seq.tolist()
        where = f"{backend} {ext_layout}/{seq_layout} trial {trial}: "

        got_e, got_c = expand(ext, seq, topk, backend=backend)
        for t in (got_e, got_c):
            assert t.dtype == torch.int32 and t.device == ext.device, (
                f"{where}{t.dtype} on {t.device}"
            )
        assert got_e.numel() == sum(ext_list), f"{where}length {got_e.numel()}"
        assert_expanded(got_e, got_c, ext_list, seq_list, topk, where)

        capacity = sum(ext_list) + 7
        storage_e, storage_c = (
            torch.full((capacity + GUARD,), SENTINEL, dtype=torch.int32, device=DEVICE)
            for _ in range(2)
        )
        out = (storage_e[:capacity], storage_c[:capacity])
        expand(ext, seq, topk, backend=backend, out=out, validate=False)
        assert_expanded(storage_e, storage_c, ext_list, seq_list, topk, where + "out=: ")
        assert ext.tolist() == ext_list and seq.tolist() == seq_list, f"{where}inputs modified"


def test_prepared_plan_calls_the_compiled_launcher_eagerly() -> None:
    """On the Triton versions whose launcher layout was read (3.5, 3.6) a plan calls the
    compiled C launcher itself, with integer addresses; elsewhere its Python wrapper.
    Eager calls on new values, strides and bs then match the oracle, guard untouched."""
    import triton

    bs_max, capacity = 700, 700 * MAX_EXTEND
    storage_e, storage_c = (
        torch.full((capacity + GUARD,), SENTINEL, dtype=torch.int32, device=DEVICE)
        for _ in range(2)
    )
    plan = prepare((storage_e[:capacity], storage_c[:capacity]), bs_max, seq_dtype=torch.int64)
    raw_known = triton.__version__.startswith(("3.5.", "3.6."))
    assert plan.path == ("launcher" if raw_known else "wrapper"), repr(plan)
    gen = torch.Generator().manual_seed(5)
    for trial in range(24):
        bs = int(torch.randint(1, bs_max + 1, (), generator=gen))
        ext_host, seq_host = random_requests(gen, bs, torch.int64)
        ext = on_gpu(ext_host, LAYOUTS[trial % len(LAYOUTS)])
        seq = on_gpu(seq_host, LAYOUTS[(trial // 2) % len(LAYOUTS)])
        topk = (TOPK, 0, 1, INT32_MAX)[trial % 4]
        storage_e.fill_(SENTINEL)
        storage_c.fill_(SENTINEL)
        got = plan(ext, seq, topk)
        assert got[0] is plan.out[0] and got[1] is plan.out[1]
        torch.cuda.synchronize()
        ext_list = ext.cpu().tolist()
        seq_list = seq.cpu().tolist()
        where = f"eager plan trial {trial} bs={bs}: "
        assert_expanded(storage_e, storage_c, ext_list, seq_list, topk, where)


def test_eager_expand_takes_the_fast_path() -> None:
    """After the first call of a specialisation, eager expand calls skip the JIT."""
    from nsa_meta import triton_kernel

    gen = torch.Generator().manual_seed(9)
    for trial in range(5):
        ext_host, seq_host = random_requests(gen, 40, torch.int32)
        out = tuple(
            torch.full((200,), SENTINEL, dtype=torch.int32, device=DEVICE) for _ in range(2)
        )
        expand(ext_host.to(DEVICE), seq_host.to(DEVICE), TOPK, backend="triton", out=out,
               validate=False)  # fmt: skip
        torch.cuda.synchronize()
        assert_expanded(*out, ext_host.tolist(), seq_host.tolist(), TOPK, f"trial {trial}: ")
    assert triton_kernel._fast.on and len(triton_kernel._fast) >= 1

"""nsa_meta.prepare: the plan writes what expand(..., out=, validate=False) writes, for any
strides a call brings, and a bad call raises before writing, naming the argument.

On CPU these run the Triton interpreter; the CUDA-graph tests are in test_gpu_graph_replay.
"""

from __future__ import annotations

import random

import pytest
import torch

import nsa_meta
import reference
from tests.helpers import DEVICE, SENTINEL, strided_tensor

I32, I64 = torch.int32, torch.int64
INT32_MAX = 2**31 - 1
GUARD = 16  # slots past the buffers' capacity in the same storage: nobody may write them


def buffers(capacity: int) -> tuple[tuple[torch.Tensor, torch.Tensor], list[torch.Tensor]]:
    """Two sentinel-filled out buffers of `capacity`, and the storages they sit in."""
    storages = [
        torch.full((capacity + GUARD,), SENTINEL, dtype=I32, device=DEVICE) for _ in range(2)
    ]
    return (storages[0][:capacity], storages[1][:capacity]), storages


def assert_plan_matches_expand(plan, ext, seq, topk, storages, where: str) -> None:
    """The plan's whole storages equal expand's (validate=False) on fresh buffers, and
    [0, total) holds the oracle's answer."""
    for s in storages:
        s.fill_(SENTINEL)
    got = plan(ext, seq, topk)
    assert got[0] is plan.out[0] and got[1] is plan.out[1], f"{where}: not the prepared buffers"
    (out_e, out_c), theirs = buffers(plan.capacity)
    nsa_meta.expand(ext, seq, topk, backend="triton", out=(out_e, out_c), validate=False)
    for mine, other, name in zip(storages, theirs, ("seqlens_expanded", "nsa_cache_seqlens")):
        assert torch.equal(mine, other), f"{where}: {name} differs from expand's"
    want = reference.expand(ext.tolist(), seq.tolist(), topk)
    total = len(want[0])
    for s, w, name in zip(storages, want, ("seqlens_expanded", "nsa_cache_seqlens")):
        assert s[:total].tolist() == w, f"{where}: {name} differs from the oracle"
        assert (s[total:] == SENTINEL).all(), f"{where}: {name} written past total={total}"


LAYOUTS = [(1, 0), (3, 2), (0, 1), (2, 5)]  # (step, offset); step 0 is an expanded view


@pytest.mark.parametrize("seq_dtype", [I32, I64], ids=["seq32", "seq64"])
@pytest.mark.parametrize("extend_dtype", [I32, I64], ids=["ext32", "ext64"])
def test_plan_equals_expand_on_random_calls(extend_dtype, seq_dtype) -> None:
    """One plan, many calls: bs 0..max_bs, zero extends, each call its own strides."""
    max_bs, capacity = 24, 24 * 6
    out, storages = buffers(capacity)
    plan = nsa_meta.prepare(out, max_bs, extend_dtype=extend_dtype, seq_dtype=seq_dtype)
    rng = random.Random(f"{extend_dtype}{seq_dtype}")
    for trial in range(12):
        bs = (0, max_bs, 1)[trial] if trial < 3 else rng.randint(0, max_bs)
        (e_step, e_off), (s_step, s_off) = rng.choice(LAYOUTS), rng.choice(LAYOUTS)
        same = rng.randint(0, 6)
        ext = [same] * bs if e_step == 0 else [rng.choice([0, 0, 1, 2, 6]) for _ in range(bs)]
        seq_top = rng.choice([10, 8192, INT32_MAX])
        seq = (
            [rng.randint(0, seq_top)] * bs
            if s_step == 0
            else [rng.randint(0, seq_top) for _ in range(bs)]
        )
        topk = rng.choice([0, 1, 5, 2048, INT32_MAX])
        ext_t = strided_tensor(ext, extend_dtype, step=e_step, offset=e_off)
        seq_t = strided_tensor(seq, seq_dtype, step=s_step, offset=s_off)
        where = f"trial {trial} bs={bs} ext step {e_step} seq step {s_step} topk {topk}"
        assert_plan_matches_expand(plan, ext_t, seq_t, topk, storages, where)


def test_all_zero_extends_write_nothing() -> None:
    out, storages = buffers(8)
    plan = nsa_meta.prepare(out, 4)
    plan(torch.zeros(4, dtype=I32, device=DEVICE), torch.arange(4, dtype=I32, device=DEVICE), 3)
    assert all((s == SENTINEL).all() for s in storages)


def test_short_buffers_are_filled_as_far_as_they_go() -> None:
    """Capacity below total (values unchecked, as validate=False): the shorter buffer's
    length bounds both, and nothing past it is written."""
    storages = [torch.full((20,), SENTINEL, dtype=I32, device=DEVICE) for _ in range(2)]
    out = (storages[0][:5], storages[1][:7])
    plan = nsa_meta.prepare(out, 4)
    assert plan.capacity == 5
    ext = torch.tensor([3, 3], dtype=I32, device=DEVICE)
    seq = torch.tensor([10, 20], dtype=I32, device=DEVICE)
    plan(ext, seq, 18)
    assert storages[0][:5].tolist() == [8, 9, 10, 18, 19]
    assert storages[1][:5].tolist() == [8, 9, 10, 18, 18]
    assert all((s[5:] == SENTINEL).all() for s in storages)


def test_strided_out_buffers() -> None:
    base = [torch.full((30,), SENTINEL, dtype=I32, device=DEVICE) for _ in range(2)]
    out = (base[0][1::3], base[1][::2])
    plan = nsa_meta.prepare(out, 3)
    plan(
        torch.tensor([2, 0, 1], dtype=I32, device=DEVICE),
        torch.tensor([5, 9, 1], dtype=I32, device=DEVICE),
        4,
    )
    assert out[0][:3].tolist() == [4, 5, 1] and out[1][:3].tolist() == [4, 4, 1]
    assert (out[0][3:] == SENTINEL).all() and (base[0][0::3] == SENTINEL).all()
    assert (base[1][1::2] == SENTINEL).all()


@pytest.mark.parametrize("bs", [1, 7, 8, 9, 37])
def test_many_programs(monkeypatch: pytest.MonkeyPatch, bs: int) -> None:
    """Tiny blocks force the GPU's multi-program path (each program sums earlier extends)."""
    tiny = {"BLOCK_REQ": 4, "SUM_BLOCK": 8, "BLOCK_TOK": 2}
    monkeypatch.setattr("nsa_meta.triton_kernel._blocks", lambda bs: tiny)
    out, storages = buffers(bs * 5)
    plan = nsa_meta.prepare(out, 40, extend_dtype=I32, seq_dtype=I64)
    rng = random.Random(bs)
    ext = strided_tensor([rng.randint(0, 5) for _ in range(bs)], I32, step=2, offset=1)
    seq = strided_tensor([rng.randint(0, 99) for _ in range(bs)], I64, step=3, offset=2)
    assert_plan_matches_expand(plan, ext, seq, 9, storages, f"tiny blocks bs={bs}")


def good_call() -> dict:
    return {
        "extend_seq_lens": torch.tensor([1, 2], dtype=I32, device=DEVICE),
        "seq_lens": torch.tensor([5, 6], dtype=I32, device=DEVICE),
        "nsa_index_topk": 4,
    }


BAD_CALLS = {
    "ext not a tensor": ("extend_seq_lens", [1, 2], TypeError, "extend_seq_lens must be"),
    "seq not a tensor": ("seq_lens", (5, 6), TypeError, "seq_lens must be"),
    "ext int64, prepared int32": (
        "extend_seq_lens",
        torch.tensor([1, 2], dtype=I64, device=DEVICE),
        TypeError,
        "extend_seq_lens has dtype torch.int64; this plan was prepared for torch.int32",
    ),
    "seq float": (
        "seq_lens",
        torch.tensor([5.0, 6.0], device=DEVICE),
        TypeError,
        "seq_lens has dtype torch.float32",
    ),
    "ext on another device": (
        "extend_seq_lens",
        torch.empty(2, dtype=I32, device="meta"),
        ValueError,
        "extend_seq_lens is on meta",
    ),
    "seq on another device": (
        "seq_lens",
        torch.empty(2, dtype=I32, device="meta"),
        ValueError,
        "seq_lens is on meta",
    ),
    "ext 2-D": (
        "extend_seq_lens",
        torch.ones(2, 1, dtype=I32, device=DEVICE),
        ValueError,
        "extend_seq_lens must be 1-D",
    ),
    "seq 0-D": ("seq_lens", torch.tensor(5, dtype=I32, device=DEVICE), ValueError, "seq_lens"),
    "lengths differ": (
        "seq_lens",
        torch.tensor([5, 6, 7], dtype=I32, device=DEVICE),
        ValueError,
        "seq_lens has length 3",
    ),
    "too long": (
        "both",
        torch.ones(5, dtype=I32, device=DEVICE),
        ValueError,
        "extend_seq_lens has length 5; this plan was prepared for max_bs 4",
    ),
    "topk bool": ("nsa_index_topk", True, TypeError, "nsa_index_topk must be an int, got bool"),
    "topk float": ("nsa_index_topk", 4.0, TypeError, "nsa_index_topk must be an int"),
    "topk tensor": ("nsa_index_topk", torch.tensor(4), TypeError, "nsa_index_topk must be an int"),
    "topk negative": ("nsa_index_topk", -1, ValueError, "nsa_index_topk is -1"),
    "topk too large": ("nsa_index_topk", 2**31, ValueError, "nsa_index_topk is 2147483648"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_call_raises_naming_the_argument_and_writes_nothing(case: str) -> None:
    name, value, exc, message = BAD_CALLS[case]
    out, storages = buffers(16)
    plan = nsa_meta.prepare(out, 4)
    kwargs = good_call()
    if name == "both":
        kwargs["extend_seq_lens"] = kwargs["seq_lens"] = value
    else:
        kwargs[name] = value
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(**kwargs)
    assert all((s == SENTINEL).all() for s in storages), f"{case}: wrote before raising"
    plan(**good_call())  # the plan still works after a refused call
    assert storages[0][:3].tolist() == [5, 5, 6]


def test_int_subclass_topk_is_accepted() -> None:
    class Topk(int):
        pass

    out, storages = buffers(4)
    nsa_meta.prepare(out, 2)(**{**good_call(), "nsa_index_topk": Topk(5)})
    assert storages[1][:3].tolist() == [5, 5, 5]


def pair(n: int = 8, dtype: torch.dtype = I32) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(n, dtype=dtype, device=DEVICE), torch.zeros(n, dtype=I32, device=DEVICE)


SHARED = torch.zeros(10, dtype=I32, device=DEVICE)
BAD_PREPARES = {
    "out not a pair": ({"out": torch.zeros(8, dtype=I32)}, TypeError, "out must be a pair"),
    "out of three": ({"out": (*pair(), pair()[0])}, TypeError, "out must be a pair"),
    "out not tensors": ({"out": ([0] * 8, [0] * 8)}, TypeError, "out_seqlens_expanded must be"),
    "out int64": ({"out": pair(dtype=I64)}, TypeError, "out_seqlens_expanded has dtype"),
    "out 2-D": (
        {"out": (torch.zeros(2, 4, dtype=I32), pair()[1])},
        ValueError,
        "out_seqlens_expanded must be 1-D",
    ),
    "out on two devices": (
        {"out": (pair()[0], torch.zeros(8, dtype=I32, device="meta"))},
        ValueError,
        "on meta",
    ),
    "out overlapping": ({"out": (SHARED[:6], SHARED[4:])}, ValueError, "share memory"),
    "out stride 0": (
        {"out": (SHARED[:1].expand(4), pair()[1])},
        ValueError,
        "out_seqlens_expanded has stride 0",
    ),
    "max_bs bool": ({"max_bs": True}, TypeError, "max_bs must be an int"),
    "max_bs float": ({"max_bs": 4.0}, TypeError, "max_bs must be an int"),
    "max_bs negative": ({"max_bs": -1}, ValueError, "max_bs is -1"),
    "extend_dtype float": ({"extend_dtype": torch.float32}, TypeError, "extend_dtype is"),
    "seq_dtype int16": ({"seq_dtype": torch.int16}, TypeError, "seq_dtype is"),
    "seq_dtype not a dtype": ({"seq_dtype": "int32"}, TypeError, "seq_dtype is"),
}


@pytest.mark.parametrize("case", list(BAD_PREPARES))
def test_bad_prepare_raises(case: str) -> None:
    change, exc, message = BAD_PREPARES[case]
    kwargs = {"out": pair(), "max_bs": 4, **change}
    with pytest.raises(exc, match=message):
        nsa_meta.prepare(**kwargs)


def test_disjoint_views_of_one_storage_are_fine() -> None:
    storage = torch.full((10,), SENTINEL, dtype=I32, device=DEVICE)
    plan = nsa_meta.prepare((storage[:5], storage[5:]), 2)
    plan(**good_call())
    assert storage.tolist() == [5, 5, 6, SENTINEL, SENTINEL, 4, 4, 4, SENTINEL, SENTINEL]
    interleaved = nsa_meta.prepare((storage[0::2], storage[1::2]), 2)  # spans intersect
    assert interleaved.capacity == 5


def brute_overlap(a0: int, sa: int, na: int, b0: int, sb: int, nb: int) -> bool:
    return bool({a0 + i * sa for i in range(na)} & {b0 + j * sb for j in range(nb)})


def test_overlap_check_is_exact() -> None:
    """prepare refuses out buffers exactly when they share an element (brute force)."""
    rng = random.Random(5)
    storage = torch.zeros(200, dtype=I32, device=DEVICE)
    refused = 0
    for _ in range(300):
        a0, b0 = rng.randint(0, 30), rng.randint(0, 30)
        sa, sb = rng.randint(1, 7), rng.randint(1, 7)
        na, nb = rng.randint(1, 12), rng.randint(1, 12)
        a = storage[a0 : a0 + (na - 1) * sa + 1 : sa]
        b = storage[b0 : b0 + (nb - 1) * sb + 1 : sb]
        shares = brute_overlap(a0, sa, na, b0, sb, nb)
        if shares:
            refused += 1
            with pytest.raises(ValueError, match="share memory"):
                nsa_meta.prepare((a, b), 2)
        else:
            nsa_meta.prepare((a, b), 2)
    assert 30 < refused < 270  # both outcomes were exercised


def test_a_plan_says_how_it_launches() -> None:
    """Under the interpreter there is no compiled launcher (the JIT runs it); on CUDA the
    plan calls the compiled launcher or its wrapper (test_gpu_graph_replay says which)."""
    (out_e, out_c), _ = buffers(8)
    path = nsa_meta.prepare((out_e, out_c), 2).path
    if torch.device(DEVICE).type == "cpu":
        assert path == "jit"
    else:
        assert path in ("launcher", "wrapper")

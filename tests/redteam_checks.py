"""What the red-team tests of contract v2 share: poisoned out buffers, a small req_to_token,
and the check that a candidate wrote exactly the oracle's region (reference.metadata)."""

from __future__ import annotations

import random

import torch

import reference
from nsa_meta import Metadata

I32 = torch.int32
INT32_MAX = 2**31 - 1
POISON = -777


def t(values, dtype=I32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def poisoned(bs_cap=4, rows_cap=8, cols=4, page_size=1, **over) -> Metadata:
    """Poisoned int32 buffers; `over` replaces fields with given (layout-special) tensors."""

    def full(*shape):
        return torch.full(shape, POISON, dtype=I32)

    out = Metadata(
        cache_seqlens=full(bs_cap),
        cu_seqlens_k=full(bs_cap + 1),
        seqlens_expanded=full(rows_cap),
        dsa_cache_seqlens=full(rows_cap),
        dsa_cu_seqlens_k=full(rows_cap + 1),
        page_table_1=full(rows_cap, cols),
        real_page_table=full(rows_cap, -(-cols // page_size)) if page_size > 1 else None,
    )
    for tensor in over.values():
        tensor.fill_(POISON)
    return out._replace(**over)


def exact(bs, T, width, page_size=1) -> Metadata:
    """Buffers of exactly the contract's sizes (no spare row or column)."""
    return poisoned(bs, T, width, page_size)


def decode_batch(fn, bs: int) -> bool:
    """A decode call of `bs` requests (s = 1, pool slots 0, 1, 2, ...) into exact buffers."""
    r = t([i % 3 for i in range(bs)])
    return v2_ok(fn, "decode", t([1] * bs), r, out=exact(bs, bs, 2))


def strided(values: list[int], dtype, rng: random.Random) -> torch.Tensor:
    """`values` as int32/int64, contiguous or a step-2 view with an offset."""
    if values and rng.random() < 0.5:
        base = torch.full((2 * len(values) + 1,), 9, dtype=dtype)
        base[1::2] = torch.tensor(values, dtype=dtype)
        return base[1::2]
    return torch.tensor(values, dtype=dtype)


def wrong_only_on_trigger(module, scenario, name: str) -> None:
    """`module.bug_NAME` right on every call of `scenario` but its last (the trigger), and
    `module.correct` right on all of them; `module.reset()` before each."""
    module.reset()
    got = scenario(getattr(module, f"bug_{name}"))
    assert got == [True] * (len(got) - 1) + [False], f"bug_{name}: {got}"
    module.reset()
    assert scenario(module.correct) == [True] * len(got), f"correct on bug_{name}'s scenario"


def pool(n=3, cols=4, base=0) -> torch.Tensor:
    """req_to_token [n, cols]: row i holds base + 10 * i + c (distinct, >= 0)."""
    return base + 10 * torch.arange(n, dtype=I32)[:, None] + torch.arange(cols, dtype=I32)


def v2_ok(fn, mode, s, r, r2t=None, *, topk=INT32_MAX, width=2, page_size=1, next_n=1,
          ext=None, out=None, fits=False) -> bool:  # fmt: skip
    """Whether `fn` writes exactly the oracle's region of `out` (the rest unchanged) and
    keeps its inputs; `fits`: first assert the buffers hold every request."""
    r2t = pool() if r2t is None else r2t
    out = out if out is not None else poisoned(page_size=page_size)
    inputs = [x for x in (s, r, r2t, ext) if x is not None]
    kept = [x.clone() for x in inputs]
    ref = reference.metadata(
        mode, s.tolist(), r.tolist(), r2t.tolist(), topk=topk, width=width,
        page_size=page_size, next_n=next_n, extend_seq_lens=None if ext is None else ext.tolist(),
    )  # fmt: skip
    want = [None if b is None else b.clone() for b in out]
    bs, T = len(ref.cache_seqlens), len(ref.seqlens_expanded)
    for buf, value in zip(want, ref, strict=True):
        if buf is None or value is None:
            continue
        v = torch.tensor(value, dtype=I32)
        if buf.dim() == 2:
            if T:
                buf[:T, : v.shape[1]] = v
        else:
            buf[: v.numel()] = v
    if fits:
        assert bs <= out.cache_seqlens.numel()
    try:
        fn(
            mode=mode, seq_lens=s, extend_seq_lens=ext, req_pool_indices=r, req_to_token=r2t,
            topk=topk, next_n=next_n, page_size=page_size, width=width, out=out,
        )  # fmt: skip
    except Exception:  # a raise on a valid input is a failure too
        return False
    same = all(
        (w is None and g is None) or torch.equal(w, g) for w, g in zip(want, out, strict=True)
    )
    return same and all(torch.equal(a, b) for a, b in zip(kept, inputs, strict=True))

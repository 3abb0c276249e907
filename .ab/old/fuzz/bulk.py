"""Bulk screening: thousands of cases drawn by numpy, checked in a few launches.

Hypothesis draws each case in Python (about 0.2 ms) and the harness calls every
implementation per case; the Triton kernel alone can check far more. Here a seeded numpy
generator draws a whole batch of cases with the same families (zero, MTP, long and padded
requests, near-int32-max seqs, top-k around the data, strided / offset / stride-0 inputs,
one dtype pair per batch), packs them into the kernel's batched entry (`expand_packed`:
the kernel body of the public entry, each case with its own strides, offset and top-k),
and compares with a vectorised oracle. A mismatch is not trusted to that oracle: the
case is rebuilt as a `Case`, confirmed against the pure-Python reference through the
public entry, and only then reported (and shrunk, and saved) like any other finding.
Given an envelope, every drawn case lies inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fuzz.case import Case, Layout
from fuzz.contract import INT32_MAX, SPECIAL_BS, TOPK_FIXED
from fuzz.envelope import Envelope

DTYPES = ("int32", "int64")


@dataclass
class Batch:
    """Many cases, flattened: per-request arrays plus per-case bounds and layouts."""

    ext: np.ndarray  # int64, one entry per request of every case, case after case
    seq: np.ndarray
    bs: np.ndarray  # per case
    topk: np.ndarray  # per case
    stride_e: np.ndarray  # per case; 0 is an expand()ed view
    offset_e: np.ndarray
    stride_s: np.ndarray
    offset_s: np.ndarray
    dtypes: tuple[str, str]

    def subset(self, keep: np.ndarray) -> Batch:
        """The cases where `keep` is true, in order."""
        per_request = np.repeat(keep, self.bs)
        return Batch(
            self.ext[per_request],
            self.seq[per_request],
            self.bs[keep],
            self.topk[keep],
            self.stride_e[keep],
            self.offset_e[keep],
            self.stride_s[keep],
            self.offset_s[keep],
            self.dtypes,
        )

    def longest_per_case(self) -> np.ndarray:
        out = np.zeros(self.bs.size, dtype=np.int64)
        case_of = np.repeat(np.arange(self.bs.size), self.bs)
        np.maximum.at(out, case_of, self.ext)
        return out

    def case(self, i: int) -> Case:
        lo = int(self.bs[:i].sum())
        hi = lo + int(self.bs[i])
        return Case(
            extend_seq_lens=tuple(int(v) for v in self.ext[lo:hi]),
            seq_lens=tuple(int(v) for v in self.seq[lo:hi]),
            nsa_index_topk=int(self.topk[i]),
            extend_layout=Layout(self.dtypes[0], int(self.stride_e[i]), int(self.offset_e[i])),
            seq_layout=Layout(self.dtypes[1], int(self.stride_s[i]), int(self.offset_s[i])),
        )


def draw(rng: np.random.Generator, n: int, envelope: Envelope | None = None) -> Batch:
    """n cases; the family shares follow fuzz/strategies.py, large batches a little rarer.
    Inside `envelope` when one is given (the same draws as without when it allows all)."""
    env = envelope if envelope is not None and envelope.restricts else None
    kind = rng.random(n)
    bs = np.where(kind < 0.05, 0, rng.integers(1, 9, n))
    bs = np.where((kind >= 0.80) & (kind < 0.90), rng.choice(SPECIAL_BS, n), bs)
    bs = np.where((kind >= 0.90) & (kind < 0.995), rng.integers(9, 301, n), bs)
    bs = np.where(kind >= 0.995, rng.integers(1000, 5001, n), bs)
    if env is not None:
        bs = _allowed_bs(rng, bs, env)
    m = int(bs.sum())
    case_of = np.repeat(np.arange(n), bs)

    # Extends: 1..4 (MTP) and zeros in every case; 5..64 allowed in 25% of cases and
    # long ones (65..1100) in 5%, so that long tiles stay in launches of their own.
    r = rng.random(m)
    reach = rng.random(n)[case_of]
    ext = np.where(r < 0.25, 0, rng.integers(1, 5, m))
    ext = np.where((r >= 0.85) & (reach < 0.30), rng.integers(5, 65, m), ext)
    ext = np.where((r >= 0.95) & (reach < 0.05), rng.integers(65, 1101, m), ext)
    ext = np.where((rng.random(n) < 0.1)[case_of], 0, ext)  # all-zero cases
    # Seqs: 50% ext + 0..8192, 10% == ext, 20% padded (< ext), 10% near 2**31-1, 10% tiny.
    r = rng.random(m)
    seq = ext + rng.integers(0, 8193, m)
    seq = np.where((r >= 0.5) & (r < 0.6), ext, seq)
    padded = (r >= 0.6) & (r < 0.8)
    seq = np.where(padded, rng.integers(0, 2**40, m) % np.maximum(ext, 1), seq)
    seq = np.where((r >= 0.8) & (r < 0.9), INT32_MAX - rng.integers(0, 65, m), seq)
    seq = np.where(r >= 0.9, rng.integers(0, 9, m), seq)

    # Layouts: 70% contiguous, 10% stride 0 (values made equal), 10% a step, 10% an offset.
    layouts = []
    starts = np.concatenate([[0], np.cumsum(bs)[:-1]])
    for values in (ext, seq):
        r = rng.random(n)
        stride = np.where(r < 0.8, 1, rng.integers(2, 5, n))
        stride = np.where(r < 0.1, 0, stride)
        stride = np.where(r >= 0.9, 1, stride)
        if env is not None and env.contiguous:
            stride = np.ones(n, dtype=np.int64)
        offset = np.where(r < 0.7, 0, rng.integers(1, 6, n))
        same = (stride == 0)[case_of]
        values[same] = values[starts[case_of[same]]]  # a stride-0 view holds one value
        layouts += [stride, offset]

    # Top-k: 40% a value of the case -1/0/+1, 10% above all, 10% below all (0), 20% fixed
    # points, 10% a multiple of 16, 10% anywhere.
    r = rng.random(n)
    pick = starts + (rng.integers(0, 2**31, n) % np.maximum(bs, 1))
    some = np.where(bs > 0, seq[np.minimum(pick, max(m - 1, 0))] if m else 0, 2048)
    topk = some + rng.integers(-1, 2, n)
    topk = np.where((r >= 0.4) & (r < 0.5), INT32_MAX, topk)
    topk = np.where((r >= 0.5) & (r < 0.6), 0, topk)
    topk = np.where((r >= 0.6) & (r < 0.8), rng.choice(TOPK_FIXED, n), topk)
    topk = np.where((r >= 0.8) & (r < 0.9), 16 * rng.integers(0, 4097, n), topk)
    topk = np.where(r >= 0.9, rng.integers(0, INT32_MAX + 1, n), topk)
    topk = np.clip(topk, 0, INT32_MAX)
    if env is not None and env.topk is not None:
        topk = rng.choice(np.array(env.topk, dtype=np.int64), n)
    if env is not None and env.dtypes is not None:
        dtypes = tuple(str(d) for d in rng.choice(env.dtypes, 2))
    else:
        dtypes = (DTYPES[rng.integers(0, 2)], DTYPES[rng.integers(0, 2)])
    return Batch(ext, seq, bs, topk, *layouts, dtypes)


def _allowed_bs(rng: np.random.Generator, bs: np.ndarray, env: Envelope) -> np.ndarray:
    """Batch sizes moved inside the envelope: drawn from its list, or capped at max_bs;
    an empty batch, where not allowed, becomes 1..8 requests (capped too)."""
    if env.bs is not None:
        return rng.choice(np.array(env.batch_sizes(2**31 - 1), dtype=np.int64), bs.size)
    top = env.max_bs if env.max_bs is not None else int(bs.max(initial=0))
    bs = np.minimum(bs, top)
    if not env.empty_batch:
        bs = np.where(bs == 0, np.minimum(rng.integers(1, 9, bs.size), top), bs)
    return bs


def oracle(b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """The contract, vectorised: first value seq - ext + 1, counting up, clamped to top-k."""
    total = int(b.ext.sum())
    req_of_token = np.repeat(np.arange(b.ext.size), b.ext)
    first_slot = np.cumsum(b.ext) - b.ext
    expanded = (b.seq - b.ext + 1)[req_of_token] + np.arange(total) - first_slot[req_of_token]
    topk_of_request = np.repeat(b.topk, b.bs)
    return expanded, np.minimum(expanded, topk_of_request[req_of_token])


def layout_storage(values, bs, stride, offset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All cases' views in one int64 storage (gaps hold decoys a stride-blind kernel would
    read): (storage, each case's base index, each request's element index)."""
    n = bs.size
    span = np.where(bs > 0, np.where(stride > 0, (bs - 1) * stride + 1, 1), 0) + offset
    base = (
        np.concatenate([[0], np.cumsum(span)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
    )
    case_of = np.repeat(np.arange(n), bs)
    first = np.concatenate([[0], np.cumsum(bs)[:-1]]) if n else np.zeros(0, np.int64)
    i = np.arange(values.size) - first[case_of]
    index = base[case_of] + offset[case_of] + i * stride[case_of]
    store = 1 + np.arange(int(span.sum()), dtype=np.int64) % 3
    store[index] = values
    return store, base, index


def _storage(values, bs, stride, offset, dtype, device) -> tuple[torch.Tensor, np.ndarray]:
    """The storage on `device` in `dtype`, and each request's element index."""
    store, _, index = layout_storage(values, bs, stride, offset)
    dt = torch.int32 if dtype == "int32" else torch.int64
    return torch.from_numpy(store).to(device=device, dtype=dt), index


@dataclass
class Screen:
    cases: int
    first_bad: int | None  # index of a case whose outputs differ, if any
    seconds_kernel: float


def screen(b: Batch, device: str) -> tuple[Screen, Batch]:
    """Run the batch through the Triton kernel, a launch per range of longest extend (a
    tile is requests x longest extend); the first case that differs, and its batch."""
    longest = b.longest_per_case()
    bucket = np.digitize(longest, [4.5, 64.5])
    seconds = 0.0
    for k in range(3):
        part = b.subset(bucket == k)
        if part.bs.size == 0:
            continue
        found = _screen_one(part, device)
        seconds += found.seconds_kernel
        if found.first_bad is not None:
            return Screen(int(b.bs.size), found.first_bad, seconds), part
    return Screen(int(b.bs.size), None, seconds), b


def _screen_one(b: Batch, device: str) -> Screen:
    import time

    from fuzz.triton_batched import expand_packed

    ext_store, ext_index = _storage(b.ext, b.bs, b.stride_e, b.offset_e, b.dtypes[0], device)
    seq_store, seq_index = _storage(b.seq, b.bs, b.stride_s, b.offset_s, b.dtypes[1], device)
    before = (ext_store.clone(), seq_store.clone())
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)  # noqa: E731
    start = time.perf_counter()
    got_e, got_c = expand_packed(
        ext_store,
        seq_store,
        as_tensor(ext_index),
        as_tensor(seq_index),
        as_tensor(np.repeat(b.topk, b.bs)),
        int(b.ext.sum()),
        int(b.ext.max()) if b.ext.size else 0,
    )
    got_e, got_c = got_e.cpu().numpy(), got_c.cpu().numpy()
    seconds = time.perf_counter() - start
    want_e, want_c = oracle(b)
    bad_tokens = np.flatnonzero((got_e != want_e) | (got_c != want_c))
    modified = not (torch.equal(before[0], ext_store) and torch.equal(before[1], seq_store))
    if bad_tokens.size == 0 and not modified:
        return Screen(int(b.bs.size), None, seconds)
    if bad_tokens.size == 0:
        return Screen(int(b.bs.size), 0, seconds)  # confirmation will name the case
    request = np.searchsorted(np.cumsum(b.ext), bad_tokens[0], side="right")
    case = int(np.searchsorted(np.cumsum(b.bs), request, side="right"))
    return Screen(int(b.bs.size), case, seconds)

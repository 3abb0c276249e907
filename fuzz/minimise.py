"""Minimise a saved failure again: greedy reductions kept while the same failure remains.

Hypothesis shrinks while it generates, but cannot start from a case it did not draw (an
old corpus entry, a case written by hand). This pass can: drop requests, lower values,
simplify top-k and layouts, one step at a time, keeping each step that still fails with
the same signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from fuzz.case import Case, Layout

Fails = Callable[[Case], bool]


def _drop_requests(c: Case) -> Iterator[Case]:
    n = c.bs
    size = n // 2
    while size >= 1:
        for start in range(0, n, size):
            keep = [i for i in range(n) if not start <= i < start + size]
            yield _subset(c, keep)
        size //= 2


def _subset(c: Case, keep: list[int]) -> Case:
    ext = tuple(c.extend_seq_lens[i] for i in keep)
    seq = tuple(c.seq_lens[i] for i in keep)
    lay_e = (
        c.extend_layout
        if c.extend_layout.stride or len(set(ext)) <= 1
        else Layout(c.extend_layout.dtype)
    )
    lay_s = (
        c.seq_layout if c.seq_layout.stride or len(set(seq)) <= 1 else Layout(c.seq_layout.dtype)
    )
    return replace(c, extend_seq_lens=ext, seq_lens=seq, extend_layout=lay_e, seq_layout=lay_s)


def _towards(value: int, target: int) -> Iterator[int]:
    """target, then halfway points back towards value: a binary search's candidates."""
    if value == target:
        return
    yield target
    delta = value - target
    while abs(delta) > 1:
        delta //= 2
        yield value - delta


def _lower_values(c: Case) -> Iterator[Case]:
    for i in range(c.bs):
        e, s = c.extend_seq_lens[i], c.seq_lens[i]
        for v in _towards(e, 1 if e > 0 else 0):
            yield _set(c, i, v, max(s - e + v, 0))  # keep seq - extend when it can
        for v in _towards(s, e):
            yield _set(c, i, e, v)
        for v in _towards(s, 0):
            yield _set(c, i, e, v)


def _set(c: Case, i: int, e: int, s: int) -> Case:
    ext = list(c.extend_seq_lens)
    seq = list(c.seq_lens)
    ext[i], seq[i] = e, s
    if c.extend_layout.stride == 0:
        ext = [e] * c.bs
    if c.seq_layout.stride == 0:
        seq = [s] * c.bs
    return replace(c, extend_seq_lens=tuple(ext), seq_lens=tuple(seq))


def _simplify(c: Case) -> Iterator[Case]:
    yield replace(c, extend_layout=Layout(c.extend_layout.dtype))
    yield replace(c, seq_layout=Layout(c.seq_layout.dtype))
    yield replace(c, extend_layout=replace(c.extend_layout, dtype="int32"))
    yield replace(c, seq_layout=replace(c.seq_layout, dtype="int32"))
    yield replace(c, out_slack=None)
    yield replace(c, validate=True)
    for t in _towards(c.nsa_index_topk, 0):
        yield replace(c, nsa_index_topk=t)


def minimise(case: Case, fails: Fails, seconds: float = 30.0) -> Case:
    """The smallest case reached in `seconds` for which `fails` still holds."""
    deadline = time.monotonic() + seconds
    best = case
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for passes in (_drop_requests, _lower_values, _simplify):
            for candidate in passes(best):
                if time.monotonic() >= deadline:
                    return best
                if candidate.size_key() < best.size_key() and fails(candidate):
                    best, improved = candidate, True
                    break
    return best

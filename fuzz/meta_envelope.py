"""Envelopes (fuzz/envelope.py) applied to contract-v2 cases: which keys a MetaCase lies
outside of, and how to move one inside (used by the strategies, named cases and shrinker).
"""

from __future__ import annotations

from dataclasses import replace

from fuzz.case import Layout
from fuzz.envelope import EVERYTHING, Envelope
from fuzz.meta_case import MetaCall, MetaCase


def valid(case: MetaCase) -> bool:
    """A valid case: the oracle takes every call, and the buffers are consistent."""
    if case.width < 1 or not case.calls:
        return False
    if any(case.call_page(k) < 1 for k in range(len(case.calls))):
        return False
    try:
        case.expected()
    except (ValueError, TypeError, AssertionError):
        return False
    return all(c.table.columns >= case.width for c in case.calls)


def _contiguous(case: MetaCase) -> bool:
    calls_ok = all(
        all(x.stride == 1 for x in c.layouts())
        and not c.table.transposed
        and c.table.col_pad == 0 == c.table.col_off
        for c in case.calls
    )
    plain_out = (
        case.vec_stride == 1 and case.table_pad == 0 == case.table_extra and not case.odd_tables
    )
    return calls_ok and plain_out and all(v == 1 for v in case.vec_strides)


def violations(env: Envelope | None, case: MetaCase) -> set[str]:
    env = env or EVERYTHING
    out = set()
    for c in case.calls:
        if not all(env.allows_dtype(x.dtype) for x in c.layouts()):
            out.add("dtypes")
        if not env.allows_topk(c.topk):
            out.add("topk")
        if not env.allows_bs(c.bs):
            out.add("bs")
        if env.modes is not None and c.mode not in env.modes:
            out.add("modes")
        if env.next_n is not None and c.next_n not in env.next_n:
            out.add("next_n")
    if env.contiguous and not _contiguous(case):
        out.add("contiguous")
    pages = {case.call_page(k) for k in range(len(case.calls))}
    if env.page_sizes is not None and not pages <= set(env.page_sizes):
        out.add("page_sizes")
    if env.max_width is not None and case.width > env.max_width:
        out.add("max_width")
    return out


def _nearest(allowed: tuple[int, ...] | None, value: int) -> int:
    return value if allowed is None else min(allowed, key=lambda a: (abs(a - value), a))


def _layout(env: Envelope, x: Layout) -> Layout:
    if not env.allows_dtype(x.dtype):
        x = replace(x, dtype=env.canonical_dtype())
    return replace(x, stride=1) if env.contiguous else x


def restrict(env: Envelope | None, case: MetaCase) -> MetaCase | None:
    """`case` moved inside `env` (None when no valid case inside is near it)."""
    env = env or EVERYTHING
    if not violations(env, case):
        return case
    calls: list[MetaCall] = []
    for c in case.calls:
        if env.modes is not None and c.mode not in env.modes:
            c = _other_mode(c, env.modes[0])
        table = c.table
        if env.contiguous:
            table = replace(table, transposed=False, col_pad=0, col_off=0)
        c = replace(
            c,
            topk=_nearest(env.topk, c.topk),
            next_n=_nearest(env.next_n, c.next_n),
            seq_layout=_layout(env, c.seq_layout),
            idx_layout=_layout(env, c.idx_layout),
            ext_layout=_layout(env, c.ext_layout),
            table=table,
            page_size=None if c.page_size is None else _nearest(env.page_sizes, c.page_size),
        )
        if not env.allows_bs(c.bs):
            return None
        calls.append(c)
    width = case.width if env.max_width is None else min(case.width, env.max_width)
    moved = replace(
        case,
        calls=tuple(calls),
        width=width,
        page_size=_nearest(env.page_sizes, case.page_size),
        vec_stride=1 if env.contiguous else case.vec_stride,
        table_pad=0 if env.contiguous else case.table_pad,
        col_step=(1, 1) if env.contiguous else case.col_step,
        table_transposed=(False, False) if env.contiguous else case.table_transposed,
        vec_strides=() if env.contiguous else case.vec_strides,
        table_extra=0 if env.contiguous else case.table_extra,
    ).narrowed(width)  # a call's own width cut to the case's
    return moved if valid(moved) and not violations(env, moved) else None


def _other_mode(c: MetaCall, mode: str) -> MetaCall:
    ext = None
    if mode == "draft_extend_var":
        ext = c.extend_seq_lens or tuple(min(2, c.next_n) for _ in c.seq_lens)
    return replace(c, mode=mode, extend_seq_lens=ext)

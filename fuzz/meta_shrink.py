"""Shrink a contract-v2 failure, then normalise it: greedy steps kept while it still fails
with the same signature, never leaving the envelope.

Calls first (one call unless the failure needs two), then the batch by bisection, then the
canonical form (calls that agree, in bs or in one input's values, shrink together first: a
failure that needs them to agree would not survive shrinking one alone): contiguous int32 inputs, a plain req_to_token, plain buffers, page size 1,
the narrowest width, each call at it (no width change between calls) or at its narrowest
own width, next_n 1, top-k 0 or 2**31 - 1, the smallest values. A stale cell whose call,
run alone, leaves that cell unwritten is the same missed write: the lone call is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from fuzz.case import Layout
from fuzz.envelope import EVERYTHING, Envelope
from fuzz.meta_case import MetaCall, MetaCase, Table
from fuzz.meta_envelope import valid, violations
from fuzz.meta_judge import same_missed_write, values_twin
from reference.metadata import INT32_MAX

Fails = Callable[..., object]
ROUNDS = 3
DROP_RUNS_BS = 64  # calls of at most this many requests (after bisection) drop runs of them


class _Search:
    def __init__(self, case: MetaCase, fails: Fails, deadline: float, envelope: Envelope | None):
        self.best, self.fails, self.deadline = case, fails, deadline
        self.env = envelope or EVERYTHING
        # How the best case fails, when `fails` says (a probe: see `shrink`); its signature
        # is then asked of every smaller case, so a stale failure may become a values one.
        self.why = getattr(fails, "found", None)
        self.known: dict[tuple[MetaCase, str | None], bool] = {(case, self.asked(case)): True}
        self.answers: dict[tuple[MetaCase, str | None], object] = {}
        self.calls = 0

    def asked(self, c: MetaCase) -> str | None:
        """The signature `c` must fail with (None: the one `fails` checks by itself). A lone
        call cannot be stale: for it, a stale failure's is the values one of its buffer."""
        if self.why is None:
            return None
        twin = values_twin(self.why.signature)
        return twin if twin is not None and len(c.calls) == 1 else self.why.signature

    def _fails(self, c: MetaCase, sig: str | None) -> bool:
        if sig is None:
            return bool(self.fails(c))
        got = self.answers[(c, sig)] = self.fails(c, signature=sig)
        if not got or sig == self.why.signature:
            return bool(got)
        return same_missed_write(self.best, self.why, c, got.mismatch)

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def test(self, c: MetaCase) -> bool:
        key = (c, self.asked(c))
        if key in self.known:
            return self.known[key]
        if self.out_of_time():
            return False
        ok = valid(c) and violations(self.env, c) <= violations(self.env, self.best)
        result = False
        if ok:
            self.calls += 1
            result = self._fails(c, key[1])
        self.known[key] = result
        return result

    def take(self, c: MetaCase) -> bool:
        """Keep `c` if it still fails; True when kept. Every step is a reduction or a move
        to the canonical form, so no size check is needed (top-k 2**31 - 1 is canonical)."""
        if c == self.best:
            return True
        if self.test(c):
            got = self.answers.get((c, self.asked(c)))
            self.best = c
            self.why = getattr(got, "mismatch", self.why)
            return True
        return False


def _with_call(case: MetaCase, k: int, call: MetaCall) -> MetaCase:
    calls = list(case.calls)
    calls[k] = call
    return replace(case, calls=tuple(calls))


def _with_each(case: MetaCase, ks: tuple[int, ...], change: Callable[[MetaCall], MetaCall]):
    """`case` with `change` applied to each call in `ks`."""
    calls = list(case.calls)
    for k in ks:
        calls[k] = change(calls[k])
    return replace(case, calls=tuple(calls))


def _requests(call: MetaCall, keep: list[int]) -> MetaCall:
    def pick(xs):
        return None if xs is None else tuple(xs[i] for i in keep)

    return replace(
        call,
        seq_lens=pick(call.seq_lens),
        req_pool_indices=pick(call.req_pool_indices),
        extend_seq_lens=pick(call.extend_seq_lens),
    )


def _fewer_calls(s: _Search) -> None:
    n = len(s.best.calls)
    options = [(k,) for k in reversed(range(n))]
    options += [tuple(j for j in range(n) if j != k) for k in range(n)] if n > 2 else []
    for keep in options:
        if s.take(replace(s.best, calls=tuple(s.best.calls[j] for j in keep))):
            return


def _tied(s: _Search, same: Callable[[MetaCall], object]) -> list[tuple[int, ...]]:
    """Groups of two or more calls equal in `same`: a failure that needs its calls to agree
    (a cache keyed on the lengths, a replay of the same batch) shrinks only if they shrink
    together, so each group is tried as one before each call alone."""
    groups: dict[object, list[int]] = {}
    for k, call in enumerate(s.best.calls):
        groups.setdefault(same(call), []).append(k)
    return [tuple(ks) for ks in groups.values() if len(ks) > 1]


def _fewer_requests(s: _Search, ks: tuple[int, ...]) -> None:
    """Bisect the smallest prefix that still fails, then the latest start of a window; the
    same requests of every call in `ks` (calls of one bs)."""
    bs = s.best.calls[ks[0]].bs
    lo, hi = 0, bs  # hi fails (the case as is)
    while lo < hi and not s.out_of_time():
        mid = (lo + hi) // 2
        if s.test(_with_each(s.best, ks, lambda c, m=mid: _requests(c, list(range(m))))):
            hi = mid
        else:
            lo = mid + 1
    if hi < bs:
        s.take(_with_each(s.best, ks, lambda c: _requests(c, list(range(hi)))))
    bs = s.best.calls[ks[0]].bs
    lo, hi = 0, bs  # drop the first `lo` requests while it still fails
    while lo < hi and not s.out_of_time():
        mid = (lo + hi + 1) // 2
        if s.test(_with_each(s.best, ks, lambda c, m=mid: _requests(c, list(range(m, bs))))):
            lo = mid
        else:
            hi = mid - 1
    if lo:
        s.take(_with_each(s.best, ks, lambda c: _requests(c, list(range(lo, bs)))))


def _drop_runs(s: _Search, ks: tuple[int, ...]) -> None:
    """Remove runs of requests (halves, quarters, ... single ones) from every call of `ks`
    while it still fails: the requests between those a failure needs, which no prefix or
    window drops (two calls whose lengths differ but sum the same). Up to DROP_RUNS_BS
    requests: about 2 * bs tries at most."""
    size = s.best.calls[ks[0]].bs // 2 if s.best.calls[ks[0]].bs <= DROP_RUNS_BS else 0
    while size >= 1 and not s.out_of_time():
        start = 0
        while start < s.best.calls[ks[0]].bs and not s.out_of_time():
            bs = s.best.calls[ks[0]].bs
            keep = [i for i in range(bs) if not start <= i < start + size]
            if keep and s.take(_with_each(s.best, ks, lambda c, k=keep: _requests(c, k))):
                continue  # `start` now names the run after the one dropped
            start += size
        size //= 2


def _values(s: _Search, ks: tuple[int, ...], name: str) -> None:
    """Whole array to 0, then 1, then each value lowered by bisection; the same values in
    every call of `ks` (calls whose `name` is equal)."""
    values = getattr(s.best.calls[ks[0]], name)
    if values is None or not values:
        return

    def set_to(new):
        return _with_each(s.best, ks, lambda c: replace(c, **{name: new}))

    for v in (0, 1):
        if s.take(set_to((v,) * len(values))):
            return
    for i in range(min(len(values), 64)):
        lo = 0
        while not s.out_of_time():
            cur = getattr(s.best.calls[ks[0]], name)
            if cur[i] <= lo:
                break
            mid = (lo + cur[i]) // 2
            if s.take(set_to(cur[:i] + (mid,) + cur[i + 1 :])):
                continue
            lo = mid + 1


def _canonical_call(s: _Search, k: int) -> None:
    c = s.best.calls[k]
    plain = Layout(s.env.canonical_dtype())
    for field in ("seq_layout", "idx_layout", "ext_layout"):
        s.take(_with_call(s.best, k, replace(s.best.calls[k], **{field: plain})))
    pool = max(s.best.calls[k].req_pool_indices, default=0) + 1
    for move in (
        lambda t: Table(pool, s.best.width),
        lambda t: replace(t, transposed=False, row_pad=0, col_pad=0, col_off=0),
        lambda t: replace(t, negative_from=0, negative_rows=()),
        lambda t: replace(t, seed=0),
        lambda t: replace(
            t, pool=pool, negative_rows=tuple(r for r in t.negative_rows if r < pool)
        ),
        lambda t: replace(t, columns=s.best.width),
    ):
        table = move(s.best.calls[k].table)
        s.take(_with_call(s.best, k, replace(s.best.calls[k], table=table)))
    if c.next_n != 1 and (s.env.next_n is None or 1 in s.env.next_n):
        s.take(_with_call(s.best, k, replace(s.best.calls[k], next_n=1)))
    for topk in (0, INT32_MAX):
        if s.env.allows_topk(topk) and s.take(
            _with_call(s.best, k, replace(s.best.calls[k], topk=topk))
        ):
            break


def _canonical_case(s: _Search) -> None:
    s.take(replace(s.best, out="buffers", validate=True))
    s.take(replace(s.best, bs_slack=0, rows_slack=0))
    s.take(replace(s.best, col_step=(1, 1), table_transposed=(False, False), vec_strides=()))
    for w in (0, 1):  # each page table row-major, then only its column step or its storage
        for step, t in ((1, False), (s.best.col_step[w], False), (1, s.best.table_transposed[w])):
            col_step, transposed = list(s.best.col_step), list(s.best.table_transposed)
            col_step[w], transposed[w] = step, t
            s.take(replace(s.best, col_step=tuple(col_step), table_transposed=tuple(transposed)))
    s.take(replace(s.best, vec_strides=()))
    s.take(replace(s.best, vec_stride=1, offset=0, table_pad=0, table_extra=0))
    s.take(replace(s.best, refill=False))  # new input tensors each call, if it still fails
    s.take(replace(s.best, repoison=False))  # the buffers as the last call left them
    if s.env.next_n is None or 1 in s.env.next_n:  # every call at once (see _tied)
        s.take(_with_each(s.best, tuple(range(len(s.best.calls))), lambda c: replace(c, next_n=1)))
    for page in (1, 2):
        if s.env.page_sizes is None or page in s.env.page_sizes:
            if s.take(replace(s.best, page_size=page)):
                break
    lo = 1
    while not s.out_of_time() and s.best.width > lo:  # the narrowest width that still fails
        mid = (lo + s.best.width) // 2
        if not s.take(s.best.narrowed(mid)):
            lo = mid + 1
    _call_widths(s)
    for k in range(len(s.best.calls)):  # each call at the case's page size, if it still fails
        if s.best.calls[k].page_size is not None:
            s.take(_with_call(s.best, k, replace(s.best.calls[k], page_size=None)))


def _call_widths(s: _Search) -> None:
    """Each call at the case's width (no width change), else its own width bisected down."""
    for k in range(len(s.best.calls)):
        own = s.best.calls[k].width
        if own is None or s.take(_with_call(s.best, k, replace(s.best.calls[k], width=None))):
            continue
        lo = 1
        while not s.out_of_time():
            cur = s.best.calls[k].width
            if cur is None or cur <= lo:
                break
            mid = (lo + cur) // 2
            if not s.take(_with_call(s.best, k, replace(s.best.calls[k], width=mid))):
                lo = mid + 1


def shrink(
    case: MetaCase, fails: Fails, seconds: float, *, envelope: Envelope | None = None
) -> MetaCase:
    """The smallest, most canonical case found within `seconds` that `fails` still says
    fails (with the signature it checks); `case` itself must fail.

    `fails` may be a probe (fuzz/book.py): `fails.found`, the mismatch `case` fails with, and
    `fails(c, signature=s)`, c's finding (`.mismatch`) if it fails with s, else None. Then a
    stale failure, kept while more than one call remains, may end as the values failure of
    its lone call on the same cell (meta_judge.same_missed_write): the caller files the
    result under the signature its last finding has."""
    s = _Search(case, fails, time.monotonic() + seconds, envelope)
    for _ in range(ROUNDS):
        before = s.best
        _fewer_calls(s)
        for ks in _tied(s, lambda c: c.bs):
            _fewer_requests(s, ks)
        for k in range(len(s.best.calls)):
            _fewer_requests(s, (k,))
        _canonical_case(s)
        for k in range(len(s.best.calls)):
            _canonical_call(s, k)
        for name in ("seq_lens", "extend_seq_lens", "req_pool_indices"):
            for ks in _tied(s, lambda c, n=name: getattr(c, n)):
                _values(s, ks, name)
            for k in range(len(s.best.calls)):
                _values(s, (k,), name)
        for k in range(len(s.best.calls)):
            _canonical_call(s, k)  # a smaller pool index lets the table shrink
        # Last: costly (up to 2 * bs tries), and the next round normalises what it leaves.
        for ks in _tied(s, lambda c: c.bs):
            _drop_runs(s, ks)
        for k in range(len(s.best.calls)):
            _drop_runs(s, (k,))
        if s.best == before or s.out_of_time():
            break
    return s.best

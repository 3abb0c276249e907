"""Shrink a failure to its essence, then to the canonical case: greedy steps kept while it fails.

Hypothesis shrinks only what it drew; this starts from any case (a crash, a hang, a corpus
entry, a bulk finding). One call of `fails` can cost seconds (a fresh worker per crash), so
the number of requests goes by bisection and whole-batch moves come before per-value ones;
every answer is remembered, and no step leaves the candidate's envelope. A refill case's
prior call is dropped first when the failure does not need it, else kept aligned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from fuzz.case import Case, Fault, Layout
from fuzz.contract import INT32_MAX, fault_applies
from fuzz.envelope import EVERYTHING, Envelope

Fails = Callable[[Case], bool]
EXTEND, SEQ = 0, 1
ROUNDS = 4  # passes over every step; each round after the first is mostly memo hits


class _Search:
    """The case reached so far, and one memo of `fails` shared by every step."""

    def __init__(self, case: Case, fails: Fails, deadline: float, envelope: Envelope | None, fault):
        self.best = case
        self.fails = fails
        self.deadline = deadline
        self.envelope = envelope or EVERYTHING
        self.fault: Fault | None = fault
        self.known: dict[Case, bool] = {case: True}
        self.kept: set[Case] = {case}
        self.calls = 0
        # The batch size at which the last request search ended; not searched again at the
        # same size (a value or layout change rarely frees a request; each try may cost s).
        self.requests_settled: int | None = None

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def allowed(self, c: Case) -> bool:
        """A valid call, still broken by the fault, adding no envelope violation."""
        if not _valid(c):
            return False
        if self.fault is not None and not fault_applies(self.fault, c):
            return False
        return self.envelope.violations(c) <= self.envelope.violations(self.best)

    def test(self, c: Case) -> bool:
        """Does `c` fail? Memoised; False when not allowed or out of time."""
        c = _tidy(c)
        if not self.allowed(c):
            return False
        if c in self.known:
            return self.known[c]
        if self.out_of_time():
            return False
        self.calls += 1
        self.known[c] = result = bool(self.fails(c))
        return result

    def keep(self, c: Case) -> bool:
        """Move to `c` if it fails (never back to a case left before: no cycles)."""
        c = _tidy(c)
        if c in self.kept or not self.test(c):
            return False
        self.best = c
        self.kept.add(c)
        return True


# --- cases as values ------------------------------------------------------------------------


def _valid(c: Case) -> bool:
    if not 0 <= c.nsa_index_topk <= INT32_MAX:
        return False
    if any(e < 0 for e in c.extend_seq_lens) or sum(c.extend_seq_lens) > INT32_MAX:
        return False
    if any(not 0 <= s <= INT32_MAX for s in c.seq_lens):
        return False
    for values, lay in ((c.extend_seq_lens, c.extend_layout), (c.seq_lens, c.seq_layout)):
        if lay.stride < 0 or lay.offset < 0 or (lay.stride == 0 and len(set(values)) > 1):
            return False
    return c.prior is None or _valid(c.first_call())


def _tidy(c: Case) -> Case:
    """A prior that equals the case's own values is no prior: dropped."""
    if c.prior is not None and c.prior == (c.extend_seq_lens, c.seq_lens):
        return replace(c, prior=None)
    return c


def _take(c: Case, keep: Sequence[int]) -> Case:
    """The requests `keep`, the prior's same requests with them."""
    prior = c.prior and tuple(tuple(p[i] for i in keep) for p in c.prior)
    return replace(
        c,
        extend_seq_lens=tuple(c.extend_seq_lens[i] for i in keep),
        seq_lens=tuple(c.seq_lens[i] for i in keep),
        prior=prior,
    )


def _values(c: Case, which: int) -> tuple[int, ...]:
    return c.extend_seq_lens if which == EXTEND else c.seq_lens


def _layout(c: Case, which: int) -> Layout:
    return c.extend_layout if which == EXTEND else c.seq_layout


def _with_values(c: Case, which: int, values) -> Case:
    key = "extend_seq_lens" if which == EXTEND else "seq_lens"
    return replace(c, **{key: tuple(values)})


def _with_layout(c: Case, which: int, layout: Layout) -> Case:
    return replace(c, **{"extend_layout" if which == EXTEND else "seq_layout": layout})


def _set(c: Case, which: int, i: int, v: int) -> Case:
    """Value i of one array set to v (every value, for a stride-0 view: it holds one)."""
    values = list(_values(c, which))
    if _layout(c, which).stride == 0:
        return _with_values(c, which, [v] * len(values))
    values[i] = v
    return _with_values(c, which, values)


def _set_request(c: Case, i: int, gap: int, extend: int) -> Case:
    """Request i's extend set, its seq moved with it (seq - extend == gap)."""
    return _set(_set(c, EXTEND, i, extend), SEQ, i, gap + extend)


def _cap(c: Case, extend: int | None, seq: int | None) -> Case:
    """Every extend (and/or every seq) lowered to at most a value; None leaves that array."""
    if extend is not None:
        c = _with_values(c, EXTEND, [min(v, extend) for v in c.extend_seq_lens])
    if seq is not None:
        c = _with_values(c, SEQ, [min(v, seq) for v in c.seq_lens])
    return c


# --- steps ------------------------------------------------------------------------------------


def _drop_prior(s: _Search) -> None:
    """No prior call, else the prior call alone (the failure was in call 1), else the
    prior's values lowered as whole arrays (0, then 1, as `_lower_values` starts)."""
    c = s.best
    if c.prior is None or s.keep(replace(c, prior=None)) or s.keep(c.first_call()):
        return
    for extend, seq in ((0, 0), (0, None), (None, 0), (1, 1), (1, None), (None, 1)):
        ext, sq = s.best.prior  # type: ignore[misc]
        lowered = (
            ext if extend is None else tuple(min(v, extend) for v in ext),
            sq if seq is None else tuple(min(v, seq) for v in sq),
        )
        s.keep(replace(s.best, prior=lowered))


def _smallest(s: _Search, sizes: Sequence[int], make: Callable[[int], Case]) -> None:
    """Binary search: the smallest of `sizes` (ascending) whose case fails, kept if any."""
    lo, hi = -1, len(sizes)
    while hi - lo > 1 and not s.out_of_time():
        mid = (lo + hi) // 2
        if s.test(make(sizes[mid])):
            hi = mid
        else:
            lo = mid
    if hi < len(sizes):
        s.keep(make(sizes[hi]))


def _fewer_requests(s: _Search) -> None:
    """Empty batch; halves; the shortest failing prefix, then suffix; then interior requests.

    A bug that needs bs >= 128 from bs 4096 lands at 128 in about 15 tries."""
    env = s.envelope
    if s.best.bs == 0 or s.best.bs == s.requests_settled:
        return
    if env.allows_bs(0) and s.keep(_take(s.best, ())):
        return
    while s.best.bs >= 2 and env.allows_bs(s.best.bs // 2):
        c, h = s.best, s.best.bs // 2
        if not (s.keep(_take(c, range(h))) or s.keep(_take(c, range(c.bs - h, c.bs)))):
            break
    c = s.best
    _smallest(s, env.batch_sizes(c.bs - 1), lambda k: _take(c, range(k)))
    c = s.best
    sizes = [k for k in env.batch_sizes(c.bs - 1)[-1:] if k > 0]
    if sizes and s.test(_take(c, range(c.bs - sizes[0], c.bs))):
        _smallest(s, env.batch_sizes(c.bs - 1), lambda k: _take(c, range(c.bs - k, c.bs)))
    _drop_interior(s)
    s.requests_settled = s.best.bs


def _drop_interior(s: _Search) -> None:
    """Chunks removed from inside (delta debugging). Past 8 requests, only when one of three
    probes shows a request can go: a bug that needs the count itself costs three tries."""
    c = s.best
    n = c.bs
    if n < 3 or not s.envelope.allows_bs(n - 1):
        return
    if n > 8:
        probes = sorted({n // 2, n // 4, 3 * n // 4} - {0, n - 1})
        if not any(s.keep(_take(c, [j for j in range(n) if j != i])) for i in probes):
            return
    chunk = max(s.best.bs // 2, 1)
    while chunk >= 1 and not s.out_of_time():
        i = 0
        while i < s.best.bs and not s.out_of_time():
            c = s.best
            rest = [j for j in range(c.bs) if not i <= j < i + chunk]
            if not (s.envelope.allows_bs(len(rest)) and rest and s.keep(_take(c, rest))):
                i += chunk
        chunk //= 2


def _lower(s: _Search, make: Callable[[int], Case], value: int) -> None:
    """The smallest target below `value` that still fails: 0, then 1, then bisection."""
    for t in (0, 1):
        if t < value and s.keep(make(t)):
            return
    if value > 2:
        lo, hi = 1, value
        while hi - lo > 1 and not s.out_of_time():
            mid = (lo + hi) // 2
            if s.test(make(mid)):
                hi = mid
            else:
                lo = mid
        if hi < value:
            s.keep(make(hi))


def _zero_chunks(s: _Search) -> None:
    """Halves, then quarters... of the requests set to (0, 0), as long as some level still
    frees a chunk: the one request a bug needs among thousands costs ~2 log2(bs) tries."""
    chunk, idle = s.best.bs // 2, 0
    while chunk >= 1 and idle < 2 and not s.out_of_time():
        freed = False
        for start in range(0, s.best.bs, chunk):
            c = s.best
            part = range(start, min(start + chunk, c.bs))
            if any(c.extend_seq_lens[i] or c.seq_lens[i] for i in part):
                zeroed = c
                for i in part:
                    zeroed = _set(_set(zeroed, EXTEND, i, 0), SEQ, i, 0)
                freed = s.keep(zeroed) or freed
        idle = 0 if freed else idle + 1
        chunk //= 2


def _lower_values(s: _Search) -> None:
    """Whole arrays down to 0, then 1; then each request: extend and seq together (keeping
    seq - extend), then each alone."""
    for extend, seq in ((0, 0), (0, None), (None, 0), (1, 1), (1, None), (None, 1)):
        s.keep(_cap(s.best, extend, seq))
    _zero_chunks(s)
    for i in range(s.best.bs):
        if s.out_of_time() or i >= s.best.bs:
            return
        e, q = s.best.extend_seq_lens[i], s.best.seq_lens[i]
        if e > 0 and q >= e:
            _lower(s, partial(_set_request, s.best, i, q - e), e)
        for which in (EXTEND, SEQ):
            if _layout(s.best, which).stride == 0 and i > 0:
                continue  # one value for all: lowered at i == 0
            _lower(s, partial(_set, s.best, which, i), _values(s.best, which)[i])


def _fewer_distinct(s: _Search) -> None:
    """Each value of an array replaced everywhere by a smaller one already present.

    Smaller only: every move lowers values, so no step undoes another, and a value made
    as small as it can be is never raised again to save a distinct value."""
    for which in (EXTEND, SEQ):
        for u in sorted(set(_values(s.best, which)), reverse=True):
            for w in sorted(set(_values(s.best, which)))[:32]:
                if w >= u or s.out_of_time():
                    break
                c = s.best
                if s.keep(_with_values(c, which, [w if v == u else v for v in _values(c, which)])):
                    break


def _canonical_at_once(s: _Search) -> None:
    """Every feature canonical in one try (then all but the values, then all but top-k)."""
    c = s.best
    plain = Layout(s.envelope.canonical_dtype())
    plain_case = replace(c, extend_layout=plain, seq_layout=plain, out_slack=None, validate=True)
    topk = 0 if s.envelope.allows_topk(0) else c.nsa_index_topk
    small = replace(plain_case, nsa_index_topk=topk)
    s.keep(_cap(small, 0, 0)) or s.keep(small) or s.keep(plain_case)


def _plain_layouts(s: _Search) -> None:
    """Each layout to contiguous int32 (the envelope's first dtype) without offset, whole
    or one attribute at a time."""
    plain = Layout(s.envelope.canonical_dtype())
    for which in (EXTEND, SEQ):
        if _layout(s.best, which) == plain or s.keep(_with_layout(s.best, which, plain)):
            continue
        for change in ({"dtype": plain.dtype}, {"stride": 1}, {"offset": 0}):
            lay = replace(_layout(s.best, which), **change)
            if lay != _layout(s.best, which):
                s.keep(_with_layout(s.best, which, lay))


def _plain_scalars(s: _Search) -> None:
    """out=None, validate=True; top-k at 0, else at 2**31 - 1, else as found."""
    if s.best.out_slack is not None:
        s.keep(replace(s.best, out_slack=None))
    if not s.best.validate:
        s.keep(replace(s.best, validate=True))
    for topk in (0, INT32_MAX):
        if s.best.nsa_index_topk == topk:
            break
        if s.envelope.allows_topk(topk) and s.keep(replace(s.best, nsa_index_topk=topk)):
            break


MINIMISE_STEPS = (_drop_prior, _fewer_requests, _lower_values)
NORMALISE_STEPS = (
    _drop_prior,
    _canonical_at_once,
    _plain_layouts,
    _plain_scalars,
    _fewer_requests,
    _lower_values,
    _fewer_distinct,
)


def _run(s: _Search, steps) -> None:
    for _ in range(ROUNDS):
        start = s.best
        for step in steps:
            if s.out_of_time():
                return
            step(s)
        if s.best == start:
            return


# --- the entry points ---------------------------------------------------------------------------


def minimise(
    case: Case,
    fails: Fails,
    seconds: float = 30.0,
    envelope: Envelope | None = None,
    *,
    fault: Fault | None = None,
) -> Case:
    """The smallest case reached in `seconds` for which `fails` holds: fewer requests
    (bisection first), then lower values. `fault`: the case is put with it, keep it breakable."""
    s = _Search(case, fails, time.monotonic() + seconds, envelope, fault)
    _run(s, MINIMISE_STEPS)
    return s.best


def normalise(
    case: Case,
    fails: Fails,
    envelope: Envelope | None = None,
    seconds: float = 30.0,
    *,
    fault: Fault | None = None,
) -> Case:
    """Every feature the failure may not need, moved to its canonical form: contiguous int32
    layouts without offset, out=None, validate=True, the fewest requests, each value as small
    as it can be (0, then 1), few distinct values, top-k at 0 or 2**31 - 1."""
    s = _Search(case, fails, time.monotonic() + seconds, envelope, fault)
    _run(s, NORMALISE_STEPS)
    return s.best


def shrink(
    case: Case,
    fails: Fails,
    seconds: float = 60.0,
    envelope: Envelope | None = None,
    *,
    fault: Fault | None = None,
) -> Case:
    """`minimise` (two thirds of the time at most), then `normalise`; one memo for both."""
    start = time.monotonic()
    s = _Search(case, fails, start + seconds * 2 / 3, envelope, fault)
    _run(s, MINIMISE_STEPS)
    s.deadline = start + seconds
    _run(s, NORMALISE_STEPS)
    return s.best

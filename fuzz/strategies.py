"""Hypothesis strategies: valid cases by input family, invalid calls by fault kind.

Every family of CONTRACT.md is reached by the shape of the strategies (weighted
branches, bounds), never by luck: see FAMILIES for the one-line map, and NAMED_CASES
(fuzz/contract.py) for one documented example of each, run first by every campaign and test.
Given an envelope (fuzz/envelope.py), every strategy draws only inside it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from fuzz.case import Case, Fault, Layout
from fuzz.contract import FAULTS, INT32_MAX, NAMED_CASES, OUT_FAULTS, SPECIAL_BS, TOPK_FIXED
from fuzz.envelope import Envelope

__all__ = [
    "FAMILIES",
    "INT32_MAX",
    "NAMED_CASES",
    "REFILL_CASES",
    "bad_calls",
    "batches",
    "cases",
    "dtype_pairs",
    "faults",
    "named_cases",
    "small_cases",
]

FAMILIES = {
    "empty batch": "_requests: bs=0",
    "zero extends": "extends: per-request zeros (adjacent ones too) and all-zero batches",
    "topk": "_topk: 0, 1, 2**31-1, multiples of 16, a value -1/0/+1, above all, below all",
    "padded requests": "seq_from: seq < extend (values <= 0) and seq == extend",
    "int32 extremes": "seq_from: within 64 of 2**31 - 1",
    "long extends": "extend_from: hundreds, across 1024",
    "large batches": "_prng_requests: up to 5000 requests, long extends for large totals",
    "dtypes": "dtype_pairs(): every int32/int64 combination",
    "strides": "_layout: step, storage offset, both, stride 0 (expand)",
    "specialisations": "bs and topk of 1 and multiples of 16",
    "refill": "_prior: 1 in 8 cases first called with other values on the same tensors",
}

# Cases judged on a second call whose input tensors held other values in the call before
# (SGLang's replay refills them in place): a kernel keyed on data_ptr/shape/topk shows it.
REFILL_CASES: dict[str, Case] = {
    "refill: contract example after other values": Case(
        (3, 0, 2), (10, 4, 1), 9, prior=((1, 2, 1), (7, 4, 12))
    ),
    "refill: int64 strided views with offsets, bs 40": Case(
        (1, 2, 3, 4) * 10,
        tuple(range(60, 100)),
        70,
        Layout("int64", 3, 2),
        Layout("int64", 2, 5),
        prior=((2, 1, 0, 3) * 10, tuple(range(500, 540))),
    ),
    "refill: the same extends, seq_lens advanced (SGLang's step)": Case(
        (2, 1, 3, 0), (12, 5, 10, 4), 9, prior=((2, 1, 3, 0), (10, 4, 7, 4))
    ),
    "refill: stride-0 expanded views": Case(
        (2, 2, 2),
        (7, 7, 7),
        6,
        Layout("int32", 0, 1),
        Layout("int32", 0, 0),
        prior=((1,) * 3, (9,) * 3),
    ),
}


DTYPE_PAIRS = st.tuples(*[st.sampled_from(["int32", "int64"])] * 2)

# Drawing is the fuzzer's hot path. One Hypothesis draw costs ~10-20 us, one draw of bytes
# about the same however long it is, so a case is read from two byte strings: a header
# and one body of REQUEST_BYTES per request. Each choice is a "kind" byte whose ranges
# pick a family, followed by value bytes. Hypothesis shrinks bytes one by one towards 0:
# a kind byte moves to the simplest family that still fails, value bytes to the smallest
# value of that family.
HEADER_BYTES = 24
REQUEST_BYTES = 6  # extend kind, extend value (2), seq kind, seq value (2)
_HEADER = st.binary(min_size=HEADER_BYTES, max_size=HEADER_BYTES)
_BODIES: dict[int, st.SearchStrategy[bytes]] = {}


def dtype_pairs(envelope: Envelope | None = None) -> st.SearchStrategy[tuple[str, str]]:
    """(extend dtype, seq dtype): every combination the envelope allows, equally likely."""
    if envelope is None or envelope.dtypes is None:
        return DTYPE_PAIRS
    return st.tuples(*[st.sampled_from(list(envelope.dtypes))] * 2)


def _u16(b: bytes, i: int) -> int:
    return b[i] | b[i + 1] << 8


def _u32(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 4], "little")


def extend_from(kind: int, value: int) -> int:
    """Kind byte: 50% 1..4 (MTP accept lengths), 20% zero, 22% 5..64, 8% long 65..1100."""
    if kind < 128:
        return 1 + value % 4
    if kind < 179:
        return 0
    if kind < 236:
        return 5 + value % 60
    return 65 + value % 1036  # crosses 1024, whatever block size a kernel uses


def seq_from(kind: int, value: int, extend: int) -> int:
    """Kind byte: 50% extend + 0..8192, 10% == extend, 20% padded (< extend), 10% near
    2**31 - 1, 10% tiny (0..8)."""
    if kind < 128:
        return extend + value % 8193
    if kind < 154 or (kind < 205 and extend == 0):
        return extend
    if kind < 205:  # a padded dummy request: its values are <= 0
        return max(extend - 1 - value, 0)
    if kind < 230:
        return INT32_MAX - value % 65
    return value % 9


def _prng_requests(header: bytes, bs: int) -> tuple[list[int], list[int]]:
    """Many requests from a few header bytes: seeded generators fill them, one array each.

    Each array has its own generator, so shrinking bs keeps a prefix of the same batch.
    """
    longest = (4, 4, 4, 4, 16, 16, 600, 1100)[header[20] % 8]
    # Large totals, not huge ones: past 2**16 (where 16-bit offsets overflow) and no further.
    longest = max(1, min(longest, 2**17 // bs))
    zero_share = (0.0, 0.2, 0.6, 1.0)[header[21] % 4]
    padded_share = (0.0, 0.1)[header[22] % 2]
    top = (8192, 2**20, INT32_MAX)[header[23] % 3]
    seed = _u32(header, 16)
    gen = [np.random.default_rng([seed, i]) for i in range(4)]
    extends = gen[0].integers(1, longest + 1, size=bs)
    extends[gen[1].random(bs) < zero_share] = 0
    seqs = extends + gen[2].integers(0, top, size=bs)
    padded = gen[3].random(bs) < padded_share
    seqs[padded] = (seqs[padded] - extends[padded]) % (extends[padded] + 1)
    return extends.tolist(), np.minimum(seqs, INT32_MAX).tolist()


def _body(n: int) -> st.SearchStrategy[bytes]:
    if n not in _BODIES:
        _BODIES[n] = st.binary(min_size=n * REQUEST_BYTES, max_size=n * REQUEST_BYTES)
    return _BODIES[n]


def _requests(draw, h: bytes) -> tuple[list[int], list[int]]:
    """h[0]: 6% empty, 69% bs 1..8, 9% 1 or a multiple of 16, 16% PRNG-filled (9..5000)."""
    if h[0] < 16:
        return [], []
    if h[0] >= 216:
        lo, span = ((9, 56), (9, 56), (65, 236), (1000, 4001))[h[1] % 4]
        return _prng_requests(h, lo + _u16(h, 2) % span)
    bs = 1 + h[1] % 8 if h[0] < 192 else SPECIAL_BS[h[1] % len(SPECIAL_BS)]
    # h[4]: 10% all-zero extends, 10% one extend for all, 10% one request repeated.
    repeated = 26 <= h[4] < 51 or 51 <= h[4] < 77
    body = draw(_body(1 if 51 <= h[4] < 77 else bs))
    requests = []
    for i in range(0, len(body), REQUEST_BYTES):
        e = extend_from(body[i], _u16(body, i + 1))
        requests.append((e, seq_from(body[i + 3], _u16(body, i + 4), e)))
    if 51 <= h[4] < 77:
        requests = requests * bs
    extends = [e for e, _ in requests]
    if h[4] < 26:
        extends = [0] * bs
    elif repeated:
        extends = [extends[0]] * bs
    return extends, [s for _, s in requests]


def _topk(h: bytes, values: list[int]) -> int:
    """h[5]: 40% a value -1/0/+1, 8% above all, 8% below all, 20% fixed points (0, 1,
    2**31-1, ...), 10% a multiple of 16, 14% anywhere."""
    kind, p = h[5], _u32(h, 6)
    if values and kind < 100:
        v = values[p % len(values)] + (p // len(values)) % 3 - 1
    elif values and kind < 120:
        v = max(values) + p % 4  # above every value: the clamp is a no-op
    elif values and kind < 140:
        v = min(values) - p % 4  # below every value: everything clamps
    elif kind < 190:
        v = TOPK_FIXED[p % len(TOPK_FIXED)]
    elif kind < 215:
        v = 16 * (p % 4097)
    else:
        v = p % (INT32_MAX + 1) if kind & 1 else p % 8193
    return min(max(v, 0), INT32_MAX)


def _layout(kind: int, p: int, dtype: str, values: list[int]) -> Layout:
    """70% contiguous, 6% stride 0 (when all values are equal), 8% a step with an offset,
    8% an offset alone, 8% a wide step (16 or 17) with an offset."""
    if kind < 180:
        return Layout(dtype)
    if kind < 195 and len(set(values)) <= 1:
        return Layout(dtype, 0, p % 4)  # an expand()ed view
    if kind < 215:
        return Layout(dtype, 2 + p % 3, p // 3 % 4)
    if kind < 235:
        return Layout(dtype, 1, 1 + p % 5)
    return Layout(dtype, 16 + p % 2, p % 17)


@st.composite
def _cases(draw, dtypes: tuple[str, str] | None = None) -> Case:
    ext_dtype, seq_dtype = dtypes or draw(DTYPE_PAIRS)
    h = draw(_HEADER)
    extends, seqs = _requests(draw, h)
    values = [s - e + 1 for e, s in zip(extends, seqs)] + seqs
    extend_layout = _layout(h[10], h[11], ext_dtype, extends)
    seq_layout = _layout(h[12], h[13], seq_dtype, seqs)
    return Case(
        extend_seq_lens=tuple(extends),
        seq_lens=tuple(seqs),
        nsa_index_topk=_topk(h, values),
        extend_layout=extend_layout,
        seq_layout=seq_layout,
        out_slack=None if h[14] < 64 else h[14] % 41,
        validate=h[15] < 128,
        prior=_prior(h, extends, seqs, extend_layout, seq_layout),
    )


def _prior(h: bytes, extends: list[int], seqs: list[int], ext_lay: Layout, seq_lay: Layout):
    """h[15]'s low 3 bits (its top bit is `validate`): 1 in 8 cases get a prior call on the
    same tensors: other MTP-sized values, or the same extends with each seq_len before its
    accepted tokens (a decode step), or the same seq_lens with other extends (one value for
    a stride-0 view); None otherwise."""
    bs = len(extends)
    if h[15] & 7 != 7 or bs == 0:
        return None
    rng = np.random.default_rng([_u32(h, 16), 8])
    ext = rng.integers(0, 5, size=bs)
    seq = ext + rng.integers(0, 8193, size=bs)
    shape = rng.integers(3)
    if shape == 1:  # SGLang's step: the same extends, each seq_len before its accepted tokens
        ext = np.array(extends, dtype=np.int64)
        seq = np.maximum(np.array(seqs, dtype=np.int64) - ext, 0)
    elif shape == 2:  # the same seq_lens, other extends
        seq = np.array(seqs, dtype=np.int64)
    if ext_lay.stride == 0:
        ext[:] = ext[0]
    if seq_lay.stride == 0:
        seq[:] = seq[0]
    prior = (tuple(ext.tolist()), tuple(seq.tolist()))
    return None if prior == (tuple(extends), tuple(seqs)) else prior


def _inside(drawn: st.SearchStrategy[Case], envelope: Envelope | None) -> st.SearchStrategy[Case]:
    """`drawn` moved inside the envelope (the same strategy when nothing is restricted)."""
    if envelope is None or not envelope.restricts:
        return drawn
    return drawn.map(envelope.restrict).filter(lambda c: c is not None)


def cases(
    dtypes: tuple[str, str] | None = None, envelope: Envelope | None = None
) -> st.SearchStrategy[Case]:
    """One valid case, every family reachable with steady probability, inside `envelope`."""
    return _inside(_cases(dtypes), envelope)


def batches(
    min_size: int = 32, max_size: int = 128, envelope: Envelope | None = None
) -> st.SearchStrategy[list[Case]]:
    """A list of cases sharing one dtype pair, so the Triton interpreter runs them in one launch."""
    return dtype_pairs(envelope).flatmap(
        lambda d: st.lists(cases(d, envelope), min_size=min_size, max_size=max_size)
    )


# --- invalid calls --------------------------------------------------------------------------


@st.composite
def faults(draw, case: Case, with_out: bool) -> Fault:
    """A fault that applies to `case`, its value drawn as fuzz/contract.py describes."""
    kinds = [FAULTS[k] for k in sorted(FAULTS)]
    kinds += [OUT_FAULTS[k] for k in sorted(OUT_FAULTS)] if with_out else []
    kind = draw(st.sampled_from([k for k in kinds if k.applies(case)]))
    value: object = None
    if kind.choices and kind.span:  # total_too_large: "split" needs two requests
        use_choice = case.bs >= 2 and draw(st.booleans())
        value = kind.choices[0] if use_choice else draw(st.integers(*kind.span))
    elif kind.choices:
        value = draw(st.sampled_from(kind.choices))
    elif kind.span:
        value = draw(st.integers(*kind.span))
    return Fault(kind=kind.kind, value=value, index=draw(st.integers(0, max(case.bs - 1, 0))))


def small_cases(envelope: Envelope | None = None) -> st.SearchStrategy[Case]:
    """Cheap valid cases to break (faults make the calls; values hardly matter)."""
    return _inside(_cases().filter(lambda c: c.total <= 4096), envelope)


def bad_calls(
    with_out: bool = False, envelope: Envelope | None = None
) -> st.SearchStrategy[tuple[Case, Fault]]:
    """(valid case, fault) pairs: the error contract's inputs. Inside an envelope, the
    valid part of the call lies inside it; the broken argument need not. One call: no prior
    (a bad call on refilled tensors is still judged on that call alone)."""
    single = small_cases(envelope).map(lambda c: replace(c, prior=None))
    return single.flatmap(lambda c: st.tuples(st.just(c), faults(c, with_out)))


def named_cases(envelope: Envelope | None = None) -> dict[str, Case]:
    """NAMED_CASES, then REFILL_CASES, moved inside `envelope`; those that cannot be (or
    that repeat an earlier one once moved) are left out."""
    named = {**NAMED_CASES, **REFILL_CASES}
    if envelope is None or not envelope.restricts:
        return named
    out: dict[str, Case] = {}
    for name, case in named.items():
        moved = envelope.restrict(case)
        if moved is not None and moved not in out.values():
            out[name if moved == case else f"{name} (inside the envelope)"] = moved
    return out

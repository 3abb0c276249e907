"""Sync-free Triton kernel for contract v2: one launch in every mode, draft_extend_var
included. Import only after TRITON_INTERPRET is settled.

One 1-D grid, two kinds of program, each finding its own running sums (no scratch, no
second launch, no program waiting on another):
- scalar programs own SB requests: kv, cu_seqlens_k, and their rows' three scalars, the
  running sums started from the program's own sum over the requests before it (one
  SUM_S-wide load when bs <= SUM_S, else a loop of them; bs / SB programs, so none reads
  more than bs values and none does every sum) and dsa_cu_seqlens_k in closed form,
  sum(min(a + d, K) for d < n) per request, all in int32 modulo 2**32 (exact: the
  contract keeps every output and partial sum inside int32);
- page programs own BR requests x one chunk of columns of both page tables: they read each
  request's req_to_token chunk once ([RB, BW] tiles of contiguous columns: vector loads)
  and store it to every row of the request. In draft_extend_var their first row is the sum
  of the extends before them (int32, SUM_P-wide loads); else i * e.
Each program loads its own requests before the sum of earlier ones, so both are in flight
together. Requests with many rows split them over n_split programs of each kind. The host
sizes the grid (bs, width, the rows' capacity) for about TARGET page programs (TARGET_VAR
on draft_extend_var's wide rows, where requests with no row leave programs idle). Requests
with no row read no req_to_token cell. Index arithmetic is int32 where the host bounds
every unmasked offset below 2**31 (NARROW), else int64; every stride is honoured; pool
indices are clamped into the pool and rows kept in [0, rows_cap), so garbage with
validation off cannot touch memory outside the contract's region
(tests/test_metadata_memory.py checks every lane's address).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from nsa_meta.interpreter import interpreting
from nsa_meta.launcher import FastLaunches
from nsa_meta.metadata_torch import row_capacity
from nsa_meta.triton_kernel import _sum_before
from nsa_meta.validation import rows_per_request


@triton.jit
def _unclamped(a, n, last, topk):
    """c in [0, n]: the first c of the n terms a, a + 1, ..., last = a + n - 1 need no clamp
    and the others are topk (a term equal to topk may count either way). Only values that
    fit int32 are compared or subtracted: when some term exceeds topk, topk - a <= n - 1."""
    return tl.where(last <= topk, n, tl.maximum(topk - a, 0))


@triton.jit
def _clamped_sum(a, n, c, topk):
    """sum(min(a + d, topk) for d in range(n)), given c = _unclamped(...), in int32 modulo
    2**32: every step is a ring operation, so the result is exact wherever the contract
    bounds the sum (inside int32)."""
    half = tl.where((c & 1) == 0, (c >> 1) * (c - 1), c * ((c - 1) >> 1))  # c * (c - 1) / 2
    return c * a + half + (n - c) * topk


@triton.jit
def _store_rows(
    ptr, s0, col, values, mask, start, e, split, n_split, e_max, rows_cap, ED: tl.constexpr
):
    """Store the [RB, BW] tile `values` (column offsets `col`, [1, BW]) to rows
    start + d of each request for d < e, d = split, split + n_split, ...; ED rows a step."""
    if ED == 1:
        for d in range(split, e_max, n_split):
            t = start + d
            ok = (d < e) & (t >= 0) & (t < rows_cap)
            tl.store(ptr + t[:, None] * s0 + col, values, mask=mask & ok[:, None])
    else:
        for d0 in range(split * ED, e_max, n_split * ED):
            d = d0 + tl.arange(0, ED).to(tl.int64)[None, :]
            t = start[:, None] + d
            ok = (d < e[:, None]) & (t >= 0) & (t < rows_cap)
            dst = ptr + t[:, :, None] * s0 + col[:, None, :]
            tl.store(dst, values[:, None, :], mask=mask[:, None, :] & ok[:, :, None])


@triton.jit
def _page_firsts(src, qs, mask, r2t_s1, page_size, PAGE_SHIFT: tl.constexpr):
    """The req_to_token cells of pages `qs` (their first columns) of rows `src`."""
    if PAGE_SHIFT >= 0:
        return tl.load(src + (qs << PAGE_SHIFT) * r2t_s1, mask=mask, other=0)
    return tl.load(src + (qs * page_size) * r2t_s1, mask=mask, other=0)


@triton.jit
def _pages(firsts, page_size, PAGE_SHIFT: tl.constexpr):
    """Page numbers of cells `firsts`, which are >= 0 (the contract): with PAGE_SHIFT, a
    shift is their floor division."""
    if PAGE_SHIFT >= 0:
        return firsts >> PAGE_SHIFT
    return firsts // page_size


@triton.jit
def _divmod_id(q, n, SHIFT: tl.constexpr, it: tl.constexpr):
    """(q % n, q // n) of type `it` for a program id q >= 0. With SHIFT >= 0 (n is 2**SHIFT)
    a mask and a shift: an integer division is ~25 instructions, before any load of the
    program can go out (none at all when n == 1)."""
    if SHIFT == 0:
        rem = tl.zeros((), dtype=it)
        quot = q.to(it)
    elif SHIFT > 0:
        rem = q.to(it) & ((1 << SHIFT) - 1)
        quot = q.to(it) >> SHIFT
    else:
        rem = (q % n).to(it)
        quot = (q // n).to(it)
    return rem, quot


@triton.jit
def _requests(
    req, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, kv_add, e_fixed, VAR: tl.constexpr
):
    """(mask, e, kv) of requests `req`, int32 (the contract bounds both), zero past bs."""
    rm = req < bs
    if VAR:
        e = tl.load(ext_ptr + req * stride_ext, mask=rm, other=0).to(tl.int32)
    else:
        e = tl.zeros_like(req).to(tl.int32) + e_fixed
    e = tl.where(rm, e, 0)
    kv = tl.load(seq_ptr + req * stride_seq, mask=rm, other=0).to(tl.int32) + kv_add
    kv = tl.where(rm, kv, 0)
    return rm, e, kv


@triton.jit
def _share(rm, e, kv, topk):
    """(share, c): each request's share of dsa_cu_seqlens_k (the sum of its rows' clamped
    values) and _unclamped's count of its rows (row d's own count is min(c, d + 1))."""
    a = kv - e + 1
    c = _unclamped(a, e, kv, topk)
    return tl.where(rm & (e > 0), _clamped_sum(a, e, c, topk), 0), c


@triton.jit
def _prior_sums(idx, i0, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, topk, kv_add, e_fixed,
                VAR: tl.constexpr):  # fmt: skip
    """Over the requests `idx` below i0: the sums of e, of kv and of the requests' shares of
    dsa_cu_seqlens_k (int32, modulo 2**32: exact for every sum the contract bounds)."""
    m, e, kv = _requests(idx, seq_ptr, ext_ptr, stride_seq, stride_ext, i0, kv_add, e_fixed, VAR)
    share, _ = _share(m, e, kv, topk)
    return tl.sum(e, axis=0), tl.sum(kv, axis=0), tl.sum(share, axis=0)


_SCALARS = [
    "stride_seq",
    "stride_ext",
    "stride_r",
    "st_cache",
    "st_cu",
    "st_se",
    "st_dc",
    "st_dcu",
    "bs",
    "pool",
    "topk",
    "kv_add",
    "e_fixed",
    "page_size",
    "rows_cap",
    "dcu_cap",
    "n_scalar",
    "n_chunk",
    "n_split",
]
_POINTERS = ["seq_ptr", "ext_ptr", "r_ptr", "cache_ptr", "cu_ptr", "se_ptr", "dc_ptr", "dcu_ptr"]


@triton.jit
def _scalar_program(
    q,
    seq_ptr,
    ext_ptr,
    cache_ptr,
    cu_ptr,
    se_ptr,
    dc_ptr,
    dcu_ptr,
    stride_seq,
    stride_ext,
    st_cache,
    st_cu,
    st_se,
    st_dc,
    st_dcu,
    bs,
    topk,
    kv_add,
    e_fixed,
    rows_cap,
    dcu_cap,
    n_split,
    VAR: tl.constexpr,
    SB: tl.constexpr,
    RS: tl.constexpr,
    SUM_S: tl.constexpr,
    EB: tl.constexpr,
    NARROW: tl.constexpr,
    SPLIT_SHIFT: tl.constexpr,
    ONE_SUM: tl.constexpr,
):
    """Requests [i0, i0 + SB): kv, cu_seqlens_k, and their rows' three scalars (rows d of
    each request with d % n_split == split); the running sums start from the program's own
    sum over the requests before i0. Values and running sums are int32, wrapping: the
    contract bounds every output and partial sum inside int32, so the sums modulo 2**32
    are exact (garbage with validation off only moves rows, kept in [0, rows_cap)); with
    NARROW, request indices and addresses are int32 too."""
    it = tl.int32 if NARROW else tl.int64
    split, block = _divmod_id(q, n_split, SPLIT_SHIFT, it)
    i0 = block * SB
    # The first block's loads go first: in flight with those of the requests before i0.
    req = i0 + tl.arange(0, RS).to(it)
    rm, e, kv = _requests(req, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, kv_add, e_fixed, VAR)
    acc_e = tl.zeros((), dtype=tl.int32)
    acc_kv = tl.zeros((), dtype=tl.int32)
    acc_sum = tl.zeros((), dtype=tl.int32)
    if ONE_SUM:  # bs <= SUM_S: one masked load of the requests before i0
        if i0 > 0:
            idx = tl.arange(0, SUM_S).to(it)
            acc_e, acc_kv, acc_sum = _prior_sums(
                idx, i0, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, topk, kv_add, e_fixed, VAR
            )
    else:
        for base in range(0, i0, SUM_S):
            idx = base + tl.arange(0, SUM_S).to(it)
            add_e, add_kv, add_sum = _prior_sums(
                idx, i0, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, topk, kv_add, e_fixed, VAR
            )
            acc_e += add_e
            acc_kv += add_kv
            acc_sum += add_sum
    zero = tl.zeros((), dtype=tl.int32)
    tl.store(cu_ptr, zero, mask=(i0 == 0) & (split == 0))
    tl.store(dcu_ptr, zero, mask=(i0 == 0) & (split == 0) & (dcu_cap > 0))
    for sb in range(0, SB, RS):
        if sb > 0:
            req = i0 + sb + tl.arange(0, RS).to(it)
            rm, e, kv = _requests(
                req, seq_ptr, ext_ptr, stride_seq, stride_ext, bs, kv_add, e_fixed, VAR
            )
        a = kv - e + 1
        share, c0 = _share(rm, e, kv, topk)
        start = acc_e + tl.cumsum(e, axis=0) - e
        cu = acc_kv + tl.cumsum(kv, axis=0)
        before = acc_sum + tl.cumsum(share, axis=0) - share
        acc_e += tl.sum(e, axis=0)
        acc_kv += tl.sum(kv, axis=0)
        acc_sum += tl.sum(share, axis=0)
        mine = rm & ((req * 0 + split) == 0)  # block-shaped: the interpreter's & needs it
        tl.store(cache_ptr + req * st_cache, kv.to(tl.int32), mask=mine)
        tl.store(cu_ptr + (req + 1) * st_cu, cu.to(tl.int32), mask=mine)
        e_max = tl.minimum(tl.max(e, axis=0), rows_cap)  # garbage e (validate=False) cannot spin
        for d0 in range(split * EB, e_max, n_split * EB):
            d = d0 + tl.arange(0, EB)[None, :]
            t = start[:, None] + d
            mask = (d < e[:, None]) & (t >= 0) & (t < rows_cap)
            value = a[:, None] + d
            c = tl.minimum(c0[:, None], d + 1)  # row d's unclamped terms
            running = before[:, None] + _clamped_sum(a[:, None], d + 1, c, topk)
            ti = t.to(it)  # in [0, rows_cap) wherever the mask holds
            tl.store(se_ptr + ti * st_se, value.to(tl.int32), mask=mask)
            tl.store(dc_ptr + ti * st_dc, tl.minimum(value, topk).to(tl.int32), mask=mask)
            tl.store(dcu_ptr + (ti + 1) * st_dcu, running.to(tl.int32), mask=mask)


@triton.jit
def _page_requests(req, ext_ptr, r_ptr, stride_ext, stride_r, bs, e_fixed, rows_cap,
                   it: tl.constexpr, VAR: tl.constexpr):  # fmt: skip
    """(mask, e, pool row) of requests `req`, of type `it`, zero past bs. Extends are
    capped at rows_cap: the rows written are the same (a request's rows past the capacity
    are never written, nor any row after them), and garbage extends with validation off
    cannot make the row loops spin (a cap on the loop bound itself cost 0.1 us at bs 32)."""
    rm = req < bs
    if VAR:
        e = tl.minimum(tl.load(ext_ptr + req * stride_ext, mask=rm, other=0).to(it), rows_cap)
    else:
        e = tl.zeros_like(req) + e_fixed
    e = tl.where(rm, e, 0)
    pool_row = tl.load(r_ptr + req * stride_r, mask=rm, other=0).to(it)
    return rm, e, pool_row


@triton.jit
def _page_program(
    q,
    ext_ptr,
    r_ptr,
    r2t_ptr,
    pt_ptr,
    rpt_ptr,
    stride_ext,
    stride_r,
    r2t_s0,
    r2t_s1,
    pt_s0,
    pt_s1,
    rpt_s0,
    rpt_s1,
    bs,
    pool,
    e_fixed,
    page_size,
    width,
    rows_cap,
    n_chunk,
    n_split,
    chunk_w,
    VAR: tl.constexpr,
    HAS_RPT: tl.constexpr,
    BR: tl.constexpr,
    RB: tl.constexpr,
    SUM_P: tl.constexpr,
    BW: tl.constexpr,
    BQ: tl.constexpr,
    ED: tl.constexpr,
    NARROW: tl.constexpr,
    SPLIT_SHIFT: tl.constexpr,
    CHUNK_SHIFT: tl.constexpr,
    PAGE_SHIFT: tl.constexpr,
    ONE_SUM: tl.constexpr,
    EARLY: tl.constexpr,
    EARLY_Q: tl.constexpr,
):
    """Requests [i0, i0 + BR) x columns [c0, c0 + chunk_w) of both page tables, rows d of
    each request with d % n_split == split: one read of req_to_token per request and
    column tile, stored to each of its rows. With NARROW every index is int32 (the host
    saw every buffer's extent under 2**31; rows and running sums of valid input fit int32,
    garbage only moves rows, which stay masked into [0, rows_cap)); SPLIT_SHIFT and
    CHUNK_SHIFT (log2 of n_split and n_chunk, -1 if not a power of two) spare the divisions
    of the program id; PAGE_SHIFT >= 0 is log2(page_size);
    EARLY (draft_extend_var, one block of RB requests, one tile) loads the tile before the
    sum of earlier extends, and EARLY_Q (the chunk's pages in one [RB, BQ] block) loads
    real_page_table's cells with it, before any store."""
    it = tl.int32 if NARROW else tl.int64
    split, rest = _divmod_id(q, n_split, SPLIT_SHIFT, it)
    chunk, block = _divmod_id(rest, n_chunk, CHUNK_SHIFT, it)
    i0 = block * BR
    # The first block's loads go first (its pool rows too: every request's pool index is in
    # the contract), in flight with those of the extends before i0.
    req = i0 + tl.arange(0, RB).to(it)
    rm, e, pool_row = _page_requests(req, ext_ptr, r_ptr, stride_ext, stride_r, bs, e_fixed,
                                     rows_cap, it, VAR)  # fmt: skip
    c0 = tl.multiple_of(chunk * chunk_w, BW)
    c1 = tl.minimum(c0 + chunk_w, width)
    if EARLY:
        # The tile's req_to_token cells are loaded before the sum of the extends before i0,
        # so that both are in flight.
        live = rm & (e > 0)
        src = r2t_ptr + tl.minimum(tl.maximum(pool_row, 0), pool - 1)[:, None] * r2t_s0
        c = c0 + tl.arange(0, BW).to(it)[None, :]
        first_cells = tl.load(src + c * r2t_s1, mask=live[:, None] & (c < width), other=0)
    else:
        first_cells = tl.zeros((RB, BW), dtype=r2t_ptr.dtype.element_ty)
    if VAR:
        # Rows before the block: int32 loads and sums (T fits in int32 when validated;
        # garbage only moves rows, which stay masked into [0, rows_cap)).
        acc_e = _sum_before(ext_ptr, stride_ext, i0, SUM_P, ONE_SUM, it)
    else:
        acc_e = i0 * e_fixed
    if HAS_RPT:
        # Pages q whose first column q * page_size lies in [c0, c1): ceil(c / page_size)
        # without c + page_size - 1, which wraps int32 when width + page_size > 2**31.
        if PAGE_SHIFT >= 0:
            q_lo = (c0 >> PAGE_SHIFT) + ((c0 & (page_size - 1)) != 0).to(c0.dtype)
            q_hi = (c1 >> PAGE_SHIFT) + ((c1 & (page_size - 1)) != 0).to(c1.dtype)
        else:
            q_lo = c0 // page_size + ((c0 % page_size) != 0).to(c0.dtype)
            q_hi = c1 // page_size + ((c1 % page_size) != 0).to(c1.dtype)
    for sb in range(0, BR, RB):
        if sb > 0:
            req = i0 + sb + tl.arange(0, RB).to(it)
            rm, e, pool_row = _page_requests(
                req, ext_ptr, r_ptr, stride_ext, stride_r, bs, e_fixed, rows_cap, it, VAR
            )
        live = rm & (e > 0)  # a request with no row reads no req_to_token cell
        pool_row = tl.minimum(tl.maximum(pool_row, 0), pool - 1)
        src = r2t_ptr + pool_row[:, None] * r2t_s0
        if EARLY_Q:
            # The chunk's pages fit one [RB, BQ] block: their cells are loaded with the
            # first tile's, not after its stores.
            early_qs = q_lo + tl.arange(0, BQ).to(it)[None, :]
            early_mask = live[:, None] & (early_qs < q_hi)
            early_firsts = _page_firsts(src, early_qs, early_mask, r2t_s1, page_size, PAGE_SHIFT)
        start = acc_e + tl.cumsum(e, axis=0) - e
        acc_e += tl.sum(e, axis=0)
        e_max = tl.max(e, axis=0)
        for cb in range(c0, c1, BW):
            # chunk_w is a multiple of BW: only `width` cuts a tile (a mask the compiler can
            # vectorise when width is a multiple of 16, which the JIT specialises on).
            c = cb + tl.arange(0, BW).to(it)[None, :]
            mask_c = live[:, None] & (c < width)
            if EARLY:
                if cb == c0:
                    cells = first_cells
                else:
                    cells = tl.load(src + c * r2t_s1, mask=mask_c, other=0)
            else:
                cells = tl.load(src + c * r2t_s1, mask=mask_c, other=0)
            _store_rows(
                pt_ptr, pt_s0, c * pt_s1, cells, mask_c, start, e, split, n_split, e_max,
                rows_cap, ED,
            )  # fmt: skip
        if HAS_RPT:
            if EARLY_Q:
                pages = _pages(early_firsts, page_size, PAGE_SHIFT)
                _store_rows(
                    rpt_ptr, rpt_s0, early_qs * rpt_s1, pages, early_mask, start, e,
                    split, n_split, e_max, rows_cap, ED,
                )  # fmt: skip
            else:
                for qb in range(q_lo, q_hi, BQ):
                    qs = qb + tl.arange(0, BQ).to(it)[None, :]
                    mask_q = live[:, None] & (qs < q_hi)
                    firsts = _page_firsts(src, qs, mask_q, r2t_s1, page_size, PAGE_SHIFT)
                    pages = _pages(firsts, page_size, PAGE_SHIFT)
                    _store_rows(
                        rpt_ptr, rpt_s0, qs * rpt_s1, pages, mask_q, start, e,
                        split, n_split, e_max, rows_cap, ED,
                    )  # fmt: skip


@triton.jit(do_not_specialize=_SCALARS, do_not_specialize_on_alignment=_POINTERS)
def _metadata_kernel(
    seq_ptr,
    ext_ptr,
    r_ptr,
    r2t_ptr,
    cache_ptr,
    cu_ptr,
    se_ptr,
    dc_ptr,
    dcu_ptr,
    pt_ptr,
    rpt_ptr,
    stride_seq,
    stride_ext,
    stride_r,
    r2t_s0,
    r2t_s1,
    st_cache,
    st_cu,
    st_se,
    st_dc,
    st_dcu,
    pt_s0,
    pt_s1,
    rpt_s0,
    rpt_s1,
    bs,
    pool,
    topk,
    kv_add,
    e_fixed,
    page_size,
    width,
    rows_cap,
    dcu_cap,
    n_scalar,
    n_chunk,
    n_split,
    chunk_w,
    VAR: tl.constexpr,
    HAS_RPT: tl.constexpr,
    SB: tl.constexpr,
    RS: tl.constexpr,
    SUM_S: tl.constexpr,
    EB: tl.constexpr,
    BR: tl.constexpr,
    RB: tl.constexpr,
    SUM_P: tl.constexpr,
    BW: tl.constexpr,
    BQ: tl.constexpr,
    ED: tl.constexpr,
    NARROW: tl.constexpr,
    SPLIT_SHIFT: tl.constexpr,
    CHUNK_SHIFT: tl.constexpr,
    PAGE_SHIFT: tl.constexpr,
    ONE_SUM_S: tl.constexpr,
    ONE_SUM_P: tl.constexpr,
    EARLY: tl.constexpr,
    EARLY_Q: tl.constexpr,
):
    """Programs [0, n_scalar) are scalar programs, the others page programs (see the module
    docstring)."""
    pid = tl.program_id(0)
    if pid < n_scalar:
        _scalar_program(
            pid, seq_ptr, ext_ptr, cache_ptr, cu_ptr, se_ptr, dc_ptr, dcu_ptr, stride_seq,
            stride_ext, st_cache, st_cu, st_se, st_dc, st_dcu, bs, topk, kv_add, e_fixed,
            rows_cap, dcu_cap, n_split, VAR, SB, RS, SUM_S, EB, NARROW, SPLIT_SHIFT, ONE_SUM_S,
        )  # fmt: skip
    else:
        _page_program(
            pid - n_scalar, ext_ptr, r_ptr, r2t_ptr, pt_ptr, rpt_ptr, stride_ext, stride_r,
            r2t_s0, r2t_s1, pt_s0, pt_s1, rpt_s0, rpt_s1, bs, pool, e_fixed, page_size, width,
            rows_cap, n_chunk, n_split, chunk_w, VAR, HAS_RPT, BR, RB, SUM_P, BW, BQ, ED,
            NARROW, SPLIT_SHIFT, CHUNK_SHIFT, PAGE_SHIFT, ONE_SUM_P, EARLY, EARLY_Q,
        )  # fmt: skip


INTERPRETED = interpreting()  # fixed once Triton is imported
# GPU plan (module constants so that tests can shrink them under the interpreter):
TARGET = 1024  # page programs a launch aims for (H100/H200: 132 SMs, ~8 each)
TARGET_VAR = 4096  # ... in draft_extend_var from bs TARGET_VAR_BS where a request's rows hold
TARGET_VAR_BS = 32  # VAR_CELLS cells or more (capacity / bs x width): programs of requests
VAR_CELLS = 8192  # with no row end at once, so more column chunks keep the live ones busy
TARGET_VAR_NARROW = 512  # ... and on narrower rows from bs NARROW_VAR_BS: programs of more
NARROW_VAR_BS = 8192  # requests each (H100, s24: bs 8192 N 1 W 2048 P 1 32 -> 29 us)
TILE = 2048  # elements of one [RB, BW] page tile: 16 a thread at 4 warps
SMALL_TILE = 1024  # ... up to bs SMALL_BS: one request a tile, twice the programs
SMALL_BS = 128
NUM_WARPS = 4  # warps a program
SMALL_NUM_WARPS = 4  # ... up to bs SMALL_BS
BIG_NUM_WARPS = 8  # ... above bs BIG_BS, fixed-width modes
BIG_BS = 2048
MAX_SPLIT = 64  # programs sharing one request's rows
SPLIT_ROWS = 8  # rows per request before they are split over programs
MIN_PAGE_PROGRAMS = 64  # ... or fewer page programs than this: split rows to reach it
SUM_BLOCK = 2048  # page programs' int32 loads of extends (draft_extend_var)
SCALAR_REQS = 128  # requests of a scalar program (one load each, no chain of sub-blocks)
SCALAR_SUB = 128  # ... walked in sub-blocks of this many
SCALAR_REQS_VAR = 128  # ... in draft_extend_var (extends loaded, more work a request)
SUM_SCALAR = 1024  # scalar programs' loads of the requests before theirs
EARLY_BS = 128  # draft_extend_var up to this bs, one tile a page program: early loads (EARLY)
MAX_BW = 1024  # columns of a tile at most while the tile holds several requests
WIDE_TILE = 2048  # one row a request: a chunk of a few tiles becomes one tile up to this
# (4 warps: 55 registers at 2048 elements, 96 at 4096, 217 at 8192)


def _log2_or_minus_1(n: int) -> int:
    """log2(n) for a power of two n >= 1, else -1."""
    return n.bit_length() - 1 if n > 0 and n & (n - 1) == 0 else -1


def _pow2(n: int) -> int:
    """The least power of two >= max(n, 1) (plain Python: this runs on every call)."""
    return 1 << (max(int(n), 1) - 1).bit_length()


_plans: dict[tuple, dict] = {}


def cached_plan(
    bs: int, width: int, page_size: int, rows: int, interpreted: bool, var: bool = False
) -> dict:
    """plan(), memoised on its arguments and the module's plan constants."""
    key = (bs, width, page_size, rows, interpreted, var, TARGET, TARGET_VAR, TARGET_VAR_BS, VAR_CELLS, TARGET_VAR_NARROW, NARROW_VAR_BS, TILE, SMALL_TILE, SMALL_BS, MAX_SPLIT, SPLIT_ROWS, MIN_PAGE_PROGRAMS,
           SUM_BLOCK, SCALAR_REQS, SCALAR_SUB, SCALAR_REQS_VAR, SUM_SCALAR, WIDE_TILE, MAX_BW)  # fmt: skip
    found = _plans.get(key)
    if found is None:
        if len(_plans) > 4096:
            _plans.clear()
        found = _plans[key] = plan(bs, width, page_size, rows, interpreted=interpreted, var=var)
    return found


def plan(
    bs: int, width: int, page_size: int, rows: int, *, interpreted: bool, var: bool = False
) -> dict:
    """The kernel's constexprs and the grid's shape: n_scalar scalar programs (n_sb blocks
    of SB requests x n_split), then n_rb x n_chunk x n_split page programs of BR requests
    and chunk_w columns.

    On a GPU: [RB, BW] page tiles of TILE elements (SMALL_TILE up to bs SMALL_BS, where
    more programs of one request each finish sooner), BW up to 1024 columns (wider when few
    requests); about TARGET page programs, first by splitting the columns into chunks, then
    by giving each program more requests (BR). `rows` (T or the capacity) only sizes the
    row splits. The interpreter pays per op, not per lane: there one wide program of each
    kind does it all."""
    rows_per_req = -(-max(rows, 1) // max(bs, 1))
    pages = -(-width // page_size)
    if interpreted:
        rb = min(_pow2(bs), 64)
        bw = min(_pow2(width), max(16, TILE // rb))
        rs = _pow2(bs)
        return {
            "SB": rs,
            "RS": rs,
            "SUM_S": 16,
            "EB": min(_pow2(rows_per_req), max(1, 2**16 // rs)),
            "BR": rb * _pow2(-(-max(bs, 1) // rb)),
            "RB": rb,
            "SUM_P": 16,
            "BW": bw,
            "BQ": min(_pow2(pages), max(16, TILE // rb)),
            "ED": min(_pow2(rows_per_req), max(1, 2**16 // (rb * bw))),
            "n_scalar": 1,
            "n_rb": 1,
            "n_chunk": 1,
            "n_split": 1,
            "chunk_w": bw * -(-width // bw),
        }
    reqs = SCALAR_REQS_VAR if var else SCALAR_REQS
    rs = min(_pow2(bs), SCALAR_SUB, reqs)
    sb = max(rs, min(_pow2(bs), reqs))
    tile = SMALL_TILE if bs <= SMALL_BS else TILE
    rb = min(_pow2(bs), max(1, tile // min(_pow2(width), MAX_BW)))
    bw = min(_pow2(width), tile // rb)
    tiles = -(-width // bw)
    n_rb = -(-max(bs, 1) // rb)
    n_split = min(max(rows_per_req // SPLIT_ROWS, 1), MAX_SPLIT)
    # draft_extend_var: a request's programs with no row end at once, so on wide rows more
    # column chunks keep the live ones busy (H100, s21/call2: bs 1024 N 1 W 65536 P 64
    # 124 -> 112 us); on narrow ones each more program sums more earlier extends (bs 4096 N 1
    # W 2048 P 64 9.7-10.2 -> 12.7-12.8 us), so they keep TARGET, or fewer from
    # NARROW_VAR_BS (s24/c5, same call: bs 8192 N 1 W 2048 P 1 32.1-32.3 -> 28.9-29.1 us, bs
    # 16384 63.1-63.7 -> 56.9-57.2, P 64 2-5% faster; at bs 4096 within noise or 0-1 us
    # slower, s24/c1-c2). There the extends' sums do not cost it (a probe without them was
    # no faster): programs of 8-16 requests x 2048 columns, run as 1024.
    wide_rows = rows_per_req * width >= VAR_CELLS
    if var and bs >= TARGET_VAR_BS and wide_rows:
        target = TARGET_VAR
    elif var and bs >= NARROW_VAR_BS:
        target = TARGET_VAR_NARROW
    else:
        target = TARGET
    if n_rb * tiles * n_split < MIN_PAGE_PROGRAMS:
        # Few programs for the GPU (small bs and width): split each request's rows further.
        wanted = -(-MIN_PAGE_PROGRAMS // (n_rb * tiles))
        n_split = max(n_split, min(rows_per_req, wanted, MAX_SPLIT))
    if n_rb * tiles * n_split <= target:
        br, n_chunk = rb, tiles
    elif n_rb * n_split <= target:
        br, n_chunk = rb, max(1, target // (n_rb * n_split))
    else:
        br, n_chunk = rb * _pow2(-(-n_rb * n_split // target)), 1
    per_chunk = -(-tiles // n_chunk)
    wide = _pow2(per_chunk)
    if per_chunk > 1 and br == rb and rows_per_req == 1 and rb * bw * wide <= WIDE_TILE:
        # A chunk of a few tiles is one wider tile: its loads go out together, not one
        # tile's after the previous tile's stores. Measured (H100, s17_ab/call1): 0.05-0.2
        # us faster at one row a request; at 4 (page size 64) up to 0.6 us slower.
        bw = min(bw * wide, _pow2(width))
        tiles = -(-width // bw)
        n_chunk, per_chunk = tiles, 1
    chunk_w = per_chunk * bw
    return {
        "SB": sb,
        "RS": rs,
        "SUM_S": min(SUM_SCALAR, max(16, _pow2(bs))),
        "EB": 1,  # a [RS] vector a row: few registers, no loads in the row loop
        "BR": br,
        "RB": rb,
        "SUM_P": min(SUM_BLOCK, max(16, _pow2(bs))),
        "BW": bw,
        "BQ": min(_pow2(-(-chunk_w // page_size)), max(1, tile // (4 * rb))),  # strided loads
        "ED": 1,
        "n_scalar": -(-max(bs, 1) // sb) * n_split,
        "n_rb": -(-max(bs, 1) // br),
        "n_chunk": -(-tiles // per_chunk),
        "n_split": n_split,
        "chunk_w": chunk_w,
    }


def launch_args(
    mode: str,
    seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    extend_seq_lens: torch.Tensor | None,
    *,
    topk: int,
    width: int,
    page_size: int,
    next_n: int,
    out,
    rows: int | None,
    interpreted: bool | None = None,
) -> tuple[tuple[int], tuple, dict]:
    """(grid, positional arguments, constexprs) of the one launch for this call."""
    bs = seq_lens.numel()
    e_fixed = rows_per_request(mode, next_n)
    var = e_fixed is None
    rows_cap = row_capacity(out) if rows is None else rows
    has_rpt = out.real_page_table is not None
    if interpreted is None:
        interpreted = INTERPRETED
    p = dict(cached_plan(bs, width, page_size, rows_cap, interpreted, var))
    n_scalar, n_rb, n_chunk, n_split, chunk_w = (
        p.pop(k) for k in ("n_scalar", "n_rb", "n_chunk", "n_split", "chunk_w")
    )
    rpt = out.real_page_table if has_rpt else out.page_table_1
    ext = extend_seq_lens if var else seq_lens
    args = (
        seq_lens,
        ext,
        req_pool_indices,
        req_to_token,
        *out[:6],
        rpt,
        seq_lens.stride(0),
        ext.stride(0),
        req_pool_indices.stride(0),
        req_to_token.stride(0),
        req_to_token.stride(1),
        *(b.stride(0) for b in out[:5]),
        out.page_table_1.stride(0),
        out.page_table_1.stride(1),
        rpt.stride(0),
        rpt.stride(1),
        bs,
        max(req_to_token.shape[0], 1),
        topk,
        next_n if mode == "target_verify" else 0,
        e_fixed or 0,
        page_size,
        width,
        rows_cap,
        out.dsa_cu_seqlens_k.shape[0],
        n_scalar,
        n_chunk,
        n_split,
        chunk_w,
    )
    # A page program of one tile at small bs (draft_extend_var) loads its req_to_token cells,
    # both tables', before the sum of earlier extends: its one chain is shorter. Measured
    # (benchmarks/results/h100/s16_ab/variants.txt): bs 1-32 W 2048 0.1 us faster, and
    # slower where programs do several tiles (bs 32 W 65536) or at bs 512 and above.
    early = var and bs <= EARLY_BS and p["BR"] == p["RB"] and chunk_w == p["BW"]
    constexprs = {
        "VAR": var,
        "HAS_RPT": has_rpt,
        **p,
        "NARROW": _reach(args, bs, width, rows_cap) <= NARROW_LIMIT,
        "SPLIT_SHIFT": _log2_or_minus_1(n_split),
        "CHUNK_SHIFT": _log2_or_minus_1(n_chunk),
        "ONE_SUM_S": bs <= p["SUM_S"],
        "ONE_SUM_P": bs <= p["SUM_P"],
        "PAGE_SHIFT": _log2_or_minus_1(page_size),
        "EARLY": early,
        "EARLY_Q": early and has_rpt and page_size * p["BQ"] >= chunk_w,
    }
    # Page programs write only page-table rows: with none to write (bs 0, T 0, or no row
    # of capacity) launch none, else they would walk every column of the width for nothing.
    n_page = n_rb * n_chunk * n_split if bs and rows_cap else 0
    return (n_scalar + n_page,), args, constexprs


# Index arithmetic is int32 when every tensor's extent is at most this (a module constant
# so that tests can force the int64 variant on small tensors).
NARROW_LIMIT = 2**31 - 1


def _reach(args: tuple, bs: int, width: int, rows_cap: int) -> int:
    """A bound on every element offset the launch computes for a lane it does not mask:
    request indices < bs (+1 for cu_seqlens_k), rows < rows_cap (+1 for dsa_cu_seqlens_k),
    pool rows < pool, columns < width. Plain integer arithmetic: this runs every call."""
    (s_seq, s_ext, s_r, r2t_s0, r2t_s1, s_cache, s_cu, s_se, s_dc, s_dcu, pt_s0, pt_s1, rpt_s0,
     rpt_s1) = args[11:25]  # fmt: skip
    pool, rows = args[26], rows_cap + 1
    return max(
        (bs + 1) * max(s_seq, s_ext, s_r, s_cache, s_cu),
        rows * max(s_se, s_dc, s_dcu),
        pool * r2t_s0 + width * r2t_s1,
        rows * pt_s0 + width * pt_s1,
        rows * rpt_s0 + width * rpt_s1,
    )


# Eager fast path (nsa_meta.launcher, as v1's): calls after the first with the same
# specialisation skip the JIT's per-call binding of ~40 arguments and call the compiled
# variant's launcher directly. The key holds everything the JIT specialises on: the index
# dtypes, the current device, 16-byte alignment of the pointers it may assume aligned,
# `== 1` and `% 16` of the integers it may specialise, every integer's width (i32, i64,
# u64), and the constexprs. Any surprise from this Triton version turns the path off.
_ARG_NAMES = list(_metadata_kernel.arg_names)
_CONSTEXPRS = _ARG_NAMES[_ARG_NAMES.index("VAR") :]
_N_TENSORS = _ARG_NAMES.index("stride_seq")
_ALIGNED = [i for i, n in enumerate(_ARG_NAMES[:_N_TENSORS]) if n not in _POINTERS]
_VALUED = [
    i - _N_TENSORS
    for i, n in enumerate(_ARG_NAMES[: len(_ARG_NAMES) - len(_CONSTEXPRS)])
    if i >= _N_TENSORS and n not in _SCALARS
]
_fast = FastLaunches(enabled=not INTERPRETED)


def _int_kind(v: int) -> int:
    return 0 if -(2**31) <= v < 2**31 else 1 if -(2**63) <= v < 2**63 else 2


def specialisation_key(args: tuple, constexprs: dict) -> tuple:
    """What selects a compiled variant of _metadata_kernel for these arguments."""
    ints = args[_N_TENSORS:]
    device = args[0].device
    return (
        tuple(a.dtype for a in args[:_N_TENSORS]),
        device.type,
        torch.cuda.current_device() if device.type == "cuda" else device.index,
        tuple(args[i].data_ptr() % 16 == 0 for i in _ALIGNED),
        tuple((ints[i] == 1, ints[i] % 16 == 0) for i in _VALUED),
        tuple(_int_kind(v) for v in ints),
        tuple(constexprs[n] for n in _CONSTEXPRS),
    )


_I_BS = _ARG_NAMES.index("bs")


def num_warps(bs: int, var: bool = False) -> int:
    """Warps a program: SMALL_NUM_WARPS up to bs SMALL_BS, BIG_NUM_WARPS above BIG_BS
    (fixed-width modes: their page programs are the long pole there; draft_extend_var's
    scalar programs lose more), NUM_WARPS between (4 under the interpreter, where they
    change nothing)."""
    if INTERPRETED:
        return 4
    if bs <= SMALL_BS:
        return SMALL_NUM_WARPS
    return BIG_NUM_WARPS if bs > BIG_BS and not var else NUM_WARPS


def _launch(grid: tuple[int], args: tuple, constexprs: dict) -> None:
    warps = num_warps(args[_I_BS], constexprs["VAR"])
    key = (*specialisation_key(args, constexprs), warps) if _fast.on else None
    if key is not None and _fast.launch(key, grid[0], args):
        return
    compiled = _metadata_kernel[grid](*args, num_warps=warps, **constexprs)
    if key is not None:
        in_order = {n: constexprs[n] for n in _CONSTEXPRS}
        index = torch.cuda.current_device() if args[0].is_cuda else None
        _fast.remember(key, compiled, in_order, index)


def metadata_into(
    mode: str,
    seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    extend_seq_lens: torch.Tensor | None,
    *,
    topk: int,
    width: int,
    page_size: int,
    next_n: int,
    out,
    rows: int | None,
) -> None:
    """Write the contract's region of `out` in one launch; `rows` is T when the host knows
    it, else None (then rows are kept below the buffers' capacity)."""
    grid, args, constexprs = launch_args(
        mode,
        seq_lens,
        req_pool_indices,
        req_to_token,
        extend_seq_lens,
        topk=topk,
        width=width,
        page_size=page_size,
        next_n=next_n,
        out=out,
        rows=rows,
    )
    _launch(grid, args, constexprs)

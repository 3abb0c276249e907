"""Stand-ins for metadata kernels written outside this project, in the design upstream ships:
one program does every running sum, then a 2-D grid gathers the page tables, each row finding
its request by scanning the batch. Written clean-room from CONTRACT_V2.md, for rehearsing
`python -m fuzz run --op metadata` on kernels that look like what engineers ship.

`upstream_style` (alias `correct_upstream_style`) honours the whole contract: every stride,
int32/int64 inputs, bs 0, T 0, no host sync. `upstream_style_envelope` ignores strides and
declares `{"contiguous": True}`. Each `bug_*` is `upstream_style` with ONE bug (see HUNT).
"""

from __future__ import annotations

import weakref

import torch
import triton
import triton.language as tl

MAX_SUM_BLOCK = 4096  # requests per step of the running-sum program (it loops past this)
MAX_TILE = 4096  # requests x rows per step of its row writes
ROWS = 64  # page-table rows per program
MAX_COLS = 128  # page-table columns per program
MAX_SCAN = 512  # requests per step of a row program's scan (draft_extend_var)


@triton.jit
def _clamped_sum(first, n, topk, BUG_INT32: tl.constexpr):
    """sum of min(first + d, topk) for d < n, in closed form (int64): n_low of the values lie
    below topk, the rest are clamped to it."""
    big_k = topk.to(tl.int64)
    if BUG_INT32:
        n_low = topk - first.to(tl.int32)  # wraps when topk is near 2**31 - 1
        n_low = tl.minimum(tl.maximum(n_low, 0).to(tl.int64), n)
    else:
        n_low = tl.minimum(tl.maximum(big_k - first, 0), n)
    return n_low * first + n_low * (n_low - 1) // 2 + (n - n_low) * big_k


@triton.jit(do_not_specialize=["bs", "topk", "kv_add", "e_fixed"])
def _sums_kernel(
    seq_ptr,
    seq_st,
    ext_ptr,
    ext_st,
    bs,
    topk,
    kv_add,
    e_fixed,
    cache_ptr,
    cache_st,
    cu_ptr,
    cu_st,
    se_ptr,
    se_st,
    dc_ptr,
    dc_st,
    dcu_ptr,
    dcu_st,
    starts_ptr,
    VAR: tl.constexpr,
    BLOCK: tl.constexpr,
    CHUNK: tl.constexpr,
    BUG_INT32: tl.constexpr,
):
    """grid (1,): every running sum and every per-row length, one block of requests a step,
    each step writing its requests' rows CHUNK at a time; in draft_extend_var also each
    request's first row and T into `starts` (bs + 1 cells) for the row programs."""
    offs = tl.arange(0, BLOCK)
    zero = tl.sum(tl.zeros([BLOCK], tl.int64), 0)
    kv_carry, row_carry, dsa_carry = zero, zero, zero
    tl.store(cu_ptr, 0)
    tl.store(dcu_ptr, 0)
    for b0 in range(0, bs, BLOCK):
        idx = (b0 + offs).to(tl.int64)
        m = idx < bs
        s = tl.load(seq_ptr + idx * seq_st, mask=m, other=0).to(tl.int64)
        if VAR:
            e = tl.load(ext_ptr + idx * ext_st, mask=m, other=0).to(tl.int64)
        else:
            e = tl.where(m, e_fixed.to(tl.int64), 0)
        kv = tl.where(m, s + kv_add.to(tl.int64), 0)
        tl.store(cache_ptr + idx * cache_st, kv.to(tl.int32), mask=m)
        tl.store(cu_ptr + (idx + 1) * cu_st, (kv_carry + tl.cumsum(kv, 0)).to(tl.int32), mask=m)
        kv_carry += tl.sum(kv, 0)

        first = kv - e + 1  # request i's rows hold first + d, d < e[i]
        total = tl.where(m, _clamped_sum(first, e, topk, BUG_INT32), 0)
        prefix = dsa_carry + tl.cumsum(total, 0) - total
        start = row_carry + tl.cumsum(e, 0) - e
        if VAR:  # for the row programs' scan
            tl.store(starts_ptr + idx, start.to(tl.int32), mask=m)
        longest = tl.max(e, 0).to(tl.int32)
        for d0 in range(0, longest, CHUNK):
            d = (d0 + tl.arange(0, CHUNK)).to(tl.int64)[None, :]
            md = m[:, None] & (d < e[:, None])
            value = first[:, None] + d
            clamped = tl.minimum(value, topk.to(tl.int64))
            running = prefix[:, None] + _clamped_sum(first[:, None], d + 1, topk, BUG_INT32)
            row = start[:, None] + d
            tl.store(se_ptr + row * se_st, value.to(tl.int32), mask=md)
            tl.store(dc_ptr + row * dc_st, clamped.to(tl.int32), mask=md)
            tl.store(dcu_ptr + (row + 1) * dcu_st, running.to(tl.int32), mask=md)
        row_carry += tl.sum(e, 0)
        dsa_carry += tl.sum(total, 0)
    if VAR:
        tl.store(starts_ptr + bs, row_carry.to(tl.int32))  # T


@triton.jit(do_not_specialize=["bs", "e_fixed", "total_rows", "width", "page_size", "n_pages"])
def _pages_kernel(
    starts_ptr,
    r_ptr,
    r_st,
    bs,
    e_fixed,
    total_rows,
    r2t_ptr,
    r2t_s0,
    r2t_s1,
    width,
    page_size,
    n_pages,
    pt_ptr,
    pt_s0,
    pt_s1,
    rp_ptr,
    rp_s0,
    rp_s1,
    VAR: tl.constexpr,
    REAL: tl.constexpr,
    ROWS: tl.constexpr,
    COLS: tl.constexpr,
    SCAN: tl.constexpr,
    BUG_LOWER_BOUND: tl.constexpr,
    BUG_MASK: tl.constexpr,
):
    """grid (row tiles, column tiles): page_table_1 and real_page_table rows, gathered from
    req_to_token; in draft_extend_var each row scans the batch for its request (up to it)."""
    t = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    if VAR:
        rows_T = tl.load(starts_ptr + bs)
        if tl.program_id(0) * ROWS >= rows_T:  # a tile wholly past T: nothing to write
            return
        n_le = tl.zeros([ROWS], tl.int32)  # requests starting at or before t
        n_eq = tl.zeros([ROWS], tl.int32)  # requests starting at t (BUG_LOWER_BOUND only)
        # starts never decrease: stop at the first block that starts past this tile
        t_last = tl.program_id(0) * ROWS + ROWS - 1
        b0 = tl.program_id(0) * 0
        while (b0 < bs) & (tl.load(starts_ptr + tl.minimum(b0, bs)) <= t_last):
            idx = b0 + tl.arange(0, SCAN)
            start = tl.load(starts_ptr + idx, mask=idx < bs, other=2**31 - 1)[None, :]
            if BUG_LOWER_BOUND:
                n_le += tl.sum((start < t[:, None]).to(tl.int32), 1)
                n_eq += tl.sum((start == t[:, None]).to(tl.int32), 1)
            else:
                n_le += tl.sum((start <= t[:, None]).to(tl.int32), 1)
            b0 += SCAN
        owner = (n_le - 1 + tl.minimum(n_eq, 1)).to(tl.int64)
        rows_ok = (t < rows_T) & (t < total_rows)  # total_rows: the buffer's capacity
    else:
        owner = t // e_fixed.to(tl.int64)
        rows_ok = t < total_rows
    r = tl.load(r_ptr + owner * r_st, mask=rows_ok, other=0).to(tl.int64)
    cols = (tl.program_id(1) * COLS + tl.arange(0, COLS)).to(tl.int64)
    mask = rows_ok[:, None] & (cols < width)[None, :]
    src = r2t_ptr + r[:, None] * r2t_s0
    tokens = tl.load(src + cols[None, :] * r2t_s1, mask=mask, other=0)
    if BUG_MASK:
        store_mask = rows_ok[:, None] & (cols <= width)[None, :]
    else:
        store_mask = mask
    tl.store(pt_ptr + t[:, None] * pt_s0 + cols[None, :] * pt_s1, tokens, mask=store_mask)
    if REAL:
        pmask = rows_ok[:, None] & (cols < n_pages)[None, :]
        firsts = tl.load(src + (cols * page_size)[None, :] * r2t_s1, mask=pmask, other=0)
        tl.store(rp_ptr + t[:, None] * rp_s0 + cols[None, :] * rp_s1, firsts // page_size, pmask)


def _strides(x: torch.Tensor | None, contiguous: bool) -> tuple[int, ...]:
    if x is None:
        return (0, 0)
    if contiguous:  # what a kernel that assumes dense tensors computes
        return (x.shape[1], 1) if x.dim() == 2 else (1,)
    return tuple(x.stride())


_lagged: dict[int, tuple[weakref.ref, int]] = {}  # id(page_table_1) -> (buffer, last T)


def _lagged_rows(out, extend_seq_lens) -> int:
    """The bug of `bug_rows_of_last_call`: rows sized from the previous call's T (read at the
    first call, as at capture), so that no call syncs; this call's T is learnt for the next."""
    buf = out.page_table_1
    ref, rows = _lagged.get(id(buf), (None, None))
    now = int(extend_seq_lens.sum())  # stands for an async copy that lands after the launch
    if ref is None or ref() is not buf:
        rows = now
    _lagged[id(buf)] = (weakref.ref(buf), now)
    return rows


def _fill(
    *,
    mode,
    seq_lens,
    extend_seq_lens,
    req_pool_indices,
    req_to_token,
    topk,
    next_n,
    page_size,
    width,
    out,
    contiguous=False,
    bug=None,
):
    bs = seq_lens.shape[0]
    if bs == 0:  # nothing to launch: the two running sums are just their leading 0
        out.cu_seqlens_k[0:1].zero_()
        out.dsa_cu_seqlens_k[0:1].zero_()
        return
    var = mode == "draft_extend_var"
    e_fixed = {"decode": 1, "target_verify": next_n, "draft_extend": next_n}.get(mode, 0)
    kv_add = next_n if mode == "target_verify" else 0
    if bug == "draft_extend_base" and mode == "draft_extend":
        kv_add = next_n  # upstream's off-by-N: the base built from seq_lens + N
    ext = extend_seq_lens if var else seq_lens  # a valid pointer when unused
    st = lambda x: _strides(x, contiguous)  # noqa: E731
    block = min(triton.next_power_of_2(bs), MAX_SUM_BLOCK)
    starts = torch.empty(bs + 1 if var else 1, dtype=torch.int32, device=seq_lens.device)
    _sums_kernel[(1,)](
        seq_lens,
        *st(seq_lens),
        ext,
        *st(ext),
        bs,
        topk,
        kv_add,
        e_fixed,
        out.cache_seqlens,
        *st(out.cache_seqlens),
        out.cu_seqlens_k,
        *st(out.cu_seqlens_k),
        out.seqlens_expanded,
        *st(out.seqlens_expanded),
        out.dsa_cache_seqlens,
        *st(out.dsa_cache_seqlens),
        out.dsa_cu_seqlens_k,
        *st(out.dsa_cu_seqlens_k),
        starts,
        VAR=var,
        BLOCK=block,
        CHUNK=max(1, MAX_TILE // block),
        BUG_INT32=bug == "int32_clamp_count",
    )
    if var:  # T unknown on the host: every row of the buffer, masked on the device
        rows = out.page_table_1.shape[0]
        if bug == "rows_of_last_call":
            rows = min(rows, _lagged_rows(out, extend_seq_lens))
    else:
        rows = bs * e_fixed
    cols = width
    if bug == "width_from_buffer":  # the captured buffer's width, not this call's
        cols = min(out.page_table_1.shape[1], req_to_token.shape[1])
    n_pages = -(-cols // page_size)
    if rows == 0:
        return
    real = out.real_page_table if page_size > 1 else None
    block_cols = min(triton.next_power_of_2(cols), MAX_COLS)
    grid = (triton.cdiv(rows, ROWS), triton.cdiv(cols, block_cols))
    _pages_kernel[grid](
        starts,
        req_pool_indices,
        *st(req_pool_indices),
        bs,
        max(e_fixed, 1),
        rows,
        req_to_token,
        *st(req_to_token),
        cols,
        page_size,
        n_pages,
        out.page_table_1,
        *st(out.page_table_1),
        out.page_table_1 if real is None else real,
        *st(real),
        VAR=var,
        REAL=real is not None,
        ROWS=ROWS,
        COLS=block_cols,
        SCAN=min(triton.next_power_of_2(bs), MAX_SCAN),
        num_warps=8 if var else 4,
        BUG_LOWER_BOUND=bug == "scan_lower_bound",
        BUG_MASK=bug == "last_tile_mask",
    )


def upstream_style(**kw) -> None:
    """Correct: the whole contract, every stride, no host sync (two launches)."""
    _fill(**kw)


def upstream_style_envelope(**kw) -> None:
    """Correct inside its envelope: assumes dense tensors (strides from shapes)."""
    _fill(**kw, contiguous=True)


upstream_style_envelope.envelope = {"contiguous": True}


def _variant(bug: str, doc: str):
    def fn(**kw) -> None:
        _fill(**kw, bug=bug)

    fn.__name__ = fn.__qualname__ = f"bug_{bug}"
    fn.__doc__ = doc
    return fn


bug_draft_extend_base = _variant(
    "draft_extend_base", "draft_extend: kv built from seq_lens + next_n (upstream's off-by-N)."
)
bug_int32_clamp_count = _variant(
    "int32_clamp_count",
    "dsa_cu_seqlens_k: the count of rows below topk as topk - first in int32; it wraps for a "
    "padded request (first <= -1) when topk is near 2**31 - 1, and every later prefix is off.",
)
bug_scan_lower_bound = _variant(
    "scan_lower_bound",
    "draft_extend_var page tables: the row scan takes the first request starting at t "
    "(< where <= belongs), i.e. a zero-extend request sitting at the boundary.",
)
bug_width_from_buffer = _variant(
    "width_from_buffer",
    "page tables as wide as the caller's buffer (capped by req_to_token), not `width`.",
)
bug_rows_of_last_call = _variant(
    "rows_of_last_call",
    "draft_extend_var page tables: rows sized from the previous call's T, so rows past it "
    "keep the value an earlier call left (or poison) when T grows back.",
)
bug_last_tile_mask = _variant(
    "last_tile_mask",
    "page_table_1: the last column tile stores with cols <= width (one column too many) when "
    "width is not a multiple of the tile.",
)

correct_upstream_style = upstream_style
correct_upstream_style_envelope = upstream_style_envelope

HUNT = [
    ("correct_upstream_style", "metadata", "no bug: the whole contract"),
    ("correct_upstream_style_envelope", "metadata", "no bug inside {'contiguous': True}"),
    ("bug_draft_extend_base", "metadata", "draft_extend base off by N"),
    ("bug_int32_clamp_count", "metadata", "int32 intermediate, topk near 2**31 - 1"),
    ("bug_scan_lower_bound", "metadata", "zero extends at a request boundary"),
    ("bug_width_from_buffer", "metadata", "width from the buffer's shape"),
    ("bug_rows_of_last_call", "metadata", "back-to-back calls, T changes"),
    ("bug_last_tile_mask", "metadata", "width not a multiple of the column tile"),
]

"""Red-team round 8: planted bugs in a Triton kernel of contract v2, each ONE slip of a kernel
author at a block-size boundary (a grid, loop or mask one tile short or long, an int32
intermediate, a stride ignored on one path), run on the CPU through the Triton interpreter.

`correct` is a clean-room design unlike benchmarks/outside_kernels.py: a sums kernel of 32-request
blocks in a grid of at most 512 programs (grid-stride past 16384 requests), each block
re-summing everything before it in 1024-request chunks (no single program does every sum),
then a token-major kernel of 128-row tiles, each row finding its request by a binary search of
the row starts (draft_extend_var) or by t // e (fixed widths), and looping over 128-column
tiles of page_table_1 and of real_page_table. Every stride, int32/int64 inputs, bs 0, T 0, no
host sync. Each `bug_*` is `correct` with one `bug` switched on; its docstring names the corner
and the smallest valid input known to show it. `HUNT` lists them for benchmarks/hunt.py.
"""

from __future__ import annotations

import weakref

import torch
import triton
import triton.language as tl

BLOCK = 32  # requests per block of the sums kernel
CARRY = 1024  # requests per step of a block's carry (the sum of everything before it)
GRID_CAP = 512  # programs of the sums kernel at most (512 x 32 = 16384 requests a sweep)
ROWS = 128  # rows per program of the row kernel
COLS = 128  # columns per step of a row program's page-table loops
INT_MAX = 2**31 - 1

BUGS = (
    "cu_tail_mask_le",
    "carry_mask_b0_minus_1",
    "carry_chunk_mask_bs",
    "carry_first_chunk_only",
    "grid_cap_no_stride",
    "stride_carry_own_blocks",
    "T_from_last_program",
    "padded_total_dropped",
    "clamp_count_off_by_one",
    "tri_int32_product",
    "bs0_no_launch",
    "series_int32",
    "topk0_no_limit",
    "row_grid_floor",
    "fixed_grid_from_bs",
    "fixed_tile_whole_requests",
    "decode_rows_times_next_n",
    "search_steps_floor_log2",
    "search_lower_bound",
    "pt_rows_le_T",
    "dcu0_by_row_kernel",
    "var_grid_from_first_call",
    "col_tiles_floor",
    "page_loop_floor",
    "page_shift_pow2",
    "rpt_mask_le_npages",
    "rt_col_stride_rpt",
    "rt_row_stride_width",
    "pool_guard_off_by_one",
    "r64_as_int32_rpt",
    "s64_as_int32_rows",
    "npages_int32_wrap",
)
_ID = {name: k + 1 for k, name in enumerate(BUGS)}  # 0: no bug
B = type("B", (), {name.upper(): _ID[name] for name in BUGS})  # B.SERIES_INT32 ...


@triton.jit
def _series(first, n, topk, BUG: tl.constexpr):
    """sum of min(first + d, topk) for d < n (int64): n_low values below topk, the rest at it."""
    k = topk.to(tl.int64)
    if BUG == 9:  # clamp_count_off_by_one
        n_low = tl.minimum(tl.maximum(k - first - 1, 0), n)
    else:
        n_low = tl.minimum(tl.maximum(k - first, 0), n)
    if BUG == 10:  # tri_int32_product
        n32 = n_low.to(tl.int32)
        tri = (n32 * (n32 - 1) // 2).to(tl.int64)
    else:
        tri = n_low * (n_low - 1) // 2
    return n_low * first + tri + (n - n_low) * k


@triton.jit
def _terms(seq_ptr, seq_st, ext_ptr, ext_st, idx, m, topk, kv_add, e_fixed, VAR, BUG):
    """(kv, e, dsa total) of requests idx where m, 0 elsewhere (int64)."""
    s = tl.load(seq_ptr + idx * seq_st, mask=m, other=0).to(tl.int64)
    if VAR:
        e = tl.load(ext_ptr + idx * ext_st, mask=m, other=0).to(tl.int64)
    else:
        e = tl.where(m, e_fixed.to(tl.int64), 0)
    kv = tl.where(m, s + kv_add.to(tl.int64), 0)
    first = kv - e + 1
    total = tl.where(m, _series(first, e, topk, BUG), 0)
    if BUG == 8:  # padded_total_dropped
        total = tl.where(first > 0, total, 0)
    return kv, e, total


@triton.jit(do_not_specialize=["bs", "topk", "kv_add", "e_fixed", "n_blocks", "cu_cap"])
def _sums_kernel(
    seq_ptr,
    seq_st,
    ext_ptr,
    ext_st,
    bs,
    topk,
    kv_add,
    e_fixed,
    n_blocks,
    cache_ptr,
    cache_st,
    cu_ptr,
    cu_st,
    cu_cap,
    dcu_ptr,
    starts_ptr,
    pre_ptr,
    VAR: tl.constexpr,
    BLOCK: tl.constexpr,
    CARRY: tl.constexpr,
    BUG: tl.constexpr,
):
    """grid (min(blocks, GRID_CAP),), grid-stride over 32-request blocks: cache_seqlens and
    cu_seqlens_k, and into scratch each request's first row (`starts`, T at [bs]) and its dsa
    prefix (`pre`)."""
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    zero = tl.sum(tl.zeros([BLOCK], tl.int64), 0)
    if pid == 0:
        tl.store(cu_ptr, 0)
        if BUG != 21:  # dcu0_by_row_kernel
            tl.store(dcu_ptr, 0)
    last = n_blocks
    if BUG == 5:  # grid_cap_no_stride
        last = tl.minimum(n_blocks, pid + 1)
    r_kv, r_e, r_d = zero, zero, zero  # stride_carry_own_blocks: this program's running carry
    for blk in range(pid, last, nprog):
        b0 = blk * BLOCK + zero
        hi = b0
        if BUG == 6:  # stride_carry_own_blocks
            hi = tl.where(blk == pid, b0, 0)
        if BUG == 4:  # carry_first_chunk_only
            hi = tl.minimum(hi, CARRY)
        kv_c, e_c, d_c = r_kv, r_e, r_d
        for c0 in range(0, hi, CARRY):
            j = (c0 + tl.arange(0, CARRY)).to(tl.int64)
            if BUG == 2:  # carry_mask_b0_minus_1
                mj = j < b0 - 1
            elif BUG == 3:  # carry_chunk_mask_bs
                mj = j < bs
            else:
                mj = j < b0
            kv, e, total = _terms(seq_ptr, seq_st, ext_ptr, ext_st, j, mj, topk, kv_add,
                                  e_fixed, VAR, BUG)  # fmt: skip
            kv_c += tl.sum(kv, 0)
            e_c += tl.sum(e, 0)
            d_c += tl.sum(total, 0)
        idx = b0 + tl.arange(0, BLOCK)
        m = idx < bs
        kv, e, total = _terms(seq_ptr, seq_st, ext_ptr, ext_st, idx, m, topk, kv_add, e_fixed,
                              VAR, BUG)  # fmt: skip
        tl.store(cache_ptr + idx * cache_st, kv.to(tl.int32), mask=m)
        cu_mask = m
        if BUG == 1:  # cu_tail_mask_le
            cu_mask = (idx <= bs) & (idx + 1 < cu_cap)  # inside the buffer, not the region
        tl.store(cu_ptr + (idx + 1) * cu_st, (kv_c + tl.cumsum(kv, 0)).to(tl.int32), mask=cu_mask)
        tl.store(starts_ptr + idx, e_c + tl.cumsum(e, 0) - e, mask=m)
        tl.store(pre_ptr + idx, d_c + tl.cumsum(total, 0) - total, mask=m)
        if BUG == 7:  # T_from_last_program
            if pid == nprog - 1:
                tl.store(starts_ptr + bs, e_c + tl.sum(e, 0))
        elif blk == n_blocks - 1:
            tl.store(starts_ptr + bs, e_c + tl.sum(e, 0))
        if BUG == 6:
            r_kv = kv_c + tl.sum(kv, 0)
            r_e = e_c + tl.sum(e, 0)
            r_d = d_c + tl.sum(total, 0)


@triton.jit(
    do_not_specialize=[
        "bs", "topk", "kv_add", "e_fixed", "rows", "pool", "width", "page_size", "n_pages",
        "steps", "shift", "rp_cols",
    ]
)  # fmt: skip
def _rows_kernel(
    starts_ptr,
    pre_ptr,
    seq_ptr,
    seq_st,
    r_ptr,
    r_st,
    bs,
    topk,
    kv_add,
    e_fixed,
    rows,
    pool,
    r2t_ptr,
    r2t_s0,
    r2t_s1,
    width,
    page_size,
    n_pages,
    steps,
    shift,
    se_ptr,
    se_st,
    dc_ptr,
    dc_st,
    dcu_ptr,
    dcu_st,
    pt_ptr,
    pt_s0,
    pt_s1,
    rp_ptr,
    rp_s0,
    rp_s1,
    rp_cols,
    VAR: tl.constexpr,
    REAL: tl.constexpr,
    ROWS: tl.constexpr,
    COLS: tl.constexpr,
    BUG: tl.constexpr,
):
    """grid (row tiles,): per row t its request (binary search of `starts`, or t // e), then
    the four per-row outputs and its page-table rows, COLS columns a step."""
    pid = tl.program_id(0)
    local = tl.arange(0, ROWS).to(tl.int64)
    t = pid.to(tl.int64) * ROWS + local
    if VAR:
        T = tl.load(starts_ptr + bs)
        if pid * ROWS >= T:  # a tile wholly past T
            return
        # owner = (number of requests i >= 1 with starts[i] <= t), as starts[0] = 0 <= t
        lo = tl.full([ROWS], 1, tl.int64)
        hi = tl.full([ROWS], 1, tl.int64) * bs
        for _ in range(steps):
            mid = (lo + hi) // 2
            ok = lo < hi
            at = tl.load(starts_ptr + mid, mask=ok, other=0)
            if BUG == 19:  # search_lower_bound: first request starting at or after t
                right = ok & (at < t)
            else:
                right = ok & (at <= t)
            lo = tl.where(right, mid + 1, lo)
            hi = tl.where(ok & ~right, mid, hi)
        owner = lo - 1
        if BUG == 19:  # ... then the one starting exactly at t, if any
            at = tl.load(starts_ptr + lo, mask=lo < bs, other=-1)
            owner = tl.where(at == t, lo, lo - 1)
        first_row = tl.load(starts_ptr + owner)
        e = tl.load(starts_ptr + owner + 1) - first_row
        d = t - first_row
        limit = T
        if BUG == 20:  # pt_rows_le_T
            limit = T + 1
        pt_ok = (t < limit) & (t < rows)
        rows_ok = (t < T) & (t < rows)
    else:
        e = e_fixed.to(tl.int64)
        if BUG == 16:  # fixed_tile_whole_requests: a tile holds ROWS // e whole requests
            owner = pid * (ROWS // e) + local // e
            d = local % e
        else:
            owner = t // e
            d = t - owner * e
        rows_ok = t < rows
        pt_ok = rows_ok
    if BUG == 21:  # dcu0_by_row_kernel
        if pid == 0:
            tl.store(dcu_ptr, 0)
    owned = rows_ok & (owner < bs)
    if BUG == 31:  # s64_as_int32_rows
        s = tl.load(seq_ptr.to(tl.pointer_type(tl.int32)) + owner * seq_st, mask=owned, other=0)
    else:
        s = tl.load(seq_ptr + owner * seq_st, mask=owned, other=0)
    first = s.to(tl.int64) + kv_add.to(tl.int64) - e + 1
    value = first + d
    k = topk.to(tl.int64)
    if BUG == 13:  # topk0_no_limit
        k = tl.where(k == 0, INT_MAX, k)
    if BUG == 12:  # series_int32: the unclamped part as an arithmetic series in int32
        n_low = tl.minimum(tl.maximum(k - first, 0), d + 1)
        f32 = first.to(tl.int32)
        n32 = n_low.to(tl.int32)
        running = ((f32 + f32 + n32 - 1) * n32 // 2).to(tl.int64) + (d + 1 - n_low) * k
    else:
        running = _series(first, d + 1, k, BUG)
    running += tl.load(pre_ptr + owner, mask=owned, other=0)
    tl.store(se_ptr + t * se_st, value.to(tl.int32), mask=rows_ok)
    tl.store(dc_ptr + t * dc_st, tl.minimum(value, k).to(tl.int32), mask=rows_ok)
    tl.store(dcu_ptr + (t + 1) * dcu_st, running.to(tl.int32), mask=rows_ok)

    r = tl.load(r_ptr + owner * r_st, mask=owned, other=0).to(tl.int64)
    if BUG == 29:  # pool_guard_off_by_one
        live = pt_ok & (r < pool - 1)
    else:
        live = pt_ok & (r < pool)
    if BUG == 28:  # rt_row_stride_width
        src = r2t_ptr + r[:, None] * width
    else:
        src = r2t_ptr + r[:, None] * r2t_s0
    n_tiles = tl.cdiv(width, COLS)
    if BUG == 23:  # col_tiles_floor
        n_tiles = tl.maximum(width // COLS, 1)
    for c in range(0, n_tiles):
        cols = (c * COLS + tl.arange(0, COLS)).to(tl.int64)[None, :]
        mask = live[:, None] & (cols < width)
        tokens = tl.load(src + cols * r2t_s1, mask=mask, other=0)
        tl.store(pt_ptr + t[:, None] * pt_s0 + cols * pt_s1, tokens, mask=mask)
    if REAL:
        if BUG == 30:  # r64_as_int32_rpt
            r = tl.load(r_ptr.to(tl.pointer_type(tl.int32)) + owner * r_st, mask=owned, other=0)
            src = r2t_ptr + r.to(tl.int64)[:, None] * r2t_s0
        pages = n_pages
        if BUG == 32:  # npages_int32_wrap
            pages = (width + page_size - 1) // page_size
        q_end = pages
        if BUG == 24:  # page_loop_floor
            q_end = width // page_size
        for q0 in range(0, q_end, COLS):
            q = (q0 + tl.arange(0, COLS)).to(tl.int64)[None, :]
            if BUG == 26:  # rpt_mask_le_npages
                pmask = live[:, None] & (q <= pages) & (q < rp_cols)  # inside the buffer
                lmask = pmask & (q < pages)
            else:
                pmask = live[:, None] & (q < pages)
                lmask = pmask
            col = q * page_size
            if BUG == 27:  # rt_col_stride_rpt
                firsts = tl.load(src + col, mask=lmask, other=0)
            else:
                firsts = tl.load(src + col * r2t_s1, mask=lmask, other=0)
            if BUG == 25:  # page_shift_pow2
                page = firsts >> shift
            else:
                page = firsts // page_size
            tl.store(rp_ptr + t[:, None] * rp_s0 + q * rp_s1, page, mask=pmask)


_first_T: dict[int, tuple[weakref.ref, int]] = {}  # var_grid_from_first_call: id(buf) -> T


def _first_call_rows(out, ext) -> int:
    """The bug of var_grid_from_first_call: row tiles sized at the buffers' first call (as at
    capture, where one sync is allowed), kept for every later call on them."""
    buf = out.page_table_1
    ref, rows = _first_T.get(id(buf), (None, 0))
    if ref is None or ref() is not buf:
        rows = triton.cdiv(max(int(ext.sum()), 1), ROWS) * ROWS
        _first_T[id(buf)] = (weakref.ref(buf), rows)
    return rows


def _fill(
    bug,
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
):
    b = _ID.get(bug, 0)
    bs = seq_lens.shape[0]
    var = mode == "draft_extend_var"
    if bs == 0 and b == B.BS0_NO_LAUNCH:
        return
    e_fixed = 0 if var else (1 if mode == "decode" else next_n)
    kv_add = next_n if mode == "target_verify" else 0
    ext = extend_seq_lens if var else seq_lens  # a valid pointer when unused
    dev = seq_lens.device
    starts = torch.zeros(bs + 1, dtype=torch.int64, device=dev)
    pre = torch.zeros(max(bs, 1), dtype=torch.int64, device=dev)
    n_blocks = triton.cdiv(bs, BLOCK)
    _sums_kernel[(max(1, min(n_blocks, GRID_CAP)),)](
        seq_lens,
        seq_lens.stride(0),
        ext,
        ext.stride(0),
        bs,
        topk,
        kv_add,
        e_fixed,
        n_blocks,
        out.cache_seqlens,
        out.cache_seqlens.stride(0),
        out.cu_seqlens_k,
        out.cu_seqlens_k.stride(0),
        out.cu_seqlens_k.shape[0],
        out.dsa_cu_seqlens_k,
        starts,
        pre,
        VAR=var,
        BLOCK=BLOCK,
        CARRY=CARRY,
        BUG=b,
    )
    if bs == 0:
        return
    pt1, rpt = out.page_table_1, (out.real_page_table if page_size > 1 else None)
    if var:  # T unknown on the host: every row any buffer holds, masked on the device
        rows = min(
            out.seqlens_expanded.shape[0],
            out.dsa_cache_seqlens.shape[0],
            out.dsa_cu_seqlens_k.shape[0] - 1,
            pt1.shape[0],
            pt1.shape[0] if rpt is None else rpt.shape[0],
        )
        grid_rows = rows
        if b == B.VAR_GRID_FROM_FIRST_CALL:
            grid_rows = min(rows, _first_call_rows(out, extend_seq_lens))
    else:
        rows = bs * e_fixed
        if b == B.DECODE_ROWS_TIMES_NEXT_N and mode == "decode":  # kept inside the buffers
            rows = min(bs * next_n, out.seqlens_expanded.shape[0], pt1.shape[0])
        grid_rows = bs if b == B.FIXED_GRID_FROM_BS else rows
    tiles = triton.cdiv(grid_rows, ROWS)
    if b == B.ROW_GRID_FLOOR:
        tiles = max(grid_rows // ROWS, 1)
    if tiles == 0:
        return
    steps = (bs - 1).bit_length()  # candidates 1 .. bs - 1, and "none"
    if b == B.SEARCH_STEPS_FLOOR_LOG2:
        steps = max(bs.bit_length() - 1, 0)
    _rows_kernel[(tiles,)](
        starts,
        pre,
        seq_lens,
        seq_lens.stride(0),
        req_pool_indices,
        req_pool_indices.stride(0),
        bs,
        topk,
        kv_add,
        max(e_fixed, 1),
        rows,
        req_to_token.shape[0],
        req_to_token,
        req_to_token.stride(0),
        req_to_token.stride(1),
        width,
        page_size,
        -(-width // page_size),
        steps,
        page_size.bit_length() - 1,
        out.seqlens_expanded,
        out.seqlens_expanded.stride(0),
        out.dsa_cache_seqlens,
        out.dsa_cache_seqlens.stride(0),
        out.dsa_cu_seqlens_k,
        out.dsa_cu_seqlens_k.stride(0),
        pt1,
        pt1.stride(0),
        pt1.stride(1),
        pt1 if rpt is None else rpt,
        *(pt1 if rpt is None else rpt).stride(),
        (pt1 if rpt is None else rpt).shape[1],
        VAR=var,
        REAL=rpt is not None,
        ROWS=ROWS,
        COLS=COLS,
        BUG=b,
    )


def correct(**kw) -> None:
    """Correct: the whole contract, every stride, no host sync (two launches: the row kernel
    needs every request's first row, which only the sums kernel knows)."""
    _fill(None, **kw)


def _mutant(bug: str, doc: str):
    def fn(**kw) -> None:
        _fill(bug, **kw)

    fn.__name__ = fn.__qualname__ = f"bug_{bug}"
    fn.__doc__ = doc
    return fn


DOCS = {
    "cu_tail_mask_le": "cu_seqlens_k: the last block stores with idx <= bs, writing cu[bs + 1] "
    "(one past the region) when bs is not a multiple of 32. Smallest: decode bs 1, a cu buffer "
    "with one spare cell.",
    "carry_mask_b0_minus_1": "block carry sums requests j < b0 - 1 (drops the last request of "
    "the previous block). Smallest: decode bs 33, s = [0]*31 + [1, 0].",
    "carry_chunk_mask_bs": "block carry chunk masked with j < bs, not j < b0 (the block's own "
    "and later requests join its carry). Smallest: decode bs 33, s = [0]*32 + [1].",
    "carry_first_chunk_only": "block carry reads only its first 1024-request chunk (the author "
    "tested bs <= 1024 + 32). Smallest: decode bs 1057, s = [0]*1024 + [1] + [0]*32.",
    "grid_cap_no_stride": "the sums grid is capped at 512 programs but each does one block (no "
    "grid-stride loop): requests past 16384 are never written. Smallest: decode bs 16385.",
    "stride_carry_own_blocks": "grid-stride loop: a program's later block carries its previous "
    "block's carry plus its own blocks only, not the other programs' blocks in between. "
    "Smallest: decode bs 16385, s = [0]*32 + [1] + [0]*16352.",
    "T_from_last_program": "draft_extend_var T (starts[bs]) stored by the last program after its "
    "last block, which is not the last block once the grid strides. Smallest: draft_extend_var "
    "bs 16385, extends [0]*16384 + [1].",
    "padded_total_dropped": "a request's dsa total counted only when its first row is > 0 (a "
    "padded request, kv < e + 1, adds nothing to later prefixes). Smallest: draft_extend bs 2, "
    "s = [0, 0], next_n 2.",
    "clamp_count_off_by_one": "dsa sums: rows below topk counted as topk - first - 1, so when "
    "topk is exactly one above a row's length the sum is off. Smallest: decode s = [1], topk 2.",
    "tri_int32_product": "dsa sums: n_low * (n_low - 1) // 2 in int32, which wraps once a request "
    "has 46342 rows below topk. Smallest: draft_extend_var s = [23171], extends [46342], topk "
    "2**31 - 1.",
    "bs0_no_launch": "bs 0: returns before the launch, so cu_seqlens_k[0] and "
    "dsa_cu_seqlens_k[0] keep the poison. Smallest: any mode, bs 0.",
    "series_int32": "row kernel: dsa running sum of a row as the arithmetic series "
    "(2*first + n - 1) * n // 2 in int32 (int32 inputs only). Smallest: decode s = [2**30], "
    "topk 2**31 - 1, seq_lens int32.",
    "topk0_no_limit": "topk 0 taken as 'no limit' in the row kernel. Smallest: decode s = [1], "
    "topk 0.",
    "row_grid_floor": "row tiles max(T // 128, 1): the partial last tile is skipped when T > 128. "
    "Smallest: decode bs 129.",
    "fixed_grid_from_bs": "fixed-width modes: row tiles from bs, not bs * next_n. Smallest: "
    "target_verify bs 65, next_n 2 (T 130).",
    "fixed_tile_whole_requests": "fixed widths: a tile assumed to hold 128 // next_n whole "
    "requests (true for next_n 1, 2, 4, 8). Smallest: draft_extend bs 26, next_n 5 (T 130).",
    "decode_rows_times_next_n": "decode: rows bs * next_n (next_n is not used in decode), "
    "writing rows past T. Smallest: decode bs 1, next_n 2.",
    "search_steps_floor_log2": "draft_extend_var binary search with floor(log2 bs) steps, one "
    "short when bs is not a power of 2. Smallest: draft_extend_var bs 3, s = [1, 5, 9], extends [1, 1, 1].",
    "search_lower_bound": "draft_extend_var search takes the first request starting at t, "
    "which is a zero-extend one when it sits at that boundary (past request 0). Smallest: "
    "draft_extend_var s = [1, 1, 5], extends [1, 0, 1].",
    "pt_rows_le_T": "draft_extend_var page tables stored for t <= T: row T (one past the "
    "region). Smallest: draft_extend_var bs 1, extends [1], page table with 2 rows.",
    "dcu0_by_row_kernel": "dsa_cu_seqlens_k[0] stored by the row kernel's first tile, which "
    "returns early when T = 0. Smallest: draft_extend_var bs 1, extends [0].",
    "var_grid_from_first_call": "draft_extend_var row tiles sized from the first call on the "
    "buffers (T rounded up to 128): rows past that stay stale when T grows. Smallest: "
    "draft_extend_var extends [1] then [129] on one set of buffers.",
    "col_tiles_floor": "page_table_1 column tiles max(W // 128, 1): the partial last tile is "
    "skipped when W > 128. Smallest: decode bs 1, width 129.",
    "page_loop_floor": "real_page_table loop bound W // P (floor), so the last partial page is "
    "skipped when it opens a new 128-page tile, or is the only page. Smallest: decode "
    "page_size 2, width 1 (or width 257).",
    "page_shift_pow2": "real_page_table page as token >> log2(P): right only for powers of 2. "
    "Smallest: decode page_size 3, req_to_token [[2]].",
    "rpt_mask_le_npages": "real_page_table stores q <= ceil(W/P): one column past the region "
    "(a 0). Smallest: decode page_size 2, width 1, a real_page_table buffer 2 columns wide.",
    "rt_col_stride_rpt": "real_page_table gathers with column stride 1 (page_table_1 honours "
    "it). Smallest: decode page_size 2, width 3, req_to_token transposed then sliced.",
    "rt_row_stride_width": "page tables read req_to_token row r at r * width (dense [pool, W] "
    "assumed). Smallest: decode r = [1], req_to_token [2, 2] with width 1.",
    "pool_guard_off_by_one": "a pool guard r < pool - 1 drops the last pool row. Smallest: decode "
    "bs 1, r = [0], req_to_token [[1]] (pool 1).",
    "r64_as_int32_rpt": "real_page_table reads req_pool_indices through an int32 pointer (int64 "
    "indices read word by word). Smallest: decode bs 2, r = [0, 1] int64, page_size 2.",
    "s64_as_int32_rows": "row kernel reads seq_lens through an int32 pointer (int64 lengths read "
    "word by word). Smallest: decode bs 2, s = [1, 1] int64.",
    "npages_int32_wrap": "row kernel recomputes ceil(W/P) as (W + P - 1) // P in int32, which "
    "wraps for P near 2**31. Smallest: decode width 2, page_size 2**31 - 1.",
}

for _bug in BUGS:
    globals()[f"bug_{_bug}"] = _mutant(_bug, DOCS[_bug])

HUNT = [("correct", "metadata", "no bug: the whole contract")] + [
    (f"bug_{bug}", "metadata", DOCS[bug].split(":")[0]) for bug in BUGS
]

"""Sync-free Triton kernel for contract v2: one launch in the fixed-width modes, two in
draft_extend_var. Import only after TRITON_INTERPRET is settled.

Programs have one of three roles, chosen by program id in one 1-D grid:

- request programs own BR requests each. Their running sums start from the sum over the
  requests before the block, reduced by the program itself in SUM_BLOCK-wide loads (each
  of bs / BR programs reads at most bs values: no program scans the batch per row, none
  does every sum). Per request: kv, cu_seqlens_k, and dsa_cu_seqlens_k's share in closed
  form, sum(min(a + d, K) for d < e) with a = kv - e + 1. In the fixed-width modes they
  also write the rows' scalars as [BR, EB] tiles (row = i * e + d).
- row programs (draft_extend_var only) own BTS rows: each row finds its request by a
  binary search over the row starts (O(log bs)), then writes its three scalars, the
  running sum again in closed form from the request's start.
- page programs own a [BT, BW] tile of page_table_1 or of real_page_table; a row's request
  is t // e, or the same binary search.

Why two launches in draft_extend_var: which request owns row t depends on a scan of
extend_seq_lens, and programs of one launch cannot wait for each other; the first launch
writes the row starts and dsa_cu_seqlens_k's per-request starts to a scratch buffer
(2 * bs + 1 int64, from the caching allocator: no sync), the second reads them. Its grid
comes from the buffers' row capacity (T lives on the device); rows >= T are masked.
All offsets are int64; every stride is honoured; pool indices are clamped into the pool
so garbage with validation off cannot read outside req_to_token.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from nsa_meta.interpreter import interpreting
from nsa_meta.metadata_torch import row_capacity
from nsa_meta.validation import rows_per_request


@triton.jit
def _clamped_sum(a, n, topk):
    """sum(min(a + d, topk) for d in range(n)), int64, elementwise."""
    c = tl.minimum(tl.maximum(topk - a, 0), n)
    return c * a + c * (c - 1) // 2 + (n - c) * topk


@triton.jit
def _owner(row_start_ptr, t, bs, step, iters):
    """The last request i < bs with row_start[i] <= t (binary lifting, `iters` steps)."""
    pos = tl.zeros_like(t)
    for k in range(iters):
        cand = pos + (step >> k)
        ok = cand < bs
        start = tl.load(row_start_ptr + cand, mask=ok, other=0)
        pos = tl.where(ok & (start <= t), cand, pos)
    return pos


@triton.jit
def _row_scalars(se_ptr, dc_ptr, dcu_ptr, st_se, st_dc, st_dcu, t, a, d, before, topk, mask):
    """Row t = request's d-th row: seqlens_expanded, its clamp, and dsa_cu_seqlens_k[t + 1]."""
    value = a + d
    tl.store(se_ptr + t * st_se, value.to(tl.int32), mask=mask)
    tl.store(dc_ptr + t * st_dc, tl.minimum(value, topk).to(tl.int32), mask=mask)
    running = before + _clamped_sum(a, d + 1, topk)
    tl.store(dcu_ptr + (t + 1) * st_dcu, running.to(tl.int32), mask=mask)


@triton.jit
def _request_program(
    pid,
    seq_ptr,
    ext_ptr,
    cache_ptr,
    cu_ptr,
    se_ptr,
    dc_ptr,
    dcu_ptr,
    scratch_ptr,
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
    VAR: tl.constexpr,
    BR: tl.constexpr,
    SUM_BLOCK: tl.constexpr,
    EB: tl.constexpr,
):
    """Requests [pid * BR, (pid + 1) * BR): per-request outputs, and (fixed modes) their rows'
    scalars; (draft_extend_var) the row starts and running-sum starts, to scratch."""
    i0 = pid * BR
    acc_kv = tl.zeros((), dtype=tl.int64)
    acc_e = tl.zeros((), dtype=tl.int64)
    acc_sum = tl.zeros((), dtype=tl.int64)
    for base in range(0, i0, SUM_BLOCK):
        idx = base + tl.arange(0, SUM_BLOCK).to(tl.int64)
        m = idx < i0
        kv_prior = tl.load(seq_ptr + idx * stride_seq, mask=m, other=0).to(tl.int64) + kv_add
        if VAR:
            e_prior = tl.load(ext_ptr + idx * stride_ext, mask=m, other=0).to(tl.int64)
        else:
            e_prior = tl.zeros_like(kv_prior) + e_fixed
        acc_kv += tl.sum(tl.where(m, kv_prior, 0), axis=0)
        acc_e += tl.sum(tl.where(m, e_prior, 0), axis=0)
        share_prior = _clamped_sum(kv_prior - e_prior + 1, e_prior, topk)
        acc_sum += tl.sum(tl.where(m, share_prior, 0), axis=0)
    req = i0 + tl.arange(0, BR).to(tl.int64)
    rm = req < bs
    kv = tl.load(seq_ptr + req * stride_seq, mask=rm, other=0).to(tl.int64) + kv_add
    kv = tl.where(rm, kv, 0)
    if VAR:
        e = tl.load(ext_ptr + req * stride_ext, mask=rm, other=0).to(tl.int64)
    else:
        e = tl.where(rm, tl.zeros_like(kv) + e_fixed, 0)
    a = kv - e + 1
    share = tl.where(rm, _clamped_sum(a, e, topk), 0)
    tl.store(cache_ptr + req * st_cache, kv.to(tl.int32), mask=rm)
    tl.store(cu_ptr + (req + 1) * st_cu, (acc_kv + tl.cumsum(kv, axis=0)).to(tl.int32), mask=rm)
    zero = tl.zeros_like(req).to(tl.int32)
    tl.store(cu_ptr + req * st_cu, zero, mask=req == 0)
    tl.store(dcu_ptr + req * st_dcu, zero, mask=(req == 0) & (req < dcu_cap))
    row_start = acc_e + tl.cumsum(e, axis=0) - e
    before = acc_sum + tl.cumsum(share, axis=0) - share
    if VAR:
        # req == bs holds T; the row and page programs of the second launch search these.
        tl.store(scratch_ptr + req, row_start, mask=req <= bs)
        tl.store(scratch_ptr + bs + 1 + req, before, mask=rm)
    else:
        for d0 in range(0, e_fixed, EB):
            d = d0 + tl.arange(0, EB).to(tl.int64)
            t = row_start[:, None] + d[None, :]
            mask = rm[:, None] & (d[None, :] < e_fixed) & (t < rows_cap)
            _row_scalars(
                se_ptr,
                dc_ptr,
                dcu_ptr,
                st_se,
                st_dc,
                st_dcu,
                t,
                a[:, None],
                d[None, :],
                before[:, None],
                topk,
                mask,
            )


@triton.jit
def _row_program(
    q,
    seq_ptr,
    ext_ptr,
    se_ptr,
    dc_ptr,
    dcu_ptr,
    scratch_ptr,
    stride_seq,
    stride_ext,
    st_se,
    st_dc,
    st_dcu,
    bs,
    topk,
    rows_cap,
    step,
    iters,
    BTS: tl.constexpr,
):
    """(draft_extend_var) rows [q * BTS, (q + 1) * BTS): each finds its request by binary
    search over the row starts, then writes its three scalars."""
    t = q.to(tl.int64) * BTS + tl.arange(0, BTS).to(tl.int64)
    total = tl.load(scratch_ptr + bs)
    mask = (t < total) & (t < rows_cap)
    i = _owner(scratch_ptr, t, bs, step, iters)
    start = tl.load(scratch_ptr + i, mask=mask, other=0)
    before = tl.load(scratch_ptr + bs + 1 + i, mask=mask, other=0)
    s = tl.load(seq_ptr + i * stride_seq, mask=mask, other=0).to(tl.int64)
    e = tl.load(ext_ptr + i * stride_ext, mask=mask, other=0).to(tl.int64)
    _row_scalars(
        se_ptr, dc_ptr, dcu_ptr, st_se, st_dc, st_dcu, t, s - e + 1, t - start, before, topk, mask
    )


@triton.jit
def _page_program(
    q,
    r_ptr,
    r2t_ptr,
    pt_ptr,
    rpt_ptr,
    scratch_ptr,
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
    pages,
    rows_cap,
    n_col_pt,
    n_col,
    step,
    iters,
    VAR: tl.constexpr,
    BT: tl.constexpr,
    BW: tl.constexpr,
):
    """Tile q: rows [t0, t0 + BT) x one block of BW columns of page_table_1 (the first
    n_col_pt column blocks) or of real_page_table (the others)."""
    q64 = q.to(tl.int64)
    block_row = q64 // n_col
    block_col = q64 % n_col
    t = block_row * BT + tl.arange(0, BT).to(tl.int64)
    if VAR:
        total = tl.load(scratch_ptr + bs)
        tm = (t < total) & (t < rows_cap)
        i = _owner(scratch_ptr, t, bs, step, iters)
    else:
        tm = t < rows_cap
        i = t // e_fixed
    pool_row = tl.load(r_ptr + i * stride_r, mask=tm, other=0).to(tl.int64)
    pool_row = tl.minimum(tl.maximum(pool_row, 0), pool - 1)
    src_row = r2t_ptr + pool_row[:, None] * r2t_s0
    if block_col < n_col_pt:
        c = block_col * BW + tl.arange(0, BW).to(tl.int64)
        mask = tm[:, None] & (c < width)[None, :]
        cells = tl.load(src_row + c[None, :] * r2t_s1, mask=mask, other=0)
        tl.store(pt_ptr + t[:, None] * pt_s0 + c[None, :] * pt_s1, cells, mask=mask)
    else:
        cq = (block_col - n_col_pt) * BW + tl.arange(0, BW).to(tl.int64)
        mask_q = tm[:, None] & (cq < pages)[None, :]
        first = tl.load(src_row + (cq * page_size)[None, :] * r2t_s1, mask=mask_q, other=0)
        dst = rpt_ptr + t[:, None] * rpt_s0 + cq[None, :] * rpt_s1
        tl.store(dst, first // page_size, mask=mask_q)


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
    "width",
    "pages",
    "rows_cap",
    "dcu_cap",
    "n_req",
    "n_srow",
    "n_col_pt",
    "n_col",
    "step",
    "iters",
]
_POINTERS = [
    "seq_ptr",
    "ext_ptr",
    "r_ptr",
    "cache_ptr",
    "cu_ptr",
    "se_ptr",
    "dc_ptr",
    "dcu_ptr",
    "scratch_ptr",
]


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
    scratch_ptr,
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
    pages,
    rows_cap,
    dcu_cap,
    n_req,
    n_srow,
    n_col_pt,
    n_col,
    step,
    iters,
    VAR: tl.constexpr,
    BR: tl.constexpr,
    SUM_BLOCK: tl.constexpr,
    EB: tl.constexpr,
    BTS: tl.constexpr,
    BT: tl.constexpr,
    BW: tl.constexpr,
):
    """Programs [0, n_req) are request programs, the next n_srow row programs, the rest
    page programs (see the module docstring)."""
    pid = tl.program_id(0)
    if pid < n_req:
        _request_program(
            pid,
            seq_ptr,
            ext_ptr,
            cache_ptr,
            cu_ptr,
            se_ptr,
            dc_ptr,
            dcu_ptr,
            scratch_ptr,
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
            VAR,
            BR,
            SUM_BLOCK,
            EB,
        )
    elif pid < n_req + n_srow:
        _row_program(
            pid - n_req,
            seq_ptr,
            ext_ptr,
            se_ptr,
            dc_ptr,
            dcu_ptr,
            scratch_ptr,
            stride_seq,
            stride_ext,
            st_se,
            st_dc,
            st_dcu,
            bs,
            topk,
            rows_cap,
            step,
            iters,
            BTS,
        )
    else:
        _page_program(
            pid - n_req - n_srow,
            r_ptr,
            r2t_ptr,
            pt_ptr,
            rpt_ptr,
            scratch_ptr,
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
            pages,
            rows_cap,
            n_col_pt,
            n_col,
            step,
            iters,
            VAR,
            BT,
            BW,
        )


INTERPRETED = interpreting()  # fixed once Triton is imported
MAX_TILE = 2**16  # the interpreter's cost grows with tile size; keep its tiles moderate


def _pow2(n: int, low: int = 1, high: int = 2**14) -> int:
    return min(max(triton.next_power_of_2(max(n, 1)), low), high)


def blocks(bs: int, e_fixed: int, rows: int, columns: int) -> dict[str, int]:
    """Block sizes. On a GPU they are fixed (one compiled variant per mode family); the
    interpreter pays per program and per op, so there each role gets one wide program."""
    eb = 1 if e_fixed <= 1 else 4 if e_fixed <= 4 else 8
    if not INTERPRETED:
        return {"BR": 256, "SUM_BLOCK": 4096, "EB": eb, "BTS": 256, "BT": 4, "BW": 1024}
    br = _pow2(bs + 1)
    bw = _pow2(columns, 16, 4096)
    return {
        "BR": br,
        "SUM_BLOCK": br,
        "EB": _pow2(e_fixed, 1, max(1, MAX_TILE // br)),
        "BTS": _pow2(rows, 16),
        "BT": _pow2(rows, 1, max(1, MAX_TILE // bw)),
        "BW": bw,
    }


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
    """Write the contract's region of `out`; `rows` is T when the host knows it, else None
    (then rows up to the buffers' capacity are considered and those >= T masked)."""
    bs = seq_lens.numel()
    e_fixed = rows_per_request(mode, next_n)
    var = e_fixed is None
    rows_cap = row_capacity(out) if rows is None else rows
    pages = -(-width // page_size)
    has_rpt = out.real_page_table is not None
    blk = blocks(bs, e_fixed or 1, rows_cap, max(width, pages))
    bw = blk["BW"]
    n_col = triton.cdiv(width, bw) + (triton.cdiv(pages, bw) if has_rpt else 0)
    n_req = bs // blk["BR"] + 1  # the block holding request bs writes T (var)
    scratch = torch.empty(2 * bs + 1 if var else 1, dtype=torch.int64, device=seq_lens.device)
    iters = (bs - 1).bit_length() if bs > 1 else 0
    rpt = out.real_page_table if has_rpt else out.page_table_1
    ext = extend_seq_lens if var else seq_lens

    def launch(n_req: int, n_srow: int, n_page: int) -> None:
        grid = (n_req + n_srow + n_page,)
        _metadata_kernel[grid](
            seq_lens,
            ext,
            req_pool_indices,
            req_to_token,
            out.cache_seqlens,
            out.cu_seqlens_k,
            out.seqlens_expanded,
            out.dsa_cache_seqlens,
            out.dsa_cu_seqlens_k,
            out.page_table_1,
            rpt,
            scratch,
            seq_lens.stride(0),
            ext.stride(0),
            req_pool_indices.stride(0),
            req_to_token.stride(0),
            req_to_token.stride(1),
            out.cache_seqlens.stride(0),
            out.cu_seqlens_k.stride(0),
            out.seqlens_expanded.stride(0),
            out.dsa_cache_seqlens.stride(0),
            out.dsa_cu_seqlens_k.stride(0),
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
            pages,
            rows_cap,
            out.dsa_cu_seqlens_k.shape[0],
            n_req,
            n_srow,
            triton.cdiv(width, bw),
            n_col,
            1 << (iters - 1) if iters else 0,
            iters,
            VAR=var,
            num_warps=4,
            **blk,
        )

    page_programs = triton.cdiv(rows_cap, blk["BT"]) * n_col if bs else 0
    if not var:
        launch(n_req, 0, page_programs)
        return
    launch(n_req, 0, 0)
    if bs and rows_cap:
        launch(0, triton.cdiv(rows_cap, blk["BTS"]), page_programs)

"""Sync-free Triton kernel for contract v2: one launch in every mode, draft_extend_var
included. Import only after TRITON_INTERPRET is settled.

Each program owns a block of BR requests and one chunk of columns (and, for requests with
many rows, one residue class of their rows). It walks its requests in sub-blocks of RB:
- the row start of each request is a running sum of the rows before it: e * i in the
  fixed-width modes; in draft_extend_var the program sums extend_seq_lens[0:i0] itself in
  SUM_BLOCK-wide loads (no scratch, no second launch, no wait on another program);
- it reads the chunk of req_to_token[r[i]] once ([RB, BW] tiles, contiguous columns:
  vector loads) and stores it to every row of the request, then the chunk's pages of
  real_page_table the same way;
- programs of chunk 0 also write the per-request outputs (kv, cu_seqlens_k) and the rows'
  scalars, the running sums in closed form: sum(min(a + d, K) for d < n) per request.
The grid has bs / BR x chunks x splits programs, sized on the host so that there are
about TARGET programs: the prefix each program sums stays small next to what it copies.
Requests with no row read nothing. All offsets are int64; every stride is honoured; pool
indices are clamped into the pool and rows kept in [0, rows_cap), so garbage with
validation off cannot touch memory outside the contract's region.
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
    "rows_cap",
    "dcu_cap",
    "n_chunk",
    "n_split",
]
_POINTERS = ["seq_ptr", "ext_ptr", "r_ptr", "cache_ptr", "cu_ptr", "se_ptr", "dc_ptr", "dcu_ptr"]


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
    n_chunk,
    n_split,
    chunk_w,
    VAR: tl.constexpr,
    HAS_RPT: tl.constexpr,
    BR: tl.constexpr,
    RB: tl.constexpr,
    SUM_BLOCK: tl.constexpr,
    EB: tl.constexpr,
    BW: tl.constexpr,
    BQ: tl.constexpr,
    ED: tl.constexpr,
):
    """Program (request block, column chunk, row split); see the module docstring."""
    pid = tl.program_id(0)
    split = (pid % n_split).to(tl.int64)
    rest = pid // n_split
    chunk = (rest % n_chunk).to(tl.int64)
    i0 = (rest // n_chunk).to(tl.int64) * BR
    scalars = chunk == 0
    first = scalars & (split == 0)  # writes the per-request outputs

    # Running sums over the requests before the block: rows (var), kv and dsa shares
    # (programs of chunk 0 only). Fixed-width modes: rows before = i0 * e, no loop.
    acc_e = i0 * e_fixed
    acc_kv = tl.zeros((), dtype=tl.int64)
    acc_sum = tl.zeros((), dtype=tl.int64)
    if VAR:
        acc_e = tl.zeros((), dtype=tl.int64)
        prefix_end = i0
    else:
        prefix_end = tl.where(scalars, i0, 0)
    for base in range(0, prefix_end, SUM_BLOCK):
        idx = base + tl.arange(0, SUM_BLOCK).to(tl.int64)
        m = idx < i0
        if VAR:
            e_prior = tl.load(ext_ptr + idx * stride_ext, mask=m, other=0).to(tl.int64)
        else:
            e_prior = tl.zeros_like(idx) + e_fixed
        e_prior = tl.where(m, e_prior, 0)
        if VAR:
            acc_e += tl.sum(e_prior, axis=0)
        ms = m & ((idx * 0 + chunk) == 0)  # block-shaped: the interpreter's & needs it
        kv_prior = tl.load(seq_ptr + idx * stride_seq, mask=ms, other=0).to(tl.int64) + kv_add
        kv_prior = tl.where(ms, kv_prior, 0)
        acc_kv += tl.sum(kv_prior, axis=0)
        share_prior = _clamped_sum(kv_prior - e_prior + 1, e_prior, topk)
        acc_sum += tl.sum(tl.where(ms, share_prior, 0), axis=0)

    zero = tl.zeros((), dtype=tl.int32)
    tl.store(cu_ptr, zero, mask=first & (i0 == 0))
    tl.store(dcu_ptr, zero, mask=first & (i0 == 0) & (dcu_cap > 0))

    c0 = tl.multiple_of(chunk * chunk_w, BW)
    c1 = tl.minimum(c0 + chunk_w, width)
    for sb in range(0, BR, RB):
        req = i0 + sb + tl.arange(0, RB).to(tl.int64)
        rm = req < bs
        if VAR:
            e = tl.load(ext_ptr + req * stride_ext, mask=rm, other=0).to(tl.int64)
        else:
            e = tl.zeros_like(req) + e_fixed
        e = tl.where(rm, e, 0)
        start = acc_e + tl.cumsum(e, axis=0) - e
        acc_e += tl.sum(e, axis=0)
        e_max = tl.max(e, axis=0)

        if scalars:
            kv = tl.load(seq_ptr + req * stride_seq, mask=rm, other=0).to(tl.int64) + kv_add
            kv = tl.where(rm, kv, 0)
            a = kv - e + 1
            share = tl.where(rm, _clamped_sum(a, e, topk), 0)
            cu = acc_kv + tl.cumsum(kv, axis=0)
            before = acc_sum + tl.cumsum(share, axis=0) - share
            acc_kv += tl.sum(kv, axis=0)
            acc_sum += tl.sum(share, axis=0)
            mine = rm & ((req * 0 + split) == 0)
            tl.store(cache_ptr + req * st_cache, kv.to(tl.int32), mask=mine)
            tl.store(cu_ptr + (req + 1) * st_cu, cu.to(tl.int32), mask=mine)
            for d0 in range(split * EB, e_max, n_split * EB):
                d = d0 + tl.arange(0, EB).to(tl.int64)[None, :]
                t = start[:, None] + d
                mask = (d < e[:, None]) & (t >= 0) & (t < rows_cap)
                value = a[:, None] + d
                running = before[:, None] + _clamped_sum(a[:, None], d + 1, topk)
                tl.store(se_ptr + t * st_se, value.to(tl.int32), mask=mask)
                tl.store(dc_ptr + t * st_dc, tl.minimum(value, topk).to(tl.int32), mask=mask)
                tl.store(dcu_ptr + (t + 1) * st_dcu, running.to(tl.int32), mask=mask)

        # The page tables: read the chunk of each request's pool row once, store it to
        # every row of the request.
        live = rm & (e > 0)
        pool_row = tl.load(r_ptr + req * stride_r, mask=live, other=0).to(tl.int64)
        pool_row = tl.minimum(tl.maximum(pool_row, 0), pool - 1)
        src = r2t_ptr + pool_row[:, None] * r2t_s0
        for cb in range(c0, c1, BW):
            c = cb + tl.arange(0, BW).to(tl.int64)[None, :]
            mask_c = live[:, None] & (c < c1)
            cells = tl.load(src + c * r2t_s1, mask=mask_c, other=0)
            _store_rows(
                pt_ptr, pt_s0, c * pt_s1, cells, mask_c, start, e, split, n_split, e_max,
                rows_cap, ED,
            )  # fmt: skip
        if HAS_RPT:
            # Pages q whose first column q * page_size lies in [c0, c1).
            q_lo = (c0 + page_size - 1) // page_size
            q_hi = (c1 + page_size - 1) // page_size
            for qb in range(q_lo, q_hi, BQ):
                q = qb + tl.arange(0, BQ).to(tl.int64)[None, :]
                mask_q = live[:, None] & (q < q_hi)
                firsts = tl.load(src + (q * page_size) * r2t_s1, mask=mask_q, other=0)
                pages = firsts // page_size
                _store_rows(
                    rpt_ptr, rpt_s0, q * rpt_s1, pages, mask_q, start, e, split, n_split,
                    e_max, rows_cap, ED,
                )  # fmt: skip


INTERPRETED = interpreting()  # fixed once Triton is imported
TARGET = 1024  # programs a launch aims for on a GPU (H100/H200: 132 SMs, ~8 each)
TILE = 4096  # elements of one [RB, BW] tile: 32 a thread at 4 warps
MAX_SPLIT = 64  # row splits of a request's rows
SPLIT_ROWS = 8  # rows per request per program before its rows are split
SUM_BLOCK = 2048  # the running-sum loads


def _pow2(n: int) -> int:
    return triton.next_power_of_2(max(int(n), 1))


def plan(bs: int, width: int, page_size: int, rows: int, *, interpreted: bool) -> dict:
    """Block sizes and grid split. Returns the kernel's constexprs (BR, RB, SUM_BLOCK, EB,
    BW, BQ) and the grid's shape (n_rb, n_chunk, n_split, chunk_w).

    On a GPU: [RB, BW] tiles of TILE elements, BW up to 1024 columns (wider when few
    requests); about TARGET programs, first by splitting the columns into chunks, then by
    giving each program more requests (BR). The interpreter pays per op, not per lane, so
    there one wide program does it all."""
    rows_per_req = -(-max(rows, 1) // max(bs, 1))
    pages = -(-width // page_size)
    if interpreted:
        rb = min(_pow2(bs), 64)
        bw = min(_pow2(width), max(16, TILE // rb))
        br = rb * _pow2(-(-max(bs, 1) // rb))
        return {
            "BR": br,
            "RB": rb,
            "SUM_BLOCK": 16,
            "EB": min(_pow2(rows_per_req), 2**16 // rb),
            "ED": min(_pow2(rows_per_req), max(1, 2**16 // (rb * bw))),
            "BW": bw,
            "BQ": min(_pow2(pages), max(16, TILE // rb)),
            "n_rb": 1,
            "n_chunk": 1,
            "n_split": 1,
            "chunk_w": bw * -(-width // bw),
        }
    rb = min(_pow2(bs), max(1, TILE // min(_pow2(width), 1024)))
    bw = min(_pow2(width), TILE // rb)
    tiles = -(-width // bw)
    n_rb = -(-max(bs, 1) // rb)
    n_split = min(max(rows_per_req // SPLIT_ROWS, 1), MAX_SPLIT)
    if n_rb * tiles * n_split <= TARGET:
        br, n_chunk = rb, tiles
    elif n_rb * n_split <= TARGET:
        br, n_chunk = rb, max(1, TARGET // (n_rb * n_split))
    else:
        br, n_chunk = rb * _pow2(-(-n_rb * n_split // TARGET)), 1
    per_chunk = -(-tiles // n_chunk)
    chunk_w = per_chunk * bw
    return {
        "BR": br,
        "RB": rb,
        "SUM_BLOCK": SUM_BLOCK,
        "EB": min(_pow2(rows_per_req), 8, TILE),
        "ED": 1,
        "BW": bw,
        "BQ": min(_pow2(-(-chunk_w // page_size)), TILE // rb),
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
    p = plan(bs, width, page_size, rows_cap, interpreted=interpreted)
    n_rb, n_chunk, n_split, chunk_w = (p.pop(k) for k in ("n_rb", "n_chunk", "n_split", "chunk_w"))
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
        n_chunk,
        n_split,
        chunk_w,
    )
    return (n_rb * n_chunk * n_split,), args, {"VAR": var, "HAS_RPT": has_rpt, **p}


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
    _metadata_kernel[grid](*args, num_warps=4, **constexprs)

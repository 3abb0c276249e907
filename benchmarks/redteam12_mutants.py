"""Red-team round 12, written blind to the fuzzer's strategies: contract v2 as Triton kernels
in the style of SGLang upstream's fused DSA metadata kernels, and one slip per `bug_*`.

Three launches: one program scans the requests in chunks of BLOCK_BS (kv, cu_seqlens_k, and
into an int64 scratch each request's first row and its dsa_cu_seqlens_k base), then a grid
over blocks of BLOCK_R requests writes the rows (a decode kernel, one row a request; a rows
kernel for the other modes, looping over row tiles and column tiles of the page tables).
`correct` is right on the whole contract; each bug is `correct` with ONE slip (SLIP, a
constexpr, or a host-side slip), wrong only inside its family. `reset()` clears the state of
the two state bugs. Hunt: `python benchmarks/hunt.py benchmarks/redteam12_mutants.py`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

INT32_MAX = 2**31 - 1
BLOCK_BS = 1024  # requests per chunk of the scan program
MAX_CAPTURED_BS = 16384  # the largest captured batch (SGLang's cuda_graph_max_bs)
BLOCK_R = 32  # requests per program of the decode kernel
BLOCK_R_ROWS = 32  # requests per program of the rows kernel (up to BLOCK_E rows each)

# A slip is its bug's name, a constexpr string in the kernels ("" in the correct one).


@triton.jit
def _dsa_scan_kernel(
    seq_ptr, ext_ptr, cache_ptr, cu_ptr, dcu_ptr, scratch_ptr,
    stride_seq, stride_ext, st_cache, st_cu, st_dcu, bs, stop, topk, kv_add, e_fixed,
    VAR: tl.constexpr, EXT_WORDS: tl.constexpr, BLOCK: tl.constexpr, SLIP: tl.constexpr,
):  # fmt: skip
    """One program: kv, cu_seqlens_k and, per request, its first row (scratch[0:bs]) and
    the sum of dsa_cache_seqlens over the rows before it (scratch[bs:2bs]), chunk by chunk
    with a carry (`stop` is bs). A request's share of dsa_cu_seqlens_k is
    sum(min(a + d, topk) for d < e) in closed form: c = clamp(topk - a + 1, 0, e) rows
    below the clamp, the others topk; int64 throughout."""
    if EXT_WORDS:
        ext_ptr = ext_ptr.to(tl.pointer_type(tl.int32))
    offs = tl.arange(0, BLOCK)
    tl.store(cu_ptr, 0)
    if SLIP != "var_all_zero_dcu0":
        tl.store(dcu_ptr, 0)
    kv_carry = tl.zeros((), tl.int64)
    row_carry = tl.zeros((), tl.int64)
    dsa_carry = tl.zeros((), tl.int64)
    for c0 in range(0, stop, BLOCK):
        i = (c0 + offs).to(tl.int64)
        m = i < bs
        s = tl.load(seq_ptr + i * stride_seq, mask=m, other=0).to(tl.int64)
        if VAR:
            e = tl.load(ext_ptr + i * stride_ext, mask=m, other=0).to(tl.int64)
        else:
            e = tl.zeros_like(s) + e_fixed
        e = tl.where(m, e, 0)
        kv = tl.where(m, s + kv_add, 0)
        a = kv - e + 1  # the request's first row value
        if SLIP == "i32_topk_gap":
            c = tl.minimum(tl.maximum(topk - a.to(tl.int32) + 1, 0), e.to(tl.int32)).to(tl.int64)
        else:
            c = tl.minimum(tl.maximum(topk - a + 1, 0), e)
        if SLIP == "i32_series_double":
            c32, a32 = c.to(tl.int32), a.to(tl.int32)
            share = (c32 * (2 * a32 + c32 - 1) // 2).to(tl.int64) + (e - c) * topk
        elif SLIP == "topk_eq_double":
            n_over = tl.minimum(tl.maximum(kv - topk + 1, 0), e)
            share = c * (2 * a + c - 1) // 2 + n_over * topk
        else:
            share = c * (2 * a + c - 1) // 2 + (e - c) * topk
        if SLIP == "pad_share_zeroed":
            share = tl.where(a > 0, share, 0)
        share = tl.where(m, share, 0)
        kv_incl = kv_carry + tl.cumsum(kv, 0)
        row_incl = row_carry + tl.cumsum(e, 0)
        dsa_incl = dsa_carry + tl.cumsum(share, 0)
        tl.store(cache_ptr + i * st_cache, kv.to(tl.int32), mask=m)
        tl.store(cu_ptr + (i + 1) * st_cu, kv_incl.to(tl.int32), mask=m)
        tl.store(scratch_ptr + i, row_incl - e, mask=m)
        tl.store(scratch_ptr + bs + i, dsa_incl - share, mask=m)
        kv_carry += tl.sum(kv, 0)
        row_carry += tl.sum(e, 0)
        if SLIP != "bs_carry_1024":
            dsa_carry += tl.sum(share, 0)


@triton.jit
def _dsa_decode_kernel(
    seq_ptr, r_ptr, r2t_ptr, scratch_ptr, cu_ptr, se_ptr, dc_ptr, dcu_ptr, pt_ptr, rpt_ptr,
    stride_seq, stride_r, r2t_s0, r2t_s1, st_cu, st_se, st_dc, st_dcu, pt_s0, pt_s1,
    rpt_s0, rpt_s1, bs, pool, topk, width, col_stop, page_size, page_shift, n_pages,
    rows_cap,
    HAS_REAL: tl.constexpr, R_WORDS: tl.constexpr, BLOCK_R: tl.constexpr,
    BLOCK_W: tl.constexpr, BLOCK_Q: tl.constexpr, SLIP: tl.constexpr,
):  # fmt: skip
    """BLOCK_R requests, one row each (row i is request i): the three scalars, then both
    page tables a column tile at a time ([BLOCK_R, BLOCK_W], req_to_token rows gathered)."""
    if R_WORDS:
        r_ptr = r_ptr.to(tl.pointer_type(tl.int32))
    i = (tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)).to(tl.int64)
    m = i < bs
    kv = tl.load(seq_ptr + i * stride_seq, mask=m, other=0).to(tl.int64)
    dstart = tl.load(scratch_ptr + bs + i, mask=m, other=0)
    dc = tl.minimum(kv, topk)
    tl.store(se_ptr + i * st_se, kv.to(tl.int32), mask=m)
    tl.store(dc_ptr + i * st_dc, dc.to(tl.int32), mask=m)
    if SLIP == "decode_dcu_unclamped":
        dcu = tl.load(cu_ptr + (i + 1) * st_cu, mask=m, other=0)
    else:
        dcu = dstart + dc
    tl.store(dcu_ptr + (i + 1) * st_dcu, dcu.to(tl.int32), mask=m)
    if SLIP == "var_all_zero_dcu0":
        tl.store(dcu_ptr + i * st_dcu, dstart.to(tl.int32), mask=m)

    r = tl.load(r_ptr + i * stride_r, mask=m, other=0).to(tl.int64)
    if SLIP == "pool_last_as_pad":
        r = tl.where((r >= 0) & (r < pool - 1), r, 0)
    else:
        r = tl.minimum(tl.maximum(r, 0), pool - 1)  # garbage cannot leave the pool
    src = r2t_ptr + r[:, None] * r2t_s0
    if SLIP == "out_row_past_T":
        rows_ok = (i < rows_cap)[:, None]
    else:
        rows_ok = m[:, None]
    for c0 in range(0, col_stop, BLOCK_W):
        cols = (c0 + tl.arange(0, BLOCK_W)).to(tl.int64)[None, :]
        vals = tl.load(src + cols * r2t_s1, mask=m[:, None] & (cols < width), other=0)
        dst = pt_ptr + i[:, None] * pt_s0 + cols * pt_s1
        tl.store(dst, vals, mask=rows_ok & (cols < col_stop))
    if HAS_REAL:
        for q0 in range(0, n_pages, BLOCK_Q):
            qs = (q0 + tl.arange(0, BLOCK_Q)).to(tl.int64)[None, :]
            qm = m[:, None] & (qs < n_pages)
            firsts = tl.load(src + qs * page_size * r2t_s1, mask=qm, other=0)
            if SLIP == "page_shift":
                pages = firsts >> page_shift
            else:
                pages = firsts // page_size  # cells are >= 0: truncation is floor
            tl.store(rpt_ptr + i[:, None] * rpt_s0 + qs * rpt_s1, pages, mask=qm)


@triton.jit
def _dsa_rows_kernel(
    seq_ptr, ext_ptr, r_ptr, r2t_ptr, scratch_ptr, se_ptr, dc_ptr, dcu_ptr, pt_ptr, rpt_ptr,
    stride_seq, stride_ext, stride_r, r2t_s0, r2t_s1, st_se, st_dc, st_dcu, pt_s0, pt_s1,
    rpt_s0, rpt_s1, bs, pool, topk, kv_add, e_fixed, n_shift, e_cap, width, col_stop,
    page_size, page_shift, n_pages,
    VAR: tl.constexpr, IS_DE: tl.constexpr, HAS_REAL: tl.constexpr, R_WORDS: tl.constexpr,
    EXT_WORDS: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_E: tl.constexpr,
    BLOCK_W: tl.constexpr, BLOCK_Q: tl.constexpr, SLIP: tl.constexpr,
):  # fmt: skip
    """BLOCK_R requests of target_verify / draft_extend / draft_extend_var: their rows'
    three scalars a [BLOCK_R, BLOCK_E] tile at a time, then both page tables a column tile
    at a time, each req_to_token tile loaded once and stored to all the requests' rows."""
    if R_WORDS:
        r_ptr = r_ptr.to(tl.pointer_type(tl.int32))
    if EXT_WORDS:
        ext_ptr = ext_ptr.to(tl.pointer_type(tl.int32))
    i = (tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)).to(tl.int64)
    m = i < bs
    s = tl.load(seq_ptr + i * stride_seq, mask=m, other=0).to(tl.int64)
    if VAR:
        e = tl.load(ext_ptr + i * stride_ext, mask=m, other=0).to(tl.int64)
        if SLIP == "var_start_fixed":
            start = i * e
        else:
            start = tl.load(scratch_ptr + i, mask=m, other=0)
    else:
        e = tl.zeros_like(s) + e_fixed
        if SLIP == "next_n_shift":
            start = i << n_shift
        else:
            start = i * e_fixed
    if SLIP == "tv_rows_from_seq":
        kv = s
    else:
        kv = s + kv_add
    if IS_DE:
        if SLIP == "de_skip_padded":
            e = tl.where(s == 1, 0, e)  # SGLang pads a graph's batch with seq_lens 1
    e = tl.where(m, e, 0)
    dstart = tl.load(scratch_ptr + bs + i, mask=m, other=0)
    n_rows = e  # rows written per request
    if SLIP == "next_n_tile4":
        if not VAR:
            n_rows = tl.minimum(e, 4)
    if SLIP == "state_max_e_baked":
        n_rows = tl.minimum(e, e_cap)
    n_scalar_rows = n_rows
    if SLIP == "var_zero_row_spill":
        n_scalar_rows = tl.where(m, tl.maximum(e, 1), 0)
    e_stop = tl.max(n_scalar_rows, 0)

    carry = dstart
    for d0 in range(0, e_stop, BLOCK_E):
        d = (d0 + tl.arange(0, BLOCK_E)).to(tl.int64)[None, :]
        rm = d < n_scalar_rows[:, None]
        t = start[:, None] + d
        se = (kv - e + 1)[:, None] + d
        dc = tl.minimum(se, topk)
        if SLIP == "pad_clamp_dsa_zero":
            dc = tl.maximum(dc, 0)
        dc = tl.where(rm, dc, 0)
        dcu = carry[:, None] + tl.cumsum(dc, 1)
        tl.store(se_ptr + t * st_se, se.to(tl.int32), mask=rm)
        tl.store(dc_ptr + t * st_dc, dc.to(tl.int32), mask=rm)
        tl.store(dcu_ptr + (t + 1) * st_dcu, dcu.to(tl.int32), mask=rm)
        if SLIP == "var_all_zero_dcu0":
            tl.store(dcu_ptr + t * st_dcu, (dcu - dc).to(tl.int32), mask=rm)
        carry += tl.sum(dc, 1)

    r = tl.load(r_ptr + i * stride_r, mask=m, other=0).to(tl.int64)
    if SLIP == "pool_last_as_pad":
        r = tl.where((r >= 0) & (r < pool - 1), r, 0)
    else:
        r = tl.minimum(tl.maximum(r, 0), pool - 1)  # garbage cannot leave the pool
    src = r2t_ptr + r[:, None] * r2t_s0
    has_rows = (m & (n_rows > 0))[:, None]  # requests with no row read no req_to_token cell
    for c0 in range(0, col_stop, BLOCK_W):
        cols = (c0 + tl.arange(0, BLOCK_W)).to(tl.int64)[None, :]
        vals = tl.load(src + cols * r2t_s1, mask=has_rows & (cols < width), other=0)
        for d0 in range(0, e_stop, BLOCK_E):
            d = (d0 + tl.arange(0, BLOCK_E)).to(tl.int64)[None, :]
            t = (start[:, None] + d)[:, :, None]  # [R, E, 1]
            ok = (d < n_rows[:, None])[:, :, None] & (cols < col_stop)[:, None, :]
            tl.store(pt_ptr + t * pt_s0 + cols[:, None, :] * pt_s1, vals[:, None, :], mask=ok)
    if HAS_REAL:
        for q0 in range(0, n_pages, BLOCK_Q):
            qs = (q0 + tl.arange(0, BLOCK_Q)).to(tl.int64)[None, :]
            qm = has_rows & (qs < n_pages)
            firsts = tl.load(src + qs * page_size * r2t_s1, mask=qm, other=0)
            if SLIP == "page_shift":
                pages = firsts >> page_shift
            else:
                pages = firsts // page_size  # cells are >= 0: truncation is floor
            for d0 in range(0, e_stop, BLOCK_E):
                d = (d0 + tl.arange(0, BLOCK_E)).to(tl.int64)[None, :]
                t = (start[:, None] + d)[:, :, None]
                ok = (d < n_rows[:, None])[:, :, None] & (qs < n_pages)[:, None, :]
                dst = rpt_ptr + t * rpt_s0 + qs[:, None, :] * rpt_s1
                tl.store(dst, pages[:, None, :], mask=ok)


# -- the launcher: grids, strides, and the host-side slips --------------------------------

_captured: dict = {}  # state of the two state slips, keyed on the out buffers


def reset() -> None:
    """Forget every captured value (the state bugs' caches)."""
    _captured.clear()


def _pow2(n: int, cap: int) -> int:
    return min(triton.next_power_of_2(max(n, 1)), cap)


def _metadata(slip: str, *, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
              topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """The launcher; `slip` is "" (correct) or a bug's name (its host-side or kernel slip)."""
    bs = seq_lens.numel()
    if slip == "bs0_early_return" and bs == 0:
        return
    var, r = mode == "draft_extend_var", req_pool_indices
    ext = extend_seq_lens if var else seq_lens  # a stand-in pointer when not read
    e_fixed = 1 if mode == "decode" else next_n
    kv_add = next_n if mode == "target_verify" else 0
    if slip == "topk_fastpath_seq_max" and bs and topk >= int(seq_lens.max()):
        topk = INT32_MAX  # no request reaches topk: skip the clamp
    if slip == "state_topk_fastpath_baked" and bs:
        key = ("no_clamp", out.cache_seqlens.data_ptr())
        if key not in _captured:  # decided at capture, replayed as is
            _captured[key] = topk >= int(seq_lens.max()) + kv_add
        if _captured[key]:
            topk = INT32_MAX
    e_cap = INT32_MAX
    if slip == "state_max_e_baked" and var and bs:
        key = ("max_e", out.seqlens_expanded.data_ptr())
        e_cap = _captured.setdefault(key, int(extend_seq_lens.max()))
    narrow = seq_lens.dtype == torch.int32  # the MIX slips read int64 through int32 pointers
    ext_words = slip == "mix_ext_as_seq_dtype" and narrow and ext.dtype == torch.int64
    r_words = slip == "mix_r_as_seq_dtype" and narrow and r.dtype == torch.int64
    static = slip == "bs_static_16384"
    scratch = torch.empty(2 * max(bs, 1), dtype=torch.int64, device=seq_lens.device)
    _dsa_scan_kernel[(1,)](
        seq_lens, ext, out.cache_seqlens, out.cu_seqlens_k, out.dsa_cu_seqlens_k, scratch,
        seq_lens.stride(0), ext.stride(0), out.cache_seqlens.stride(0),
        out.cu_seqlens_k.stride(0), out.dsa_cu_seqlens_k.stride(0), bs,
        MAX_CAPTURED_BS if static else bs, topk, kv_add, e_fixed, VAR=var,
        EXT_WORDS=ext_words, BLOCK=BLOCK_BS if static else _pow2(bs, BLOCK_BS), SLIP=slip,
    )  # fmt: skip
    if bs == 0:
        return

    pt, rpt, has_real = out.page_table_1, out.real_page_table, page_size > 1
    rpt = rpt if has_real else pt  # a stand-in pointer when not written
    n_pages = width // page_size if slip == "page_cols_floor" else triton.cdiv(width, page_size)
    pt_s0 = width if slip == "out_pt_row_stride_as_width" else pt.stride(0)
    st_dcu = 1 if slip == "out_dcu_stride1" else out.dsa_cu_seqlens_k.stride(0)
    col_stop = pt.shape[1] if slip == "out_cols_to_buffer_width" else width
    common = dict(
        r2t_s0=req_to_token.stride(0),
        r2t_s1=1 if slip == "r2t_col_stride1" else req_to_token.stride(1),
        st_se=out.seqlens_expanded.stride(0), st_dc=out.dsa_cache_seqlens.stride(0),
        st_dcu=st_dcu, pt_s0=pt_s0, pt_s1=pt.stride(1), rpt_s0=rpt.stride(0),
        rpt_s1=rpt.stride(1), bs=bs, pool=req_to_token.shape[0], topk=topk, width=width,
        col_stop=col_stop, page_size=page_size, page_shift=page_size.bit_length() - 1,
        n_pages=n_pages, HAS_REAL=has_real, R_WORDS=r_words, BLOCK_W=_pow2(col_stop, 128),
        BLOCK_Q=_pow2(n_pages, 128), SLIP=slip,
    )  # fmt: skip
    if mode == "decode":
        blocks = triton.cdiv(bs, BLOCK_R)
        grid = max(bs // BLOCK_R, 1) if slip == "decode_grid32" else blocks
        _dsa_decode_kernel[(grid,)](
            seq_lens, r, req_to_token, scratch, out.cu_seqlens_k, out.seqlens_expanded,
            out.dsa_cache_seqlens, out.dsa_cu_seqlens_k, pt, rpt, stride_seq=seq_lens.stride(0),
            stride_r=r.stride(0), st_cu=out.cu_seqlens_k.stride(0), rows_cap=pt.shape[0],
            BLOCK_R=BLOCK_R, **common,
        )  # fmt: skip
        return
    _dsa_rows_kernel[(triton.cdiv(bs, BLOCK_R_ROWS),)](
        seq_lens, ext, r, req_to_token, scratch, out.seqlens_expanded, out.dsa_cache_seqlens,
        out.dsa_cu_seqlens_k, pt, rpt, stride_seq=seq_lens.stride(0), stride_ext=ext.stride(0),
        stride_r=r.stride(0), kv_add=kv_add, e_fixed=e_fixed,
        n_shift=next_n.bit_length() - 1, e_cap=e_cap, VAR=var, IS_DE=mode == "draft_extend",
        EXT_WORDS=ext_words, BLOCK_R=BLOCK_R_ROWS, BLOCK_E=64 if var else _pow2(next_n, 16),
        **common,
    )  # fmt: skip


def correct(**kw) -> None:
    """Contract v2, whole envelope."""
    _metadata("", **kw)


# -- the bugs: each is `correct` with one slip; the docstring names its smallest trigger ---
# (K = topk, N = next_n, P = page_size, W = width; r2t = req_to_token; "out" = the buffers)


def _bug(slip: str, family: str, doc: str):
    def candidate(**kw) -> None:
        _metadata(slip, **kw)

    candidate.__name__ = candidate.__qualname__ = f"bug_{slip}"
    candidate.__doc__ = doc
    candidate.family = family
    return candidate


# one mode wrong
bug_tv_rows_from_seq = _bug(
    "tv_rows_from_seq",
    "mode",
    "target_verify: the rows' seqlens_expanded start from s, not kv = s + N (cache_seqlens "
    "right). Trigger: target_verify, s=[5], N=1.",
)
bug_de_skip_padded = _bug(
    "de_skip_padded",
    "mode",
    "draft_extend: a request with s == 1 (SGLang's padding value) writes no row. Trigger: "
    "draft_extend, s=[1], N=1.",
)
bug_decode_dcu_unclamped = _bug(
    "decode_dcu_unclamped",
    "mode",
    "decode: dsa_cu_seqlens_k copied from cu_seqlens_k (no clamp). Trigger: decode, s=[5], K=3.",
)
bug_var_start_fixed = _bug(
    "var_start_fixed",
    "mode",
    "draft_extend_var: a request's first row is i * e[i] (draft_extend's formula). Trigger: "
    "draft_extend_var, e=[1, 2].",
)
# batch-size edges
bug_bs0_early_return = _bug(
    "bs0_early_return",
    "bs",
    "bs == 0 returns before cu_seqlens_k[0] and dsa_cu_seqlens_k[0] are written. Trigger: "
    "any mode, bs=0.",
)
bug_decode_grid32 = _bug(
    "decode_grid32",
    "bs",
    "decode grid max(bs // 32, 1) programs, not cdiv: the last bs % 32 requests get no row "
    "when bs > 32. Trigger: decode, bs=33.",
)
bug_bs_carry_1024 = _bug(
    "bs_carry_1024",
    "bs",
    "the scan's 1024-request chunks drop the dsa_cu_seqlens_k carry: requests from 1024 on "
    "restart from 0. Trigger: decode, bs=1025, s=1.",
)
bug_bs_static_16384 = _bug(
    "bs_static_16384",
    "bs",
    "the scan loops to the largest captured batch, 16384: requests from 16384 on are not "
    "scanned (cache_seqlens, cu_seqlens_k unwritten). Trigger: decode, bs=16385.",
)
# next_n
bug_next_n_tile4 = _bug(
    "next_n_tile4",
    "next_n",
    "fixed-width modes write rows in one tile of 4 (MTP's next_n <= 4): rows d >= 4 are "
    "unwritten. Trigger: target_verify or draft_extend, N=5, bs=1.",
)
bug_next_n_shift = _bug(
    "next_n_shift",
    "next_n",
    "fixed-width modes: request i's first row is i << log2(N) (N assumed a power of two). "
    "Trigger: draft_extend, N=3, bs=2.",
)
# zero extends
bug_var_all_zero_dcu0 = _bug(
    "var_all_zero_dcu0",
    "zero extends",
    "dsa_cu_seqlens_k[0] is written by row 0's program, so T == 0 leaves it unwritten. "
    "Trigger: draft_extend_var, e=[0] (or any mode at bs=0).",
)
bug_var_zero_row_spill = _bug(
    "var_zero_row_spill",
    "zero extends",
    "every request writes at least one row's scalars: a trailing e=0 request writes row T "
    "(seqlens_expanded, dsa_cache_seqlens, dsa_cu_seqlens_k[T+1]). Trigger: "
    "draft_extend_var, e=[0], buffers with a spare row.",
)
# kv < e (padded requests)
bug_pad_clamp_dsa_zero = _bug(
    "pad_clamp_dsa_zero",
    "kv < e",
    "dsa_cache_seqlens clamped from below at 0 in the multi-row modes. Trigger: "
    "draft_extend, s=[0], N=2.",
)
bug_pad_share_zeroed = _bug(
    "pad_share_zeroed",
    "kv < e",
    "the scan counts nothing for a request whose first row is <= 0, so later requests' "
    "dsa_cu_seqlens_k miss its (non-zero) sum. Trigger: draft_extend, s=[0, 5], N=2.",
)
# topk
bug_topk_eq_double = _bug(
    "topk_eq_double",
    "topk",
    "the scan counts a row equal to topk both as unclamped and clamped (clamped count "
    "kv - K + 1): later requests are off by K. Trigger: decode, s=[5, 1], K=5.",
)
bug_topk_fastpath_seq_max = _bug(
    "topk_fastpath_seq_max",
    "topk",
    "skips the clamp when K >= max(seq_lens), not max(kv): target_verify rows above K. "
    "Trigger: target_verify, s=[5], N=2, K=6.",
)
# page size and width
bug_page_shift = _bug(
    "page_shift",
    "page/width",
    "real_page_table's page is cell >> log2(P) (P assumed a power of two). Trigger: decode, "
    "P=3, W=1, r2t cell 10.",
)
bug_page_cols_floor = _bug(
    "page_cols_floor",
    "page/width",
    "real_page_table gets W // P columns, not ceil(W / P). Trigger: decode, P=2, W=1.",
)
# req_to_token layout and pool indices
bug_r2t_col_stride1 = _bug(
    "r2t_col_stride1",
    "r2t/pool",
    "req_to_token's column stride taken as 1. Trigger: decode, column-major r2t, W=2.",
)
bug_pool_last_as_pad = _bug(
    "pool_last_as_pad",
    "r2t/pool",
    "the pool guard keeps r < pool - 1 and maps the rest to slot 0: the last slot reads "
    "slot 0. Trigger: decode, r=[pool - 1], pool >= 2.",
)
# int32 / int64 mixes
bug_mix_r_as_seq_dtype = _bug(
    "mix_r_as_seq_dtype",
    "dtype mix",
    "int64 req_pool_indices read through an int32 pointer when seq_lens is int32. Trigger: "
    "decode, s int32 [5, 6], r int64 [1, 1].",
)
bug_mix_ext_as_seq_dtype = _bug(
    "mix_ext_as_seq_dtype",
    "dtype mix",
    "int64 extend_seq_lens read through an int32 pointer when seq_lens is int32. Trigger: "
    "draft_extend_var, s int32 [5, 6], e int64 [1, 2].",
)
# int32 limits
bug_i32_series_double = _bug(
    "i32_series_double",
    "int32 limit",
    "the scan's closed form c * (2a + c - 1) // 2 in int32 wraps for a >= 2**30. Trigger: "
    "decode, s=[2**30, 1], K=2**31-1.",
)
bug_i32_topk_gap = _bug(
    "i32_topk_gap",
    "int32 limit",
    "the scan's K - a + 1 in int32 wraps for K = 2**31-1 and a <= 0. Trigger: decode, "
    "s=[0, 5], K=2**31-1.",
)
# back-to-back calls on one set of buffers
bug_state_max_e_baked = _bug(
    "state_max_e_baked",
    "state",
    "draft_extend_var's row loop bound is max(e) of the first call on these buffers (the "
    "capture's). Trigger: draft_extend_var e=[1], then e=[2] on the same out.",
)
bug_state_topk_fastpath_baked = _bug(
    "state_topk_fastpath_baked",
    "state",
    "whether to clamp at all (K >= max kv) is decided at the first call on these buffers. "
    "Trigger: decode s=[5], K=8, then s=[9], K=8 on the same out.",
)
# writes outside the contract's region
bug_out_cols_to_buffer_width = _bug(
    "out_cols_to_buffer_width",
    "outside write",
    "page_table_1 rows written to the buffer's width (zeros past W). Trigger: any mode, "
    "page_table_1 buffer wider than W.",
)
bug_out_row_past_T = _bug(
    "out_row_past_T",
    "outside write",
    "decode's page_table_1 store masked by the buffer's rows, not bs: rows past T get zeros. "
    "Trigger: decode, page_table_1 buffer with more than bs rows.",
)
# out buffers with odd strides
bug_out_pt_row_stride_as_width = _bug(
    "out_pt_row_stride_as_width",
    "out strides",
    "page_table_1's row stride taken as W. Trigger: page_table_1 buffer wider than W, T=2.",
)
bug_out_dcu_stride1 = _bug(
    "out_dcu_stride1",
    "out strides",
    "dsa_cu_seqlens_k's stride taken as 1. Trigger: a step-2 dsa_cu_seqlens_k buffer, T=1.",
)

BUGS = [name for name in list(globals()) if name.startswith("bug_")]

HUNT = [("correct", "metadata", "correct: three Triton launches, whole contract")] + [
    (name, "metadata", f"{globals()[name].family}: {globals()[name].__doc__.split('. Trigger')[0]}")
    for name in BUGS
]

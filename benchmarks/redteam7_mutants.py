"""Red-team round 7: planted bugs written blind to the fuzzer's generators, one narrow slip of
a fused-kernel author per candidate (a boundary of one arithmetic trick, a cache keyed on a
fingerprint, a cell written one past the region, a second kernel that reads the first's
output), each reached in one corner of one input family of contract v2, or of two together.

`_fill(bug, ...)` is a correct vectorised torch version of CONTRACT_V2; each mutant is that
function with one `bug` switched on; its docstring names the corner and the smallest valid
input known to show it. `HUNT` lists them for benchmarks/hunt.py. Written for the CPU: on a
GPU each call runs on host copies of the storages, written back whole (so the mutants that
key state by buffer address see new addresses every call there).
"""

from __future__ import annotations

import weakref
from functools import partial

import torch

from benchmarks.on_host import on_host

I32, I64 = torch.int32, torch.int64
VAR = "draft_extend_var"
WIDE = ("target_verify", "draft_extend")  # e = next_n
FAR = -(2**62)

_STATE: dict = {}  # what the stateful mutants keep between calls (tests clear it)


def _plan(mode, s, ext, N):
    """(e, kv) as int64 tensors for mode `mode`."""
    bs = s.numel()
    if mode == "decode":
        return torch.ones(bs, dtype=I64), s
    if mode == "target_verify":
        return torch.full((bs,), N, dtype=I64), s + N
    if mode == "draft_extend":
        return torch.full((bs,), N, dtype=I64), s
    return ext, s


def _held(key, obj, make):
    """State under `key` tied to the tensor object `obj` itself (not its address): a kernel
    object that keeps what it saw for the buffers it was captured on."""
    hit = _STATE.get(key)
    if hit is None or hit[0]() is not obj:
        hit = _STATE[key] = (weakref.ref(obj), make())
    return hit[1]


def _wrap32(x):
    """int64 values (tensor or int) as an int32 register would hold them."""
    return ((x + 2**31) & (2**32 - 1)) - 2**31


def _flat(buf):
    """The whole storage of `buf` as a 1-D int32 tensor (what a raw pointer reaches)."""
    return torch.empty(0, dtype=buf.dtype, device=buf.device).set_(buf.untyped_storage())


def _keep(buf, values, skip):
    """`values`, except where `skip`: there the buffer's current content (not written)."""
    return torch.where(skip, buf.to(I64), values)


def _store_rows(buf, values, row_stride):
    """values [T, W] stored into buf's storage with row stride `row_stride` (cells past the
    storage dropped, as a masked store would)."""
    flat = _flat(buf)
    T, W = values.shape
    idx = (
        buf.storage_offset()
        + torch.arange(T, dtype=I64)[:, None] * row_stride
        + torch.arange(W, dtype=I64)[None, :] * buf.stride(1)
    )
    ok = idx < flat.numel()
    flat[idx[ok]] = values[ok].to(flat.dtype)


def _fill(
    bug,
    *,
    mode,
    seq_lens,
    req_pool_indices,
    req_to_token,
    topk,
    width,
    page_size=1,
    next_n=1,
    extend_seq_lens=None,
    out,
):
    """Contract v2 into `out`, with the planted bug `bug` ("" for none)."""
    W, P, K, N = width, page_size, topk, next_n
    bs = seq_lens.numel()
    okey = (bug, out.cache_seqlens.data_ptr(), out.seqlens_expanded.data_ptr())
    box = _STATE  # what this mutant saw last on these buffers: by address, or by object
    if bug.endswith("_obj"):
        bug = bug[: -len("_obj")]
        box = _held(("obj", bug), out.cache_seqlens, dict)
    prev = box.get(okey)

    # -- inputs as read ----------------------------------------------------------------------
    s = seq_lens.to(I64)
    ext = None if extend_seq_lens is None else extend_seq_lens.to(I64)
    r64 = req_pool_indices.to(I64)
    e, kv = _plan(mode, s, ext, N)
    if bug == "var_uniform_check_by_sum" and mode == VAR and bs:
        if int(e.sum()) == bs * int(e[0]):  # "sum == bs * first, so all equal": not so
            e = torch.full((bs,), int(e[0]), dtype=I64)
    T = int(e.sum())
    if bug == "topk_even_rounded":
        K = K & ~1
    if bug == "topk_int16":
        K = ((K + 0x8000) & 0xFFFF) - 0x8000

    skip_lengths = skip_dcu = False
    if bug == "cache_keyed_on_sums":
        fp = (mode, bs, T, int(s.sum()), K, N, W, P)
        skip_lengths = prev == fp
        box[okey] = fp
    if bug == "dsa_cu_cached_ignores_topk":
        fp = (mode, bs, N, s.tolist(), e.tolist())
        skip_dcu = prev == fp
        box[okey] = fp

    # -- per request: cache_seqlens, cu_seqlens_k ---------------------------------------------
    kv_out = kv
    if bug == "padded_kv_raised_to_e" and mode in ("draft_extend", VAR):
        kv_out = torch.maximum(kv, e)
    if not skip_lengths:
        n_req = bs
        if bug == "bs_const_cached_per_pow2_bucket" and bs >= 2:
            n_req = _STATE.setdefault(("bucket", 1 << (bs - 1).bit_length()), bs)
        kv_w = torch.cat([kv_out, torch.zeros(max(n_req - bs, 0), dtype=I64)])[:n_req]
        cs = out.cache_seqlens
        n_c = min(n_req, cs.shape[0])
        if bug == "verify_cache_store_int64" and mode == "target_verify" and seq_lens.dtype == I64:
            words = kv_w[:n_c].contiguous().view(I32)  # lo, hi, lo, hi, ...
            flat = _flat(cs)
            n = min(words.numel(), flat.numel() - cs.storage_offset())
            flat[cs.storage_offset() : cs.storage_offset() + n] = words[:n]
        elif bug == "var_trailing_zero_cache_unwritten" and mode == VAR:
            nz = (e > 0).nonzero()
            last = int(nz[-1, 0]) + 1 if nz.numel() else 0
            cs[:last].copy_(kv_w[:last])
        else:
            cs[:n_c].copy_(kv_w[:n_c])
        scan = kv_w
        if bug == "warp1_lane0_takes_lane31" and 32 < bs < 64:
            scan = kv_w.clone()
            scan[32] = kv_w[31]
        cu = torch.cumsum(scan, 0)
        if bug == "cu_block128_carry_inclusive" and bs > 128:
            i = torch.arange(n_req, dtype=I64)
            blk = i // 128
            cu = cu + torch.where(blk > 0, scan[blk * 128], 0)
        cub = out.cu_seqlens_k
        cub[:1].fill_(0)
        n_cu = min(n_req, cub.shape[0] - 1)
        cub[1 : n_cu + 1].copy_(cu[:n_cu])
        if bug == "cu_one_past_at_bs_mult_1024" and bs and bs % 1024 == 0 and cub.shape[0] > bs + 1:
            cub[bs + 1] = cu[-1]
        if bug == "bs0_stores_cache_at_minus1" and bs == 0:
            k = cs.storage_offset() - cs.stride(0)  # cache_seqlens[bs - 1], unmasked
            if k >= 0:
                _flat(cs)[k] = 0

    # -- per row: seqlens_expanded, dsa_cache_seqlens, dsa_cu_seqlens_k ------------------------
    t = torch.arange(T, dtype=I64)
    ends = torch.cumsum(e, 0)
    starts = ends - e
    owner = torch.searchsorted(ends, t, right=True)
    if bug == "fixed_owner_magic16" and mode in WIDE and N >= 3 and N & (N - 1) and bs:
        owner = ((t * -(-65536 // N)) >> 16).clamp(max=bs - 1)  # t // N by a 16-bit magic
    d = t - starts[owner] if T else t
    src = owner  # the request whose s and pool index a row reads
    if bug == "var_zero_run2_owner_minus1" and mode == VAR and bs >= 3 and T:
        z = e == 0
        run2 = torch.zeros(bs, dtype=torch.bool)
        run2[2:] = z[1:-1] & z[:-2]
        src = torch.where(run2[owner], owner - 1, owner)
    se = kv[src] - e[owner] + 1 + d if T else t
    dsa = se.clamp(max=K)
    if bug == "dsa_clamp_per_request" and T:
        dsa = kv.clamp(max=K)[src] - (e[owner] - 1 - d)
    if bug == "verify_dsa_rows_ge4_unclamped" and mode == "target_verify" and N >= 5:
        dsa = torch.where(d >= 4, se, dsa)
    if bug == "padded_dsa_unsigned_min":
        dsa = torch.where(se < 0, K, dsa)
    if bug == "nolimit_fast_path_block_max_misses_lane31" and T:
        i = torch.arange(bs, dtype=I64)
        blk = i // 32
        kvm = torch.where(i % 32 < 31, kv, FAR)
        bmax = torch.full((int(blk[-1]) + 1,), FAR, dtype=I64).scatter_reduce(0, blk, kvm, "amax")
        free = (bmax <= K)[blk][owner]
        dsa = torch.where(free, se, dsa)

    contrib = dsa
    if bug == "n8_prefix_lane7_reads_lane6" and mode in WIDE and N == 8 and T:
        contrib = dsa.clone()
        lane7 = d == 7
        contrib[lane7] = dsa[t[lane7] - 1]
    dcu = torch.cumsum(contrib, 0)
    if bug == "split16384_dsa_carry_from_cu" and bs > 16384:
        R = int(ends[16383])
        if 0 < R < T:  # the second launch's carry: the first's unclamped running sum
            dcu[R:] += torch.cumsum(se, 0)[R - 1] - dcu[R - 1]
    if bug == "dsa_cu_block_carry_clamped0" and T > 1024:
        parts, carry = [], 0
        for b in torch.split(dsa, 1024):
            parts.append(torch.cumsum(b, 0) + carry)
            carry = max(0, carry + int(b.sum()))  # "a length sum is never negative"
        dcu = torch.cat(parts)
    if bug == "dsa_req_sum_int32_product" and T:
        exact = torch.zeros(bs, dtype=I64).index_add_(0, owner, dsa)
        first, last = kv - e + 1, kv
        closed = torch.div(_wrap32(e * _wrap32(first + last)), 2, rounding_mode="trunc")
        rsum = torch.where((kv <= K) & (e > 0), closed, exact)
        within = dcu - (torch.cumsum(exact, 0) - exact)[owner]
        dcu = (torch.cumsum(rsum, 0) - rsum)[owner] + within

    se_buf, dsa_buf, dcu_buf = out.seqlens_expanded, out.dsa_cache_seqlens, out.dsa_cu_seqlens_k
    if bug == "var_delta_rows_ignore_shift" and mode == VAR:
        cur = (bs, K, list(zip(s.tolist(), e.tolist(), r64.tolist())))
        box[okey] = cur
        if prev is not None and prev[:2] == cur[:2] and T:
            same = torch.tensor([a == b for a, b in zip(prev[2], cur[2])], dtype=torch.bool)
            skip = same[owner]  # "request unchanged: its rows are already there"
            se = _keep(se_buf[:T], se, skip)
            dsa = _keep(dsa_buf[:T], dsa, skip)
    if not skip_lengths:
        se_buf[:T].copy_(se)
        dsa_buf[:T].copy_(dsa)
        if bug == "var_dsa_rows_grid_bs_times_max_e" and mode == VAR and bs:
            G = min(bs * int(e.max()), dsa_buf.shape[0])
            if G > T:  # the clamp pass's grid: rows past T extrapolate the last request
                g = torch.arange(T, G, dtype=I64)
                j = bs - 1
                dsa_buf[T:G].copy_((kv[j] - e[j] + 1 + g - starts[j]).clamp(max=K))
        if not skip_dcu:
            dcu_buf[:1].fill_(0)
            negative = T and int(dcu[-1]) < 0
            if not (bug == "dsa_cu_negative_total_as_overflow" and negative):
                dcu_buf[1 : T + 1].copy_(dcu)

    # -- page_table_1 -------------------------------------------------------------------------
    rt = req_to_token
    if (
        bug == "rt_col_stride_is_pool"
        and rt.stride(1) != 1
        and W > 1
        and rt.shape[0] < rt.stride(1)
    ):
        rt = torch.as_strided(rt, rt.shape, (rt.stride(0), rt.shape[0]), rt.storage_offset())
    rr = r64[src] if T else t
    rows = rt[:, :W].index_select(0, rr)
    if bug == "pool_row0_ignores_offset" and rt.storage_offset() and T:
        base = torch.as_strided(rt, rt.shape, rt.stride(), 0)  # row 0 at the base pointer
        rows = torch.where((rr == 0)[:, None], base[0, :W][None, :], rows)
    pt = out.page_table_1
    if bug == "dup_r_copied_from_first_holder_rows" and mode == VAR and bs >= 2 and T:
        seen: dict = {}
        holder = torch.tensor([seen.setdefault(v, j) for j, v in enumerate(r64.tolist())])
        h = holder[src]
        hrow = starts[h]  # the first holder's first row; a zero extend has none of its own
        bad = (h != src) & (e[h] == 0) & (hrow < pt.shape[0])
        if bool(bad.any()):
            old = pt[:, :W].clone()  # read before this launch's store lands
            rows = torch.where(bad[:, None], old[hrow.clamp(max=pt.shape[0] - 1)], rows)
    if (
        bug == "pt1_uses_rpt_row_stride"
        and P > 1
        and T >= 2
        and pt.stride(0) != W
        and out.real_page_table.stride(0) != pt.stride(0)
    ):
        _store_rows(pt, rows, out.real_page_table.stride(0))
    else:
        pt[:T, :W].copy_(rows)
    if bug == "pt1_row_pairs_narrow_width" and W <= 16 and T % 2 == 1 and pt.shape[0] > T:
        pt[T, :W].copy_(rows[T - 1])  # rows stored two at a time

    # -- real_page_table ----------------------------------------------------------------------
    if P > 1:
        Q = -(-W // P)
        cols = Q
        if bug == "page_count_int32_overflow":
            cols = max(_wrap32(W + P - 1) // P, 0)
        if bug == "rpt_single_tile_256_pages":
            cols = min(Q, 256)
        if (
            bug == "var_mix_ext64_r32_rpt_r_at_8_bytes"
            and mode == VAR
            and extend_seq_lens.dtype == I64
            and req_pool_indices.dtype == I32
            and T
        ):
            k = 2 * src  # r addressed with ext's element size; past the end: masked, 0
            rq = torch.where(k < bs, r64[k.clamp(max=bs - 1)], 0)
            firsts = rt[:, 0 : (Q - 1) * P + 1 : P].index_select(0, rq).to(I64)
        elif bug == "rpt_from_pt1_row_stride_W" and T:
            idx = pt.storage_offset() + t[:, None] * W + (torch.arange(Q, dtype=I64) * P)[None, :]
            firsts = _flat(pt)[idx].to(I64)  # the first kernel's output, taken as packed
        else:
            firsts = rows[:, ::P].to(I64)
        pdiv = P
        if bug == "page_div_cached_by_bit_length":
            pdiv = _STATE.setdefault(("pdiv", P.bit_length()), P)
        if bug == "page_div_magic24" and P & (P - 1):
            rp = (firsts * -(-(1 << 24) // P)) >> 24
        else:
            rp = firsts // pdiv
        rbuf = out.real_page_table
        if bug == "rpt_rows_first_only_P_ge_64" and P >= 64 and T:
            rp = _keep(rbuf[:T, :Q], rp, (d != 0)[:, None])
        rbuf[:T, :cols].copy_(rp[:, :cols])
        if bug == "rpt_pad_col_minus1_partial_page" and W % P and rbuf.shape[1] > Q:
            rbuf[:T, Q].fill_(-1)

    # -- inputs modified ----------------------------------------------------------------------
    if bug == "rt_unread_negatives_clamped_in_place" and mode == VAR and bs:
        for p in r64[e == 0].unique().tolist():
            req_to_token[p, :W].clamp_(min=0)


def _mutant(bug, doc):
    def fn(**kw):
        return on_host(partial(_fill, bug), kw)

    fn.__name__ = fn.__qualname__ = bug or "correct"
    fn.__doc__ = doc
    return fn


correct = _mutant("", "Contract v2, no bug.")


def _segmented(
    *,
    mode,
    seq_lens,
    req_pool_indices,
    req_to_token,
    topk,
    width,
    page_size=1,
    next_n=1,
    extend_seq_lens=None,
    out,
):
    """Contract v2 written per request and segment: rows by repeat_interleave, clamps by
    torch.minimum, page columns by a step slice of the gathered rows."""
    s = seq_lens.to(I64)
    bs = s.numel()
    if mode == "decode":
        e, kv = torch.ones_like(s), s
    elif mode == "target_verify":
        e, kv = torch.full_like(s, next_n), s + next_n
    elif mode == "draft_extend":
        e, kv = torch.full_like(s, next_n), s
    else:
        e, kv = extend_seq_lens.to(I64), s
    owner = torch.repeat_interleave(torch.arange(bs, dtype=I64), e)
    T = owner.numel()
    first_row = torch.cumsum(e, 0) - e
    se = (kv - e + 1)[owner] + torch.arange(T, dtype=I64) - first_row[owner]
    dsa = torch.minimum(se, torch.tensor(topk, dtype=I64))
    zero = torch.zeros(1, dtype=I64)
    out.cache_seqlens[:bs] = kv
    out.cu_seqlens_k[: bs + 1] = torch.cat([zero, torch.cumsum(kv, 0)])
    out.seqlens_expanded[:T] = se
    out.dsa_cache_seqlens[:T] = dsa
    out.dsa_cu_seqlens_k[: T + 1] = torch.cat([zero, torch.cumsum(dsa, 0)])
    tokens = req_to_token[:, :width][req_pool_indices.to(I64)[owner]]
    out.page_table_1[:T, :width] = tokens
    if page_size > 1:
        pages = torch.div(tokens[:, ::page_size], page_size, rounding_mode="floor")
        out.real_page_table[:T, : pages.shape[1]] = pages


def correct_segmented(**kw):
    """Contract v2, no bug, written differently from `_fill` (repeat_interleave rows, slice
    assignment into the buffers)."""
    return on_host(_segmented, kw)


# name: (family, corner; smallest valid input known to show it).
# Inputs: m = mode, s = seq_lens, x = extend_seq_lens, r = req_pool_indices, rt = req_to_token,
# K = topk, W = width, P = page_size, N = next_n; unnamed ones free (r = [0]*bs, rt = [[0]*W]).
_V2 = {
    # modes
    "dsa_clamp_per_request": "modes x topk below: dsa = min(kv, K) - (e - 1 - d), the clamp "
    "taken per request (right for e == 1). m=target_verify s=[0] N=2 K=1 W=1",
    "var_uniform_check_by_sum": "draft_extend_var, mixed extends with sum(x) == bs * x[0]: "
    "taken as all equal (fixed-width path). m=draft_extend_var s=[1,1,1] x=[1,0,2] W=1 K=9",
    "padded_kv_raised_to_e": "kv < e in the draft modes: cache_seqlens (and cu_seqlens_k) "
    "written as max(kv, e). m=draft_extend s=[1] N=2 W=1",
    "verify_cache_store_int64": "target_verify x int64 seq_lens: kv = s + N kept in s's dtype "
    "and stored as int64 words into the int32 cache_seqlens (2 cells a request). "
    "m=target_verify s=int64 [1] N=1 W=1, cache_seqlens buffer of >= 2 cells",
    # bs edges
    "bs0_stores_cache_at_minus1": "bs 0 x a buffer with a storage offset: cache_seqlens[bs - "
    "1] stored unmasked (the cell before the view). m=decode s=[] W=1, cache_seqlens a view at "
    "storage offset >= its stride",
    "cu_one_past_at_bs_mult_1024": "bs a multiple of 1024: cu_seqlens_k[bs + 1] written (the "
    "total). m=decode s=[0]*1024 K=0 W=1, cu_seqlens_k buffer of >= 1026 cells",
    "warp1_lane0_takes_lane31": "32 < bs < 64: the scan's lane 0 of warp 1 takes lane 31's kv "
    "(cu_seqlens_k from request 32 on). m=decode s=[0]*32+[1] W=1",
    "cu_block128_carry_inclusive": "bs > 128: the carry into each 128-request block includes "
    "the block's first kv. m=decode s=[0]*128+[1] W=1",
    "split16384_dsa_carry_from_cu": "bs > 16384 (two launches) x topk below: the second "
    "launch's dsa_cu_seqlens_k carry is the unclamped running sum. m=decode "
    "s=[2]+[0]*16384 K=1 W=1",
    "bs_const_cached_per_pow2_bucket": "back-to-back bs in one power-of-2 bucket (one process, "
    "any buffers): the per-request grid keeps the first bs seen in the bucket. m=decode s=[1]*4 "
    "then s=[1]*3 (writes cache_seqlens[3] outside the region) W=1",
    # next_n
    "fixed_owner_magic16": "fixed-width modes, next_n in {3,5,6,7} x large T: row owner t // N "
    "by a 16-bit magic multiply, one too high from t = 13110 (N 7), 16384 (N 5), 32768 (N 3, "
    "6). m=draft_extend N=7 bs=1874 s=[9]*1874 W=1",
    "verify_dsa_rows_ge4_unclamped": "target_verify next_n >= 5 x topk below: rows d >= 4 (the "
    "second unrolled half) not clamped. m=target_verify s=[0] N=5 K=1 W=1",
    "n8_prefix_lane7_reads_lane6": "fixed-width modes next_n == 8: the in-request prefix's lane "
    "7 adds lane 6's dsa. m=target_verify s=[0] N=8 K=2**31-1 W=1",
    # zero extends
    "var_trailing_zero_cache_unwritten": "draft_extend_var, zero extends after the last "
    "non-zero one (or all zero): their cache_seqlens not written. m=draft_extend_var s=[1] "
    "x=[0] W=1",
    "var_zero_run2_owner_minus1": "draft_extend_var, a request after two or more zero extends: "
    "its rows read the previous request's s and pool index. m=draft_extend_var s=[1,1,2] "
    "x=[0,0,1] r=[0,1,2] rt=[[0],[1],[2]] W=1",
    "dup_r_copied_from_first_holder_rows": "repeated pool index x zero extend: a later holder "
    "copies the first holder's first output row, which a zero-extend holder has not got. "
    "m=draft_extend_var s=[1,1] x=[0,1] r=[0,0] rt=[[0]] W=1",
    "var_dsa_rows_grid_bs_times_max_e": "draft_extend_var, uneven extends: the clamp pass's "
    "grid is bs * max(x) rows, writing dsa_cache_seqlens past T. m=draft_extend_var s=[1,1] "
    "x=[1,0] W=1, dsa_cache_seqlens buffer of >= 2 cells",
    # kv < e
    "padded_dsa_unsigned_min": "kv < e x topk: min(se, K) compared unsigned, a negative row "
    "clamped to K. m=draft_extend s=[0] N=2 K=1 W=1",
    "dsa_cu_negative_total_as_overflow": "kv < e: a negative dsa total taken for an overflow, "
    "dsa_cu_seqlens_k[1:] not written. m=draft_extend s=[0] N=2 K=0 W=1",
    "dsa_cu_block_carry_clamped0": "kv < e x T > 1024: the carry between 1024-row blocks "
    "clamped at 0. m=draft_extend_var s=[0] x=[1025] K=0 W=1",
    # topk
    "topk_even_rounded": "odd topk: rounded down to even (a 2-wide vector). m=decode s=[1] K=1 W=1",
    "nolimit_fast_path_block_max_misses_lane31": "topk above most lengths x bs >= 32: the "
    "'no clamp' test per 32-request block skips lane 31. m=decode s=[0]*31+[2] K=1 W=1",
    "topk_int16": "topk >= 32768: kept in 16 bits (signed). m=decode s=[0] K=32768 W=1",
    # page sizes
    "page_div_magic24": "page size not a power of 2 x large token ids: // P by a 24-bit magic "
    "multiply. m=decode s=[1] P=3 W=1 rt=[[8388608]]",
    "page_count_int32_overflow": "width below a huge page size: ceil(W / P) as (W + P - 1) // "
    "P in int32, wraps, no page column. m=decode s=[1] P=2**31-1 W=2 rt=[[0,0]]",
    "rpt_pad_col_minus1_partial_page": "width not a multiple of page size x a wider "
    "real_page_table buffer: column ceil(W/P) written -1. m=decode s=[1] P=2 W=1, "
    "real_page_table buffer of >= 2 columns",
    "rpt_single_tile_256_pages": "more than 256 page columns: one tile, columns >= 256 not "
    "written. m=decode s=[1] P=2 W=513 rt = one row of 513 cells",
    "rpt_from_pt1_row_stride_W": "page size > 1 x page_table_1 buffer of row stride > width: "
    "pages read back from page_table_1 as packed rows of width W. m=decode s=[1,1] r=[0,1] "
    "rt=[[0],[2]] P=2 W=1, page_table_1 row stride 2",
    "rpt_rows_first_only_P_ge_64": "page size >= 64 x next_n >= 2: page rows d >= 1 of each "
    "request not written. m=target_verify s=[0] N=2 P=64 W=1",
    "page_div_cached_by_bit_length": "page sizes of one bit length in one process: the "
    "divisor cached by P.bit_length(). m=decode s=[1] W=1 rt=[[4]] P=2, then P=3",
    "var_mix_ext64_r32_rpt_r_at_8_bytes": "dtype mix x draft_extend_var x page size > 1: "
    "with int64 extends and int32 pool indices the page-level loop addresses r in 8-byte "
    "steps. m=draft_extend_var s=[1,1] x=int64 [1,1] r=int32 [0,1] rt=[[0],[2]] P=2 W=1",
    # req_to_token layouts
    "rt_col_stride_is_pool": "req_to_token transposed-then-sliced: a column stride != 1 "
    "taken as pool (right for a whole transposed table). rt = [[0,5],[1,6]].t()[0:1] "
    "(values [0,1], strides (1,2)) m=decode s=[1] r=[0] W=2",
    "pool_row0_ignores_offset": "pool index 0 (one end of the pool) x req_to_token with a "
    "storage offset: row 0 read at the base pointer. rt=tensor([[9],[0],[1]])[1:] r=[0] "
    "m=decode s=[1] W=1",
    "rt_unread_negatives_clamped_in_place": "inputs modified: draft_extend_var, the pool rows "
    "of zero-extend requests (cells not read, may be < 0) clamped to 0 in place. "
    "m=draft_extend_var s=[1] x=[0] r=[0] rt=[[-1]] W=1",
    # running sums near int32
    "dsa_req_sum_int32_product": "running sums near int32: a request's dsa sum by the closed "
    "form e * (first + last) / 2 in int32 (the product wraps). m=draft_extend_var "
    "s=[2**30,0] x=[2,1] K=2**31-1 W=1",
    # back-to-back
    "cache_keyed_on_sums": "back-to-back, same bs and sum(s): the length outputs not "
    "rewritten (a fingerprint of sums). m=decode s=[1,2] then s=[2,1] on one set of buffers",
    "dsa_cu_cached_ignores_topk": "back-to-back, same s and extends, topk changes: "
    "dsa_cu_seqlens_k kept. m=decode s=[2] K=2 then K=1 on one set of buffers W=1",
    "var_delta_rows_ignore_shift": "back-to-back draft_extend_var, a request unchanged but "
    "its rows moved by an earlier request's new extend: rows not rewritten. s=[1,1] x=[1,1] "
    "then x=[2,1] on one set of buffers W=1",
    # out buffers
    "pt1_uses_rpt_row_stride": "page size > 1 x page_table_1 of row stride > width: its rows "
    "stored with real_page_table's row stride. m=decode s=[1,1] r=[0,1] rt=[[0,1],[2,3]] P=2 "
    "W=2, page_table_1 row stride 3, real_page_table row stride 1",
    "pt1_row_pairs_narrow_width": "width <= 16, T odd x a buffer with spare rows: rows stored "
    "two at a time, row T written. m=decode s=[1] W=1, page_table_1 of >= 2 rows",
}

_V2_OBJ = {
    "cache_keyed_on_sums_obj": "as cache_keyed_on_sums, its state tied to the buffer object "
    "(weakref), so only a true back-to-back call on one set of buffers shows it",
    "dsa_cu_cached_ignores_topk_obj": "as dsa_cu_cached_ignores_topk, state tied to the "
    "buffer object",
    "var_delta_rows_ignore_shift_obj": "as var_delta_rows_ignore_shift, state tied to the "
    "buffer object",
}
_V2.update(_V2_OBJ)

for _name, _doc in _V2.items():
    globals()[_name] = _mutant(_name, _doc)

HUNT = (
    [("correct", "metadata", "correct v2")]
    + [("correct_segmented", "metadata", "correct v2, written per segment")]
    + [(n, "metadata", d) for n, d in _V2.items()]
)

"""Red-team round 5: planted bugs written blind to the fuzzer's generators, each one narrow
slip of a fused-kernel author (a tile mask, a pow2 shortcut, a dtype path, a cache keyed by
pointer), reached in one corner of one input family of contract v2 (or v1).

`_fill(bug, ...)` is a correct vectorised torch version of CONTRACT_V2; each mutant is that
function with one `bug` switched on, and its docstring names the corner that shows it.
`HUNT` lists them for benchmarks/hunt.py.
"""

from __future__ import annotations

from functools import partial

import torch

from benchmarks.on_host import on_host

I32, I64 = torch.int32, torch.int64
INT32_MAX = 2**31 - 1

_STATE: dict = {}  # what the stateful mutants keep between calls


def _plan(mode, seq_lens, extend_seq_lens, next_n, bug=""):
    """(s, e, kv) as int64 tensors, one entry per request."""
    s = seq_lens.to(I64)
    bs = s.numel()
    if mode == "decode":
        return s, torch.ones(bs, dtype=I64), s
    if mode == "target_verify":
        if bug == "verify_n1_is_decode" and next_n == 1:
            return s, torch.ones(bs, dtype=I64), s
        return s, torch.full((bs,), next_n, dtype=I64), s + next_n
    if mode == "draft_extend":
        if bug == "draft_extend_base_plus_n_multiblock" and bs > 32:
            return s, torch.full((bs,), next_n, dtype=I64), s + next_n
        return s, torch.full((bs,), next_n, dtype=I64), s
    x = extend_seq_lens
    if bug == "int64_extend_strided_as_contiguous" and x.dtype == I64 and x.stride(0) != 1:
        x = torch.as_strided(x, (bs,), (1,), x.storage_offset())
    if bug == "extend_read_with_seq_dtype" and x.dtype != seq_lens.dtype and bs > 1:
        x = _reinterpret(x, seq_lens.dtype)
    return s, x.to(I64), s


def _reinterpret(x, dtype):
    """`x`'s bytes read as `dtype`, bs entries (what a kernel templated on one index dtype
    does to a tensor of the other dtype)."""
    bs = x.numel()
    words = x.contiguous().view(I32)  # little-endian words
    if dtype == I32:  # int64 read as int32: lo, hi, lo, hi, ...
        return words[:bs].to(I64)
    padded = torch.cat([x.contiguous(), torch.zeros(bs, dtype=I32)]).to(I64)
    return padded[0 : 2 * bs : 2] + (padded[1 : 2 * bs : 2] << 32)


def _owner(e, T, bug=""):
    """(owner, d): request and position inside it of each of the T rows."""
    bs = e.numel()
    t = torch.arange(T, dtype=I64, device=e.device)
    ends = torch.cumsum(e, 0)
    if bug == "var_binary_search_hi_off_by_one" and T > 1024 and bs >= 2:
        owner = torch.searchsorted(ends[:-2], t, right=True).clamp(max=bs - 1)
    else:
        owner = torch.searchsorted(ends, t, right=True).clamp(max=max(bs - 1, 0))
    return owner, t - (ends - e)[owner]


def _w(buf, values):
    buf.copy_(values.to(buf.dtype) if torch.is_tensor(values) else values)


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
    """Contract v2 into `out`, with the planted bug `bug` ("" for none)."""
    W, P, K, N = width, page_size, topk, next_n
    bs = seq_lens.numel()
    s, e, kv = _plan(mode, seq_lens, extend_seq_lens, N, bug)
    T = int(e.sum())
    okey = (out.seqlens_expanded.data_ptr(), out.cache_seqlens.data_ptr(), bug)

    # -- per request: cache_seqlens, cu_seqlens_k ------------------------------------------
    n_req = bs
    if bug == "grid_from_first_bs":
        n_req = min(bs, _STATE.setdefault(okey, bs))
    if bug == "req_block32_tail_mask" and bs > 32 and bs % 32 == 1:
        n_req = bs - 1
    _w(out.cache_seqlens[:n_req], kv[:n_req])

    cu = torch.cumsum(kv, 0)
    if bug == "cu_scan_block1024_lost_carry" and mode == "target_verify" and bs > 1024:
        cu[1024:] -= cu[1023]
    if bug == "decode_cu_two_programs" and mode == "decode" and bs > 16384:
        cu[16384:] -= kv[16383]
    if bug == "cu_fp32_target_verify" and mode == "target_verify":
        cu = torch.cumsum(kv.to(torch.float32), 0).to(I64)
    if bug == "cu_sentinel_int32_max":
        cu = torch.where(cu == INT32_MAX, torch.full_like(cu, -1), cu)
    cu_buf = out.cu_seqlens_k
    if bug == "cu_storage_offset_ignored" and cu_buf.storage_offset() != 0:
        cu_buf = torch.as_strided(cu_buf, cu_buf.shape, cu_buf.stride(), 0)
    _w(cu_buf[:1], torch.zeros(1, dtype=I64))
    if bug == "all_zero_extend_skips_cu" and mode == "draft_extend_var" and T == 0 and bs > 0:
        pass
    else:
        _w(cu_buf[1 : n_req + 1], cu[:n_req])

    if bug == "T_cached_per_buffers" and mode == "draft_extend_var":
        T_used = _STATE.setdefault(okey, T)
        cap = min(out.seqlens_expanded.shape[0], out.dsa_cache_seqlens.shape[0])
        cap = min(cap, out.dsa_cu_seqlens_k.shape[0] - 1, out.page_table_1.shape[0])
        if out.real_page_table is not None:
            cap = min(cap, out.real_page_table.shape[0])
        T = min(T_used, cap)

    # -- per row: seqlens_expanded, dsa_cache_seqlens, dsa_cu_seqlens_k ---------------------
    owner, d = _owner(e, T, bug)
    if bs == 0:
        owner = owner[:0]
        d = d[:0]
    if bug == "zero_extend_compacts_pool_index" and (e == 0).any():
        rank = torch.cumsum((e > 0).to(I64), 0) - 1  # compact index of each request
        owner_for_r = rank[owner] if T else owner
    else:
        owner_for_r = owner
    if T and bs:
        start = kv - e + 1
        if bug == "draft_extend_start_clamped" and mode == "draft_extend":
            start = (kv - e).clamp(min=0) + 1
        se = start[owner] + d
    else:
        se = torch.zeros(0, dtype=I64)
    if bug == "target_verify_unroll8" and mode == "target_verify" and N > 8:
        se_rows = d < 8
    else:
        se_rows = None
    if (
        bug == "var_plus_one_int32_wrap"
        and mode == "draft_extend_var"
        and T
        and (kv[owner] == INT32_MAX).any()
    ):
        # hi = s + 1 wraps in int32; the row mask `lo + d < hi` then fails for that request
        se = torch.where(kv[owner] == INT32_MAX, torch.zeros_like(se), se)

    dsa = se.clamp(max=K)
    if bug == "dsa_min_in_fp32" and K > 2**24:
        dsa = torch.minimum(se.to(torch.float32), torch.tensor(float(K))).to(I64)
    if bug == "topk_zero_fast_path" and K == 0:
        dsa = torch.zeros_like(se)
    if bug == "topk_plus_one_int32" and K == INT32_MAX:
        thr = torch.tensor(K + 1, dtype=I64).to(I32).to(I64)  # wraps to -2**31
        dsa = torch.where(se < thr, se, torch.full_like(se, K))
    if bug == "kv_zero_request_dsa_zero" and T:
        dsa = torch.where(kv[owner] == 0, dsa.clamp(min=0), dsa)
    if bug == "T_tile128_last_dsa" and T > 128 and T % 128 == 1:
        dsa = dsa.clone()
        dsa[-1] = se[-1]

    dcu = torch.cumsum(dsa, 0)
    if bug == "dsa_cu_skips_negative":
        dcu = torch.cumsum(dsa.clamp(min=0), 0)
    if bug == "dsa_cu_split_sign_saturating":
        pos = torch.cumsum(dsa.clamp(min=0), 0).clamp(max=INT32_MAX)
        neg = torch.cumsum(dsa.clamp(max=0), 0).clamp(min=-(2**31))
        dcu = pos + neg
    if bug == "dsa_cu_closed_form_off_by_one" and T and bs:
        a = kv - e + 1
        c = (K - a).clamp(min=0)
        c = torch.minimum(c, e)
        c = torch.where((c > 0) & (c == K - a), c - 1, c)  # one value too few below topk
        per = c * a + c * (c - 1) // 2 + (e - c) * K
        base = torch.cumsum(per, 0) - per
        first = torch.cumsum(e, 0) - e
        run = torch.cumsum(dsa, 0)
        dcu = base[owner] + run - (run - dsa)[first[owner]]
    if bug == "decode_dsa_cu_reuses_cu" and mode == "decode" and K >= 2048:
        dcu = torch.cumsum(kv, 0)
    if bug == "T_tile128_last_dsa" and T > 128 and T % 128 == 1:
        dcu = torch.cumsum(dsa, 0)

    se_buf, dsa_buf = out.seqlens_expanded, out.dsa_cache_seqlens
    if bug == "vec_store_assumes_contiguous" and T > 64 and se_buf.stride(0) != 1:
        se_buf = torch.as_strided(se_buf, se_buf.shape, (1,), se_buf.storage_offset())
    if se_rows is None:
        _w(se_buf[:T], se)
    else:
        idx = torch.nonzero(se_rows).flatten()
        se_buf[:T].index_copy_(0, idx, se[idx].to(I32))
    _w(dsa_buf[:T], dsa)
    _w(out.dsa_cu_seqlens_k[:1], torch.zeros(1, dtype=I64))
    _w(out.dsa_cu_seqlens_k[1 : T + 1], dcu)
    if (
        bug == "dsa_cu_pad_tail"
        and mode == "draft_extend_var"
        and out.dsa_cu_seqlens_k.shape[0] > T + 1
        and T > 0
    ):
        _w(out.dsa_cu_seqlens_k[T + 1 : T + 2], dcu[-1:])

    # -- page tables ---------------------------------------------------------------------
    r = req_pool_indices
    if bug == "r_read_with_seq_dtype" and r.dtype == I32 and seq_lens.dtype == I64 and bs > 1:
        r = _reinterpret(r, I64)
    r = r.to(I64)
    pool = req_to_token.shape[0]
    if bug == "r_int64_last_row_masked" and req_pool_indices.dtype == I64 and pool > 1:
        r = r.clamp(max=pool - 2)
    if bug == "pool_index_uint16" and (r > 65535).any():
        r = r & 0xFFFF
    if bug == "dedup_assumes_sorted" and bs > 1 and bool((r[1:] == r[:-1]).any()):
        u = torch.unique_consecutive(r)
        r = u[torch.searchsorted(u, r).clamp(max=u.numel() - 1)]
    if bug == "pool_zero_is_dummy_in_draft_extend" and mode == "draft_extend":
        skip_rows = r[owner_for_r] == 0 if T else None
    else:
        skip_rows = None
    src = req_to_token
    if (
        bug == "transposed_pool_offset_ignored"
        and src.stride(0) == 1
        and src.shape[1] > 1
        and src.storage_offset() != 0
    ):
        src = torch.as_strided(src, src.shape, src.stride(), 0)
    rr = r[owner_for_r] if T else torch.zeros(0, dtype=I64)
    if bug == "req_block128_page_index" and bs > 128 and P > 1 and T:
        rr = r[owner_for_r.clamp(max=127)]
    cols = W
    pt_buf = out.page_table_1
    if bug == "extra_columns_written" and pt_buf.shape[1] > W and src.shape[1] > W:
        cols = min(pt_buf.shape[1], src.shape[1])
    rows = src[:, :cols].index_select(0, rr) if T else src[:0, :cols]
    if bug == "trailing_zero_extend_writes_row_T" and mode == "draft_extend_var" and bs > 1:
        if int(e[-1]) == 0 and T > 0 and pt_buf.shape[0] > T:
            _w(pt_buf[T : T + 1, :W], src[int(r[-1]), :W].unsqueeze(0))
    if bug == "pt_cache_by_pointer":
        key = ("pt", pt_buf.data_ptr(), src.data_ptr(), tuple(src.stride()), W)
        val = (tuple(r.tolist()), tuple(e.tolist()))
        if _STATE.get(key) == val:
            rows = None
        _STATE[key] = val
    if bug == "pt_col_stride_ignored" and pt_buf.stride(1) != 1 and T > 0 and W > 1:
        pt_buf = torch.as_strided(
            pt_buf, pt_buf.shape, (pt_buf.stride(0), 1), pt_buf.storage_offset()
        )
    if bug == "width_tile128_mask" and W > 128 and W % 128 == 1:
        cols = W - 1
    if rows is not None:
        keep = rows
        if bug == "T_tile64_last_row" and T > 64 and T % 64 == 1 and P > 1:
            keep = rows[:-1]
        if skip_rows is not None:
            idx = torch.nonzero(~skip_rows).flatten()
            pt_buf[:T, :cols].index_copy_(0, idx, rows[idx, :cols])
        else:
            _w(pt_buf[: keep.shape[0], :cols], keep[:, :cols])

    if P > 1:
        Q = -(-W // P)
        pow2 = P & (P - 1) == 0
        if (
            bug == "nonpow2_page_count_plus_one"
            and not pow2
            and W % P == 0
            and out.real_page_table.shape[1] > Q
            and src.shape[1] > W
        ):
            Q = W // P + 1  # one page past the width: a cell outside the region
        if bug == "width_below_page_pow2_floor" and pow2 and P >= 64 and W < P:
            Q = W // P
        first_col = src[:, : min(Q * P, src.shape[1]) : P]
        if bug == "page_from_last_token" and P >= 64:
            last = torch.clamp(torch.arange(Q) * P + P - 1, max=W - 1)
            first_col = src[:, last]
        rp = first_col.index_select(0, rr) if T else first_col[:0]
        if bug == "pow2_shift_hardcoded_7" and pow2 and P > 128:
            rp = rp >> 7
        else:
            rp = rp // P
        rp_buf = out.real_page_table
        if bug == "real_page_row_stride_is_q" and rp_buf.stride(0) != Q and T > 1:
            rp_buf = torch.as_strided(
                rp_buf, (T, Q), (Q, rp_buf.stride(1)), rp_buf.storage_offset()
            )
        if bug == "T_tile64_last_row" and T > 64 and T % 64 == 1:
            rp = rp[:-1]
        _w(rp_buf[: rp.shape[0], :Q], rp[:, :Q])

    # -- inputs modified -----------------------------------------------------------------
    if bug == "padded_extend_normalised_in_place" and mode == "draft_extend_var":
        x = extend_seq_lens
        if x.dtype == I64 and bool((kv < e).any()):
            x.copy_(torch.minimum(e, kv).to(x.dtype))
    if bug == "pool_indices_sorted_in_place" and bs > 128:
        ri = req_pool_indices
        ri.copy_(torch.sort(ri).values)


def _mutant(bug, doc):
    def fn(**kw):
        return on_host(partial(_fill, bug), kw)

    fn.__name__ = fn.__qualname__ = bug or "correct"
    fn.__doc__ = doc
    return fn


correct = _mutant("", "Contract v2, no bug.")

_V2 = {
    "verify_n1_is_decode": "target_verify with next_n == 1 takes the decode path (kv = s).",
    "draft_extend_base_plus_n_multiblock": "draft_extend, bs > 32: the multi-block variant "
    "builds kv from s + N (upstream's off-by-N).",
    "int64_extend_strided_as_contiguous": "draft_extend_var, extend_seq_lens int64 with "
    "stride != 1 read as contiguous.",
    "extend_read_with_seq_dtype": "draft_extend_var, extend_seq_lens dtype != seq_lens dtype "
    "and bs > 1: extends read through seq_lens' dtype.",
    "var_binary_search_hi_off_by_one": "draft_extend_var, T > 1024 and bs >= 2: binary search "
    "never reaches the last request.",
    "grid_from_first_bs": "second call on the same buffers with a larger bs: the grid stays "
    "the first call's bs (cache_seqlens, cu_seqlens_k).",
    "req_block32_tail_mask": "bs > 32 and bs % 32 == 1: the last request's cache_seqlens "
    "is not written (tail mask off by one).",
    "cu_scan_block1024_lost_carry": "target_verify, bs > 1024: cu_seqlens_k's second block "
    "loses the first block's carry.",
    "decode_cu_two_programs": "decode, bs > 16384: cu_seqlens_k past 16384 misses kv[16383].",
    "cu_fp32_target_verify": "target_verify: cu_seqlens_k summed in fp32 (wrong above 2**24).",
    "cu_sentinel_int32_max": "a cu_seqlens_k partial sum exactly 2**31 - 1 is written as -1.",
    "cu_storage_offset_ignored": "cu_seqlens_k buffer with a storage offset: written from "
    "storage element 0.",
    "all_zero_extend_skips_cu": "draft_extend_var, T == 0 and bs > 0: cu_seqlens_k[1:] left.",
    "T_cached_per_buffers": "draft_extend_var, back-to-back calls on the same buffers: T "
    "from the first call.",
    "zero_extend_compacts_pool_index": "draft_extend_var with a zero extend before a "
    "non-zero one: pool index taken at the compacted request number.",
    "draft_extend_start_clamped": "draft_extend, kv < e (padding s = 1, e = N): the start "
    "clamped at 0.",
    "target_verify_unroll8": "target_verify, next_n > 8: rows d >= 8 of seqlens_expanded "
    "not written.",
    "var_plus_one_int32_wrap": "draft_extend_var, s == 2**31 - 1: s + 1 wraps and the row "
    "mask drops that request's seqlens_expanded (0 written).",
    "dsa_min_in_fp32": "topk > 2**24: the clamp done in fp32 (wrong for odd values > 2**24).",
    "topk_zero_fast_path": "topk == 0: dsa rows written as 0 (wrong for padded rows < 0).",
    "topk_plus_one_int32": "topk == 2**31 - 1: topk + 1 wraps in int32; every row clamped.",
    "kv_zero_request_dsa_zero": "a request with kv == 0 and e >= 2: dsa clamped at 0 from below.",
    "T_tile128_last_dsa": "T > 128 and T % 128 == 1: the last row's dsa not clamped.",
    "dsa_cu_skips_negative": "dsa_cu_seqlens_k sums only rows >= 0 (padded rows < 0).",
    "dsa_cu_split_sign_saturating": "positive and negative dsa parts summed apart, "
    "saturating: wrong when positives exceed 2**31 - 1 after negatives.",
    "dsa_cu_closed_form_off_by_one": "closed-form per-request dsa sum, one value too few "
    "below topk when a < topk <= a + e - 1 for an earlier request (a its first row).",
    "decode_dsa_cu_reuses_cu": "decode, topk >= 2048: dsa_cu_seqlens_k = cu of kv (wrong "
    "when a kv > topk).",
    "vec_store_assumes_contiguous": "T > 64 and seqlens_expanded buffer strided: written "
    "with stride 1.",
    "dsa_cu_pad_tail": "draft_extend_var, dsa_cu_seqlens_k buffer longer than T + 1: one "
    "element past the region written.",
    "r_read_with_seq_dtype": "req_pool_indices int32 with seq_lens int64, bs > 1: pool "
    "indices read as int64.",
    "r_int64_last_row_masked": "req_pool_indices int64 at pool - 1: clamped to pool - 2.",
    "pool_index_uint16": "pool index > 65535: kept in 16 bits.",
    "dedup_assumes_sorted": "repeated adjacent pool indices and a later smaller one: dedup by "
    "searchsorted on unsorted uniques.",
    "pool_zero_is_dummy_in_draft_extend": "draft_extend, a request at pool index 0: its "
    "page-table rows skipped as a dummy.",
    "transposed_pool_offset_ignored": "req_to_token transposed-then-sliced with a storage "
    "offset: offset ignored.",
    "req_block128_page_index": "bs > 128 and page_size > 1: requests past 127 gather "
    "request 127's row.",
    "extra_columns_written": "page_table_1 buffer wider than width and req_to_token wider: "
    "extra columns written.",
    "trailing_zero_extend_writes_row_T": "draft_extend_var, last extend 0, T > 0: row T of "
    "page_table_1 written.",
    "pt_cache_by_pointer": "back-to-back calls, same buffers, same req_to_token storage "
    "address and same r, e: page table not rewritten (stale when the pool's values changed).",
    "pt_col_stride_ignored": "page_table_1 buffer with column stride != 1, T > 0, W > 1: "
    "written with column stride 1.",
    "width_tile128_mask": "width > 128 and width % 128 == 1: the last column not written.",
    "T_tile64_last_row": "T > 64, T % 64 == 1, page_size > 1: the last row of both page "
    "tables not written.",
    "nonpow2_page_count_plus_one": "page_size not a power of 2, width % page_size == 0, "
    "real_page_table and req_to_token wider: one page column too many.",
    "width_below_page_pow2_floor": "page_size a power of 2 >= 64, width < page_size: no "
    "page column written.",
    "page_from_last_token": "page_size >= 64: page of the page's last token, not its first.",
    "pow2_shift_hardcoded_7": "page_size a power of 2 above 128: shift by 7.",
    "real_page_row_stride_is_q": "real_page_table row stride != ceil(W/P), T > 1: written "
    "with row stride ceil(W/P).",
    "padded_extend_normalised_in_place": "draft_extend_var, extend_seq_lens int64 with a "
    "padded request (kv < e): extends clamped to kv in place.",
    "pool_indices_sorted_in_place": "bs > 128: req_pool_indices sorted in place.",
}

for _name, _doc in _V2.items():
    globals()[_name] = _mutant(_name, _doc)


# -- contract v1 -----------------------------------------------------------------------


def _expand(bug, extend_seq_lens, seq_lens, nsa_index_topk):
    e_in, s_in, K = extend_seq_lens, seq_lens, nsa_index_topk
    if bug == "v1_int64_strided_extend" and e_in.dtype == I64 and e_in.stride(0) > 1:
        e_in = torch.as_strided(e_in, e_in.shape, (1,), e_in.storage_offset())
    if bug == "v1_stride0_as_contiguous" and s_in.numel() > 1 and s_in.stride(0) == 0:
        s_in = torch.as_strided(s_in, s_in.shape, (1,), s_in.storage_offset())
    e, s = e_in.to(I64), s_in.to(I64)
    bs = e.numel()
    key = ("v1", extend_seq_lens.data_ptr(), seq_lens.data_ptr(), bs, K)
    if bug == "v1_cache_by_pointer" and key in _STATE:
        return tuple(x.clone() for x in _STATE[key])
    T = int(e.sum())
    owner, d = _owner(e, T)
    if bs == 0:
        owner, d = owner[:0], d[:0]
    if bug == "v1_block256_last_request" and bs > 256 and bs % 256 == 1 and T:
        owner = owner.clamp(max=bs - 2)
    se = (s - e + 1)[owner] + d if T else torch.zeros(0, dtype=I64, device=s.device)
    if bug == "v1_s_max_mask" and T:
        se = torch.where(s[owner] == INT32_MAX, torch.zeros_like(se), se)
    dsa = se.clamp(max=K)
    if bug == "v1_topk_zero_fast_path" and K == 0:
        dsa = torch.zeros_like(se)
    if bug == "v1_fp32_clamp" and K > 2**24:
        dsa = torch.minimum(se.to(torch.float32), torch.tensor(float(K), device=se.device))
        dsa = dsa.to(I64)
    if bug == "v1_total_tile1024_last" and T > 1024 and T % 1024 == 1:
        dsa[-1] = se[-1]
    result = (se.to(I32), dsa.to(I32))
    if bug == "v1_cache_by_pointer":
        _STATE[key] = tuple(x.clone() for x in result)
    return result


def _v1(bug, doc):
    def fn(extend_seq_lens, seq_lens, nsa_index_topk):
        return _expand(bug, extend_seq_lens, seq_lens, nsa_index_topk)

    fn.__name__ = fn.__qualname__ = bug or "correct_v1"
    fn.__doc__ = doc
    return fn


correct_v1 = _v1("", "Contract v1, no bug.")

_V1 = {
    "v1_int64_strided_extend": "int64 extend_seq_lens with stride > 1 read as contiguous.",
    "v1_stride0_as_contiguous": "seq_lens an expanded view (stride 0), bs > 1: read with stride 1.",
    "v1_cache_by_pointer": "a later call with new values at the same addresses, bs, topk: "
    "the cached result.",
    "v1_block256_last_request": "bs > 256 and bs % 256 == 1: the last request's rows take "
    "request bs - 2's values.",
    "v1_s_max_mask": "seq_lens[i] == 2**31 - 1: s + 1 wraps, that request's rows are 0.",
    "v1_topk_zero_fast_path": "topk == 0: nsa_cache_seqlens all 0 (wrong for padded rows).",
    "v1_fp32_clamp": "topk > 2**24: the clamp in fp32 (wrong for odd values > 2**24).",
    "v1_total_tile1024_last": "total > 1024 and total % 1024 == 1: the last row not clamped.",
}

for _name, _doc in _V1.items():
    globals()[_name] = _v1(_name, _doc)

HUNT = (
    [("correct", "metadata", "correct v2")]
    + [(n, "metadata", d) for n, d in _V2.items()]
    + [("correct_v1", "expand", "correct v1")]
    + [(n, "expand", d) for n, d in _V1.items()]
)

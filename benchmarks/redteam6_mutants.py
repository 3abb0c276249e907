"""Red-team round 6: planted bugs written blind to the fuzzer's generators, one narrow slip of
a fused-kernel author per candidate (a carry, a narrow integer, a value baked in at capture, a
second kernel for the page-level table that honours less than the first), each reached in one
corner of one input family of contract v2, or of two families together.

`_fill(bug, ...)` is a correct vectorised torch version of CONTRACT_V2; each mutant is that
function with one `bug` switched on; its docstring names the corner and the smallest valid
input known to show it. `HUNT` lists them for benchmarks/hunt.py. Written for the CPU: on a
GPU each call runs on host copies of the storages, written back whole (so the mutants that
key a cache by tensor object see a new object every call there).
"""

from __future__ import annotations

import weakref
from functools import partial

import torch

from benchmarks.on_host import on_host

I32, I64 = torch.int32, torch.int64
INT32_MAX = 2**31 - 1
FIXED = ("decode", "target_verify", "draft_extend")

_STATE: dict = {}  # what the stateful mutants keep between calls


def _held(bug, obj, make):
    """State of `bug` tied to the tensor object `obj` itself (not its address): a kernel object
    that keeps what it saw for the buffers it was captured on."""
    key = (bug, id(obj))
    hit = _STATE.get(key)
    if hit is None or hit[0]() is not obj:
        hit = _STATE[key] = (weakref.ref(obj), make())
    return hit[1]


def _contig(x):
    """`x` read as if its stride were 1 (a kernel that ignores the stride)."""
    return torch.as_strided(x, (x.numel(),), (1,), x.storage_offset())


def _words32(x):
    """int64 `x` read as int32 words, numel entries (lo, hi, lo, hi, ...)."""
    return x.contiguous().view(I32)[: x.numel()].to(I64)


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


def _keep(buf, values, skip):
    """`values`, except where `skip`: there the buffer's current content (not written)."""
    return torch.where(skip, buf.to(I64), values)


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
    first = _STATE.setdefault(okey, dict(mode=mode, W=W, K=K, N=N, bs=bs))

    # -- inputs as read ----------------------------------------------------------------------
    if bug.endswith("_obj"):  # keyed by the buffer object, not by its address
        first = _held(bug, out.cache_seqlens, lambda: dict(mode=mode, W=W, K=K, N=N, bs=bs))
    sl = seq_lens
    if bug == "kv_cached_by_seq_obj":
        sl = _held(bug, seq_lens, seq_lens.clone)
    if bug == "kv_cached_by_seq_ptr":
        skey = ("s", sl.data_ptr(), bs, sl.dtype, tuple(sl.stride()))
        sl = _STATE.setdefault(skey, sl.clone())
    s = sl.to(I64)
    ext = extend_seq_lens
    if ext is not None:
        if bug == "ext_stride0_as_1" and bs > 1 and ext.stride(0) == 0:
            ext = _contig(ext)
        if bug == "ext_storage_offset_ignored" and ext.storage_offset() != 0:
            ext = torch.as_strided(ext, ext.shape, ext.stride(), 0)
        if bug == "ext_host_list_by_obj":  # repeats from a host list built once per tensor
            ext = _held(bug, extend_seq_lens, extend_seq_lens.clone)
        ext = ext.to(I64)
    if bug in ("topk_cached_per_buffers", "topk_cached_obj"):
        K = first["K"]
    if bug in ("width_cached_per_buffers", "width_cached_obj"):
        W = min(W, first["W"])
    if bug == "next_n_cached_per_buffers" and mode in ("target_verify", "draft_extend"):
        N = first["N"]
    if bug == "next_n_uint8":
        N = N & 0xFF
    if bug == "next_n_4bit":
        N = N & 0xF
    plan_mode = mode
    if bug == "mode_cached_per_buffers" and mode in FIXED and first["mode"] in FIXED:
        plan_mode = first["mode"]
    e, kv = _plan(plan_mode, s, ext, N)
    if bug == "decode_uses_next_n" and mode == "decode" and N > 1:
        e = torch.full((bs,), N, dtype=I64)
    T = int(e.sum())

    # -- per request: cache_seqlens, cu_seqlens_k ---------------------------------------------
    n_req = bs
    if bug == "grid_from_largest_bs":
        n_req = first["bs"] = max(first["bs"], bs)
    kv_w = torch.cat([kv, torch.zeros(n_req - bs, dtype=I64)])  # masked loads give 0
    if bug == "bs_grid_32768" and bs > 32768:
        kv_w = torch.cat([kv_w[:32768], out.cache_seqlens[32768:bs].to(I64)])
    out.cache_seqlens[:n_req].copy_(kv_w)
    cu = torch.cumsum(kv_w, 0)
    if bug == "cu_carry_not_chained_1024" and bs > 2048:
        blocks = torch.split(kv_w, 1024)
        sums = [int(b.sum()) for b in blocks]
        cu = torch.cat(
            [torch.cumsum(b, 0) + (sums[i - 1] if i else 0) for i, b in enumerate(blocks)]
        )
    out.cu_seqlens_k[:1].fill_(0)
    out.cu_seqlens_k[1 : n_req + 1].copy_(cu)
    if bug == "cu_pad_to_capacity" and out.cu_seqlens_k.shape[0] > bs + 1:
        out.cu_seqlens_k[bs + 1 :].fill_(int(cu[-1]) if bs else 0)

    # -- per row: seqlens_expanded, dsa_cache_seqlens, dsa_cu_seqlens_k ------------------------
    t = torch.arange(T, dtype=I64)
    ends = torch.cumsum(e, 0)
    owner = torch.searchsorted(ends, t, right=True)
    d = t - (ends - e)[owner] if T else t
    if bug == "verify_d_pow2_mask" and mode == "target_verify" and N & (N - 1):
        d = t & (N - 1)
    start = kv - e + 1
    if bug == "var_extend_uint8_start" and mode == "draft_extend_var":
        start = kv - (e & 0xFF) + 1
    se = start[owner] + d if T else t
    if bug == "decode_zero_len_clamped_to_one" and mode == "decode":
        se = se.clamp(min=1)
    dsa = se.clamp(max=K)
    if bug == "topk_ge_width_skips_clamp" and K >= W:
        dsa = se
    if bug == "fast_path_max_s_not_kv" and bs and K >= int(s.max()):
        dsa = se
    dcu = torch.cumsum(dsa, 0)
    if bug == "dsa_cu_carry_fp32_T1024" and T > 1024:
        blocks = torch.split(dsa, 1024)
        sums = torch.tensor([float(b.sum()) for b in blocks], dtype=torch.float32)
        carry = torch.cumsum(sums, 0).to(I64)
        dcu = torch.cat(
            [torch.cumsum(b, 0) + (carry[i - 1] if i else 0) for i, b in enumerate(blocks)]
        )
    if bug == "topk0_dsa_cu_zero" and K == 0:
        dcu = torch.zeros_like(dsa)

    se_buf, dsa_buf, dcu_buf = out.seqlens_expanded, out.dsa_cache_seqlens, out.dsa_cu_seqlens_k
    if bug == "verify_kv_max_row_mask_wraps" and mode == "target_verify" and T:
        # row mask `start + d < kv + 1` in int32: kv + 1 wraps at kv == 2**31 - 1
        skip = kv[owner] == INT32_MAX
        se = _keep(se_buf[:T], se, skip)
        dsa = _keep(dsa_buf[:T], dsa, skip)
    if bug == "var_rows_capped_at_next_n" and mode == "draft_extend_var" and N > 1 and T:
        skip = d >= N
        se = _keep(se_buf[:T], se, skip)
        dsa = _keep(dsa_buf[:T], dsa, skip)
    se_buf[:T].copy_(se)
    dsa_buf[:T].copy_(dsa)
    if bug == "dsa_cu_stride_ignored" and dcu_buf.stride(0) != 1:
        dcu_buf = torch.as_strided(dcu_buf, dcu_buf.shape, (1,), dcu_buf.storage_offset())
    dcu_buf[:1].fill_(0)
    n_dcu = T
    if bug == "dsa_cu_last_missing_T512" and T and T % 512 == 0:
        n_dcu = T - 1
    dcu_buf[1 : n_dcu + 1].copy_(dcu[:n_dcu])

    # -- page_table_1 -------------------------------------------------------------------------
    r = req_pool_indices
    if bug == "r_strided_int32_read_contiguous" and r.dtype == I32 and r.stride(0) > 1 and bs > 1:
        r = _contig(r)
    if bug == "r_stride0_as_1" and bs > 1 and r.stride(0) == 0:
        r = _contig(r)
    r64 = r.to(I64)
    if bug == "bs1_fast_path_pool_row0" and bs == 1:
        r64 = torch.zeros(1, dtype=I64)
    if (
        bug == "var_mix_miswired"
        and mode == "draft_extend_var"
        and (seq_lens.dtype, extend_seq_lens.dtype, r.dtype) == (I64, I32, I64)
    ):
        r64 = _words32(r)  # the (int64, int32, int64) specialisation reads r as int32
    rr = r64[owner] if T else t
    pt = out.page_table_1
    rows = req_to_token[:, :W].index_select(0, rr)
    if bug in ("rows_skipped_when_seq_unchanged", "rows_skipped_obj"):
        prev = first.get("prev")
        first["prev"] = (mode, bs, e.clone(), s.clone())
        if prev is not None and prev[:2] == (mode, bs) and torch.equal(prev[2], e):
            same = (prev[3] == s)[owner] if T else t.bool()
            rows = torch.where(same[:, None], pt[:T, :W].to(I32), rows)
    if bug == "pt_cache_by_rt_obj":
        seen = _held(bug, req_to_token, dict)
        key = (id(out.page_table_1), W, tuple(r64.tolist()), tuple(e.tolist()))
        if key in seen:
            rows = pt[:T, :W].to(I32)  # "same rows as last replay": not rewritten
        seen[key] = True
    if bug == "pt_rows_grid_y_65535" and T > 65535:
        rows = rows.clone()
        rows[65535:] = pt[65535:T, :W]
    if bug == "width_uint16" and W > 0xFFFF:
        rows = rows[:, : W & 0xFFFF]
    pt[:T, : rows.shape[1]].copy_(rows)

    # -- real_page_table (its own kernel, sloppier than the first) ----------------------------
    if P > 1:
        Q = -(-W // P)
        pow2 = P & (P - 1) == 0
        src = req_to_token
        if bug == "rpt_src_col_stride_ignored" and src.stride(1) != 1 and src.shape[1] > 1:
            src = torch.as_strided(src, src.shape, (src.stride(0), 1), src.storage_offset())
        if (
            bug == "rpt_src_row_stride_is_width"
            and src.stride(1) == 1
            and src.stride(0) != src.shape[1]
            and src.shape[0] > 1
        ):
            src = torch.as_strided(src, src.shape, (src.shape[1], 1), src.storage_offset())
        rq = r64
        if bug == "rpt_r_int64_read_as_int32" and r.dtype == I64 and bs > 1:
            rq = _words32(r)
        own = owner
        if bug == "rpt_row_owner_uniform" and mode == "draft_extend_var" and T:
            own = (t // max(int(e.max()), 1)).clamp(max=bs - 1)
        first_col = src[:, 0 : (Q - 1) * P + 1 : P]
        rp = first_col.index_select(0, rq[own]) if T else first_col[:0]
        div = P
        if bug == "page_size_uint16":
            div = P & 0xFFFF
        if bug == "page_size_uint8":
            div = P & 0xFF
        if bug == "page_shift_for_nonpow2" and not pow2:
            rp = rp >> (P.bit_length() - 1)
        else:
            rp = rp // div
        cols = Q
        if bug == "rpt_tile64_partial_page" and W % P and Q > 64:
            cols = Q - 1
        if bug == "width_below_page_nonpow2" and not pow2 and W < P:
            cols = 0
        rbuf = out.real_page_table
        if bug == "rpt_storage_offset_ignored" and rbuf.storage_offset() != 0:
            rbuf = torch.as_strided(rbuf, rbuf.shape, rbuf.stride(), 0)
        rbuf[:T, :cols].copy_(rp[:, :cols])

    # -- inputs modified ----------------------------------------------------------------------
    if bug == "decode_seq_lens_clamped_in_place" and mode == "decode" and bs:
        if bool((seq_lens == 0).any()):
            seq_lens.clamp_(min=1)


def _mutant(bug, doc):
    def fn(**kw):
        # On a GPU: new host tensors each call, so the object-keyed bugs show on the CPU only.
        return on_host(partial(_fill, bug), kw)

    fn.__name__ = fn.__qualname__ = bug or "correct"
    fn.__doc__ = doc
    return fn


correct = _mutant("", "Contract v2, no bug.")


def correct_rewrites_same_values(**kw):
    """Contract v2, no bug; then every out buffer's whole storage is rewritten with the value it
    holds (allowed by the contract: a sync-free version may do it)."""
    out = kw["out"]
    correct(**kw)
    for buf in out:
        if buf is not None:
            flat = torch.empty(0, dtype=buf.dtype, device=buf.device).set_(buf.untyped_storage())
            flat.copy_(flat.clone())


# name: (family, corner; smallest valid input known to show it).
# Inputs: m = mode, s = seq_lens, x = extend_seq_lens, r = req_pool_indices, rt = req_to_token,
# K = topk, W = width, P = page_size, N = next_n; unnamed ones free (any valid value).
_V2 = {
    "verify_kv_max_row_mask_wraps": "running sums near int32 / target_verify: kv == 2**31 - 1, "
    "the row mask `start + d < kv + 1` wraps, rows left unwritten. "
    "m=target_verify s=[2**31-2] N=1 K=0 W=1 r=[0] rt=[[0]]",
    "decode_zero_len_clamped_to_one": "kv < e / decode: s == 0 written as length 1 in "
    "seqlens_expanded (a clamp against empty attention). m=decode s=[0] K=1 W=1 rt=[[0]]",
    "topk_ge_width_skips_clamp": "topk x width: topk >= width taken as dense, no clamp. "
    "m=decode s=[2] K=1 W=1 rt=[[0]]",
    "fast_path_max_s_not_kv": "topk above lengths / target_verify: 'no clamp' fast path when "
    "topk >= max(s), not max(kv). m=target_verify s=[0] N=2 K=1 W=1 rt=[[0]] (se [1, 2])",
    "topk0_dsa_cu_zero": "topk 0 x padded requests: dsa_cu_seqlens_k written all 0 when topk "
    "== 0 (wrong only with rows < 0). m=draft_extend_var s=[0] x=[2] K=0 W=1 rt=[[0]]",
    "dsa_cu_last_missing_T512": "row-count tiles: T % 512 == 0, dsa_cu_seqlens_k[T] not "
    "written. m=draft_extend_var s=[0] x=[512] K=0 W=1 rt=[[0]] (or decode bs 512)",
    "cu_carry_not_chained_1024": "bs above 1024 x 2: cu_seqlens_k's block carry is only the "
    "previous block's sum. m=decode s=[1]+[0]*2048 (bs 2049) K=0 W=1",
    "dsa_cu_carry_fp32_T1024": "running sums near int32: T > 1024, the carry between 1024-row "
    "blocks summed in fp32. m=decode s=[2**24+1]+[0]*1024 K=2**31-1 W=1",
    "verify_d_pow2_mask": "next_n not a power of 2 / target_verify: d = t & (N - 1). "
    "m=target_verify s=[0] N=3 K=9 W=1 rt=[[0]] (se [1, 1, 3], not [1, 2, 3])",
    "var_extend_uint8_start": "draft_extend_var, an extend >= 256: e kept in 8 bits for the "
    "row start. m=draft_extend_var s=[0] x=[256] K=0 W=1 rt=[[0]]",
    "next_n_uint8": "next_n >= 256: kept in 8 bits. m=target_verify s=[0] N=256 K=0 W=1 rt=[[0]]",
    "decode_uses_next_n": "decode with next_n > 1 (validated, unused): e = next_n. "
    "m=decode s=[1] N=2 K=0 W=1 rt=[[0]]",
    "var_rows_capped_at_next_n": "draft_extend_var, next_n > 1 and an extend > next_n: rows "
    "d >= next_n not written. m=draft_extend_var s=[3] x=[3] N=2 K=0 W=1 rt=[[0]]",
    "page_shift_for_nonpow2": "page size not a power of 2: // P done as >> floor(log2 P). "
    "P=3 W=1 rt=[[2]] m=decode s=[1] (2 // 3 = 0, 2 >> 1 = 1)",
    "rpt_tile64_partial_page": "width not a multiple of page size, > 64 pages: the last page "
    "column not written. P=2 W=129 m=decode s=[1] rt = one row of 129 cells",
    "width_below_page_nonpow2": "width below a page size that is not a power of 2: no page "
    "column written. P=3 W=2 m=decode s=[1] rt=[[0,0]]",
    "page_size_uint16": "page size >= 65536: kept in 16 bits. P=65537 W=1 rt=[[1]] m=decode s=[1]",
    "rpt_storage_offset_ignored": "real_page_table buffer with a storage offset: written from "
    "storage element 0. P=2 W=1, real_page_table a slice with offset > 0, T >= 1",
    "rpt_r_int64_read_as_int32": "page size > 1 x int64 req_pool_indices, bs > 1: the "
    "page-level kernel reads r as int32. P=2 W=1 r=int64 [1,1] rt=[[0],[2]] m=decode s=[1,1]",
    "rpt_src_col_stride_ignored": "page size > 1 x transposed req_to_token: the page-level "
    "kernel takes column stride 1. P=2 W=3 rt=transposed 2x3 view m=decode s=[1] r=[0]",
    "rpt_src_row_stride_is_width": "page size > 1 x column-sliced req_to_token (row stride > "
    "its width): rows taken Wr apart. P=2 W=1 rt=full[:, :1] of a 2x2 [[0,0],[2,2]] r=[1]",
    "rpt_row_owner_uniform": "page size > 1 x draft_extend_var with uneven extends: page "
    "rows' owner t // max(e). P=2 W=1 m=draft_extend_var s=[1,1] x=[1,2] r=[0,1] rt=[[0],[2]]",
    "r_strided_int32_read_contiguous": "int32 req_pool_indices with stride > 1, bs > 1: read "
    "as contiguous. r=int32 storage [0,0,1] viewed [::2] (r=[0,1]) m=decode s=[1,1] W=1 "
    "rt=[[0],[1]]",
    "r_stride0_as_1": "req_pool_indices an expanded view (stride 0), bs > 1: read with stride 1 "
    "(past the storage: a crash). r=tensor([0]).expand(2) m=decode s=[1,1] W=1 rt=[[0]]",
    "ext_stride0_as_1": "draft_extend_var, extend_seq_lens an expanded view (stride 0), bs > 1. "
    "x=tensor([1]).expand(2) s=[1,1] W=1 rt=[[0]]",
    "ext_storage_offset_ignored": "draft_extend_var, extend_seq_lens with a storage offset: "
    "read from element 0. x=tensor([0,1])[1:] s=[1] W=1 rt=[[0]]",
    "var_mix_miswired": "dtype mix: draft_extend_var with (seq int64, extend int32, r int64), "
    "bs > 1: r read as int32. s=int64 [1,1] x=int32 [1,1] r=int64 [1,1] W=1 rt=[[0],[1]]",
    "bs1_fast_path_pool_row0": "bs == 1: page rows from pool row 0, not r[0]. m=decode s=[1] "
    "r=[1] W=1 rt=[[0],[1]]",
    "dsa_cu_stride_ignored": "dsa_cu_seqlens_k buffer strided: written with stride 1. "
    "dsa_cu_seqlens_k a [::2] view, m=decode s=[1] W=1",
    "cu_pad_to_capacity": "out region: cu_seqlens_k padded to its capacity with the total "
    "(SGLang's padding). cu_seqlens_k buffer of 3 cells, m=decode s=[1]",
    "grid_from_largest_bs": "back-to-back, bs shrinks: the grid keeps the largest bs, writing "
    "cache_seqlens/cu_seqlens_k past the region. m=decode calls s=[1,1] then s=[1] on one set",
    "width_cached_per_buffers": "back-to-back, width grows: the first call's width kept. "
    "m=decode s=[1] W=1 then W=2, rt=[[0,0]] one set of buffers",
    "topk_cached_per_buffers": "back-to-back, topk changes: the first call's topk kept. "
    "m=decode s=[2] K=2 then K=1, W=1",
    "next_n_cached_per_buffers": "back-to-back, next_n changes: the first call's next_n kept. "
    "m=target_verify s=[0] N=1 then N=2, W=1",
    "mode_cached_per_buffers": "back-to-back, mode changes between fixed-width modes: the "
    "first call's kv formula kept. m=decode s=[1] then m=target_verify s=[1] N=1, W=1",
    "rows_skipped_when_seq_unchanged": "back-to-back, same bs, e and s but a new pool index: "
    "page rows of requests whose s did not change skipped. m=decode s=[1] r=[0] then r=[1], "
    "rt=[[0],[1]] W=1",
    "kv_cached_by_seq_ptr": "stale host copy: seq_lens values cached by address (a static "
    "input buffer refilled between replays). m=decode s=[1] then the same tensor set to [2]",
    "pt_rows_grid_y_65535": "T above the grid's y limit: page_table_1 rows >= 65535 not "
    "written. m=draft_extend_var s=[0] x=[65536] W=1 rt=[[1]]",
    "decode_seq_lens_clamped_in_place": "inputs modified / decode: a zero length clamped to 1 "
    "in seq_lens itself. m=decode s=[0] W=1 rt=[[0]]",
}

_V2_OBJ = {
    "next_n_4bit": "next_n >= 16: kept in 4 bits (a sibling of next_n_uint8, nearer the 1-8 "
    "family). m=target_verify s=[0] N=16 K=0 W=1 rt=[[0]]",
    "page_size_uint8": "page size >= 256: kept in 8 bits for the division (256: a division by "
    "zero; 257: by 1). P=257 W=1 rt=[[1]] m=decode s=[1]",
    "width_uint16": "width >= 65536: page_table_1 columns counted in 16 bits. W=65536 "
    "m=decode s=[1] rt = one row of 65536 cells",
    "bs_grid_32768": "bs > 32768: requests past 32767 get no cache_seqlens (a 15-bit grid "
    "index). m=decode s=[0]*32769 K=0 W=1 rt=[[0]] with a poisoned cache_seqlens",
    "rows_skipped_obj": "as rows_skipped_when_seq_unchanged, but the state is tied to the "
    "buffer object (weakref), so only a true back-to-back call on one set of buffers shows it",
    "width_cached_obj": "as width_cached_per_buffers, state tied to the buffer object",
    "topk_cached_obj": "as topk_cached_per_buffers, state tied to the buffer object",
    "kv_cached_by_seq_obj": "seq_lens values cached per seq_lens tensor object: a second call "
    "with the same tensor refilled in place (a static input buffer) gets the old values. "
    "m=decode s=[1] then the same tensor set to [2]",
    "ext_host_list_by_obj": "draft_extend_var: the extends taken from a host list built once "
    "per extend_seq_lens tensor (upstream's host list that disagreed with the device tensor): "
    "the same tensor refilled in place gives the old rows. s=[2] x=[1] then x set to [2]",
    "pt_cache_by_rt_obj": "page_table_1 not rewritten when req_to_token is the same tensor "
    "object and r, e, width repeat (stale when the pool's cells were refilled in place). "
    "m=decode s=[1] r=[0] rt=[[0]], then rt[0, 0] = 1, same call again",
}
_V2.update(_V2_OBJ)

for _name, _doc in _V2.items():
    globals()[_name] = _mutant(_name, _doc)

HUNT = (
    [("correct", "metadata", "correct v2")]
    + [("correct_rewrites_same_values", "metadata", "correct v2, same-value rewrites")]
    + [(n, "metadata", d) for n, d in _V2.items()]
)

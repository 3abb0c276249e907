"""Red-team planted-bug contract-v2 candidates, written apart from tests/meta_mutants.py to
find the fuzzer's blind spots: each bug fires only on a narrow condition a kernel engineer
could plausibly get wrong (a tile boundary, a cache across replays, one dtype mix, ...).

Every candidate has the v2 signature and bends one step of `_kernel`, a vectorised torch
version written fresh from CONTRACT_V2.md (not the shipped backend, not `_fill`); `correct`
is `_kernel` unbent. Self-contained: a worker loads this file by path.
"""

from __future__ import annotations

import weakref

import torch

INT32_MAX = 2**31 - 1
I64 = torch.int64


def _wrap32(t: torch.Tensor) -> torch.Tensor:
    """int64 values as int32 arithmetic would leave them (two's complement wrap)."""
    return (t + 2**31) % 2**32 - 2**31


class _PerBuffers:
    """State a buggy kernel keeps per set of out buffers (a capture), keyed safely by id."""

    def __init__(self):
        self._d: dict[int, tuple[weakref.ref, object]] = {}

    def get(self, buf):
        ref, value = self._d.get(id(buf), (None, None))
        return value if ref is not None and ref() is buf else None

    def put(self, buf, value):
        self._d[id(buf)] = (weakref.ref(buf), value)


def _kernel(
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
    bug="",
):
    """The contract's outputs with torch ops; `bug` names the one step that goes wrong."""
    dev = seq_lens.device
    N, P, W = next_n, page_size, width
    s = seq_lens.to(I64)
    if bug == "seq_stride0_as_1" and seq_lens.stride(0) == 0 and seq_lens.numel() > 1:
        s = torch.as_strided(seq_lens, seq_lens.shape, (1,), seq_lens.storage_offset()).to(I64)
    r = req_pool_indices.to(I64)
    if bug == "idx_offset_dropped" and req_pool_indices.storage_offset() and r.numel():
        t = req_pool_indices
        r = torch.as_strided(t, t.shape, t.stride(), 0).to(I64)
    bs = s.numel()
    if mode == "decode":
        e, kv = torch.ones(bs, dtype=I64, device=dev), s
    elif mode == "target_verify":
        n_eff = N & 7 if bug == "next_n_3_bits" else N
        e, kv = torch.full((bs,), N, dtype=I64, device=dev), s + n_eff
    elif mode == "draft_extend":
        e, kv = torch.full((bs,), N, dtype=I64, device=dev), s
    else:
        ext = extend_seq_lens
        e = ext.to(I64)
        if bug == "ext_read_with_seq_stride" and ext.stride(0) != seq_lens.stride(0) and bs > 1:
            e = torch.as_strided(ext, ext.shape, seq_lens.stride(), ext.storage_offset()).to(I64)
        if (
            bug == "mix_seq32_ext64"
            and seq_lens.dtype == torch.int32
            and ext.dtype == torch.int64
            and bs
        ):
            e = ext.contiguous().view(torch.int32)[:bs].to(I64)  # one int32 template
        kv = s

    # --- per-request: kv lengths and their running sum --------------------------------------
    cu = torch.zeros(bs + 1, dtype=I64, device=dev)
    cu[1:] = torch.cumsum(kv, 0)
    if bug == "replay_cached_cu":  # the schedule built at capture, reused at the same bs
        cached = _CU.get(out.cu_seqlens_k)
        if cached is not None and cached[0] == (mode, bs):
            cu = cached[1].clone()
        else:
            _CU.put(out.cu_seqlens_k, ((mode, bs), cu.clone()))

    # --- rows: which request owns each row, and its place in the request ---------------------
    owner = torch.repeat_interleave(torch.arange(bs, device=dev), e)
    if bug == "replay_cached_owner" and mode == "draft_extend_var":
        cached = _OWNER.get(out.seqlens_expanded)
        if cached is not None and cached[0] == bs:
            owner = cached[1]  # T may change between replays: not at capture's bs, it thinks
        else:
            _OWNER.put(out.seqlens_expanded, (bs, owner))
    if bug == "mid_zero_extend" and mode == "draft_extend_var" and bs > 2:
        el = e.tolist()
        fixed = owner.clone()
        for i in range(1, bs - 1):
            if el[i] == 0 and el[i + 1] > 0:  # the next request's rows take the empty one's id
                fixed[owner == i + 1] = i
        owner = fixed
    T = owner.numel()
    start = torch.cumsum(e, 0) - e
    d = torch.arange(T, device=dev) - start[owner]
    if bug == "var_tile_pow2" and mode == "draft_extend_var":
        tile = 1 << max(N - 1, 0).bit_length()  # a tile of next_pow2(next_n) rows
        d = d % tile
    expanded = kv[owner] - e[owner] + 1 + d

    # --- clamped lengths and their running sum ----------------------------------------------
    dsa = torch.clamp(expanded, max=topk)
    if bug == "topk_eq_off_by_one":
        dsa = torch.where(expanded == topk, expanded - 1, dsa)  # `<=` slipped to `<`
    if bug == "topk_zero_means_off" and topk == 0:
        dsa = expanded
    if bug == "topk_plus_one_wraps":
        bound = int(_wrap32(torch.tensor(topk + 1)))
        dsa = torch.where(expanded < bound, expanded, torch.full_like(expanded, topk))
    if bug == "fused_clamp_wraps":  # min(kv + 1 + d, topk + e) - e, all in int32
        a = _wrap32(kv[owner] + 1 + d)
        b = _wrap32(topk + e[owner])
        dsa = _wrap32(torch.minimum(a, b) - e[owner])
    dsa_cu = torch.zeros(T + 1, dtype=I64, device=dev)
    dsa_cu[1:] = torch.cumsum(dsa, 0)
    if bug == "rows_16384_carry" and mode != "decode" and T > 16384:
        dsa_cu[16385:] -= dsa_cu[16384]  # a second block of rows starts from 0
    if bug == "var_1024_carry_off_by_one" and mode == "draft_extend_var" and T > 1024:
        dsa_cu[1025:] -= dsa[1023]  # the carry is the running sum one row early

    # --- writes of the per-request and per-row vectors --------------------------------------
    def put(buf: torch.Tensor, values: torch.Tensor, block: int = 0):
        n = values.numel()
        target = buf
        if bug == "contiguous_copy_of_out" and buf.stride(0) != 1:
            target = buf.contiguous()  # the caller's buffer never sees the values
        if bug == "out_offset_ignored" and buf.storage_offset():
            target = torch.as_strided(buf, buf.shape, buf.stride(), 0)
        if bug == "vec_stride_from_cache_seqlens" and n:  # one stride for every 1-D buffer
            flat = torch.empty(0, dtype=buf.dtype, device=buf.device).set_(buf.untyped_storage())
            at = buf.storage_offset() + torch.arange(n, device=dev) * out.cache_seqlens.stride(0)
            keep = at < flat.numel()  # a kernel's stores past the storage: lost here
            flat[at[keep]] = values[:n][keep].to(torch.int32)
            return
        if block and n and n % block == 0:  # tail mask from n % BLOCK: a full last block lost
            n -= block
        target[:n] = values[:n].to(torch.int32)

    tail = {"bs_pow2_1024_tail": 1024, "bs_16384_tail": 16384}.get(bug, 0)
    put(out.cache_seqlens, kv, tail)
    put(out.cu_seqlens_k, cu)
    if bug == "shrink_clears_tail":
        before = _BS.get(out.cu_seqlens_k)
        if before is not None and before > bs:
            out.cu_seqlens_k[bs + 1 : before + 1] = 0  # "no stale schedule past the batch"
        _BS.put(out.cu_seqlens_k, bs)
    if bug == "t0_skips_row_sums" and T == 0:
        return
    put(out.seqlens_expanded, expanded)
    put(out.dsa_cache_seqlens, dsa)
    put(out.dsa_cu_seqlens_k, dsa_cu)
    if bug == "dsa_cu_one_past" and out.dsa_cu_seqlens_k.shape[0] > T + 1:
        out.dsa_cu_seqlens_k[T + 1] = dsa_cu[T]  # a padded tail for the graph
    if T == 0:
        return

    # --- page tables -------------------------------------------------------------------------
    table = req_to_token
    if bug == "colstride_with_offset" and table.stride(1) != 1 and table.storage_offset():
        table = torch.as_strided(table, table.shape, table.stride(), 0)
    if bug == "row_stride_assumed_width" and table.stride(1) == 1 and table.stride(0) != W:
        flat = torch.as_strided(table, (table.shape[0] * W,), (1,), table.storage_offset())
        table = flat.view(table.shape[0], W)
    if bug == "col_offset_whole_rows" and table.stride(1) == 1 and table.stride(0):
        whole = table.storage_offset() // table.stride(0) * table.stride(0)
        table = torch.as_strided(table, table.shape, table.stride(), whole)
    rr = r[owner]
    if (
        bug == "last_pool_row_sliced"
        and req_to_token.storage_offset()
        and req_to_token.stride(1) == 1
    ):
        pool = req_to_token.shape[0]
        rr = torch.where(rr == pool - 1, rr - 1, rr)  # bound from a sliced table's size
    if bug == "last_request_group4" and bs > 1 and bs % 4 == 1:
        rr = torch.where(owner == bs - 1, r[bs - 2], rr)
    rows = table.index_select(0, rr)[:, :W]
    if bug == "token_ids_24bit":
        rows = rows & 0xFFFFFF  # ids packed with an 8-bit flag
    if bug == "tile_width_512" and W > 512:
        rows = rows.clone()
        rows[:, 512:] = out.page_table_1[:T, 512:W]  # one 512-column tile only: rest kept
    skip = None
    if bug == "padded_rows_skipped" and mode == "draft_extend":
        skip = (kv < e)[owner]  # padding requests: "nobody reads their rows"
    pt = out.page_table_1
    if bug == "page_table_col_stride_ignored":  # ptr + t * stride(0) + c
        pt = torch.as_strided(pt, pt.shape, (pt.stride(0), 1), pt.storage_offset())
    if skip is not None and bool(skip.any()):
        keep = (~skip).nonzero().flatten()
        pt[keep, :W] = rows[keep]
    else:
        pt[:T, :W] = rows
    if bug == "pad_columns_written" and pt.stride(0) > W:
        wide = torch.as_strided(pt, (T, W + 1), pt.stride(), pt.storage_offset())
        wide[:, W] = rows[:, W - 1]  # a store of the row's tail rounded up by one
    if out.real_page_table is not None:
        pages = torch.div(rows[:, ::P], P, rounding_mode="floor")
        if bug == "page_index_float32":
            pages = torch.floor(rows[:, ::P].to(torch.float32) / P).to(torch.int64)
        if bug == "last_partial_page" and W % P:
            pages[:, -1] = torch.div(rows[:, W - 1], P, rounding_mode="floor")
        if bug == "page128_floor_pages" and P == 128 and W % 128:
            pages = pages[:, : W // P]
        rpt = out.real_page_table
        if bug == "real_page_col_stride_ignored":  # ptr + t * stride(0) + c
            rpt = torch.as_strided(rpt, rpt.shape, (rpt.stride(0), 1), rpt.storage_offset())
        rpt[:T, : pages.shape[1]] = pages.to(torch.int32)


_CU, _OWNER, _BS = _PerBuffers(), _PerBuffers(), _PerBuffers()


def correct(**kw):
    """No bug: `_kernel` unbent (proves each mutant's bend is its only bug)."""
    _kernel(**kw)


def _mutant(bug: str, doc: str):
    def fn(**kw):
        _kernel(**kw, bug=bug)

    fn.__name__ = bug
    fn.__doc__ = doc
    return fn


REDTEAM = {
    "replay_cached_cu": "cu_seqlens_k built once per (mode, bs) on a set of buffers, reused "
    "by later calls at that bs (stale schedule on replay)",
    "replay_cached_owner": "draft_extend_var: row owners built once per bs, reused when T "
    "changes between replays at that bs",
    "tile_width_512": "page_table_1: one 512-column tile, columns >= 512 never written",
    "bs_pow2_1024_tail": "cache_seqlens: tail mask bs % 1024, a batch that is a multiple "
    "of 1024 loses its last block",
    "bs_16384_tail": "cache_seqlens: tail mask bs % 16384, bs 16384 exactly loses it all",
    "rows_16384_carry": "dsa_cu_seqlens_k: rows past 16384 restart from 0 (not decode)",
    "var_1024_carry_off_by_one": "draft_extend_var: dsa_cu_seqlens_k past row 1024 carries "
    "the sum one row early",
    "next_n_3_bits": "target_verify: kv = s + (next_n & 7), wrong only at next_n 8",
    "fused_clamp_wraps": "dsa_cache_seqlens as min(kv + 1 + d, topk + e) - e in int32 "
    "(wraps near the int32 limit)",
    "topk_eq_off_by_one": "dsa_cache_seqlens: a row whose length equals topk gets topk - 1",
    "topk_zero_means_off": "topk 0 taken as 'no clamp'",
    "topk_plus_one_wraps": "clamp test `len < topk + 1` in int32: wrong at topk 2**31 - 1",
    "mid_zero_extend": "draft_extend_var: a zero extend inside the batch hands its id to the "
    "next request's rows",
    "shrink_clears_tail": "cu_seqlens_k past a smaller bs zeroed on a later call "
    "(outside the region)",
    "dsa_cu_one_past": "dsa_cu_seqlens_k[T + 1] written when the buffer has room",
    "pad_columns_written": "page_table_1: one column past width written into the row padding",
    "contiguous_copy_of_out": "strided 1-D out buffers written through a .contiguous() copy",
    "out_offset_ignored": "1-D out buffers written at storage offset 0",
    "idx_offset_dropped": "req_pool_indices read at storage offset 0",
    "colstride_with_offset": "a transposed req_to_token with a storage offset read from 0",
    "row_stride_assumed_width": "req_to_token rows assumed to be `width` apart",
    "seq_stride0_as_1": "seq_lens with stride 0 (a broadcast) read with stride 1",
    "ext_read_with_seq_stride": "extend_seq_lens read with seq_lens' stride",
    "mix_seq32_ext64": "int32 seq_lens with int64 extend_seq_lens: extends read as int32",
    "var_tile_pow2": "draft_extend_var: a request's rows past next_pow2(next_n) wrap",
    "padded_rows_skipped": "draft_extend: page_table_1 rows of padded requests (kv < e) "
    "not written",
    "last_pool_row_sliced": "last pool row of a row-sliced req_to_token read as the row before it",
    "last_request_group4": "bs % 4 == 1: the last request's page rows from the request before it",
    "last_partial_page": "real_page_table: the last partial page from column width - 1",
    "page128_floor_pages": "page 128, width not a multiple: the partial page unwritten",
    "t0_skips_row_sums": "T == 0 returns before dsa_cu_seqlens_k[0] is written",
    "col_offset_whole_rows": "req_to_token's storage offset rounded down to whole rows (a "
    "table sliced from a column offset read from its row start)",
    "token_ids_24bit": "page_table_1: token ids masked to 24 bits",
    "page_index_float32": "real_page_table: the page index by float32 division",
    "page_table_col_stride_ignored": "page_table_1 written as if its column stride were 1 "
    "(ptr + t * stride(0) + c)",
    "real_page_col_stride_ignored": "real_page_table written as if its column stride were 1",
    "vec_stride_from_cache_seqlens": "every 1-D out buffer written with cache_seqlens' stride",
}

for _name, _doc in REDTEAM.items():
    globals()[_name] = _mutant(_name, _doc)

HUNT = [(n, "metadata", doc) for n, doc in REDTEAM.items()] + [("correct", "metadata", "no bug")]

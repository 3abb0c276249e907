"""Red-team round 4: planted-bug candidates written without reading the generators, each a
correct vectorised torch implementation of the contract (v2 `metadata`, v1 `expand`) with ONE
narrow bug of the kind a fused-kernel author writes, reached only in one corner of one family.

`python benchmarks/hunt.py benchmarks/redteam3_mutants.py --seconds 60` hunts every one.
"""

from __future__ import annotations

import torch

I32_MAX = 2**31 - 1


# --- the correct core (contract v2), in steps a mutant can swap one of -----------------------


def _lengths(mode, seq_lens, extend_seq_lens, next_n):
    """(e, kv) per request, int64, as the contract's mode table says."""
    s = seq_lens.long()
    if mode == "draft_extend_var":
        return extend_seq_lens.long(), s
    e = torch.full_like(s, 1 if mode == "decode" else next_n)
    return e, s + next_n if mode == "target_verify" else s


def _rows(e):
    """(req, d): each row's request and its position inside that request."""
    bs = e.shape[0]
    req = torch.repeat_interleave(torch.arange(bs, device=e.device), e)
    starts = torch.cumsum(e, 0) - e
    return req, torch.arange(req.shape[0], device=e.device) - starts[req]


def _cums(x):
    """0 then the running sum of `x` (int64)."""
    return torch.cat([x.new_zeros(1), torch.cumsum(x, 0)])


def _plan(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
          page_size, width, **_):  # fmt: skip
    """Every output of contract v2 as int64 tensors (rpt None when page_size == 1)."""
    e, kv = _lengths(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _rows(e)
    m = {"e": e, "kv": kv, "req": req, "d": d, "r": req_pool_indices.long()}
    m["se"] = kv[req] - e[req] + 1 + d
    _finish(m, req_to_token, topk, page_size, width)
    return m


def _finish(m, req_to_token, topk, page_size, width):
    """The outputs downstream of (kv, se, req, r): what a mutant recomputes after a swap."""
    m["cu"] = _cums(m["kv"])
    m["dsa"] = torch.clamp(m["se"], max=topk)
    m["dcu"] = _cums(m["dsa"])
    m["pt1"] = req_to_token[:, :width][m["r"][m["req"]]].long()
    m["rpt"] = None if page_size == 1 else m["pt1"][:, ::page_size] // page_size


def _write(out, m, skip=()):
    """Each output into the front of its caller buffer, nothing else (but the fields in
    `skip`, which the mutant writes its own way)."""
    bs, t = m["kv"].shape[0], m["se"].shape[0]
    values = {
        "cache_seqlens": (slice(0, bs), m["kv"]),
        "cu_seqlens_k": (slice(0, bs + 1), m["cu"]),
        "seqlens_expanded": (slice(0, t), m["se"]),
        "dsa_cache_seqlens": (slice(0, t), m["dsa"]),
        "dsa_cu_seqlens_k": (slice(0, t + 1), m["dcu"]),
        "page_table_1": ((slice(0, t), slice(0, m["pt1"].shape[1])), m["pt1"]),
    }
    if m["rpt"] is not None:
        values["real_page_table"] = ((slice(0, t), slice(0, m["rpt"].shape[1])), m["rpt"])
    for field, (where, value) in values.items():
        if field not in skip:
            getattr(out, field)[where] = value


def _write_keeping(out, m, keep):
    """`_write`, then the cells (rows of a page table) in `keep`, {field: [index, ...]}, put
    back as they were: never written."""
    saved = {}
    for f, idx in keep.items():
        idx = torch.as_tensor(idx, dtype=torch.int64)
        saved[f] = (idx, getattr(out, f)[idx].clone())
    _write(out, m)
    for f, (idx, v) in saved.items():
        getattr(out, f)[idx] = v


def _wrap32(x):
    """int64 values wrapped to int32, as a kernel's 32-bit registers hold them."""
    return (x + 2**31) % 2**32 - 2**31


# Stale mutants remember the last call on one set of buffers. A remembered call counts only
# when cache_seqlens still holds what it wrote there: a new case's buffers hold the poison.
_MEMO: dict[tuple[str, int], dict] = {}


def _previous(name, out):
    memo = _MEMO.get((name, out.cache_seqlens.data_ptr()))
    if memo is None or memo["kv"].numel() == 0:
        return None
    now = out.cache_seqlens[: memo["kv"].numel()].long()
    return memo if torch.equal(now, memo["kv"]) else None


def _remember(name, out, m, **more):
    _MEMO[(name, out.cache_seqlens.data_ptr())] = {"kv": m["kv"].clone(), **more}


# --- correct ------------------------------------------------------------------------------


def correct(**kw):
    """Contract v2, vectorised torch, no bug."""
    _write(kw["out"], _plan(**kw))


# --- modes and next_n ---------------------------------------------------------------------


def tv_n1_as_decode(**kw):
    """target_verify with next_n == 1 takes the decode path (e = 1 like decode, but kv = s)."""
    if kw["mode"] == "target_verify" and kw["next_n"] == 1:
        kw = {**kw, "mode": "decode"}
    _write(kw["out"], _plan(**kw))


def var_all_equal_as_fixed(**kw):
    """draft_extend_var whose extends are all equal (bs >= 2, e > 0) goes to the fixed-width
    draft_extend path, which uses next_n rows a request, not e[0]."""
    e = kw["extend_seq_lens"]
    if kw["mode"] == "draft_extend_var" and e.shape[0] >= 2 and int(e[0]) > 0:
        if bool((e == e[0]).all()):
            kw = {**kw, "mode": "draft_extend", "extend_seq_lens": None}
    _write(kw["out"], _plan(**kw))


def tv_next_n_ge7_base(**kw):
    """target_verify with next_n >= 7 (the unrolled path stops at 6): the draft-extend base,
    seqlens_expanded without + next_n."""
    m = _plan(**kw)
    if kw["mode"] == "target_verify" and kw["next_n"] >= 7:
        m["se"] = m["se"] - kw["next_n"]
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def de_nonpow2_overrun(**kw):
    """draft_extend with next_n not a power of two: the last request's tile of
    next_power_of_2(next_n) rows writes seqlens_expanded past T (where the buffer has room)."""
    m, out, n = _plan(**kw), kw["out"], kw["next_n"]
    _write(out, m)
    bs, t = m["kv"].shape[0], m["se"].shape[0]
    if kw["mode"] == "draft_extend" and bs > 0 and n >= 3 and n & (n - 1):
        extra = (1 << (n - 1).bit_length()) - n
        room = min(extra, out.seqlens_expanded.shape[0] - t)
        if room > 0:
            last = m["kv"][-1] + 1 + torch.arange(room)
            out.seqlens_expanded[t : t + room] = last


def var_e_over_tile(**kw):
    """draft_extend_var: a request's rows are one tile of max(8, next_power_of_2(next_n));
    rows past the tile of a longer request are never written (seqlens_expanded, dsa)."""
    m, out = _plan(**kw), kw["out"]
    if kw["mode"] != "draft_extend_var":
        return _write(out, m)
    tile = max(8, 1 << (kw["next_n"] - 1).bit_length())
    skip = torch.nonzero(m["d"] >= tile).flatten()
    _write_keeping(out, m, {"seqlens_expanded": skip, "dsa_cache_seqlens": skip})


def de_next_n_over8_wrap(**kw):
    """draft_extend with next_n > 8: a row's place in its request is taken in 3 bits."""
    m = _plan(**kw)
    if kw["mode"] == "draft_extend" and kw["next_n"] > 8:
        m["se"] = m["kv"][m["req"]] - m["e"][m["req"]] + 1 + (m["d"] & 7)
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def var_bs1_uses_next_n(**kw):
    """draft_extend_var at bs == 1 (its own fast path): the base uses next_n, not e[0]."""
    m = _plan(**kw)
    if kw["mode"] == "draft_extend_var" and m["e"].shape[0] == 1:
        m["se"] = m["kv"][m["req"]] - kw["next_n"] + 1 + m["d"]
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def tv_int64_inplace_add(**kw):
    """target_verify: kv = seq_lens.to(int64); kv += next_n. With int64 seq_lens, `.to` is
    the input itself: seq_lens is modified (outputs right)."""
    s = kw["seq_lens"]
    if kw["mode"] == "target_verify" and s.dtype == torch.int64 and 0 not in s.stride():
        s = kw["seq_lens"].to(torch.int64)
        s += kw["next_n"]
        m = _plan(**{**kw, "seq_lens": s - kw["next_n"]})
        return _write(kw["out"], m)
    _write(kw["out"], _plan(**kw))


# --- batch sizes --------------------------------------------------------------------------


def bs_pow2_last_cache(**kw):
    """bs a power of two >= 64: the last request's cache_seqlens is never written."""
    m = _plan(**kw)
    bs = m["kv"].shape[0]
    keep = {"cache_seqlens": [bs - 1]} if bs >= 64 and bs & (bs - 1) == 0 else {}
    _write_keeping(kw["out"], m, keep)


def bs_1025_last(**kw):
    """bs == 1025 (one past a block of 1024): the last request's cache_seqlens is skipped."""
    m = _plan(**kw)
    keep = {"cache_seqlens": [1024]} if m["kv"].shape[0] == 1025 else {}
    _write_keeping(kw["out"], m, keep)


def bs_mod8_5_total(**kw):
    """bs > 8 with bs % 8 == 5 (a vector tail of 5): cu_seqlens_k[bs] misses the last kv."""
    m = _plan(**kw)
    bs = m["kv"].shape[0]
    if bs > 8 and bs % 8 == 5:
        m["cu"][bs] = m["cu"][bs - 1]
    _write(kw["out"], m)


def bs_over_16384_wrap(**kw):
    """bs > 16384: a request id kept in 14 bits for seqlens_expanded (request 16384 reads as
    request 0)."""
    m = _plan(**kw)
    if m["kv"].shape[0] > 16384:
        q = m["req"] & 0x3FFF
        m["se"] = m["kv"][q] - m["e"][q] + 1 + m["d"]
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


# --- extend lengths (draft_extend_var) ----------------------------------------------------


def first_e0_shift(**kw):
    """draft_extend_var with e[0] == 0 (bs >= 2): the first request that has rows takes the
    kv of the request before it."""
    m = _plan(**kw)
    e = m["e"]
    if kw["mode"] == "draft_extend_var" and e.shape[0] >= 2 and int(e[0]) == 0:
        nz = torch.nonzero(e).flatten()
        if nz.numel():
            i = int(nz[0])
            rows = m["req"] == i
            m["se"][rows] = m["se"][rows] - m["kv"][i] + m["kv"][i - 1]
            _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def last_e0_dsa_total(**kw):
    """draft_extend_var with e[-1] == 0 and T > 0: the last request's program writes the
    closing dsa_cu_seqlens_k[T] only when it has rows."""
    m = _plan(**kw)
    t = m["se"].shape[0]
    last0 = m["e"].shape[0] > 0 and int(m["e"][-1]) == 0
    keep = {"dsa_cu_seqlens_k": [t]} if kw["mode"] == "draft_extend_var" and t and last0 else {}
    _write_keeping(kw["out"], m, keep)


def all_zero_early_return(**kw):
    """draft_extend_var with every e == 0 (bs > 0): returns at once, so cache_seqlens,
    cu_seqlens_k and dsa_cu_seqlens_k[0] are never written."""
    m = _plan(**kw)
    if kw["mode"] == "draft_extend_var" and m["kv"].shape[0] and m["se"].shape[0] == 0:
        return None
    _write(kw["out"], m)


def t_eq_bs_one_row_each(**kw):
    """draft_extend_var with T == bs: taken as one row a request (as decode), wrong when the
    extends are not all 1 (a 2 and a 0, say)."""
    m = _plan(**kw)
    bs = m["kv"].shape[0]
    if kw["mode"] == "draft_extend_var" and bs and m["se"].shape[0] == bs:
        m["req"] = torch.arange(bs)
        m["d"] = torch.zeros(bs, dtype=torch.int64)
        m["se"] = m["kv"]
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def var_t_mult_128_total(**kw):
    """draft_extend_var with T >= 256 and T % 128 == 0: no tail program, so the closing
    dsa_cu_seqlens_k[T] is never written."""
    m = _plan(**kw)
    t = m["se"].shape[0]
    hit = kw["mode"] == "draft_extend_var" and t >= 256 and t % 128 == 0
    _write_keeping(kw["out"], m, {"dsa_cu_seqlens_k": [t]} if hit else {})


def zero_run_start(**kw):
    """draft_extend_var: a request after two zero-extend requests (e[j-2] == e[j-1] == 0,
    e[j] > 0) takes kv of request j-1 (the search steps back over one empty request only)."""
    m = _plan(**kw)
    e = m["e"]
    if kw["mode"] == "draft_extend_var":
        hit = False
        for j in range(2, e.shape[0]):
            if int(e[j]) > 0 and int(e[j - 1]) == 0 and int(e[j - 2]) == 0:
                rows = m["req"] == j
                m["se"][rows] = m["se"][rows] - m["kv"][j] + m["kv"][j - 1]
                hit = True
        if hit:
            _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


# --- kv < e (padded requests) -------------------------------------------------------------


def fixed_pad_clamp0(**kw):
    """draft_extend (fixed width): seqlens_expanded clamped from below at 0, wrong for the
    padded requests with s <= next_n - 2 (SGLang's s = 1, e = N at N >= 3)."""
    m = _plan(**kw)
    if kw["mode"] == "draft_extend":
        m["se"] = m["se"].clamp(min=0)
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def dsa_cu_clamped0(**kw):
    """dsa_cu_seqlens_k summed from max(dsa_cache_seqlens, 0) (a scan that assumed
    monotone sums): wrong only where a row's value is negative (e >= kv + 2)."""
    m = _plan(**kw)
    m["dcu"] = _cums(m["dsa"].clamp(min=0))
    _write(kw["out"], m)


def s0_rows_zero(**kw):
    """draft_extend_var: a request with s == 0 and e >= 2 is taken for an empty slot and its
    seqlens_expanded rows are written 0."""
    m = _plan(**kw)
    if kw["mode"] == "draft_extend_var":
        empty = (m["kv"] == 0) & (m["e"] >= 2)
        if bool(empty.any()):
            m["se"] = torch.where(empty[m["req"]], 0, m["se"])
            _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


# --- topk ---------------------------------------------------------------------------------


def topk0_unlimited(**kw):
    """topk == 0 read as 'no top-k' (a sentinel): dsa_cache_seqlens not clamped."""
    m = _plan(**kw)
    if kw["topk"] == 0:
        m["dsa"] = m["se"].clone()
        m["dcu"] = _cums(m["dsa"])
    _write(kw["out"], m)


def topk_per_request(**kw):
    """dsa_cache_seqlens decided per request (kv <= topk: every row unclamped, else every row
    topk): wrong for rows below topk in a request whose kv is above it."""
    m = _plan(**kw)
    m["dsa"] = torch.where(m["kv"][m["req"]] <= kw["topk"], m["se"], kw["topk"])
    m["dcu"] = _cums(m["dsa"])
    _write(kw["out"], m)


def topk_float32(**kw):
    """topk held as float32: wrong when topk above 2**24 is not a float32 and a row reaches
    it."""
    m = _plan(**kw)
    k = int(torch.tensor(float(kw["topk"]), dtype=torch.float32).item())
    m["dsa"] = torch.clamp(m["se"], max=k)
    m["dcu"] = _cums(m["dsa"])
    _write(kw["out"], m)


def clamp_sub_overflow(**kw):
    """min(se, topk) as se - relu(se - topk) in int32: se - topk wraps when a padded row's
    se is negative and topk is near 2**31 - 1."""
    m = _plan(**kw)
    m["dsa"] = _wrap32(m["se"] - _wrap32(m["se"] - kw["topk"]).clamp(min=0))
    m["dcu"] = _cums(m["dsa"])
    _write(kw["out"], m)


# --- page sizes and widths ----------------------------------------------------------------


def _pages_cut(kw, m, ncols):
    """real_page_table with only its first `ncols` columns written."""
    m["rpt"] = m["rpt"][:, :ncols]
    _write(kw["out"], m)


def pages_w_mod_p_1(**kw):
    """Page count (W + P - 2) // P: one column short when W % P == 1 (P >= 2)."""
    m, w, p = _plan(**kw), kw["width"], kw["page_size"]
    if p == 1:
        return _write(kw["out"], m)
    _pages_cut(kw, m, (w + p - 2) // p)


def pages_w_below_p(**kw):
    """Page count W // P when W < P (the tail page only handled after a whole one): no
    real_page_table column written for a width below the page size."""
    m, w, p = _plan(**kw), kw["width"], kw["page_size"]
    if p == 1 or w >= p:
        return _write(kw["out"], m)
    _pages_cut(kw, m, 0)


def page_shift_nonpow2(**kw):
    """// page_size as >> floor(log2(page_size)): wrong for page sizes not a power of two."""
    m, p = _plan(**kw), kw["page_size"]
    if m["rpt"] is not None:
        m["rpt"] = m["pt1"][:, ::p] >> (p.bit_length() - 1)
    _write(kw["out"], m)


def page_recip_float32(**kw):
    """// page_size as floor(float32(token) * float32(1 / page_size)): wrong once token ids
    pass 2**24 and round across a page boundary."""
    m, p = _plan(**kw), kw["page_size"]
    if m["rpt"] is not None:
        inv = torch.tensor(1.0 / p, dtype=torch.float32)
        m["rpt"] = (m["pt1"][:, ::p].to(torch.float32) * inv).floor().long()
    _write(kw["out"], m)


def last_page_last_token(**kw):
    """W % P != 0: the last (partial) page's id read from the row's last token,
    page_table_1[t, W - 1] // P, not its first."""
    m, w, p = _plan(**kw), kw["width"], kw["page_size"]
    if m["rpt"] is not None and w % p:
        m["rpt"][:, -1] = m["pt1"][:, w - 1] // p
    _write(kw["out"], m)


def _past_width(buf, t, col):
    """Column `col` of rows 0:t of page table `buf` as a kernel addresses it (row * stride(0)
    + col * stride(1)) when that lands in the row's own spare storage (row stride past the
    width); None when it does not."""
    s0, s1 = buf.stride()
    if t == 0 or s1 < 1 or s1 > s0 or col * s1 >= s0:
        return None
    return buf.as_strided((t,), (s0,), buf.storage_offset() + col * s1)


def pages_extra_col_divisible(**kw):
    """W % P == 0: one page column too many (q <= W / P, value req_to_token[r, W] // P, 0
    past the pool), written where the buffer's row stride leaves room past its width."""
    m, out, w, p = _plan(**kw), kw["out"], kw["width"], kw["page_size"]
    _write(out, m)
    pool, t = kw["req_to_token"], m["se"].shape[0]
    if p > 1 and w % p == 0:
        cell = _past_width(out.real_page_table, t, w // p)
        if cell is not None:
            rows = m["r"][m["req"]]
            value = pool[rows, w].long() // p if pool.shape[1] > w else torch.zeros_like(rows)
            cell.copy_(value)


# --- req_to_token and pool indices --------------------------------------------------------


def pool_col_stride_1(**kw):
    """req_to_token read at r * stride(0) + c: its column stride taken as 1 (wrong for a
    transposed-then-sliced pool)."""
    pool = kw["req_to_token"]
    if pool.stride(1) != 1:
        pool = pool.as_strided(pool.shape, (pool.stride(0), 1), pool.storage_offset())
    _write(kw["out"], _plan(**{**kw, "req_to_token": pool}))


def pool_row_stride_shape(**kw):
    """req_to_token's row stride taken as its width shape[1] (wrong for a column-sliced
    pool, whose rows are longer than its shape)."""
    pool = kw["req_to_token"]
    if pool.stride(1) == 1 and pool.stride(0) != pool.shape[1]:
        pool = pool.as_strided(pool.shape, (pool.shape[1], 1), pool.storage_offset())
    _write(kw["out"], _plan(**{**kw, "req_to_token": pool}))


def pool_last_row(**kw):
    """A pool index at the pool's last row (pool >= 2) reads the row before it (a bound
    check `< pool - 1`)."""
    pool = kw["req_to_token"].shape[0]
    m = _plan(**kw)
    if pool >= 2 and bool((m["r"] == pool - 1).any()):
        m["r"] = torch.where(m["r"] == pool - 1, pool - 2, m["r"])
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


def pool_index0_padding(**kw):
    """Pool index 0 (SGLang's padding slot) gives page-table rows of zeros."""
    m = _plan(**kw)
    rows = m["r"][m["req"]] == 0
    if bool(rows.any()):
        m["pt1"][rows] = 0
        if m["rpt"] is not None:
            m["rpt"][rows] = 0
    _write(kw["out"], m)


def repeat_index_skip(**kw):
    """A request whose pool index repeats the one before it (r[i] == r[i-1]) skips its
    page-table rows, as 'already copied'."""
    m = _plan(**kw)
    r = m["r"]
    dup = torch.zeros_like(r, dtype=torch.bool)
    dup[1:] = r[1:] == r[:-1]
    skip = torch.nonzero(dup[m["req"]]).flatten()
    keep = {"page_table_1": skip}
    if m["rpt"] is not None:
        keep["real_page_table"] = skip
    _write_keeping(kw["out"], m, keep)


def _low_words(x):
    """An int64 tensor read as int32 words with int32's element size: lo, hi, lo, hi, ..."""
    v = x.long()
    words = torch.stack([v & 0xFFFFFFFF, v >> 32], 1).flatten()
    return _wrap32(words[: v.shape[0]])


def ext_i64_with_seq_i32(**kw):
    """draft_extend_var: extend_seq_lens read with seq_lens' dtype; int64 extends beside
    int32 seq_lens give lo, hi, lo, hi words."""
    e = kw["extend_seq_lens"]
    if e is not None and e.dtype == torch.int64 and kw["seq_lens"].dtype == torch.int32:
        kw = {**kw, "extend_seq_lens": _low_words(e)}
    _write(kw["out"], _plan(**kw))


def pool_idx_i64_with_seq_i32(**kw):
    """req_pool_indices read with seq_lens' dtype: int64 indices beside int32 seq_lens give
    lo, hi, lo, hi words (odd requests read pool row 0)."""
    r = kw["req_pool_indices"]
    if r.dtype == torch.int64 and kw["seq_lens"].dtype == torch.int32:
        kw = {**kw, "req_pool_indices": _low_words(r)}
    _write(kw["out"], _plan(**kw))


def pool_clamp_inplace(**kw):
    """req_to_token sanitised in place (negative cells set to 0) before the gather: an input
    modified wherever an unread cell is negative."""
    pool = kw["req_to_token"]
    if bool((pool < 0).any()):
        pool.clamp_(min=0)
    _write(kw["out"], _plan(**kw))


def pool_rejects_negative(**kw):
    """Raises on any negative req_to_token cell, not only on the cells read (the rows of
    requests with rows, columns 0:W): a valid call refused."""
    if bool((kw["req_to_token"] < 0).any()):
        raise ValueError("req_to_token: negative token id")
    _write(kw["out"], _plan(**kw))


# --- caller buffers -----------------------------------------------------------------------


def pt1_row_stride_w(**kw):
    """page_table_1 written as rows of W cells back to back (its row stride taken as W)."""
    m, out = _plan(**kw), kw["out"]
    buf, w, t = out.page_table_1, kw["width"], m["se"].shape[0]
    if buf.stride(1) != 1 or t == 0:
        return _write(out, m)
    _write(out, m, skip=("page_table_1",))
    buf.as_strided((t, w), (w, 1), buf.storage_offset()).copy_(m["pt1"])


def dsa_buf_step_1(**kw):
    """dsa_cache_seqlens written as if its buffer were contiguous (its step ignored)."""
    m, out = _plan(**kw), kw["out"]
    buf, t = out.dsa_cache_seqlens, m["se"].shape[0]
    if buf.stride(0) == 1 or t == 0:
        return _write(out, m)
    _write(out, m, skip=("dsa_cache_seqlens",))
    buf.as_strided((t,), (1,), buf.storage_offset()).copy_(m["dsa"])


def pt1_pool_width(**kw):
    """page_table_1's column mask from req_to_token's width, not W: cells past W written
    where the pool is wider and the buffer's row stride leaves room."""
    m, out = _plan(**kw), kw["out"]
    _write(out, m)
    pool, t = kw["req_to_token"], m["se"].shape[0]
    rows = m["r"][m["req"]]
    for col in range(kw["width"], pool.shape[1]):
        cell = _past_width(out.page_table_1, t, col)
        if cell is not None:
            cell.copy_(pool[rows, col])


def pt1_buffer_width(**kw):
    """page_table_1's width taken from its buffer (out.page_table_1.shape[1]), as a kernel
    written for SGLang's longest-context buffers does: columns past W written from the pool
    (or 0 past it)."""
    m, out = _plan(**kw), kw["out"]
    _write(out, m)
    pool, buf, t = kw["req_to_token"], out.page_table_1, m["se"].shape[0]
    cols = min(buf.shape[1], pool.shape[1])
    if t and cols > kw["width"]:
        buf[:t, kw["width"] : cols] = pool[m["r"][m["req"]], kw["width"] : cols]


def rpt_buffer_pages(**kw):
    """real_page_table's page count taken from its buffer (shape[1]): the pages past
    ceil(W / P) written as 0."""
    m, out = _plan(**kw), kw["out"]
    _write(out, m)
    buf, t = out.real_page_table, m["se"].shape[0]
    if buf is not None and t and buf.shape[1] > m["rpt"].shape[1]:
        buf[:t, m["rpt"].shape[1] :] = 0


# --- running sums near the int32 limit ----------------------------------------------------


def cu_float32(**kw):
    """cu_seqlens_k kept in float32: wrong once a running sum passes 2**24 and is not a
    float32."""
    m = _plan(**kw)
    m["cu"] = _cums(m["kv"]).to(torch.float32).long()
    _write(kw["out"], m)


def tv_se_float32(**kw):
    """target_verify: seqlens_expanded from a float32 kv (s + next_n), wrong past 2**24."""
    m = _plan(**kw)
    if kw["mode"] == "target_verify":
        kvf = m["kv"].to(torch.float32)[m["req"]]
        m["se"] = (kvf - kw["next_n"] + 1 + m["d"].to(torch.float32)).long()
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
    _write(kw["out"], m)


# --- back-to-back calls on one set of buffers ---------------------------------------------


def stale_t_grows(**kw):
    """page_table_1 rows written up to the T of the first call on these buffers only (the
    grid fixed at capture): a later call with a larger T leaves rows stale."""
    m, out = _plan(**kw), kw["out"]
    prev = _previous("stale_t_grows", out)
    t = m["se"].shape[0]
    first_t = t if prev is None else prev["t"]
    _write_keeping(out, m, {"page_table_1": list(range(first_t, t))})
    _remember("stale_t_grows", out, m, t=first_t)


def stale_row_map(**kw):
    """The row -> request map is cached with the buffers and rebuilt only when T grows or bs
    changes: a later call with the same bs and a T no larger reuses the old map."""
    m, out = _plan(**kw), kw["out"]
    prev = _previous("stale_row_map", out)
    bs, t = m["kv"].shape[0], m["se"].shape[0]
    if prev is not None and prev["bs"] == bs and t <= prev["req"].shape[0]:
        m["req"], m["d"] = prev["req"][:t], prev["d"][:t]
        m["se"] = m["kv"][m["req"]] - m["e"][m["req"]] + 1 + m["d"]
        _finish(m, kw["req_to_token"], kw["topk"], kw["page_size"], kw["width"])
        _write(out, m)
        return _remember("stale_row_map", out, m, bs=bs, req=prev["req"], d=prev["d"])
    _write(out, m)
    _remember("stale_row_map", out, m, bs=bs, req=m["req"], d=m["d"])


def stale_same_indices(**kw):
    """Page tables rewritten only when req_pool_indices changed since the last call on these
    buffers: new req_to_token contents or a new row layout leave stale rows."""
    m, out = _plan(**kw), kw["out"]
    prev = _previous("stale_same_indices", out)
    same = prev is not None and torch.equal(prev["r"], m["r"])
    _write(out, m, skip=("page_table_1", "real_page_table") if same else ())
    _remember("stale_same_indices", out, m, r=m["r"].clone())


def stale_bs_shrinks(**kw):
    """cu_seqlens_k written over the bs of the first call on these buffers: a later, smaller
    bs writes the total past cu_seqlens_k[bs]."""
    m, out = _plan(**kw), kw["out"]
    prev = _previous("stale_bs_shrinks", out)
    bs = m["kv"].shape[0]
    _write(out, m)
    first_bs = bs if prev is None else prev["bs"]
    if first_bs > bs:
        out.cu_seqlens_k[bs + 1 : first_bs + 1] = m["cu"][bs]
    _remember("stale_bs_shrinks", out, m, bs=first_bs)


# --- contract v1 (`expand`) ---------------------------------------------------------------


def _v1(extend_seq_lens, seq_lens):
    """(e, s, req, d, se) of contract v1, int64."""
    e, s = extend_seq_lens.long(), seq_lens.long()
    req, d = _rows(e)
    return e, s, req, d, s[req] - e[req] + 1 + d


def _out1(se, topk):
    return se.to(torch.int32), torch.clamp(se, max=topk).to(torch.int32)


def correct_v1(extend_seq_lens, seq_lens, nsa_index_topk):
    """Contract v1, vectorised torch, no bug."""
    return _out1(_v1(extend_seq_lens, seq_lens)[4], nsa_index_topk)


def v1_bs_pow2_last(extend_seq_lens, seq_lens, nsa_index_topk):
    """bs a power of two >= 64: the last request's rows are left as torch.empty had them."""
    e, s, req, d, se = _v1(extend_seq_lens, seq_lens)
    bs = e.shape[0]
    if bs >= 64 and bs & (bs - 1) == 0:
        se = torch.where(req == bs - 1, -(2**31), se)
    return _out1(se, nsa_index_topk)


def v1_first_e0(extend_seq_lens, seq_lens, nsa_index_topk):
    """e[0] == 0 (bs >= 2): the first request with rows takes the seq_len before it."""
    e, s, req, d, se = _v1(extend_seq_lens, seq_lens)
    if e.shape[0] >= 2 and int(e[0]) == 0:
        nz = torch.nonzero(e).flatten()
        if nz.numel():
            i = int(nz[0])
            se = torch.where(req == i, se - s[i] + s[i - 1], se)
    return _out1(se, nsa_index_topk)


def v1_topk0_unlimited(extend_seq_lens, seq_lens, nsa_index_topk):
    """nsa_index_topk == 0 read as 'no top-k': no clamp."""
    se = _v1(extend_seq_lens, seq_lens)[4]
    if nsa_index_topk == 0:
        return se.to(torch.int32), se.to(torch.int32)
    return _out1(se, nsa_index_topk)


def v1_clamp_sub_overflow(extend_seq_lens, seq_lens, nsa_index_topk):
    """min(se, topk) as se - relu(se - topk) in int32 (wraps for se < 0, topk near max)."""
    se = _v1(extend_seq_lens, seq_lens)[4]
    nsa = _wrap32(se - _wrap32(se - nsa_index_topk).clamp(min=0))
    return se.to(torch.int32), nsa.to(torch.int32)


def v1_ext_i64_seq_i32(extend_seq_lens, seq_lens, nsa_index_topk):
    """extend_seq_lens read with seq_lens' dtype: int64 extends beside int32 seq_lens read
    as lo, hi, lo, hi words."""
    e = extend_seq_lens
    if e.dtype == torch.int64 and seq_lens.dtype == torch.int32:
        e = _low_words(e)
    return _out1(_v1(e, seq_lens)[4], nsa_index_topk)


def v1_seq_offset_ignored(extend_seq_lens, seq_lens, nsa_index_topk):
    """seq_lens read from its storage's start: its storage offset ignored."""
    s = seq_lens
    if s.storage_offset():
        s = s.as_strided(s.shape, s.stride(), 0)
    return _out1(_v1(extend_seq_lens, s)[4], nsa_index_topk)


def v1_total_mult_256(extend_seq_lens, seq_lens, nsa_index_topk):
    """total >= 256 with total % 256 == 0: the last nsa_cache_seqlens element is never
    written (torch.empty's garbage)."""
    se, nsa = correct_v1(extend_seq_lens, seq_lens, nsa_index_topk)
    t = se.shape[0]
    if t >= 256 and t % 256 == 0:
        nsa[-1] = -(2**31)
    return se, nsa


def v1_se_float32(extend_seq_lens, seq_lens, nsa_index_topk):
    """seqlens_expanded from a float32 seq_len: wrong past 2**24."""
    e, s, req, d, se = _v1(extend_seq_lens, seq_lens)
    sf = s.to(torch.float32)[req]
    se = (sf - e[req].to(torch.float32) + 1 + d.to(torch.float32)).long()
    return _out1(se, nsa_index_topk)


def v1_all_equal_off(extend_seq_lens, seq_lens, nsa_index_topk):
    """All extends equal and >= 2 (bs >= 2): a fixed-width path whose base is s - e, not
    s - e + 1."""
    e, s, req, d, se = _v1(extend_seq_lens, seq_lens)
    if e.shape[0] >= 2 and int(e[0]) >= 2 and bool((e == e[0]).all()):
        se = se - 1
    return _out1(se, nsa_index_topk)


def v1_s0_rows_zero(extend_seq_lens, seq_lens, nsa_index_topk):
    """A request with seq_len 0 and e >= 2 taken for an empty slot: its rows written 0."""
    e, s, req, d, se = _v1(extend_seq_lens, seq_lens)
    empty = (s == 0) & (e >= 2)
    return _out1(torch.where(empty[req], 0, se), nsa_index_topk)


def v1_i64_scratch_inplace(extend_seq_lens, seq_lens, nsa_index_topk):
    """int64 extends (bs >= 2) used as the prefix sum's scratch (cumsum out=): the input is
    modified (outputs right)."""
    out = correct_v1(extend_seq_lens, seq_lens, nsa_index_topk)
    e = extend_seq_lens
    if e.dtype == torch.int64 and e.shape[0] >= 2 and e.stride(0) != 0:
        torch.cumsum(e.clone(), 0, out=e)
    return out


def v1_ext_step_ignored(extend_seq_lens, seq_lens, nsa_index_topk):
    """extend_seq_lens with a step > 1 read as if contiguous."""
    e = extend_seq_lens
    if e.dim() == 1 and e.stride(0) > 1:
        e = e.as_strided(e.shape, (1,), e.storage_offset())
    return _out1(_v1(e, seq_lens)[4], nsa_index_topk)


# Valid-input bugs the generator cannot reach without a change outside fuzz/*strategies.py:
UNREACHED: list = []  # every planted bug here is reached (stop 17: negative unread cells)

HUNT = [
    ("correct", "metadata", "correct v2 (vectorised torch)"),
    ("tv_n1_as_decode", "metadata", "modes: target_verify at next_n 1"),
    ("var_all_equal_as_fixed", "metadata", "modes: var with equal extends != next_n"),
    ("tv_next_n_ge7_base", "metadata", "next_n: 7 or 8 in target_verify"),
    ("de_nonpow2_overrun", "metadata", "next_n: not a power of two, buffer room past T"),
    ("var_e_over_tile", "metadata", "var: an extend > max(8, next_pow2(next_n))"),
    ("de_next_n_over8_wrap", "metadata", "next_n: > 8 in draft_extend"),
    ("var_bs1_uses_next_n", "metadata", "bs 1 in var with e != next_n"),
    ("tv_int64_inplace_add", "metadata", "dtypes: int64 seq_lens in target_verify"),
    ("bs_pow2_last_cache", "metadata", "bs: a power of two >= 64"),
    ("bs_1025_last", "metadata", "bs: exactly 1025"),
    ("bs_mod8_5_total", "metadata", "bs: > 8 with bs % 8 == 5"),
    ("bs_over_16384_wrap", "metadata", "bs: > 16384"),
    ("first_e0_shift", "metadata", "mixed-zero: first request e = 0"),
    ("last_e0_dsa_total", "metadata", "mixed-zero: last request e = 0"),
    ("all_zero_early_return", "metadata", "all-zero extends"),
    ("t_eq_bs_one_row_each", "metadata", "mixed-zero: T == bs, extends not all 1"),
    ("var_t_mult_128_total", "metadata", "var: T >= 256, T % 128 == 0"),
    ("zero_run_start", "metadata", "mixed-zero: two zero extends in a row before a request"),
    ("fixed_pad_clamp0", "metadata", "kv < e: draft_extend, s <= N - 2"),
    ("dsa_cu_clamped0", "metadata", "kv < e: negative dsa rows in the running sum"),
    ("s0_rows_zero", "metadata", "kv < e: var, s = 0 with e >= 2"),
    ("topk0_unlimited", "metadata", "topk: 0"),
    ("topk_per_request", "metadata", "topk: inside one request's ramp"),
    ("topk_float32", "metadata", "topk: > 2**24, not a float32, reached"),
    ("clamp_sub_overflow", "metadata", "int32: se < 0 with topk near 2**31 - 1"),
    ("pages_w_mod_p_1", "metadata", "pages: W % P == 1"),
    ("pages_w_below_p", "metadata", "pages: W < P"),
    ("page_shift_nonpow2", "metadata", "pages: P not a power of two"),
    ("page_recip_float32", "metadata", "pages: token ids past 2**24"),
    ("last_page_last_token", "metadata", "pages: partial last page"),
    ("pages_extra_col_divisible", "metadata", "pages: W % P == 0, room in the pool and buffer"),
    ("pool_col_stride_1", "metadata", "req_to_token: transposed-then-sliced"),
    ("pool_row_stride_shape", "metadata", "req_to_token: column-sliced"),
    ("pool_last_row", "metadata", "pool index at the last row"),
    ("pool_index0_padding", "metadata", "pool index 0"),
    ("repeat_index_skip", "metadata", "repeated pool indices, adjacent"),
    ("ext_i64_with_seq_i32", "metadata", "dtypes: int64 extends, int32 seq_lens"),
    ("pool_idx_i64_with_seq_i32", "metadata", "dtypes: int64 pool indices, int32 seq_lens"),
    ("pool_clamp_inplace", "metadata", "req_to_token: negative unread cells, modified"),
    ("pool_rejects_negative", "metadata", "req_to_token: negative unread cells, refused"),
    ("pt1_row_stride_w", "metadata", "buffers: page_table_1 row stride > W"),
    ("dsa_buf_step_1", "metadata", "buffers: 1-D with a step"),
    ("pt1_pool_width", "metadata", "buffers: pool and page_table_1 wider than W"),
    ("pt1_buffer_width", "metadata", "buffers: page_table_1 with columns past W"),
    ("rpt_buffer_pages", "metadata", "buffers: real_page_table with columns past ceil(W/P)"),
    ("cu_float32", "metadata", "int32: running sums past 2**24"),
    ("tv_se_float32", "metadata", "int32: target_verify kv past 2**24"),
    ("stale_t_grows", "metadata", "back-to-back: larger T"),
    ("stale_row_map", "metadata", "back-to-back: same bs, T no larger, new layout"),
    ("stale_same_indices", "metadata", "back-to-back: same pool indices, new pool"),
    ("stale_bs_shrinks", "metadata", "back-to-back: smaller bs"),
    ("correct_v1", "expand", "correct v1 (vectorised torch)"),
    ("v1_bs_pow2_last", "expand", "bs: a power of two >= 64"),
    ("v1_first_e0", "expand", "mixed-zero: first e = 0"),
    ("v1_topk0_unlimited", "expand", "topk: 0"),
    ("v1_clamp_sub_overflow", "expand", "int32: se < 0 with topk near 2**31 - 1"),
    ("v1_ext_i64_seq_i32", "expand", "dtypes: int64 extends, int32 seq_lens"),
    ("v1_seq_offset_ignored", "expand", "strides: storage offset"),
    ("v1_total_mult_256", "expand", "total: >= 256, % 256 == 0"),
    ("v1_se_float32", "expand", "int32: seq_lens past 2**24"),
    ("v1_all_equal_off", "expand", "extends all equal >= 2"),
    ("v1_s0_rows_zero", "expand", "kv < e: s = 0 with e >= 2"),
    ("v1_i64_scratch_inplace", "expand", "input modified: int64 extends"),
    ("v1_ext_step_ignored", "expand", "strides: a step > 1"),
]

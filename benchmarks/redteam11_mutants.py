"""Red-team round 11, written blind to the fuzzer's strategies: bugs of the CUDA-graph replay
path that show only across calls (caches, baked parameters, stale scratch), only under one
layout (strides, storage offsets, repeated or edge pool indices), or one dtype mix / limit.

Every candidate is a vectorised torch version with one narrow mistake; `correct_v1` and
`correct_v2` share the code paths and the state machinery, done right. `reset()` clears all
state (the tests call it). Hunt: `python benchmarks/hunt.py benchmarks/redteam11_mutants.py`.
"""

from __future__ import annotations

import torch

INT32_MAX = 2**31 - 1

# -- shared pieces: right unless a mutant swaps one ---------------------------------------


def _plan(e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(req, d) per row: the request of row t and its index inside the request (int64)."""
    bs = e.numel()
    req = torch.repeat_interleave(torch.arange(bs, device=e.device), e)
    starts = torch.cumsum(e, 0) - e
    d = torch.arange(req.numel(), device=e.device) - starts[req]
    return req, d


def _v1_out(e, s, req, d, topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    seqlens_expanded = s[req] - e[req] + 1 + d
    nsa_cache_seqlens = seqlens_expanded.clamp(max=topk)
    return seqlens_expanded.to(torch.int32), nsa_cache_seqlens.to(torch.int32)


def _v1(extend_seq_lens, seq_lens, nsa_index_topk):
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    req, d = _plan(e)
    return _v1_out(e, s, req, d, nsa_index_topk)


def _per_request(mode, seq_lens, extend_seq_lens, next_n):
    """The contract's mode table: (e, kv) as int64 tensors (never views of the inputs)."""
    s = seq_lens.to(torch.int64, copy=True)
    if mode == "decode":
        return torch.ones_like(s), s
    if mode == "target_verify":
        return torch.full_like(s, next_n), s + next_n
    if mode == "draft_extend":
        return torch.full_like(s, next_n), s
    return extend_seq_lens.to(torch.int64, copy=True), s


def _running(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.new_zeros(1), torch.cumsum(x, 0)])


def _gather(req_to_token, r, req, width) -> torch.Tensor:
    """page_table_1's rows: req_to_token[r[req[t]], 0:width] (strides honoured by torch)."""
    return req_to_token[:, :width][r.to(torch.int64)[req]]


def _write_lengths(out, e, kv, req, d, topk: int) -> None:
    """Write the contract's region of the five length buffers."""
    bs, T = kv.numel(), req.numel()
    i32 = torch.int32
    out.cache_seqlens[:bs] = kv.to(i32)
    out.cu_seqlens_k[: bs + 1] = _running(kv).to(i32)
    seqlens_expanded = kv[req] - e[req] + 1 + d
    clamped = seqlens_expanded.clamp(max=topk)
    out.seqlens_expanded[:T] = seqlens_expanded.to(i32)
    out.dsa_cache_seqlens[:T] = clamped.to(i32)
    out.dsa_cu_seqlens_k[: T + 1] = _running(clamped).to(i32)


def _write(out, e, kv, req, d, rows, topk: int, width: int, page_size: int) -> None:
    """Write the contract's region of every buffer of `out`."""
    _write_lengths(out, e, kv, req, d, topk)
    _write_pages(out, rows, width, page_size)


def _write_pages(out, rows, width: int, page_size: int) -> None:
    T = rows.shape[0]
    out.page_table_1[:T, :width] = rows
    if page_size > 1:
        q = -(-width // page_size)
        out.real_page_table[:T, :q] = rows[:, ::page_size] // page_size


def _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, width, out) -> None:  # fmt: skip
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


_STATE: dict[str, dict] = {}


def _state(name: str) -> dict:
    return _STATE.setdefault(name, {})


def reset() -> None:
    """Forget every cache, baked parameter and scratch buffer of every candidate."""
    _STATE.clear()


def _values_key(x: torch.Tensor) -> tuple:
    """A key that changes whenever the values change (what a right cache keys on)."""
    return (x.dtype, x.numel(), x.to(torch.int64).cpu().numpy().tobytes())


# -- correct candidates -------------------------------------------------------------------


def correct_v1(extend_seq_lens, seq_lens, nsa_index_topk):
    """Correct: the row plan is cached, keyed on the extend VALUES (not the pointer)."""
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    cache = _state("correct_v1")
    key = _values_key(e) + (str(e.device),)
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        cache[key] = _plan(e)
    req, d = cache[key]
    return _v1_out(e, s, req, d, nsa_index_topk)


def correct_v2(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk,
               next_n, page_size, width, out) -> None:  # fmt: skip
    """Correct: the row plan is cached, keyed on the mode, next_n and the extend values."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    cache = _state("correct_v2")
    key = (mode, next_n, str(e.device)) + _values_key(e)
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        cache[key] = _plan(e)
    req, d = cache[key]
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


# -- family 1: state across calls, v1 ----------------------------------------------------


def v1_starts_cached_by_ptr(extend_seq_lens, seq_lens, nsa_index_topk):
    """State. The row starts (exclusive cumsum of the extends) are cached keyed on
    (extend_seq_lens.data_ptr(), bs). Trigger: a later call whose extend_seq_lens sits at the
    same address with the same bs (refilled in place, or a new tensor that reuses the
    memory) and different values, e.g. [1, 1] then [2, 1]."""
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    cache = _state("v1_starts_cached_by_ptr")
    key = (extend_seq_lens.data_ptr(), e.numel())
    if key not in cache:
        cache[key] = torch.cumsum(e, 0) - e
    starts = cache[key]
    req = torch.repeat_interleave(torch.arange(e.numel(), device=e.device), e)
    d = torch.arange(req.numel(), device=e.device) - starts[req]
    return _v1_out(e, s, req, d, nsa_index_topk)


def v1_skip_same_extends(extend_seq_lens, seq_lens, nsa_index_topk):
    """State ("nothing changed, skip"). If the extends and topk equal the previous call's,
    the previous outputs are returned again; seq_lens is not compared. Trigger: two
    consecutive calls with equal extend_seq_lens and topk and different seq_lens (with a
    nonzero total)."""
    memo = _state("v1_skip_same_extends")
    key = _values_key(extend_seq_lens) + (nsa_index_topk,)
    if memo.get("key") == key:
        a, b = memo["out"]
        return a.clone(), b.clone()
    result = _v1(extend_seq_lens, seq_lens, nsa_index_topk)
    memo["key"], memo["out"] = key, (result[0].clone(), result[1].clone())
    return result


def v1_topk_baked(extend_seq_lens, seq_lens, nsa_index_topk):
    """State. nsa_index_topk is read on the first call ("a model constant, 2048") and reused.
    Trigger: a later call whose topk differs from the first call's where it matters (some
    expanded value above the smaller of the two)."""
    baked = _state("v1_topk_baked")
    topk = baked.setdefault("topk", nsa_index_topk)
    return _v1(extend_seq_lens, seq_lens, topk)


def v1_scratch_not_cleared(extend_seq_lens, seq_lens, nsa_index_topk):
    """State (static scratch). The extends are copied into a persistent int64 scratch of
    the largest bs seen and the total is its full sum, so a smaller batch after a larger one
    counts the stale tail. Trigger: a call of bs b1 with a nonzero extend at index >= b2,
    then a call of bs b2 < b1: the outputs are too long."""
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    st = _state("v1_scratch_not_cleared")
    scratch = st.get("scratch")
    if scratch is None or scratch.numel() < e.numel() or scratch.device != e.device:
        scratch = torch.zeros(max(e.numel(), 1), dtype=torch.int64, device=e.device)
        st["scratch"] = scratch
    scratch[: e.numel()] = e
    total = int(scratch.sum())
    req, d = _plan(e)
    a, b = _v1_out(e, s, req, d, nsa_index_topk)
    seqlens_expanded = torch.zeros(total, dtype=torch.int32, device=e.device)
    nsa_cache_seqlens = torch.zeros(total, dtype=torch.int32, device=e.device)
    seqlens_expanded[: a.numel()] = a
    nsa_cache_seqlens[: b.numel()] = b
    return seqlens_expanded, nsa_cache_seqlens


def v1_seq_mirror_by_ptr(extend_seq_lens, seq_lens, nsa_index_topk):
    """State ("seq_lens_cpu" mirror). A copy of seq_lens is kept keyed on (data_ptr, bs,
    dtype, stride) and read instead of the tensor. Trigger: a later call whose seq_lens is
    at the same address with the same bs, dtype and stride but new values (refilled in
    place, or reused memory)."""
    mirror = _state("v1_seq_mirror_by_ptr")
    key = (seq_lens.data_ptr(), seq_lens.numel(), seq_lens.dtype, seq_lens.stride())
    if key not in mirror:
        mirror[key] = seq_lens.to(torch.int64, copy=True)
    e = extend_seq_lens.to(torch.int64)
    req, d = _plan(e)
    return _v1_out(e, mirror[key], req, d, nsa_index_topk)


# -- family 1: state across calls, v2 ----------------------------------------------------


def v2_row_plan_by_bs(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                      topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State. The row plan (request and offset of each row) is cached keyed on (mode, bs,
    next_n), as if e were fixed by them. Trigger: two draft_extend_var calls with the same
    bs and next_n and different extend_seq_lens."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    cache = _state("v2_row_plan_by_bs")
    key = (mode, e.numel(), next_n)
    if key not in cache:
        cache[key] = _plan(e)
    req, d = cache[key]
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


def v2_gather_cache_by_ptr(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                           req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State (cache of req_to_token rows). Each request's row req_to_token[r[i], 0:W] is
    cached keyed on (req_to_token.data_ptr(), shape, stride, W, r values). Trigger: a later
    call with req_to_token at the same address, same shape, stride, width and pool indices
    but different values in the cells read (the pool refilled in place as requests grow)."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    cache = _state("v2_gather_cache_by_ptr")
    key = (req_to_token.data_ptr(), tuple(req_to_token.shape), req_to_token.stride(), width)
    key += _values_key(req_pool_indices)
    if key not in cache:
        cache[key] = req_to_token[req_pool_indices.to(torch.int64)][:, :width].clone()
    req, d = _plan(e)
    _write(out, e, kv, req, d, cache[key][req], topk, width, page_size)


def v2_next_n_baked(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                    topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State (captured parameter). next_n is baked per (out buffers, mode) on the first call.
    Trigger: a later target_verify or draft_extend call on buffers at the same address with
    the same mode and a different next_n."""
    baked = _state("v2_next_n_baked")
    n = baked.setdefault((out.cache_seqlens.data_ptr(), mode), next_n)
    _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, n,
        page_size, width, out)  # fmt: skip


def v2_page_size_baked(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                       topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State (captured parameter). The page size of real_page_table is baked per
    page_table_1 buffer address on the first call with page_size > 1. Trigger: a later call
    with page_size > 1 different from the baked one, on buffers at the same address."""
    baked = _state("v2_page_size_baked")
    p = page_size
    if page_size > 1:
        p = baked.setdefault(out.page_table_1.data_ptr(), page_size)
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write_lengths(out, e, kv, req, d, topk)
    out.page_table_1[: rows.shape[0], :width] = rows
    if page_size > 1:
        q = -(-width // page_size)
        out.real_page_table[: rows.shape[0], :q] = (rows[:, ::p] // p)[:, :q]


def v2_skip_lengths_same_T(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                           req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State ("T didn't change, skip"). Per out buffers, if (mode, bs, T, topk) equal the
    previous call's, the per-row lengths (seqlens_expanded, dsa_cache_seqlens,
    dsa_cu_seqlens_k) are not rewritten. Trigger: two consecutive calls on the same buffers
    with equal mode, bs, T and topk and different seq_lens (e.g. decode, s=[5] then s=[6])."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    memo = _state("v2_skip_lengths_same_T")
    key = (mode, kv.numel(), req.numel(), topk)
    ptr = out.seqlens_expanded.data_ptr()
    if memo.get(ptr) == key:
        bs = kv.numel()
        out.cache_seqlens[:bs] = kv.to(torch.int32)
        out.cu_seqlens_k[: bs + 1] = _running(kv).to(torch.int32)
        _write_pages(out, rows, width, page_size)
    else:
        _write(out, e, kv, req, d, rows, topk, width, page_size)
    memo[ptr] = key


def v2_width_baked(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                   topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State (captured parameter). The page-table width is baked per page_table_1 buffer
    address on the first call. Trigger: a later call on buffers at the same address with a
    different width (a narrower one writes outside the region or fails, a wider one leaves
    stale columns)."""
    baked = _state("v2_width_baked")
    w = baked.setdefault(out.page_table_1.data_ptr(), width)
    w = min(w, req_to_token.shape[1], out.page_table_1.shape[1])
    if page_size > 1:
        w = min(w, out.real_page_table.shape[1] * page_size)
    _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, w, out)  # fmt: skip


def v2_scratch_not_cleared(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                           req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """State (static scratch). e is copied into a persistent scratch of the largest bs seen
    and T is its full sum. Trigger: a call of bs b1 with e > 0 at an index >= b2, then a
    call of bs b2 < b1: rows past the real T are written (outside the region) or the call
    fails."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    st = _state("v2_scratch_not_cleared")
    scratch = st.get("scratch")
    if scratch is None or scratch.numel() < e.numel() or scratch.device != e.device:
        scratch = torch.zeros(max(e.numel(), 1), dtype=torch.int64, device=e.device)
        st["scratch"] = scratch
    scratch[: e.numel()] = e
    bs = e.numel()
    req, d = _plan(scratch)
    req = req.clamp(max=max(bs - 1, 0))  # "padded rows read the last request"
    if bs == 0:
        req, d = req[:0], d[:0]
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


# -- family 2: layouts -------------------------------------------------------------------


def v1_offset_dropped_when_strided(extend_seq_lens, seq_lens, nsa_index_topk):
    """Layout. A non-unit-stride seq_lens is re-viewed as ptr + i * stride with the storage
    offset dropped. Trigger: seq_lens with stride != 1 and storage_offset > 0, bs >= 1 with
    a nonzero extend (e.g. base[1::2])."""
    s = seq_lens
    if s.numel() > 1 and s.stride(0) != 1:
        s = torch.as_strided(s, (s.numel(),), (s.stride(0),), 0)
    return _v1(extend_seq_lens, s, nsa_index_topk)


def v1_stride0_as_unit(extend_seq_lens, seq_lens, nsa_index_topk):
    """Layout. An expanded extend_seq_lens (stride 0) has its stride "guarded" to 1, so
    entry i is read from the storage at offset + i. Trigger: extend_seq_lens with stride 0
    and bs >= 2 (e.g. torch.tensor([2]).expand(3)): wrong values, or a failure when the
    storage is too short."""
    e = extend_seq_lens
    if e.numel() > 1 and e.stride(0) == 0:
        e = torch.as_strided(e, (e.numel(),), (1,), e.storage_offset())
    return _v1(e, seq_lens, nsa_index_topk)


def _r2t_v2(name, view):
    """A v2 candidate that reads req_to_token through `view(req_to_token)`."""

    def candidate(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk,
                  next_n, page_size, width, out) -> None:  # fmt: skip
        _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, view(req_to_token), topk,
            next_n, page_size, width, out)  # fmt: skip

    candidate.__name__ = name
    return candidate


def _col_stride_as_1(r2t):
    if r2t.stride(1) != 1:
        return torch.as_strided(r2t, r2t.shape, (r2t.stride(0), 1), r2t.storage_offset())
    return r2t


def _row_padded_no_offset(r2t):
    if r2t.stride(0) > r2t.shape[1]:
        return torch.as_strided(r2t, r2t.shape, r2t.stride(), 0)
    return r2t


def _col_major_no_offset(r2t):
    if r2t.stride(0) == 1 and r2t.shape[0] > 1:
        return torch.as_strided(r2t, r2t.shape, r2t.stride(), 0)
    return r2t


v2_r2t_col_stride_as_1 = _r2t_v2("v2_r2t_col_stride_as_1", _col_stride_as_1)
v2_r2t_col_stride_as_1.__doc__ = """Layout. req_to_token's column stride is assumed 1
(row base + c). Trigger: req_to_token with stride(1) != 1 (transposed, or a column step)
and width >= 2."""

v2_r2t_row_padded_offset = _r2t_v2("v2_r2t_row_padded_offset", _row_padded_no_offset)
v2_r2t_row_padded_offset.__doc__ = """Layout. A req_to_token whose row stride exceeds its
column count (a slice of a wider pool) is read with its storage offset dropped. Trigger:
req_to_token with stride(0) > shape[1] and storage_offset > 0 (e.g. big[1:, :Wr] or
big[:, 2:2 + Wr])."""

v2_r2t_col_major_offset = _r2t_v2("v2_r2t_col_major_offset", _col_major_no_offset)
v2_r2t_col_major_offset.__doc__ = """Layout. A column-major req_to_token (row stride 1, from
a transpose) is read with its storage offset dropped. Trigger: req_to_token transposed then
sliced so that stride(0) == 1, pool >= 2 and storage_offset > 0 (e.g. base.t()[1:])."""


def v2_out_pt_row_stride(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                         topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Layout (out buffer). A row-major page_table_1 buffer is written through a view whose
    row stride is its column count, not its stride. Trigger: page_table_1 with stride(1) ==
    1 and stride(0) > shape[1] (a column slice of a wider tensor), T >= 2."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write_lengths(out, e, kv, req, d, topk)
    pt, T = out.page_table_1, rows.shape[0]
    if pt.stride(1) == 1 and T > 0:  # "row-major: the fast flat path"
        torch.as_strided(pt, (T, width), (pt.shape[1], 1), pt.storage_offset()).copy_(rows)
    else:
        out.page_table_1[:T, :width] = rows
    if page_size > 1:
        q = -(-width // page_size)
        out.real_page_table[:T, :q] = rows[:, ::page_size] // page_size


def v2_out_real_pt_offset(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                          req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Layout (out buffer). real_page_table is written with its storage offset dropped.
    Trigger: page_size > 1, T >= 1, a real_page_table buffer with storage_offset > 0."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write_lengths(out, e, kv, req, d, topk)
    out.page_table_1[: rows.shape[0], :width] = rows
    if page_size > 1:
        rpt, q = out.real_page_table, -(-width // page_size)
        view = torch.as_strided(rpt, rpt.shape, rpt.stride(), 0)
        view[: rows.shape[0], :q] = rows[:, ::page_size] // page_size


def v2_out_dsa_cu_stride(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                         topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Layout (out buffer). dsa_cu_seqlens_k is written as if contiguous (stride 1).
    Trigger: a dsa_cu_seqlens_k buffer with stride != 1, T >= 1."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    buf = out.dsa_cu_seqlens_k
    keep = buf.clone()
    _write(out, e, kv, req, d, rows, topk, width, page_size)
    T = req.numel()
    if buf.stride(0) != 1 and T > 0:
        right = buf[: T + 1].clone()
        buf.copy_(keep)
        torch.as_strided(buf, (T + 1,), (1,), buf.storage_offset()).copy_(right)


def v2_slot_indexed_lengths(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                            req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Layout (repeated pool indices). KV lengths go through a per-slot table (kv_slot[r[i]]
    = kv[i], then read back by r[i]), as SGLang's per-slot arrays do, so requests sharing a
    slot get the same length. Trigger: a pool index repeated by requests of different kv."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    r = req_pool_indices.to(torch.int64)
    slot = torch.zeros(req_to_token.shape[0], dtype=torch.int64, device=kv.device)
    slot[r] = kv
    kv = slot[r]
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


def v2_slot0_is_padding(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                        topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Layout (pool index at the low end). Pool slot 0 is taken for SGLang's padding slot and
    its page rows are written as zeros. Trigger: a request with e > 0 and r[i] == 0 whose
    req_to_token[0, 0:W] is not all zero."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    pad = req_pool_indices.to(torch.int64)[req] == 0
    rows = torch.where(pad[:, None], torch.zeros_like(rows), rows)
    _write(out, e, kv, req, d, rows, topk, width, page_size)


# -- family 3: dtype mixes and limits ----------------------------------------------------


def v1_clamp_float_bound(extend_seq_lens, seq_lens, nsa_index_topk):
    """Limits. The clamp is torch.clamp(x, max=float(topk)), which turns the int tensor into
    float32 before the int32 cast. Trigger: an expanded value above 2**24 that float32
    cannot hold (e.g. s = 2**24 + 1, e = 1, any topk >= s)."""
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    req, d = _plan(e)
    seqlens_expanded = s[req] - e[req] + 1 + d
    clamped = torch.clamp(seqlens_expanded, max=float(nsa_index_topk))
    return seqlens_expanded.to(torch.int32), clamped.to(torch.int32)


def v1_topk_zero_default(extend_seq_lens, seq_lens, nsa_index_topk):
    """Limits. `topk = nsa_index_topk or 2048` ("0 means the model's default"). Trigger:
    topk == 0 with an expanded value > 0."""
    return _v1(extend_seq_lens, seq_lens, nsa_index_topk or 2048)


def v1_topk_exclusive_bound(extend_seq_lens, seq_lens, nsa_index_topk):
    """Limits. The clamp keeps values below an exclusive bound topk + 1 cast to seq_lens'
    dtype, which wraps for int32 at topk == 2**31 - 1. Trigger: int32 seq_lens, topk =
    2**31 - 1, T >= 1 (every clamped value becomes topk)."""
    e, s = extend_seq_lens.to(torch.int64), seq_lens.to(torch.int64)
    req, d = _plan(e)
    seqlens_expanded = s[req] - e[req] + 1 + d
    bound = torch.tensor(nsa_index_topk + 1).to(seq_lens.dtype).to(torch.int64)
    clamped = torch.where(seqlens_expanded < bound, seqlens_expanded, nsa_index_topk)
    return seqlens_expanded.to(torch.int32), clamped.to(torch.int32)


def _as_int32_words(x: torch.Tensor) -> torch.Tensor:
    """What an int32 pointer reads from int64 data: the words, low then high."""
    return x.contiguous().view(torch.int32)[: x.numel()].to(torch.int64)


def v1_mixed_reads_int64_as_int32(extend_seq_lens, seq_lens, nsa_index_topk):
    """Dtype mix. The wrapper casts both inputs to int32 only when seq_lens is int64 (it
    assumes they share a dtype); the kernel reads extend_seq_lens through an int32 pointer.
    Trigger: int32 seq_lens with int64 extend_seq_lens, bs >= 2 with a nonzero extend."""
    if seq_lens.dtype == torch.int64:
        return _v1(extend_seq_lens.to(torch.int32), seq_lens.to(torch.int32), nsa_index_topk)
    e = extend_seq_lens
    if e.dtype == torch.int64:
        e = _as_int32_words(e)
    return _v1(e, seq_lens, nsa_index_topk)


def v2_mixed_pool_index_words(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                              req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Dtype mix. The wrapper casts the indices to int32 only when seq_lens is int64; the
    kernel reads req_pool_indices through an int32 pointer. Trigger: int32 seq_lens with
    int64 req_pool_indices, bs >= 2, and a request i with e > 0 whose row differs from that
    of slot word[i] (odd i read the high word 0, even i read r[i // 2]; e.g. r = [1, 1] is
    read as [1, 0])."""
    r = req_pool_indices
    if seq_lens.dtype == torch.int64:
        r = r.to(torch.int32)
    elif r.dtype == torch.int64:
        r = _as_int32_words(r)
    _v2(mode, seq_lens, extend_seq_lens, r, req_to_token, topk, next_n, page_size, width, out)


def _wrap32(x: torch.Tensor) -> torch.Tensor:
    return (x + 2**31) % 2**32 - 2**31


def v2_series_sum_int32(*, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token,
                        topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Limits (running sums). Each request's share of dsa_cu_seqlens_k is the closed form
    (first + last) * n // 2 (+ the clamped part), the product in int32 when seq_lens is
    int32. Trigger: int32 seq_lens and a request whose unclamped-part product passes
    2**31 - 1: every later row and the last entry are off (e.g. decode, s = [2**30],
    topk >= 2**30: (s + s) * 1 wraps)."""
    e, kv = _per_request(mode, seq_lens, extend_seq_lens, next_n)
    req, d = _plan(e)
    rows = _gather(req_to_token, req_pool_indices, req, width)
    _write(out, e, kv, req, d, rows, topk, width, page_size)
    if seq_lens.dtype != torch.int32 or req.numel() == 0:
        return
    first, last = kv - e + 1, kv
    n_lo = torch.where(last <= topk, e, (topk - first + 1).clamp(min=0))
    product = _wrap32((first + first + n_lo - 1) * n_lo)
    share = _wrap32(product // 2 + (e - n_lo) * topk)
    before = _running(share)  # the shares of the requests before each request, then all
    clamped = (kv[req] - e[req] + 1 + d).clamp(max=topk)
    cum = torch.cumsum(clamped, 0)
    within = cum - (cum - clamped)[(torch.cumsum(e, 0) - e)[req]]
    T = req.numel()
    out.dsa_cu_seqlens_k[1 : T + 1] = _wrap32(before[req] + within).to(torch.int32)
    out.dsa_cu_seqlens_k[T] = int(_wrap32(before[-1]))  # the "total" program


def v2_topk_zero_disabled(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                          req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Limits. `if topk:` guards the clamp ("0 = no sparse limit"). Trigger: topk == 0 and
    a row whose seqlens_expanded > 0."""
    _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk or INT32_MAX,
        next_n, page_size, width, out)  # fmt: skip


def v2_int64_seq_inplace(*, mode, seq_lens, extend_seq_lens, req_pool_indices,
                         req_to_token, topk, next_n, page_size, width, out) -> None:  # fmt: skip
    """Dtype. kv for target_verify is built in place on seq_lens.to(torch.int64), a copy for
    int32 but the input itself for int64, so the caller's seq_lens gains next_n. Trigger:
    target_verify with int64 seq_lens, bs >= 1."""
    if mode == "target_verify":
        s = seq_lens.to(torch.int64)
        s += next_n
        e = torch.full_like(s, next_n)
        kv = s.clone()
        req, d = _plan(e)
        rows = _gather(req_to_token, req_pool_indices, req, width)
        _write(out, e, kv, req, d, rows, topk, width, page_size)
        return
    _v2(mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, width, out)  # fmt: skip


HUNT = [
    ("correct_v1", "expand", "correct, with a plan cache keyed on values"),
    ("correct_v2", "metadata", "correct, with a plan cache keyed on mode, next_n, values"),
    ("v1_starts_cached_by_ptr", "expand", "state: starts keyed on extend data_ptr"),
    ("v1_skip_same_extends", "expand", "state: same extends -> previous outputs"),
    ("v1_topk_baked", "expand", "state: topk of the first call"),
    ("v1_scratch_not_cleared", "expand", "state: stale scratch tail after bs shrinks"),
    ("v1_seq_mirror_by_ptr", "expand", "state: seq_lens mirror keyed on data_ptr"),
    ("v2_row_plan_by_bs", "metadata", "state: var row plan keyed on (mode, bs, next_n)"),
    ("v2_gather_cache_by_ptr", "metadata", "state: req_to_token rows keyed on data_ptr"),
    ("v2_next_n_baked", "metadata", "state: next_n of the first call per buffers"),
    ("v2_page_size_baked", "metadata", "state: page size of the first paged call"),
    ("v2_skip_lengths_same_T", "metadata", "state: same (mode, bs, T, topk) skips lengths"),
    ("v2_width_baked", "metadata", "state: width of the first call per buffers"),
    ("v2_scratch_not_cleared", "metadata", "state: stale e scratch after bs shrinks"),
    ("v1_offset_dropped_when_strided", "expand", "layout: strided seq_lens offset dropped"),
    ("v1_stride0_as_unit", "expand", "layout: stride-0 extend_seq_lens read as stride 1"),
    ("v2_r2t_col_stride_as_1", "metadata", "layout: req_to_token column stride assumed 1"),
    ("v2_r2t_row_padded_offset", "metadata", "layout: row-padded req_to_token offset lost"),
    ("v2_r2t_col_major_offset", "metadata", "layout: column-major req_to_token offset lost"),
    ("v2_out_pt_row_stride", "metadata", "layout: page_table_1 row stride taken as width"),
    ("v2_out_real_pt_offset", "metadata", "layout: real_page_table offset dropped"),
    ("v2_out_dsa_cu_stride", "metadata", "layout: dsa_cu_seqlens_k stride assumed 1"),
    ("v2_slot_indexed_lengths", "metadata", "layout: repeated pool index shares a kv"),
    ("v2_slot0_is_padding", "metadata", "layout: pool slot 0 rows written as zeros"),
    ("v1_clamp_float_bound", "expand", "limits: clamp through float32 above 2**24"),
    ("v1_topk_zero_default", "expand", "limits: topk 0 -> 2048"),
    ("v1_topk_exclusive_bound", "expand", "limits: int32 topk + 1 wraps at 2**31 - 1"),
    ("v1_mixed_reads_int64_as_int32", "expand", "dtype mix: int64 extends read as int32"),
    ("v2_mixed_pool_index_words", "metadata", "dtype mix: int64 pool indices read as int32"),
    ("v2_series_sum_int32", "metadata", "limits: closed-form request sum in int32"),
    ("v2_topk_zero_disabled", "metadata", "limits: topk 0 disables the clamp"),
    ("v2_int64_seq_inplace", "metadata", "dtype: int64 seq_lens modified in target_verify"),
]

"""Red-team round 14, written blind to the fuzzer's strategies: slips keyed on WHERE and WHEN
a call happens (identity, layout, process), not on values: what kernels get wrong under
CUDA-graph replay, where the same buffers are refilled in place and replayed many times.

`correct` is plain vectorised torch (the shipped validation, then repeat_interleave, cumsum
and gathers into the caller's buffers); `correct_rewrites` is as right but writes outside
the region and restores it later in the same call (allowed). Each `bug_*` is `correct` with
ONE slip, wrong only on its trigger, named in its docstring: a storage offset, an alignment,
a stride of 0, a column-major table, the n-th call of the process, a cache keyed on a
tensor's address / id / version, a dtype, width or page size changed under the same buffers,
a buffer of exactly (or a block more than) the needed size. `reset()` clears every state
(caches, the call counter, the random generator). Hunt:
`python benchmarks/hunt.py benchmarks/redteam14_mutants.py`.
"""

from __future__ import annotations

import os
import random
import weakref

import torch

from nsa_meta.validation import check_metadata_layout, check_metadata_values

I32, I64 = torch.int32, torch.int64
BLOCK = 4  # rows per program of block4_tail_when_padded's seqlens_expanded store
STEADY_CALL = 50  # call_50_plus: from this call on, the "steady-state" launch

_state: dict = {}  # the cache slips' caches
_calls = [0]  # calls of any candidate of this module in this process
_rng = random.Random(os.getpid())  # random_third: seeded per process


def reset(seed: int | None = None) -> None:
    """Forget every cache, restart the call count, reseed random_third's generator (with
    `seed`, else the process id)."""
    _state.clear()
    _calls[0] = 0
    _rng.seed(os.getpid() if seed is None else seed)


# -- raw memory: what a kernel given a pointer and strides reads and writes ---------------


def _flat(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Every element of `x`'s storage as `dtype` (default x's): a 1-D tensor on that memory."""
    dtype = x.dtype if dtype is None else dtype
    storage = x.untyped_storage()
    n = storage.nbytes() // torch.empty(0, dtype=dtype).element_size()
    return torch.empty(0, dtype=dtype, device=x.device).set_(storage, 0, (n,), (1,))


def _load(flat: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """flat[pos] as int64, 0 where pos falls outside the storage (a masked load)."""
    if flat.numel() == 0:
        return torch.zeros(pos.shape, dtype=I64)
    inside = (pos >= 0) & (pos < flat.numel())
    return torch.where(inside, flat[pos.clamp(0, flat.numel() - 1)].to(I64), 0)


def _store(flat: torch.Tensor, pos: torch.Tensor, values: torch.Tensor) -> None:
    """flat[pos] = values, where pos lies inside the storage."""
    inside = (pos >= 0) & (pos < flat.numel())
    flat[pos[inside]] = values[inside].to(flat.dtype)


def _offset_in(x: torch.Tensor, dtype: torch.dtype) -> int:
    """x's first element counted in elements of `dtype` from its storage's start (floor)."""
    size = torch.empty(0, dtype=dtype).element_size()
    return (x.data_ptr() - x.untyped_storage().data_ptr()) // size


def _contiguous_1d(x: torch.Tensor) -> bool:
    return x.numel() <= 1 or x.stride(0) == 1


def _version(x: torch.Tensor | None) -> int | None:
    """x's version counter (None for inference tensors, which keep none)."""
    return None if x is None or x.is_inference() else x._version


# -- the candidate ------------------------------------------------------------------------


def _seq_lens(slip: str, seq_lens: torch.Tensor, out) -> torch.Tensor:
    """s as int64, as the kernel's load of seq_lens reads it."""
    bs = seq_lens.numel()
    misaligned = seq_lens.data_ptr() % 16
    if slip == "seq_align_down" and bs and _contiguous_1d(seq_lens) and misaligned:
        # the vector load rounds the pointer down to 16 bytes and forgets the head
        flat = _flat(seq_lens)
        first = seq_lens.data_ptr() - misaligned - seq_lens.untyped_storage().data_ptr()
        first //= seq_lens.element_size()
        return _load(flat, first + torch.arange(bs))
    if slip == "dtype_spec_by_out_ptr":  # the kernel compiled for the first call's dtype
        dtype = _state.setdefault(("dtype", out.cache_seqlens.data_ptr()), seq_lens.dtype)
        if dtype != seq_lens.dtype:
            flat = _flat(seq_lens, dtype)
            step = seq_lens.stride(0) if bs > 1 else 1
            return _load(flat, _offset_in(seq_lens, dtype) + step * torch.arange(bs))
    return seq_lens.to(I64)


def _extend(slip: str, ext: torch.Tensor) -> torch.Tensor:
    """e as int64, as the kernel's load of extend_seq_lens reads it."""
    bs = ext.numel()
    if slip == "i64_strided_words" and ext.dtype == I64 and bs > 1 and ext.stride(0) != 1:
        # int64 read as int32 word pairs: the offset is doubled, the stride is not
        words = _flat(ext, I32)
        return _load(words, 2 * ext.storage_offset() + ext.stride(0) * torch.arange(bs))
    return ext.to(I64)


def _pool_indices(slip: str, r: torch.Tensor) -> torch.Tensor:
    bs = r.numel()
    if slip == "pool_stride0_as_one" and bs > 1 and r.stride(0) == 0:
        step = r.stride(0) or 1  # "a size-1 dim may have any stride": 0 taken for unset
        return _load(_flat(r), r.storage_offset() + step * torch.arange(bs))
    return r.to(I64)


def _rows_of(slip: str, r2t: torch.Tensor, rows: torch.Tensor, cols: int) -> torch.Tensor:
    """req_to_token[rows, 0:cols] as int64, as the kernel's gather reads it."""
    s0, s1 = r2t.stride()
    col = torch.arange(cols)
    if slip == "r2t_offset_slowpath" and not r2t.is_contiguous() and r2t.storage_offset():
        return _load(_flat(r2t), rows[:, None] * s0 + col[None, :] * s1)  # offset dropped
    if slip == "r2t_strides_sorted" and s0 < s1:  # "rows are the larger stride"
        pos = r2t.storage_offset() + rows[:, None] * s1 + col[None, :] * s0
        return _load(_flat(r2t), pos)
    return r2t[rows][:, :cols].to(I64)


def _plan(slip: str, e: torch.Tensor, out) -> tuple[torch.Tensor, torch.Tensor]:
    """(owner, d): request of each row, and the row's index inside its request."""
    bs = e.numel()
    owner = torch.repeat_interleave(torch.arange(bs), e)
    T = owner.numel()
    if slip == "cache_owner_by_out_T":
        key = ("owner", out.seqlens_expanded.data_ptr(), bs, T)
        if key in _state:
            return _state[key]
    start = torch.cumsum(e, 0) - e
    plan = owner, torch.arange(T) - start[owner]
    if slip == "cache_owner_by_out_T":
        _state[key] = plan
    return plan


def _kept(buf: torch.Tensor, index) -> torch.Tensor:
    return buf[index].clone()


@torch.inference_mode()  # an out buffer made in inference mode takes in-place writes only there
def _fill(slip: str, **kw) -> None:
    """The candidate; `slip` is "" (correct), "rewrites" (correct_rewrites) or a bug's name.
    Its tensors are made on the inputs' device (it was written on the CPU: on cuda every
    call raised, s26/c5)."""
    seq_lens = kw.get("seq_lens")
    with torch.device(seq_lens.device if isinstance(seq_lens, torch.Tensor) else "cpu"):
        _fill_here(slip, **kw)


def _fill_here(slip: str, **kw) -> None:
    _calls[0] += 1
    call = _calls[0]
    mode, seq_lens, ext = kw["mode"], kw["seq_lens"], kw["extend_seq_lens"]
    req_pool_indices, req_to_token, out = kw["req_pool_indices"], kw["req_to_token"], kw["out"]
    topk, next_n, page_size, width = kw["topk"], kw["next_n"], kw["page_size"], kw["width"]
    check_metadata_layout(
        mode, seq_lens, req_pool_indices, req_to_token, topk=topk, width=width,
        page_size=page_size, next_n=next_n, extend_seq_lens=ext, out=out,
    )  # fmt: skip
    check_metadata_values(
        mode, seq_lens, req_pool_indices, req_to_token, topk=topk, width=width,
        next_n=next_n, extend_seq_lens=ext, out=out,
    )  # fmt: skip
    bs, W, P = seq_lens.numel(), width, page_size

    # per request: e (rows) and kv
    kv_key = ("kv", id(seq_lens), mode, next_n, bs)
    hit = _state.get(kv_key)
    s = _seq_lens(slip, seq_lens, out)
    if mode == "draft_extend_var":
        e = _extend(slip, ext)
    else:
        e = torch.full((bs,), 1 if mode == "decode" else next_n, dtype=I64)
    kv = s + next_n if mode == "target_verify" else s
    cu = torch.cat([torch.zeros(1, dtype=I64), torch.cumsum(kv, 0)])
    if slip == "cache_kv_by_id":  # keyed on the object, checked alive: not on its values
        if hit is not None and hit[0]() is seq_lens:
            kv, cu = hit[1], hit[2]
        else:
            _state[kv_key] = (weakref.ref(seq_lens), kv, cu)

    # per row
    owner, d = _plan(slip, e, out)
    T = owner.numel()
    se = kv[owner] - e[owner] + 1 + d
    if slip == "cache_by_ptr_version":  # "the version counter catches every refill"
        key = ("se", mode, next_n, bs, T, seq_lens.dtype, seq_lens.data_ptr(),
               _version(seq_lens), None if ext is None else ext.data_ptr(), _version(ext))  # fmt: skip
        se = _state.setdefault(key, se)
    if slip == "topk_spec_by_out":  # topk a compile-time constant of the graph's kernel
        topk = _state.setdefault(("topk", out.dsa_cache_seqlens.data_ptr()), topk)
    dsa = torch.minimum(se, torch.tensor(topk, dtype=I64))
    dsa_cu = torch.cat([torch.zeros(1, dtype=I64), torch.cumsum(dsa, 0)])

    # page tables
    r = _pool_indices(slip, req_pool_indices)
    cols = W
    if slip == "width_cached_per_out":
        cols = _state.setdefault(("width", out.page_table_1.data_ptr()), W)
        cols = min(cols, req_to_token.shape[1], out.page_table_1.shape[1])
    pt_key = ("pt", req_pool_indices.data_ptr(), req_pool_indices.dtype,
              req_to_token.data_ptr(), None if ext is None else ext.data_ptr(), bs, T, W,
              out.page_table_1.data_ptr())  # fmt: skip
    if slip == "cache_pt_by_ptrs" and pt_key in _state:
        pt = _state[pt_key]
    else:
        pt = _rows_of(slip, req_to_token, r[owner], cols)
        if slip == "cache_pt_by_ptrs":
            _state[pt_key] = pt
    rpt = None
    if P > 1:
        Q, step = -(-W // P), P
        if slip == "pages_cached_per_out":  # the page columns planned once per buffer
            Q, step = _state.setdefault(("pages", out.real_page_table.data_ptr()), (Q, P))
            Q = min(Q, out.real_page_table.shape[1])
        taken = (torch.arange(Q) * step).clamp(max=req_to_token.shape[1] - 1)
        rpt = torch.div(req_to_token[r[owner]][:, taken].to(I64), P, rounding_mode="floor")

    # writes
    _write_cache_and_cu(slip, out, kv, cu, call)
    _write_rows(slip, out, se, dsa, dsa_cu, call)
    _write_page_table(slip, out.page_table_1, pt)
    if rpt is not None:
        out.real_page_table[:T, : rpt.shape[1]].copy_(rpt)


def _write_cache_and_cu(slip: str, out, kv: torch.Tensor, cu: torch.Tensor, call: int) -> None:
    cache, cu_buf = out.cache_seqlens, out.cu_seqlens_k
    bs = kv.numel()
    if (
        slip == "arena_assumed_adjacent"
        and cache.untyped_storage().data_ptr() == cu_buf.untyped_storage().data_ptr()
        and _contiguous_1d(cache)
        and _contiguous_1d(cu_buf)
    ):  # one arena: cu_seqlens_k "follows" cache_seqlens; one store of 2 bs + 1 values
        flat = _flat(cache)
        _store(flat, cache.storage_offset() + torch.arange(2 * bs + 1), torch.cat([kv, cu]))
        return
    if slip == "rewrites":  # the whole buffer rewritten, the cells past bs with their values
        whole = cache.clone()
        whole[:bs] = kv
        cache.copy_(whole)
    else:
        cache[:bs].copy_(kv)
    skip = None  # the one element of cu_seqlens_k a launch leaves unwritten
    if slip == "every_third_call" and call % 3 == 0:
        skip = bs  # the third stream's launch lacks the tail program
    if slip == "call_50_plus" and call >= STEADY_CALL:
        skip = 0  # the steady-state launch trusts the 0 the first one wrote
    misaligned = cu_buf.data_ptr() % 16
    if slip == "cu_misaligned_peel" and _contiguous_1d(cu_buf) and misaligned:
        peel = (16 - misaligned) // cu_buf.element_size()  # scalar stores up to 16 bytes
        skip = peel - 1 if peel - 1 <= bs else None  # the peel loop stops one short
    kept = None if skip is None else _kept(cu_buf, skip)
    cu_buf[: bs + 1].copy_(cu)
    if kept is not None:
        cu_buf[skip] = kept


def _write_rows(slip: str, out, se, dsa, dsa_cu, call: int) -> None:
    T = se.numel()
    se_buf, dsa_buf, dsa_cu_buf = out.seqlens_expanded, out.dsa_cache_seqlens, out.dsa_cu_seqlens_k
    if slip == "rewrites":  # memset the buffer as scratch, then put the rows past T back
        kept = se_buf.clone()
        se_buf.fill_(0)
        se_buf[T:] = kept[T:]
    se_buf[:T].copy_(se)
    cap = se_buf.shape[0]
    if slip == "block4_tail_when_padded" and T % BLOCK and cap == T + (-T % BLOCK):
        # "a buffer padded to whole blocks has scratch rows": the last block stored unmasked
        se_buf[T:cap] = se[-1] + torch.arange(1, cap - T + 1)
    dsa_buf[:T].copy_(dsa)
    skip = None
    if slip == "first_call_warmup" and call == 1:
        skip = 0  # the warm-up launch trusts a memset the first replay never had
    if slip == "exact_dsa_cu_no_zero" and dsa_cu_buf.shape[0] == T + 1:
        skip = 0  # "a buffer made for this T was zeroed when it was made"
    if slip == "random_third" and _rng.random() < 1 / 3:
        skip = T  # the tail program's store lost to a race
    carry = dsa_cu_buf.shape[0] > T + 1 and slip == "rewrites"
    if carry:  # the spare cell holds the scan's carry, then gets its value back
        spare = _kept(dsa_cu_buf, T + 1)
        dsa_cu_buf[T + 1] = dsa_cu[-1]
    kept = None if skip is None else _kept(dsa_cu_buf, skip)
    dsa_cu_buf[: T + 1].copy_(dsa_cu)
    if kept is not None:
        dsa_cu_buf[skip] = kept
    if carry:
        dsa_cu_buf[T + 1] = spare


def _write_page_table(slip: str, buf: torch.Tensor, pt: torch.Tensor) -> None:
    T, cols = pt.shape
    (rows, width), (s0, s1) = buf.shape, buf.stride()
    if slip == "pt_out_stride_from_shape" and s1 == 1 and s0 != width and T > 1:
        pos = buf.storage_offset() + torch.arange(T)[:, None] * width + torch.arange(cols)
        _store(_flat(buf), pos, pt)  # the row stride taken as the row's length
        return
    if slip == "pt_out_colmajor_rows_as_T" and s0 == 1 and s1 != 1 and cols > 1 and T:
        pos = buf.storage_offset() + torch.arange(T)[:, None] + torch.arange(cols) * T
        _store(_flat(buf), pos, pt)  # "a Fortran table of this call's T rows"
        return
    scratch = slip in ("rewrites", "scratch_last_row_kept") and 0 < T < rows
    if scratch:  # stage request 0's row in the first spare row, then broadcast it
        spare = _kept(buf, T)
        buf[T, :cols] = pt[0]
    buf[:T, :cols].copy_(pt)
    if scratch and not (slip == "scratch_last_row_kept" and T == rows - 1):
        buf[T] = spare  # "the last row is padding, nobody reads it": not put back


# -- the candidates -------------------------------------------------------------------------


def correct(**kw) -> None:
    """Right on every valid input: the shipped validation, then torch ops into the buffers."""
    _fill("", **kw)


def correct_rewrites(**kw) -> None:
    """Right too: rewrites all of cache_seqlens (cells past bs with their own values),
    memsets seqlens_expanded and puts the rows past T back, uses dsa_cu_seqlens_k[T + 1] and
    page_table_1's row T as scratch and restores them, all within the call."""
    _fill("rewrites", **kw)


def bug_seq_align_down(**kw) -> None:
    """A contiguous seq_lens whose address is not a multiple of 16 bytes is read from the
    16-byte boundary below it (the head elements forgotten). Smallest trigger: decode,
    seq_lens = tensor([9, 5], int32)[1:] (offset 4 bytes), r = [0]: s read as 9."""
    _fill("seq_align_down", **kw)


def bug_cu_misaligned_peel(**kw) -> None:
    """out.cu_seqlens_k contiguous at an address not a multiple of 16: the scalar peel up to
    the boundary stops one element short; that element keeps its old value. Smallest
    trigger: decode bs 1, out.cu_seqlens_k = empty(8, int32)[3:] (peel 1: element 0)."""
    _fill("cu_misaligned_peel", **kw)


def bug_r2t_offset_slowpath(**kw) -> None:
    """A non-contiguous req_to_token with a storage offset: the strided (slow) gather drops
    the offset. Smallest trigger: decode s [5], r [0], width 1, req_to_token =
    arange(8, int32).reshape(2, 4)[:, 1:] (offset 1, row stride 4): reads 0, not 1."""
    _fill("r2t_offset_slowpath", **kw)


def bug_pool_stride0_as_one(**kw) -> None:
    """req_pool_indices with stride 0 (one slot expanded to bs requests): `stride or 1`
    walks the storage past the slot (0 past its end). Smallest trigger: decode s [5, 5],
    r = tensor([1]).expand(2): request 1 reads row 0."""
    _fill("pool_stride0_as_one", **kw)


def bug_r2t_strides_sorted(**kw) -> None:
    """req_to_token's strides taken as (larger, smaller) = (row, column): a column-major
    table is read transposed. Smallest trigger: decode s [5], r [1], width 1, req_to_token
    [3, 4] column-major (strides (1, 3)): reads [0, 1], not [1, 0]."""
    _fill("r2t_strides_sorted", **kw)


def bug_pt_out_stride_from_shape(**kw) -> None:
    """out.page_table_1 row-major with a row stride larger than its column count (a column
    slice of a wider buffer): rows stored at shape[1] apart, so rows >= 1 are left stale.
    Smallest trigger: decode bs 2, width 2, page_table_1 = empty(8, 6, int32)[:, :4]."""
    _fill("pt_out_stride_from_shape", **kw)


def bug_pt_out_colmajor_rows_as_T(**kw) -> None:
    """A column-major out.page_table_1 (strides (1, rows)) is written as if it had exactly T
    rows: column c lands at c * T. Smallest trigger: decode bs 1, width 2, page_table_1 =
    empty(4, 8, int32).t() (8 rows): column 1 goes to row 1 of column 0."""
    _fill("pt_out_colmajor_rows_as_T", **kw)


def bug_i64_strided_words(**kw) -> None:
    """An int64 extend_seq_lens with a stride other than 1, read as int32 words: the offset
    is doubled, the stride is not. Smallest trigger: draft_extend_var s [5, 5], r [0, 1],
    extend_seq_lens = tensor([1, 7, 2], int64)[::2]: request 1 reads 7's low word, not 2."""
    _fill("i64_strided_words", **kw)


def bug_arena_assumed_adjacent(**kw) -> None:
    """out.cache_seqlens and out.cu_seqlens_k carved from one storage are assumed adjacent
    (cu right after the bs cells of cache): one store of 2 bs + 1 values. Smallest trigger:
    decode bs 1, arena = empty(20, int32), cache_seqlens = arena[0:4], cu = arena[10:15]."""
    _fill("arena_assumed_adjacent", **kw)


def bug_first_call_warmup(**kw) -> None:
    """The first call of the process (the warm-up launch) leaves dsa_cu_seqlens_k[0] as it
    was. Smallest trigger: any valid call, first in a fresh process, on poisoned buffers."""
    _fill("first_call_warmup", **kw)


def bug_every_third_call(**kw) -> None:
    """Every 3rd call of the process (a ring of 3 launch streams) leaves cu_seqlens_k[bs]
    as it was. Smallest trigger: any 3 valid calls; the 3rd, on poisoned buffers."""
    _fill("every_third_call", **kw)


def bug_call_50_plus(**kw) -> None:
    """From the 50th call of the process on (the steady-state launch) cu_seqlens_k[0] is
    left as it was. Smallest trigger: 49 valid calls, then any valid call on poisoned
    buffers (a lone replay in a fresh process passes)."""
    _fill("call_50_plus", **kw)


def bug_random_third(**kw) -> None:
    """On about 1 call in 3, at random (seeded per process), dsa_cu_seqlens_k[T] keeps its
    old value (a lost store). Smallest trigger: any valid call, on poisoned buffers, when
    the draw falls. A good verdict: found, cause the stale/unwritten tail element; replay
    fails too, though it may need a few tries (the draw differs per process)."""
    _fill("random_third", **kw)


def bug_cache_pt_by_ptrs(**kw) -> None:
    """The gathered page table is cached under the addresses of req_pool_indices,
    req_to_token, extend_seq_lens and out.page_table_1 (with bs, T, width): a refill in place
    of the same tensors (SGLang's replay) reuses the old rows. Smallest trigger: decode s
    [5], r [0]: call, then req_to_token += 100 in place, call again: page_table_1 stale."""
    _fill("cache_pt_by_ptrs", **kw)


def bug_cache_kv_by_id(**kw) -> None:
    """cache_seqlens and cu_seqlens_k are cached under id(seq_lens) (checked alive by a weak
    reference): the same seq_lens object refilled in place gets the old kv. Smallest
    trigger: decode, s = tensor([5]); call; s[0] = 6; call again."""
    _fill("cache_kv_by_id", **kw)


def bug_cache_owner_by_out_T(**kw) -> None:
    """The row plan (request of each row) is cached under out.seqlens_expanded's address,
    bs and T: in draft_extend_var, new accept lengths with the same sum on the same buffers
    reuse it. Smallest trigger: s [5, 6], r [0, 1], same out: ext [2, 1], then ext [1, 2]."""
    _fill("cache_owner_by_out_T", **kw)


def bug_cache_by_ptr_version(**kw) -> None:
    """seqlens_expanded is cached under the address and version counter of seq_lens and
    extend_seq_lens: safe against copy_() refills, stale for a NEW tensor at a reused
    address (version 0 again), a refill that bumps no version (numpy, .data) and inference
    tensors (no version). Smallest trigger: decode, buf = bytearray(4); s =
    torch.frombuffer(buf, int32) holding 5; call; write 6 into buf; a second frombuffer(buf)."""
    _fill("cache_by_ptr_version", **kw)


def bug_dtype_spec_by_out_ptr(**kw) -> None:
    """The kernel is specialised on seq_lens' dtype once per out buffers (cached under
    out.cache_seqlens' address): seq_lens switching int32 <-> int64 between calls on the same
    buffers is read as the first dtype. Smallest trigger: same out; decode s [5, 6] int32,
    then s [5, 6] int64: request 1 reads 5's high word, 0."""
    _fill("dtype_spec_by_out_ptr", **kw)


def bug_pages_cached_per_out(**kw) -> None:
    """real_page_table's columns (how many, every P-th) are planned once per buffer (its
    address): page_size or width changed between calls on the same buffers keeps the old
    plan. Smallest trigger: same out; decode s [5], r [0], width 4: page_size 2, then 4
    (column 1 written, outside the region)."""
    _fill("pages_cached_per_out", **kw)


def bug_width_cached_per_out(**kw) -> None:
    """page_table_1's width is fixed once per buffer (its address): a width changed between
    calls on the same buffers keeps the old one. Smallest trigger: same out; decode s [5],
    r [0]: width 2, then width 1 (column 1 written, outside the region)."""
    _fill("width_cached_per_out", **kw)


def bug_topk_spec_by_out(**kw) -> None:
    """topk is a compile-time constant of the kernel built once per out.dsa_cache_seqlens
    (its address): a topk changed between calls on the same buffers clamps with the old one.
    Smallest trigger: same out; decode s [5], r [0]: topk 8, then topk 2."""
    _fill("topk_spec_by_out", **kw)


def bug_exact_dsa_cu_no_zero(**kw) -> None:
    """A dsa_cu_seqlens_k of exactly T + 1 elements is taken for one made for this T, so
    "zeroed at allocation": element 0 is not written. Smallest trigger: decode bs 1, a
    dsa_cu_seqlens_k of 2 elements (poisoned)."""
    _fill("exact_dsa_cu_no_zero", **kw)


def bug_block4_tail_when_padded(**kw) -> None:
    """A seqlens_expanded whose capacity is T rounded up to a whole block of 4 has its last
    block stored unmasked (the rows past T get phantom values). Smallest trigger: decode bs
    1 (T 1), seqlens_expanded of 4 elements."""
    _fill("block4_tail_when_padded", **kw)


def bug_scratch_last_row_kept(**kw) -> None:
    """page_table_1's first spare row (row T) is used as scratch and put back, except when
    it is the buffer's last row ("padding, nobody reads it"). Smallest trigger: decode bs 1,
    page_table_1 of exactly 2 rows."""
    _fill("scratch_last_row_kept", **kw)


BUGS = [name for name in list(globals()) if name.startswith("bug_")]

_FAMILY = {
    "seq_align_down": "layout: seq_lens 16-byte alignment (storage offset)",
    "cu_misaligned_peel": "layout: out.cu_seqlens_k 16-byte alignment",
    "r2t_offset_slowpath": "layout: req_to_token offset, non-contiguous",
    "pool_stride0_as_one": "layout: req_pool_indices stride 0",
    "r2t_strides_sorted": "layout: req_to_token column-major",
    "pt_out_stride_from_shape": "layout: out.page_table_1 row stride > columns",
    "pt_out_colmajor_rows_as_T": "layout: out.page_table_1 column-major, rows > T",
    "i64_strided_words": "layout: int64 extend_seq_lens, stride != 1",
    "arena_assumed_adjacent": "layout: out buffers sharing one storage",
    "first_call_warmup": "process: first call",
    "every_third_call": "process: every 3rd call",
    "call_50_plus": "process: call 50 and on",
    "random_third": "process: 1 call in 3 at random",
    "cache_pt_by_ptrs": "identity: in-place refill (addresses)",
    "cache_kv_by_id": "identity: in-place refill (same object)",
    "cache_owner_by_out_T": "identity: same out, same T, new ext",
    "cache_by_ptr_version": "identity: new tensor at a reused address",
    "dtype_spec_by_out_ptr": "identity: dtype change on the same out",
    "pages_cached_per_out": "identity: page size / width change on the same out",
    "width_cached_per_out": "identity: width change on the same out",
    "topk_spec_by_out": "identity: topk change on the same out",
    "exact_dsa_cu_no_zero": "capacity: exactly T + 1",
    "block4_tail_when_padded": "capacity: T rounded up to 4",
    "scratch_last_row_kept": "capacity: exactly T + 1 rows, scratch not restored",
}

HUNT = [
    ("correct", "metadata", "correct: plain torch, whole contract"),
    ("correct_rewrites", "metadata", "correct: writes outside the region, restored in-call"),
] + [(name, "metadata", _FAMILY[name[4:]]) for name in BUGS]

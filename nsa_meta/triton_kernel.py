"""Sync-free Triton kernel: one launch expands every request and applies the top-k clamp.

Each program owns BLOCK_REQ consecutive requests. Its first output slot is the sum of
the extends before it (one wide masked load, computed on the device), so no program
searches the batch per token and the host never learns the total. Every store is masked
to [0, capacity), so a too-small buffer with validation off truncates instead of
corrupting memory. Import this module only after TRITON_INTERPRET is settled.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from nsa_meta.interpreter import interpreting


@triton.jit
def _write_requests(
    out_expanded_ptr,
    out_clamped_ptr,
    stride_out_expanded,
    stride_out_clamped,
    offset,
    ext,
    seq,
    req_mask,
    topk,
    capacity,
    BLOCK_TOK: tl.constexpr,
):
    """Write every token of a block of requests; `offset` is the block's first output slot."""
    start = offset + tl.cumsum(ext, axis=0) - ext  # first output slot of each request
    first_value = seq - ext + 1
    longest = tl.max(ext, axis=0)
    for col0 in range(0, longest, BLOCK_TOK):
        col = col0 + tl.arange(0, BLOCK_TOK).to(tl.int64)
        pos = start[:, None] + col[None, :]
        # Garbage with validation off may make `pos` anything: never store outside the buffer.
        in_buffer = (pos >= 0) & (pos < capacity)
        mask = req_mask[:, None] & (col[None, :] < ext[:, None]) & in_buffer
        value = first_value[:, None] + col[None, :]
        tl.store(out_expanded_ptr + pos * stride_out_expanded, value.to(tl.int32), mask=mask)
        clamped = tl.minimum(value, topk)
        tl.store(out_clamped_ptr + pos * stride_out_clamped, clamped.to(tl.int32), mask=mask)


# No specialisation on integer values or pointer alignment: one compiled variant serves
# every bs, top-k, capacity and storage offset (a fuzzer would otherwise compile hundreds).
_SCALARS = ["bs", "nsa_index_topk", "capacity", "stride_out_expanded", "stride_out_clamped"]
_POINTERS = ["ext_ptr", "seq_ptr", "out_expanded_ptr", "out_clamped_ptr"]


@triton.jit(do_not_specialize=_SCALARS, do_not_specialize_on_alignment=_POINTERS)
def _expand_kernel(
    ext_ptr,
    seq_ptr,
    out_expanded_ptr,
    out_clamped_ptr,
    stride_ext,
    stride_seq,
    stride_out_expanded,
    stride_out_clamped,
    bs,
    nsa_index_topk,
    capacity,
    BLOCK_REQ: tl.constexpr,
    SUM_BLOCK: tl.constexpr,
    BLOCK_TOK: tl.constexpr,
):
    """Program p writes the tokens of requests [p * BLOCK_REQ, (p + 1) * BLOCK_REQ).

    Request i lives at `ptr + i * stride` (stride 0 included). The only cross-request
    information a program needs is its first output slot: the sum of earlier extends.
    """
    pid = tl.program_id(0)
    first = pid * BLOCK_REQ
    offset = tl.zeros((), dtype=tl.int64)
    for base in range(0, first, SUM_BLOCK):
        idx = base + tl.arange(0, SUM_BLOCK).to(tl.int64)
        prior = tl.load(ext_ptr + idx * stride_ext, mask=idx < first, other=0)
        offset += tl.sum(prior.to(tl.int64), axis=0)
    req = first + tl.arange(0, BLOCK_REQ).to(tl.int64)
    req_mask = req < bs
    ext = tl.load(ext_ptr + req * stride_ext, mask=req_mask, other=0).to(tl.int64)
    seq = tl.load(seq_ptr + req * stride_seq, mask=req_mask, other=0).to(tl.int64)
    _write_requests(
        out_expanded_ptr,
        out_clamped_ptr,
        stride_out_expanded,
        stride_out_clamped,
        offset,
        ext,
        seq,
        req_mask,
        nsa_index_topk,
        capacity,
        BLOCK_TOK,
    )


@triton.jit(do_not_specialize=["bs", "capacity"], do_not_specialize_on_alignment=_POINTERS)
def _expand_many_kernel(
    ext_ptr,
    seq_ptr,
    out_expanded_ptr,
    out_clamped_ptr,
    ext_index_ptr,
    seq_index_ptr,
    topk_ptr,
    bs,
    capacity,
    BLOCK_REQ: tl.constexpr,
    SUM_BLOCK: tl.constexpr,
    BLOCK_TOK: tl.constexpr,
):
    """The same body over many independent cases laid end to end (see `expand_many`).

    Request i's extend and seq are read at element `ext_index[i]` / `seq_index[i]` of
    packed storages and its top-k at `topk[i]`: each case keeps its own strides, storage
    offset and top-k, and its outputs follow the previous case's.
    """
    pid = tl.program_id(0)
    first = pid * BLOCK_REQ
    offset = tl.zeros((), dtype=tl.int64)
    for base in range(0, first, SUM_BLOCK):
        idx = base + tl.arange(0, SUM_BLOCK).to(tl.int64)
        before = idx < first
        addr = tl.load(ext_index_ptr + idx, mask=before, other=0)
        prior = tl.load(ext_ptr + addr, mask=before, other=0)
        offset += tl.sum(prior.to(tl.int64), axis=0)
    req = first + tl.arange(0, BLOCK_REQ).to(tl.int64)
    req_mask = req < bs
    ext_addr = tl.load(ext_index_ptr + req, mask=req_mask, other=0)
    seq_addr = tl.load(seq_index_ptr + req, mask=req_mask, other=0)
    ext = tl.load(ext_ptr + ext_addr, mask=req_mask, other=0).to(tl.int64)
    seq = tl.load(seq_ptr + seq_addr, mask=req_mask, other=0).to(tl.int64)
    topk = tl.load(topk_ptr + req, mask=req_mask, other=0)[:, None]
    _write_requests(
        out_expanded_ptr,
        out_clamped_ptr,
        1,
        1,
        offset,
        ext,
        seq,
        req_mask,
        topk,
        capacity,
        BLOCK_TOK,
    )


MAX_TILE = 2**20
INTERPRETED = interpreting()  # fixed once Triton is imported


def _blocks(bs: int, longest: int | None = None) -> dict[str, int]:
    # The interpreter pays per program and per op, far less per element: one wide program,
    # and (when the caller knows the longest extend) one pass over the token columns.
    # On a GPU, 256 requests a program keep several SMs busy at bs 4096, and the prefix
    # sum of earlier extends is one 4096-wide load for every bs SGLang captures.
    if INTERPRETED:
        block_req = min(triton.next_power_of_2(max(bs, 16)), 2**14)
        tok = 64 if longest is None else triton.next_power_of_2(max(longest, 4))
        tok = min(tok, MAX_TILE // block_req)  # the interpreter refuses tiles past 2**20
        return {"BLOCK_REQ": block_req, "SUM_BLOCK": block_req, "BLOCK_TOK": tok}
    return {"BLOCK_REQ": 256, "SUM_BLOCK": 4096, "BLOCK_TOK": 8}  # one variant for every bs


# On CUDA, calls after the first skip the JIT's per-call argument binding (most of the
# eager cost at these sizes) and launch the compiled kernel directly, keyed by what
# selects a variant. Any surprise from this Triton version turns the fast path off.
_compiled: dict[tuple, object] = {}
_fast_path = {"on": not INTERPRETED}


def _launch(grid: tuple[int], args: tuple, blocks: dict[str, int], key: tuple) -> None:
    if _fast_path["on"]:
        compiled = _compiled.get(key)
        if compiled is not None:
            try:
                # The launcher takes every parameter in order, constexprs included.
                compiled[grid](*args, *blocks.values())
                return
            except Exception:
                _fast_path["on"] = False
    compiled = _expand_kernel[grid](*args, **blocks)
    if _fast_path["on"] and hasattr(compiled, "__getitem__"):
        _compiled[key] = compiled


def expand_into(
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    nsa_index_topk: int,
    out_seqlens_expanded: torch.Tensor,
    out_nsa_cache_seqlens: torch.Tensor,
    capacity: int,
) -> None:
    """One launch; writes slots [0, min(total, capacity)) of both buffers, nothing else."""
    bs = extend_seq_lens.numel()
    if bs == 0 or capacity == 0:
        return
    blocks = _blocks(bs)
    grid = (triton.cdiv(bs, blocks["BLOCK_REQ"]),)
    stride_ext, stride_seq = extend_seq_lens.stride(0), seq_lens.stride(0)
    args = (
        extend_seq_lens,
        seq_lens,
        out_seqlens_expanded,
        out_nsa_cache_seqlens,
        stride_ext,
        stride_seq,
        out_seqlens_expanded.stride(0),
        out_nsa_cache_seqlens.stride(0),
        bs,
        nsa_index_topk,
        capacity,
    )
    # Everything that selects a compiled variant: dtypes, device, the strides' 1 and
    # multiple-of-16 specialisations, and the block sizes.
    key = (
        extend_seq_lens.dtype,
        seq_lens.dtype,
        extend_seq_lens.device,
        stride_ext == 1,
        stride_ext % 16 == 0,
        stride_seq == 1,
        stride_seq % 16 == 0,
        *blocks.values(),
    )
    _launch(grid, args, blocks, key)


def _pack(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
    """Copy each view's whole storage into one buffer; return it and each storage's base."""
    chunks, bases, at = [], [], 0
    for t in tensors:
        storage = torch.empty(0, dtype=t.dtype, device=t.device)
        storage.set_(t.untyped_storage())
        chunks.append(storage)
        bases.append(at)
        at += storage.numel()
    return torch.cat(chunks), bases


def expand_many(
    problems: list[tuple[torch.Tensor, torch.Tensor, int]],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run many independent calls in one launch (the fuzzer's fast path on the interpreter).

    All extend tensors must share one dtype, all seq tensors another, and all one device.
    Each problem keeps its own strides, storage offset and top-k: the kernel reads
    element `storage_offset + i * stride` of a packed copy of that problem's storage.
    Returns freshly allocated outputs, one pair per problem.
    """
    if not problems:
        return []
    device = problems[0][0].device
    ext_store, ext_base = _pack([p[0] for p in problems])
    seq_store, seq_base = _pack([p[1] for p in problems])
    ext_index, seq_index, topks, totals = [], [], [], []
    for (ext, seq, topk), eb, sb in zip(problems, ext_base, seq_base):
        n = ext.numel()
        ext_index += [eb + ext.storage_offset() + i * ext.stride(0) for i in range(n)]
        seq_index += [sb + seq.storage_offset() + i * seq.stride(0) for i in range(n)]
        topks += [topk] * n
        totals.append(int(ext.sum()))
    as_tensor = lambda xs: torch.tensor(xs, dtype=torch.int64, device=device)  # noqa: E731
    longest = max((int(p[0].max()) for p in problems if p[0].numel()), default=0)
    out_e, out_c = expand_packed(
        ext_store,
        seq_store,
        as_tensor(ext_index),
        as_tensor(seq_index),
        as_tensor(topks),
        sum(totals),
        longest,
    )
    return [(e, c) for e, c in zip(out_e.split(totals), out_c.split(totals))]


def expand_packed(
    ext_store: torch.Tensor,
    seq_store: torch.Tensor,
    ext_index: torch.Tensor,
    seq_index: torch.Tensor,
    topk: torch.Tensor,
    total: int,
    longest: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One launch over requests given by element indices into two storages (int64 tables
    of one entry per request), each with its own top-k. `total` and `longest` (the sum
    and the largest of the extends) size the outputs and the tiles."""
    device = ext_store.device
    bs = ext_index.numel()
    out_e = torch.empty(total, dtype=torch.int32, device=device)
    out_c = torch.empty(total, dtype=torch.int32, device=device)
    if bs and total:
        blocks = _blocks(bs, longest)
        grid = (triton.cdiv(bs, blocks["BLOCK_REQ"]),)
        _expand_many_kernel[grid](
            ext_store, seq_store, out_e, out_c, ext_index, seq_index, topk, bs, total, **blocks
        )
    return out_e, out_c

"""The fuzzer's batched Triton path: many independent cases in one launch of the shipped
kernel's body (`_write_requests`), each case with its own strides, offset and top-k.

On the interpreter a launch costs milliseconds, so the fuzzer packs thousands of cases into
one. Users never call this; it lives here so the shipped module holds only what they call.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from nsa_meta.triton_kernel import _POINTERS, INTERPRETED, MAX_TILE, _write_requests


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
    """The shipped kernel's body over many independent cases laid end to end.

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


# On a GPU a batch holds tens of thousands of requests and every program sums the extends
# before it in SUM_BLOCK-wide loads: 256 requests a program keep that sum's total work
# bs**2 / (256 * 4096) (the shipped kernel's small blocks suit a single call, not this).
GPU_BLOCKS = {"BLOCK_REQ": 256, "SUM_BLOCK": 4096, "BLOCK_TOK": 8}


def _blocks(bs: int, longest: int) -> dict[str, int]:
    # On the interpreter, one pass over the token columns: the longest extend is known.
    if not INTERPRETED:
        return dict(GPU_BLOCKS)
    block_req = min(triton.next_power_of_2(max(bs, 16)), 2**14)
    tok = min(triton.next_power_of_2(max(longest, 4)), MAX_TILE // block_req)
    return {"BLOCK_REQ": block_req, "SUM_BLOCK": block_req, "BLOCK_TOK": tok}


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

"""Sync-free Triton kernel: one launch expands every request and applies the top-k clamp.

Each program owns BLOCK_REQ consecutive requests. Its first output slot is the sum of
the extends before it (one wide masked load, computed on the device), so no program
searches the batch per token and the host never learns the total. Every store is masked
to [0, capacity), so a too-small buffer with validation off truncates instead of
corrupting memory. Import this module only after TRITON_INTERPRET is settled.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import triton
import triton.language as tl

from nsa_meta.interpreter import interpreting

INT32_MAX = 2**31 - 1


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


# No specialisation on integer values (strides included) or pointer alignment: one compiled
# variant per dtype pair serves every bs, top-k, capacity, stride and storage offset (a
# fuzzer would otherwise compile hundreds, and a prepared launch could not change strides).
_SCALARS = [
    "stride_ext",
    "stride_seq",
    "stride_out_expanded",
    "stride_out_clamped",
    "bs",
    "nsa_index_topk",
    "capacity",
]
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


MAX_TILE = 2**20
INTERPRETED = interpreting()  # fixed once Triton is imported


def _blocks(bs: int) -> dict[str, int]:
    # The interpreter pays per program and per op, far less per element: one wide program.
    # On a GPU, 256 requests a program keep several SMs busy at bs 4096, and the prefix
    # sum of earlier extends is one 4096-wide load for every bs SGLang captures.
    if INTERPRETED:
        block_req = min(triton.next_power_of_2(max(bs, 16)), 2**14)
        tok = min(64, MAX_TILE // block_req)  # the interpreter refuses tiles past 2**20
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
    args = (
        extend_seq_lens,
        seq_lens,
        out_seqlens_expanded,
        out_nsa_cache_seqlens,
        extend_seq_lens.stride(0),
        seq_lens.stride(0),
        out_seqlens_expanded.stride(0),
        out_nsa_cache_seqlens.stride(0),
        bs,
        nsa_index_topk,
        min(capacity, INT32_MAX),  # no slot past 2**31 - 1 is ever due
    )
    # Everything that selects a compiled variant: dtypes, device, which integers need 64
    # bits, and the block sizes.
    key = (
        extend_seq_lens.dtype,
        seq_lens.dtype,
        extend_seq_lens.device,
        tuple(a > INT32_MAX for a in args[4:8]),
        *blocks.values(),
    )
    _launch(grid, args, blocks, key)


Launch = Callable[[torch.Tensor, torch.Tensor, int, int, int, int], None]


def prepared_launch(
    out_seqlens_expanded: torch.Tensor,
    out_nsa_cache_seqlens: torch.Tensor,
    max_bs: int,
    extend_dtype: torch.dtype,
    seq_dtype: torch.dtype,
) -> Launch:
    """Build, once, a `launch(ext, seq, stride_ext, stride_seq, bs, nsa_index_topk)` that
    writes into the given buffers (checked by the caller) for any bs in [1, max_bs].

    Block sizes, the buffers, their strides and capacity are bound here; the grid is one
    integer division a call. On CUDA the compiled kernel is fetched by one launch that
    writes nothing (bs 0, capacity 0), and later launches call its launcher directly on
    the current stream, skipping the JIT's argument binding. Strides past 2**31 - 1 (a
    variant with 64-bit strides), another current device, and a launch hook installed by
    a profiler go through the JIT instead.
    """
    capacity = min(out_seqlens_expanded.numel(), out_nsa_cache_seqlens.numel(), INT32_MAX)
    blocks = _blocks(max(max_bs, 1))
    block_req = blocks["BLOCK_REQ"]
    out = (out_seqlens_expanded, out_nsa_cache_seqlens)
    out_strides = (out_seqlens_expanded.stride(0), out_nsa_cache_seqlens.stride(0))

    def jit_launch(ext, seq, stride_ext, stride_seq, bs, topk):  # type: ignore[no-untyped-def]
        grid = ((bs + block_req - 1) // block_req,)
        _expand_kernel[grid](
            ext, seq, *out, stride_ext, stride_seq, *out_strides, bs, topk, capacity, **blocks
        )

    device = out_seqlens_expanded.device
    if INTERPRETED or device.type != "cuda" or capacity == 0 or max(out_strides) > INT32_MAX:
        return jit_launch
    direct = _direct_launcher(out, out_strides, blocks, extend_dtype, seq_dtype)
    if direct is None:
        return jit_launch
    index = device.index
    current_device = torch.cuda.current_device

    def launch(ext, seq, stride_ext, stride_seq, bs, topk):  # type: ignore[no-untyped-def]
        if stride_ext > INT32_MAX or stride_seq > INT32_MAX:
            return jit_launch(ext, seq, stride_ext, stride_seq, bs, topk)
        if current_device() != index:
            with torch.cuda.device(index):
                return jit_launch(ext, seq, stride_ext, stride_seq, bs, topk)
        direct(
            (bs + block_req - 1) // block_req, ext, seq, stride_ext, stride_seq, bs, topk, capacity
        )

    return launch


def _direct_launcher(out, out_strides, blocks, extend_dtype, seq_dtype):  # type: ignore[no-untyped-def]
    """`direct(grid0, ext, seq, stride_ext, stride_seq, bs, topk, capacity)` calling the
    compiled variant's launcher, or None where this Triton does not expose it as expected
    or a launch hook is installed (the JIT path then serves)."""
    try:
        from triton import knobs

        if (knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook) != (None, None):
            return None
    except (ImportError, AttributeError):
        pass
    device = out[0].device
    ext = torch.zeros(1, dtype=extend_dtype, device=device)
    seq = torch.zeros(1, dtype=seq_dtype, device=device)
    try:
        from triton.runtime import driver

        with torch.cuda.device(device):
            # bs 0 and capacity 0: every load and store is masked off; this only compiles.
            compiled = _expand_kernel[(1,)](ext, seq, *out, 0, 0, *out_strides, 0, 0, 0, **blocks)
            compiled._init_handles()
            run, function, metadata = compiled.run, compiled.function, compiled.packed_metadata
            stream_of, index, constexprs = (
                driver.active.get_current_stream,
                device.index,
                tuple(blocks.values()),
            )

            def direct(grid0, ext, seq, stride_ext, stride_seq, bs, topk, capacity):  # type: ignore[no-untyped-def]
                # The launcher takes every parameter in order, constexprs included.
                run(grid0, 1, 1, stream_of(index), function, metadata, None, None, None,
                    ext, seq, *out, stride_ext, stride_seq, *out_strides, bs, topk, capacity,
                    *constexprs)  # fmt: skip

            # A trial through the direct path, again writing nothing: a launcher signature
            # this Triton does not take fails here, not in the caller's first call.
            direct(1, ext, seq, 0, 0, 0, 0, 0)
    except Exception:
        return None
    return direct

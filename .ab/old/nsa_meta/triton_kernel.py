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
from nsa_meta.launcher import FastLaunches, hook_check, raw_caller, wrapped_caller

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
    longest = tl.minimum(tl.max(ext, axis=0), capacity)  # garbage ext (validate=False): no spin
    for col0 in range(0, longest, BLOCK_TOK):
        col = col0 + tl.arange(0, BLOCK_TOK)  # of the wider of the two: longest's type
        pos = start[:, None] + col[None, :]
        # Garbage with validation off may make `pos` anything: never store outside the buffer.
        in_buffer = (pos >= 0) & (pos < capacity)
        mask = req_mask[:, None] & (col[None, :] < ext[:, None]) & in_buffer
        value = first_value[:, None] + col[None, :]
        tl.store(out_expanded_ptr + pos * stride_out_expanded, value.to(tl.int32), mask=mask)
        clamped = tl.minimum(value, topk)
        tl.store(out_clamped_ptr + pos * stride_out_clamped, clamped.to(tl.int32), mask=mask)


@triton.jit
def _sum_before(ext_ptr, stride_ext, first, SUM_BLOCK: tl.constexpr, ONE_SUM: tl.constexpr,
                it: tl.constexpr):  # fmt: skip
    """The sum of the extends before request `first`, of type `it`: one masked load of
    SUM_BLOCK when ONE_SUM (first < bs <= SUM_BLOCK), else a loop of them."""
    total = tl.zeros((), dtype=it)
    if ONE_SUM:
        if first > 0:
            idx = tl.arange(0, SUM_BLOCK).to(it)
            prior = tl.load(ext_ptr + idx * stride_ext, mask=idx < first, other=0)
            total = tl.sum(prior.to(it), axis=0)
    else:
        for base in range(0, first, SUM_BLOCK):
            idx = base + tl.arange(0, SUM_BLOCK).to(it)
            prior = tl.load(ext_ptr + idx * stride_ext, mask=idx < first, other=0)
            total += tl.sum(prior.to(it), axis=0)
    return total


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
    ONE_SUM: tl.constexpr,
    NARROW: tl.constexpr,
):
    """Program p writes the tokens of requests [p * BLOCK_REQ, (p + 1) * BLOCK_REQ).

    Request i lives at `ptr + i * stride` (stride 0 included). The only cross-request
    information a program needs is its first output slot: the sum of earlier extends.
    Its own requests are loaded first, so that load and the one of earlier extends are in
    flight together. ONE_SUM (bs <= SUM_BLOCK) makes that sum one masked load, no loop.
    NARROW (the host saw bs * input strides and capacity * output strides under 2**31)
    does the index arithmetic in 32 bits: exact for every input in the contract, whose
    running sums and values fit int32; outside it, values are garbage but every store
    still lands in [0, capacity).
    """
    index_type = tl.int32 if NARROW else tl.int64
    pid = tl.program_id(0)
    first = pid * BLOCK_REQ
    req = first + tl.arange(0, BLOCK_REQ).to(index_type)
    req_mask = req < bs
    ext = tl.load(ext_ptr + req * stride_ext, mask=req_mask, other=0).to(index_type)
    seq = tl.load(seq_ptr + req * stride_seq, mask=req_mask, other=0).to(index_type)
    offset = _sum_before(ext_ptr, stride_ext, first, SUM_BLOCK, ONE_SUM, index_type)
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


# On a GPU, by bs (a prepared plan: its max_bs): 32 requests and 2 warps a program up to bs
# 512, 64 and 4 warps above (then the sum of earlier extends, one load of up to 4096, is
# each program's largest cost and more threads share it); 4 token columns a pass (draft
# extends are mostly <= 4). Chosen from a sweep in graph replay on an H200
# (benchmarks/results/h100/s14_v1probe/graph2.txt).
SMALL_BS = 512
GPU_BLOCKS = {"small": (32, 4, 2), "large": (64, 4, 4)}  # BLOCK_REQ, BLOCK_TOK, num_warps
MAX_SUM_BLOCK = 4096


def _blocks(bs: int) -> dict[str, int]:
    """The block sizes for a call of `bs` requests (a prepared plan: its max_bs)."""
    # The interpreter pays per program and per op, far less per element: one wide program.
    if INTERPRETED:
        block_req = min(triton.next_power_of_2(max(bs, 16)), 2**14)
        tok = min(64, MAX_TILE // block_req)  # the interpreter refuses tiles past 2**20
        return {"BLOCK_REQ": block_req, "SUM_BLOCK": block_req, "BLOCK_TOK": tok}
    block_req, block_tok, _ = _gpu_blocks(bs)
    sum_block = min(MAX_SUM_BLOCK, max(block_req, triton.next_power_of_2(max(bs, 1))))
    return {"BLOCK_REQ": block_req, "SUM_BLOCK": sum_block, "BLOCK_TOK": block_tok}


def _num_warps(bs: int) -> dict[str, int]:
    """The launch's num_warps, as a JIT keyword ({} on the interpreter)."""
    if INTERPRETED:
        return {}
    return {"num_warps": _gpu_blocks(bs)[2]}


def _gpu_blocks(bs: int) -> tuple[int, int, int]:
    return GPU_BLOCKS["small" if bs <= SMALL_BS else "large"]


def _variant(
    blocks: dict[str, int], bs: int, in_strides: tuple[int, int], out_strides: tuple[int, int],
    capacity: int,
) -> dict[str, int]:  # fmt: skip
    """Every constexpr of a launch: the block sizes, ONE_SUM and NARROW (see the kernel)."""
    narrow = bs * max(in_strides) <= INT32_MAX and capacity * max(out_strides) <= INT32_MAX
    return {**blocks, "ONE_SUM": bs <= blocks["SUM_BLOCK"], "NARROW": narrow}


# On CUDA, calls after the first skip the JIT's per-call argument binding (most of the
# eager cost at these sizes) and launch the compiled variant directly (nsa_meta.launcher).
_fast = FastLaunches(enabled=not INTERPRETED)


def _launch(
    grid: tuple[int], args: tuple, constexprs: dict[str, int], warps: dict[str, int], key: tuple
) -> None:
    if _fast.launch(key, grid[0], args):
        return
    compiled = _expand_kernel[grid](*args, **constexprs, **warps)
    index = torch.cuda.current_device() if args[0].is_cuda else None
    _fast.remember(key, compiled, constexprs, index)


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
    capacity = min(capacity, INT32_MAX)  # no slot past 2**31 - 1 is ever due
    in_strides = (extend_seq_lens.stride(0), seq_lens.stride(0))
    out_strides = (out_seqlens_expanded.stride(0), out_nsa_cache_seqlens.stride(0))
    blocks = _blocks(bs)
    constexprs = _variant(blocks, bs, in_strides, out_strides, capacity)
    grid = (triton.cdiv(bs, blocks["BLOCK_REQ"]),)
    args = (
        extend_seq_lens,
        seq_lens,
        out_seqlens_expanded,
        out_nsa_cache_seqlens,
        *in_strides,
        *out_strides,
        bs,
        nsa_index_topk,
        capacity,
    )
    # Everything that selects a compiled variant: dtypes, device (the inputs' and the
    # current one), which integers need 64 bits, the constexprs and the warps.
    warps = _num_warps(bs)
    key = (
        extend_seq_lens.dtype,
        seq_lens.dtype,
        extend_seq_lens.device,
        torch.cuda.current_device() if extend_seq_lens.is_cuda else None,
        tuple(a > INT32_MAX for a in args[4:8]),
        *constexprs.values(),
        *warps.values(),
    )
    _launch(grid, args, constexprs, warps, key)


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

    Block sizes, the variant, the buffers, their strides and capacity are bound here; the
    grid is one integer division a call. On CUDA the compiled variant is fetched by one
    launch that writes nothing, and later launches call its launcher directly on the
    current stream, skipping the JIT's argument binding. Input strides that need another
    variant (bs * stride past 2**31 - 1), another current device, and a launch hook
    installed by a profiler go through the JIT instead.
    """
    capacity = min(out_seqlens_expanded.numel(), out_nsa_cache_seqlens.numel(), INT32_MAX)
    top_bs = max(max_bs, 1)
    blocks = _blocks(top_bs)
    warps = _num_warps(top_bs)
    block_req = blocks["BLOCK_REQ"]
    out = (out_seqlens_expanded, out_nsa_cache_seqlens)
    out_strides = (out_seqlens_expanded.stride(0), out_nsa_cache_seqlens.stride(0))
    # The variant of every call with bs <= max_bs whose input strides are at most
    # `stride_limit`: with those, bs * stride stays under 2**31 and NARROW holds.
    constexprs = _variant(blocks, top_bs, (1, 1), out_strides, capacity)
    stride_limit = INT32_MAX // top_bs if constexprs["NARROW"] else INT32_MAX

    def jit_launch(ext, seq, stride_ext, stride_seq, bs, topk):  # type: ignore[no-untyped-def]
        grid = ((bs + block_req - 1) // block_req,)
        in_strides = (stride_ext, stride_seq)
        variant = _variant(blocks, bs, in_strides, out_strides, capacity)
        _expand_kernel[grid](ext, seq, *out, *in_strides, *out_strides, bs, topk, capacity,
                             **variant, **warps)  # fmt: skip

    jit_launch.path = "jit"  # type: ignore[attr-defined]
    device = out_seqlens_expanded.device
    if INTERPRETED or device.type != "cuda" or capacity == 0 or max(out_strides) > INT32_MAX:
        return jit_launch
    hooks_installed = hook_check()
    direct = _direct_launcher(out, out_strides, constexprs, warps, extend_dtype, seq_dtype)
    if direct is None:
        return jit_launch
    index = device.index
    current_device = torch.cuda.current_device

    def launch(ext, seq, stride_ext, stride_seq, bs, topk):  # type: ignore[no-untyped-def]
        if stride_ext > stride_limit or stride_seq > stride_limit or hooks_installed():
            return jit_launch(ext, seq, stride_ext, stride_seq, bs, topk)
        if current_device() != index:
            with torch.cuda.device(index):
                return jit_launch(ext, seq, stride_ext, stride_seq, bs, topk)
        # The plan checked both inputs' device: their addresses go in as integers, which
        # spares the launcher a driver query per pointer (cuPointerGetAttribute).
        direct(
            (bs + block_req - 1) // block_req,
            ext.data_ptr(),
            seq.data_ptr(),
            stride_ext,
            stride_seq,
            bs,
            topk,
            capacity,
        )

    launch.path = direct.path  # type: ignore[attr-defined]
    return launch


def _direct_launcher(out, out_strides, constexprs, warps, extend_dtype, seq_dtype):  # type: ignore[no-untyped-def]
    """`direct(grid0, ext_ptr, seq_ptr, stride_ext, stride_seq, bs, topk, capacity)` calling
    the compiled variant's launcher with every pointer as an integer, or None where this
    Triton does not take it as expected or a launch hook is installed (the JIT then serves).

    Each way of calling is first tried on scratch buffers and its values checked (one host
    sync, here at prepare time), so a launcher that takes its arguments in another order
    is caught before it touches the caller's buffers.
    """
    device = out[0].device
    try:
        from triton.runtime import driver

        with torch.cuda.device(device):
            ext = torch.tensor([2], dtype=extend_dtype, device=device)
            seq = torch.tensor([5], dtype=seq_dtype, device=device)
            # bs 0 and capacity 0: every load and store is masked off; this only compiles.
            compiled = _expand_kernel[(1,)](ext, seq, *out, 0, 0, *out_strides, 0, 0, 0,
                                            **constexprs, **warps)  # fmt: skip
            compiled._init_handles()
            call = None
            for make in (raw_caller, wrapped_caller):
                stream_of = driver.active.get_current_stream
                candidate = make(compiled, stream_of, device.index, constexprs)
                if candidate is not None and _gives_right_values(candidate, ext, seq):
                    call = candidate
                    break
    except Exception:
        return None
    if call is None:
        return None
    out_ptrs = (out[0].data_ptr(), out[1].data_ptr())

    def direct(grid0, ext_ptr, seq_ptr, stride_ext, stride_seq, bs, topk, capacity):  # type: ignore[no-untyped-def]
        call(grid0, ext_ptr, seq_ptr, *out_ptrs, stride_ext, stride_seq, *out_strides, bs,
             topk, capacity)  # fmt: skip

    direct.path = call.path  # type: ignore[attr-defined]
    return direct


def _gives_right_values(call, ext: torch.Tensor, seq: torch.Tensor) -> bool:  # type: ignore[no-untyped-def]
    """One request (extend 2, seq 5, top-k 4) into fresh scratch buffers with a trailing
    slot: [4, 5] and [4, 4], the trailing slot untouched. Any error is a no."""
    try:
        scratch = torch.full((2, 3), -1, dtype=torch.int32, device=ext.device)
        e, c = scratch[0], scratch[1]
        call(1, ext.data_ptr(), seq.data_ptr(), e.data_ptr(), c.data_ptr(), 1, 1, 1, 1, 1, 4, 2)
        return scratch.tolist() == [[4, 5, -1], [4, 4, -1]]
    except Exception:
        return False

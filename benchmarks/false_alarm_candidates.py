"""False-alarm red team: candidates that honour the contract (v2, and v1 for `--op expand`)
but do it in unusual ways, each docstring saying what is unusual. A failure the fuzzer
reports against any of them is a false alarm (or names a gap in the contract).

`HUNT` lists them for benchmarks/hunt.py; every name starts with `correct`, so the hunt
expects exit 0 from each. Written for the CPU (the Triton one runs under the interpreter).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import torch

import nsa_meta

I32, I64 = torch.int32, torch.int64
VEC = ("cache_seqlens", "cu_seqlens_k", "seqlens_expanded", "dsa_cache_seqlens", "dsa_cu_seqlens_k")
TABLES = ("page_table_1", "real_page_table")


# --- shared pieces ---------------------------------------------------------------------------


def _fresh(kw: dict) -> nsa_meta.Metadata:
    """The values every candidate must write: nsa_meta's torch backend, fresh tensors."""
    return nsa_meta.metadata(
        kw["mode"], kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=kw["topk"], width=kw["width"], page_size=kw["page_size"], next_n=kw["next_n"],
        extend_seq_lens=kw["extend_seq_lens"], backend="torch", out=None, validate=False,
    )  # fmt: skip


def _regions(out, values) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, the buffer's region view, the values for it) for every output written."""
    got = []
    for name, buf, v in zip(out._fields, out, values):
        if buf is None or v is None:
            continue
        region = buf[: v.shape[0]] if v.dim() == 1 else buf[: v.shape[0], : v.shape[1]]
        got.append((name, region, v))
    return got


def _flat(buf: torch.Tensor) -> torch.Tensor:
    """The whole storage of `buf`, 1-D, in its dtype (what a raw pointer reaches)."""
    return torch.empty(0, dtype=buf.dtype, device=buf.device).set_(buf.untyped_storage())


def _positions(view: torch.Tensor) -> torch.Tensor:
    """The storage element of every cell of `view`, in the view's shape (int64)."""
    pos = torch.full((), view.storage_offset(), dtype=I64)
    for n, st in zip(view.shape, view.stride()):
        pos = pos[..., None] + torch.arange(n, dtype=I64) * st
    return pos


def _write_all(out, values) -> None:
    for _, region, v in _regions(out, values):
        region.copy_(v)


def _plan(mode, s: list[int], ext, n: int) -> tuple[list[int], list[int]]:
    """(e, kv) per request, as Python lists."""
    if mode == "decode":
        return [1] * len(s), list(s)
    if mode == "target_verify":
        return [n] * len(s), [x + n for x in s]
    if mode == "draft_extend":
        return [n] * len(s), list(s)
    return list(ext), list(s)


# --- v2: writing the buffers in unusual ways --------------------------------------------------


def correct_garbage_first(**kw) -> None:
    """Writes every region three times: the poison, then the bitwise complement of the
    right values, then the right values (a two-pass kernel whose first pass is scratch)."""
    values = _fresh(kw)
    for _, region, v in _regions(kw["out"], values):
        region.fill_(-777)
        region.copy_(~v)
        region.copy_(v)


def correct_whole_storage_rmw(**kw) -> None:
    """Read-modify-write of every buffer's WHOLE storage: the storage cloned, the region
    set in the clone, the clone copied back over everything (cells outside the region, the
    page tables' row padding, the storage before the offset: rewritten with their values)."""
    values = _fresh(kw)
    for _, region, v in _regions(kw["out"], values):
        flat = _flat(region)
        new = flat.clone()
        new.as_strided(region.shape, region.stride(), region.storage_offset()).copy_(v)
        flat.copy_(new)


def correct_scribble_restore(**kw) -> None:
    """Uses the buffers' whole storages as scratch (filled with 0x5A5A5A5A), then puts back
    every cell outside the region before returning and writes the region."""
    values = _fresh(kw)
    for _, region, v in _regions(kw["out"], values):
        flat = _flat(region)
        saved = flat.clone()
        flat.fill_(0x5A5A5A5A)
        mask = torch.zeros(flat.numel(), dtype=torch.bool)
        mask[_positions(region).reshape(-1)] = True
        flat[~mask] = saved[~mask]
        region.copy_(v)


def correct_full_slice_copy(**kw) -> None:
    """`copy_` of whole buffers: each buffer cloned, the region set in the clone, then
    `buf.copy_(clone)` (every cell of the view rewritten, outside the region with its own
    value), page tables by full rows `pt[:T].copy_(...)` first."""
    out, values = kw["out"], _fresh(kw)
    for name, _, v in _regions(out, values):
        buf = getattr(out, name)
        if v.dim() == 2:
            rows = buf[: v.shape[0]].clone()
            rows[:, : v.shape[1]] = v
            buf[: v.shape[0]].copy_(rows)
        whole = buf.clone()
        whole[tuple(slice(0, n) for n in v.shape)] = v
        buf.copy_(whole)


def correct_reads_buffers_as_strided(**kw) -> None:
    """Reads everything before writing (checks the buffers are int32, sums their storages,
    reads data_ptr and the TypedStorage), then writes each region by index_put_ into the
    flat storage at positions computed from strides and offsets, through `torch.as_strided`
    views of that storage."""
    out, values = kw["out"], _fresh(kw)
    seen = 0
    for buf in out:
        if buf is None:
            continue
        assert buf.dtype == I32
        seen += int(_flat(buf).to(I64).sum()) + buf.data_ptr() % 7
        seen += len(buf.untyped_storage())
    for t in (kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"]):
        seen += int(torch.as_strided(t, t.shape, t.stride(), t.storage_offset()).to(I64).sum())
    for _, region, v in _regions(out, values):
        flat = _flat(region)
        flat.index_put_((_positions(region).reshape(-1),), v.reshape(-1))
    assert isinstance(seen, int)


def correct_content_cache(**kw) -> None:
    """A result cache keyed on the full input contents (values, not addresses) and every
    scalar; a hit reuses the values, and a region is skipped only when it is read back and
    already holds exactly them (a "nothing changed" fast path that checks)."""
    key = _content_key(kw)
    values = _CACHE.get(key)
    if values is None:
        values = _CACHE[key] = _fresh(kw)
        while len(_CACHE) > 64:
            _CACHE.pop(next(iter(_CACHE)))
    for _, region, v in _regions(kw["out"], values):
        if region.shape == v.shape and torch.equal(region, v):
            continue
        region.copy_(v)


_CACHE: dict = {}


def _content_key(kw: dict) -> str:
    h = hashlib.sha256()
    for name in ("mode", "topk", "next_n", "page_size", "width"):
        h.update(repr((name, kw[name])).encode())
    for name in ("seq_lens", "extend_seq_lens", "req_pool_indices"):
        t = kw[name]
        h.update(repr((name, None if t is None else t.tolist())).encode())
    rt = kw["req_to_token"][:, : kw["width"]]
    h.update(repr(tuple(rt.shape)).encode())
    h.update(rt.contiguous().numpy().tobytes())
    return h.hexdigest()


# --- v2: computing in unusual ways ------------------------------------------------------------


def correct_numpy_float64(**kw) -> None:
    """Computes every output in numpy float64 (exact below 2**53), rounds to int64, copies in
    through torch.from_numpy."""
    s = kw["seq_lens"].numpy().astype(np.float64)
    ext = kw["extend_seq_lens"]
    N, K, P, W = kw["next_n"], kw["topk"], kw["page_size"], kw["width"]
    mode = kw["mode"]
    e = {
        "decode": np.ones_like(s),
        "target_verify": np.full_like(s, N),
        "draft_extend": np.full_like(s, N),
    }.get(mode)
    e = ext.numpy().astype(np.float64) if e is None else e
    kv = s + N if mode == "target_verify" else s
    owner = np.repeat(np.arange(s.size), e.astype(np.int64))
    first = np.cumsum(e) - e
    d = np.arange(owner.size, dtype=np.float64) - first[owner]
    se = kv[owner] - e[owner] + 1 + d
    dsa = np.minimum(se, float(K))
    r = kw["req_pool_indices"].numpy().astype(np.int64)[owner]
    rows = kw["req_to_token"].numpy()[:, :W].astype(np.float64)[r].reshape(owner.size, W)
    got = {
        "cache_seqlens": kv,
        "cu_seqlens_k": np.concatenate([[0.0], np.cumsum(kv)]),
        "seqlens_expanded": se,
        "dsa_cache_seqlens": dsa,
        "dsa_cu_seqlens_k": np.concatenate([[0.0], np.cumsum(dsa)]),
        "page_table_1": rows,
        "real_page_table": np.floor(rows[:, ::P] / P) if P > 1 else None,
    }
    out = kw["out"]
    for name, buf in zip(out._fields, out):
        if buf is None:
            continue
        v = torch.from_numpy(np.rint(got[name]).astype(np.int64))
        buf[tuple(slice(0, n) for n in v.shape)] = v


def correct_pure_python(**kw) -> None:
    """Pure Python lists and loops (`.tolist()` in, `torch.tensor` out), one region at a time."""
    mode, K, N, P, W = kw["mode"], kw["topk"], kw["next_n"], kw["page_size"], kw["width"]
    ext = kw["extend_seq_lens"]
    e, kv = _plan(mode, kw["seq_lens"].tolist(), None if ext is None else ext.tolist(), N)
    r = kw["req_pool_indices"].tolist()
    rt = kw["req_to_token"]
    se, owner = [], []
    for i, (ei, ki) in enumerate(zip(e, kv)):
        se += [ki - ei + 1 + d for d in range(ei)]
        owner += [i] * ei
    dsa = [min(x, K) for x in se]
    cu, dcu = [0], [0]
    for x in kv:
        cu.append(cu[-1] + x)
    for x in dsa:
        dcu.append(dcu[-1] + x)
    table = {p: rt[p, :W].tolist() for p in set(r[i] for i in owner)}
    rows = [table[r[i]] for i in owner]
    out = kw["out"]
    for buf, vals in zip(out[:5], (kv, cu, se, dsa, dcu)):
        buf[: len(vals)] = torch.tensor(vals, dtype=I64)
    T = len(rows)
    if T:
        out.page_table_1[:T, :W] = torch.tensor(rows, dtype=I64)
        if P > 1:
            pages = [[row[q] // P for q in range(0, W, P)] for row in rows]
            out.real_page_table[:T, : len(pages[0])] = torch.tensor(pages, dtype=I64)


def correct_thread_pool(**kw) -> None:
    """Writes the seven regions from a module-level ThreadPoolExecutor (never shut down, one
    task per buffer, all at once), every future joined before returning."""
    values = _fresh(kw)
    futures = [_THREADS.submit(region.copy_, v) for _, region, v in _regions(kw["out"], values)]
    for f in futures:
        f.result()


_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fa-copy")


def _expanded_lists(e: list[int], kv: list[int], K: int) -> tuple[list[int], list[int]]:
    se = [k - x + 1 + d for x, k in zip(e, kv) for d in range(x)]
    return se, [min(v, K) for v in se]


def correct_process_pool(**kw) -> None:
    """Computes the per-row lengths in a helper process of a module-level
    ProcessPoolExecutor (fork, made on the first call, kept for later calls, each result
    awaited before returning); the rest in this process."""
    global _PROCS
    if _PROCS is None:
        import multiprocessing

        _PROCS = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    ext = kw["extend_seq_lens"]
    e, kv = _plan(kw["mode"], kw["seq_lens"].tolist(), None if ext is None else ext.tolist(),
                  kw["next_n"])  # fmt: skip
    se, dsa = _PROCS.submit(_expanded_lists, e, kv, kw["topk"]).result(timeout=60)
    values = _fresh(kw)
    assert values.seqlens_expanded.tolist() == se and values.dsa_cache_seqlens.tolist() == dsa
    _write_all(kw["out"], values)


_PROCS: ProcessPoolExecutor | None = None


def correct_chatty_returns(**kw):
    """Prints about 40 KB per call to stdout and stderr (progress bars with carriage
    returns, a long line without a newline, raw bytes that are not UTF-8), then returns
    the Metadata instead of None."""
    print("fa: " + "=" * 20000 + "\r" * 3, flush=True)
    print("fa warning: " + "#" * 20000, file=sys.stderr, flush=True)
    os.write(1, b"\xff\xfe raw \x80\x81 not utf-8 \x1b[31m red \x1b[0m no newline")
    os.write(2, b"\x00\x1e<nsa-fuzz item\xc3\x28")
    values = _fresh(kw)
    _write_all(kw["out"], values)
    return kw["out"]


# --- v2: runtime shapes: a compile, a Triton kernel, big allocations, global state -------------


def correct_first_call_compiles(**kw) -> None:
    """Its first call in a process takes 2.5 s more (a JIT compile), later calls do not."""
    global _COMPILED
    if not _COMPILED:
        time.sleep(2.5)
        _COMPILED = True
    _write_all(kw["out"], _fresh(kw))


_COMPILED = False


_TRITON: dict = {}


def _triton_clamp():
    """A Triton kernel (built on first use): dst[i] = min(src[i], k), int32, masked tail."""
    if "clamp" not in _TRITON:
        import triton
        import triton.language as tl

        @triton.jit
        def clamp(src, dst, n, k, BLOCK: tl.constexpr):
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            m = offs < n
            x = tl.load(src + offs, mask=m, other=0)
            tl.store(dst + offs, tl.minimum(x, k), mask=m)

        _TRITON["clamp"] = (clamp, triton.cdiv)
    return _TRITON["clamp"]


def correct_triton_clamp(**kw) -> None:
    """dsa_cache_seqlens by a small Triton kernel (the interpreter on the CPU) on packed
    int32 temporaries, then copied into the strided buffer; the rest by torch."""
    clamp, cdiv = _triton_clamp()
    values = _fresh(kw)
    se = values.seqlens_expanded.contiguous()
    dsa = torch.empty_like(se)
    n = se.numel()
    if n:
        clamp[(cdiv(n, 1024),)](se, dsa, n, kw["topk"], BLOCK=1024)
    _write_all(kw["out"], values._replace(dsa_cache_seqlens=dsa))


def correct_big_workspace(**kw) -> None:
    """Keeps a 1 GiB workspace (allocated once, touched every call), allocates a 256 MiB
    temporary per call, finds each row's request with a dense one-hot [bs, T] matrix when
    that fits in 2**24 cells; and changes torch's global state at first call
    (default dtype float64, one intra-op thread, deterministic algorithms)."""
    global _WORKSPACE
    if _WORKSPACE is None:
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        _WORKSPACE = torch.empty(2**28, dtype=I32)
    _WORKSPACE[:: 2**20].fill_(1)
    scratch = torch.ones(2**26, dtype=I32)
    values = _fresh(kw)
    se = values.seqlens_expanded
    bs, T = kw["seq_lens"].numel(), se.numel()
    if 0 < bs * T <= 2**24 and kw["extend_seq_lens"] is not None:
        e = kw["extend_seq_lens"].to(I64)
        ends = torch.cumsum(e, 0)
        onehot = (torch.arange(T)[None, :] < ends[:, None]) & (
            torch.arange(T)[None, :] >= (ends - e)[:, None]
        )
        owner = onehot.to(I64).argmax(0)
        kv = kw["seq_lens"].to(I64)
        d = torch.arange(T) - (ends - e)[owner]
        assert torch.equal(kv[owner] - e[owner] + 1 + d, se.to(I64))
    assert int(scratch[-1]) == 1
    _write_all(kw["out"], values)


_WORKSPACE: torch.Tensor | None = None


# --- v2: envelopes (correct inside, wrong outside) ---------------------------------------------


def correct_env_decode_p1(**kw) -> None:
    """Decode at page size 1 only (declared): ignores `mode`, `next_n` and `page_size` and
    writes decode's outputs, so any other mode or page size would be wrong."""
    values = nsa_meta.metadata(
        "decode", kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=kw["topk"], width=kw["width"], page_size=1, backend="torch", validate=False,
    )  # fmt: skip
    _write_all(kw["out"], values)


correct_env_decode_p1.envelope = {"modes": ["decode"], "page_sizes": [1]}


def correct_env_contiguous_int32(**kw) -> None:
    """Contiguous int32 only (declared): reads the inputs and writes the 1-D buffers through
    the raw storage from their offsets, assuming stride 1 and 4-byte elements; page-table
    rows at the buffer's row stride, assuming column stride 1. Wrong on any step, on a
    transposed table, on int64."""

    def read(t: torch.Tensor) -> torch.Tensor:
        raw = torch.empty(0, dtype=I32).set_(t.untyped_storage())
        return raw[t.storage_offset() : t.storage_offset() + t.shape[0]]

    s, r = read(kw["seq_lens"]), read(kw["req_pool_indices"])
    ext = kw["extend_seq_lens"]
    kw2 = dict(
        kw, seq_lens=s, req_pool_indices=r, extend_seq_lens=None if ext is None else read(ext)
    )
    rt = kw["req_to_token"]
    raw_rt = torch.empty(0, dtype=I32).set_(rt.untyped_storage())
    kw2["req_to_token"] = raw_rt.as_strided(rt.shape, (rt.stride(0), 1), rt.storage_offset())
    values = _fresh(kw2)
    for _, region, v in _regions(kw["out"], values):
        flat = _flat(region)
        o = region.storage_offset()
        if v.dim() == 1:
            flat[o : o + v.numel()] = v
        else:
            for i in range(v.shape[0]):
                start = o + i * region.stride(0)
                flat[start : start + v.shape[1]] = v[i]


correct_env_contiguous_int32.envelope = {"contiguous": True, "dtypes": ["int32"]}


def correct_env_fixed(**kw) -> None:
    """The fixed-width modes at next_n 2 and topk 2048, bs <= 64, width <= 64 (declared):
    uses the constants, not the arguments."""
    values = nsa_meta.metadata(
        kw["mode"], kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"],
        topk=2048, width=kw["width"], page_size=kw["page_size"], next_n=2,
        backend="torch", validate=False,
    )  # fmt: skip
    assert kw["width"] <= 64 and kw["seq_lens"].numel() <= 64
    _write_all(kw["out"], values)


correct_env_fixed.envelope = {
    "modes": ["target_verify", "draft_extend"],
    "next_n": [2],
    "topk": [2048],
    "max_width": 64,
    "max_bs": 64,
}


# --- v1: returned tensors of unusual forms ----------------------------------------------------


def _v1(ext, seq, topk) -> tuple[list[int], list[int]]:
    se = [k - x + 1 + d for x, k in zip(ext.tolist(), seq.tolist()) for d in range(x)]
    return se, [min(v, topk) for v in se]


def correct_v1_strided(extend_seq_lens, seq_lens, nsa_index_topk):
    """Returns non-contiguous views: every 2nd element of a larger tensor, and a column of
    a [total, 3] tensor (stride 3, storage offset 1)."""
    se, dsa = _v1(extend_seq_lens, seq_lens, nsa_index_topk)
    big = torch.zeros(2 * len(se), dtype=I32)
    big[::2] = torch.tensor(se, dtype=I32)
    grid = torch.zeros(len(dsa), 3, dtype=I32)
    grid[:, 1] = torch.tensor(dsa, dtype=I32)
    return big[::2], grid[:, 1]


def correct_v1_static_buffer(extend_seq_lens, seq_lens, nsa_index_topk):
    """Returns views of one module-level pair of buffers (grown as needed), rewritten by the
    next call: a CUDA-graph style kernel whose outputs live in static memory."""
    se, dsa = _v1(extend_seq_lens, seq_lens, nsa_index_topk)
    n = len(se)
    if _STATIC[0].numel() < n:
        _STATIC[:] = [torch.empty(2 * n, dtype=I32), torch.empty(2 * n, dtype=I32)]
    a, b = _STATIC[0][:n], _STATIC[1][:n]
    a.copy_(torch.tensor(se, dtype=I32))
    b.copy_(torch.tensor(dsa, dtype=I32))
    return a, b


_STATIC = [torch.empty(0, dtype=I32), torch.empty(0, dtype=I32)]


def correct_v1_aliases(extend_seq_lens, seq_lens, nsa_index_topk):
    """Returns `seq_lens` itself (any strides, stride 0 included) when every extend is 1
    and it is int32, and one tensor object for both outputs when no value is above topk;
    a list, not a tuple."""
    if seq_lens.dtype == I32 and extend_seq_lens.numel() and bool((extend_seq_lens == 1).all()):
        se = seq_lens
    else:
        se = torch.tensor(_v1(extend_seq_lens, seq_lens, nsa_index_topk)[0], dtype=I32)
    if se.numel() == 0 or int(se.max()) <= nsa_index_topk:
        return [se, se]
    return [se, se.clamp(max=nsa_index_topk)]


def correct_v1_cached(extend_seq_lens, seq_lens, nsa_index_topk):
    """A result cache keyed on the input values: the same input contents get the very same
    tensor objects back (never written again), from a worker thread joined each call."""
    key = (tuple(extend_seq_lens.tolist()), tuple(seq_lens.tolist()), nsa_index_topk)
    hit = _V1_CACHE.get(key)
    if hit is None:
        box: list = []
        t = threading.Thread(
            target=lambda: box.append(_v1(extend_seq_lens, seq_lens, nsa_index_topk))
        )
        t.start()
        t.join()
        se, dsa = box[0]
        hit = _V1_CACHE[key] = (torch.tensor(se, dtype=I32), torch.tensor(dsa, dtype=I32))
        if len(_V1_CACHE) > 4096:
            _V1_CACHE.pop(next(iter(_V1_CACHE)))
    return hit


_V1_CACHE: dict = {}


HUNT = [
    ("correct_garbage_first", "metadata", "region written 3 times, garbage first"),
    ("correct_whole_storage_rmw", "metadata", "whole storages rewritten, same values outside"),
    ("correct_scribble_restore", "metadata", "storages scribbled, restored before return"),
    ("correct_full_slice_copy", "metadata", "copy_ of whole buffers and full page-table rows"),
    ("correct_reads_buffers_as_strided", "metadata", "reads buffers; as_strided index_put_"),
    ("correct_content_cache", "metadata", "content-keyed cache, write skipped when equal"),
    ("correct_numpy_float64", "metadata", "numpy float64 compute"),
    ("correct_pure_python", "metadata", "pure Python lists"),
    ("correct_thread_pool", "metadata", "module-level thread pool, joined"),
    ("correct_process_pool", "metadata", "module-level process pool kept across calls"),
    ("correct_chatty_returns", "metadata", "prints 40 KB a call, raw bytes; returns out"),
    ("correct_first_call_compiles", "metadata", "first call sleeps 2.5 s"),
    ("correct_triton_clamp", "metadata", "Triton clamp kernel under the interpreter"),
    ("correct_big_workspace", "metadata", "1 GiB workspace, 256 MiB temp, global torch state"),
    ("correct_env_decode_p1", "metadata", "envelope decode, page 1; wrong outside"),
    ("correct_env_contiguous_int32", "metadata", "envelope contiguous int32; wrong outside"),
    ("correct_env_fixed", "metadata", "envelope fixed modes, next_n 2, topk 2048"),
    ("correct_v1_strided", "expand", "non-contiguous returned views"),
    ("correct_v1_static_buffer", "expand", "returns views of static buffers, reused"),
    ("correct_v1_aliases", "expand", "returns seq_lens itself; one tensor twice; a list"),
    ("correct_v1_cached", "expand", "cached result objects; a thread per miss"),
]

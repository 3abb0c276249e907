"""Planted-bug contract-v2 candidates, one per input family of CONTRACT_V2.md, for
measuring `python -m fuzz run --op metadata`; `correct` is right everywhere.

Each has the v2 candidate signature, writes into `out` and is wrong ONLY on its family:
it bends one step of `_fill`, the plain correct core. Self-contained (loaded by path in a
worker), except `correct`, which wraps the shipped torch backend.
"""

from __future__ import annotations

import weakref

import torch

INT32_MAX = 2**31 - 1


def _running(values: list[int]) -> list[int]:
    sums = [0]
    for v in values:
        sums.append(sums[-1] + v)
    return sums


def _t(values, device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64, device=device)


def _fill(
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
    bend=None,
):
    """The contract's tables, step by step; `bend(step, value, env)` may replace a step."""
    bend = bend or (lambda step, value, env: value)
    env = dict(mode=mode, next_n=next_n, page_size=page_size, width=width, out=out)
    env.update(seq_lens=seq_lens, req_pool_indices=req_pool_indices, req_to_token=req_to_token)
    env.update(extend_seq_lens=extend_seq_lens)
    s = bend("s", seq_lens.tolist(), env)
    r = bend("r", req_pool_indices.tolist(), env)
    bs, N, P, W = len(s), next_n, page_size, width
    if mode == "decode":
        e, kv = [1] * bs, list(s)
    elif mode == "target_verify":
        e, kv = [N] * bs, [x + N for x in s]
    elif mode == "draft_extend":
        e, kv = [N] * bs, list(s)
    else:
        e, kv = extend_seq_lens.tolist(), list(s)
    e, kv = bend("e_kv", (e, kv), env)
    owners = bend("owners", [i for i in range(bs) for _ in range(e[i])], env)
    expanded = [kv[i] - e[i] + 1 + d for i in range(bs) for d in range(e[i])]
    dsa = bend("dsa", [min(v, topk) for v in expanded], env)
    T = len(expanded)
    device = seq_lens.device
    cu = bend("cu", _running(kv), env)
    dsa_cu = bend("dsa_cu", _running(dsa), env)
    out.cache_seqlens[:bs] = _t(kv, device)
    out.cu_seqlens_k[: bs + 1] = _t(cu, device)
    out.seqlens_expanded[:T] = _t(expanded, device)
    out.dsa_cache_seqlens[:T] = _t(dsa, device)
    out.dsa_cu_seqlens_k[: T + 1] = _t(dsa_cu, device)
    if T == 0:
        return
    table = bend("table", req_to_token, env)
    rows = table[_t([r[i] for i in owners], device)][:, :W]
    rows = bend("rows", rows, env)
    if bend("write_page_table", True, {**env, "T": T}):
        cols = bend("page_cols", W, env)
        out.page_table_1[:T, :cols] = rows[:, :cols]
    if out.real_page_table is not None:
        pages = bend("pages", torch.div(rows[:, ::P], P, rounding_mode="floor"), env)
        out.real_page_table[:T, : pages.shape[1]] = pages
    bend("after", None, {**env, "T": T})


def correct(*, out, **kw):
    """No bug: the shipped torch backend into the caller's buffers, validation off."""
    import nsa_meta

    mode = kw.pop("mode")
    nsa_meta.metadata(
        mode,
        kw.pop("seq_lens"),
        kw.pop("req_pool_indices"),
        kw.pop("req_to_token"),
        backend="torch",
        out=out,
        validate=False,
        **kw,
    )


def plain(**kw):
    """No bug either: the core every mutant bends (proves the bends are the only bugs)."""
    _fill(**kw)


def _mutant(bend):
    def fn(**kw):
        _fill(**kw, bend=bend)

    fn.__doc__ = bend.__doc__
    return fn


# --- one bend per family ---------------------------------------------------------------------


def _pool_stride(step, value, env):
    """decode: req_pool_indices read with stride 1 (its stride ignored)."""
    t = env["req_pool_indices"]
    if step == "r" and env["mode"] == "decode" and t.numel():
        return torch.as_strided(t, (t.numel(),), (1,), t.storage_offset()).tolist()
    return value


def _tv_kv(step, value, env):
    """target_verify: kv = s, without + next_n."""
    if step == "e_kv" and env["mode"] == "target_verify":
        return value[0], env["seq_lens"].tolist()
    return value


def _de_base(step, value, env):
    """draft_extend: the base built from seq_lens + N (upstream's off-by-N)."""
    if step == "e_kv" and env["mode"] == "draft_extend":
        return value[0], [x + env["next_n"] for x in env["seq_lens"].tolist()]
    return value


def _zero_extends(step, value, env):
    """draft_extend_var: requests with no rows are compacted away before kv is read."""
    if step == "owners" and env["mode"] == "draft_extend_var":
        e = env["extend_seq_lens"].tolist()
        live = [i for i in range(len(e)) if e[i] > 0]
        return [k for k, i in enumerate(live) for _ in range(e[i])]
    return value


def _width_multiple(step, value, env):
    """page_table_1: only whole pages of columns written when width % page_size != 0."""
    if step == "page_cols" and env["page_size"] > 1:
        return value - value % env["page_size"]
    return value


def _real_page(step, value, env):
    """real_page_table: one page too far (page index + 1)."""
    return value + 1 if step == "pages" else value


def _float_sums(step, value, env):
    """cu_seqlens_k: running sum in float32 (exact only below 2**24)."""
    if step == "cu":
        kv = torch.tensor([b - a for a, b in zip(value, value[1:])], dtype=torch.float32)
        return [0] + torch.cumsum(kv, 0).to(torch.int64).tolist()
    return value


_high_water: dict[int, tuple[weakref.ref, int]] = {}  # id(buffer) -> (the buffer, largest T)


def _stale(step, value, env):
    """page_table_1 rewritten only when T grows past what these buffers held before."""
    if step == "write_page_table":
        buf = env["out"].page_table_1
        ref, before = _high_water.get(id(buf), (None, -1))
        if ref is None or ref() is not buf:  # new buffers (an id may be reused)
            before = -1
        _high_water[id(buf)] = (weakref.ref(buf), max(before, env["T"]))
        return env["T"] > before
    return value


def _row_past_t(step, value, env):
    """page_table_1: one row past T written (with zeros) when the buffer has room."""
    if step == "after":
        buf, T = env["out"].page_table_1, env["T"]
        if T < buf.shape[0]:
            buf[T, : env["width"]] = 0
    return value


def _int64_as_int32(step, value, env):
    """seq_lens of int64 read as int32 words."""
    t = env["seq_lens"]
    if step == "s" and t.dtype == torch.int64:
        return t.contiguous().view(torch.int32)[: t.numel()].tolist()
    return value


def _col_stride(step, value, env):
    """req_to_token read with column stride 1 (a transposed table goes wrong)."""
    if step == "table" and value.stride(1) != 1:
        pool, cols = value.shape
        return torch.as_strided(value, (pool, cols), (value.stride(0), 1), value.storage_offset())
    return value


def _bs128(step, value, env):
    """cu_seqlens_k: each block of 128 requests sums on its own (no carry between blocks)."""
    if step == "cu" and len(value) > 129:
        kv = [b - a for a, b in zip(value, value[1:])]
        out = [0]
        for i, v in enumerate(kv):
            out.append((out[-1] if i % 128 else 0) + v)
        return out
    return value


def _bs0(step, value, env):
    """bs 0: takes the longest sequence first (max of an empty tensor raises)."""
    if step == "s":
        int(env["seq_lens"].max())
    return value


def _clamp_below(step, value, env):
    """dsa_cache_seqlens clamped from below at 0 too (padded requests with kv < e)."""
    return [max(v, 0) for v in value] if step == "dsa" else value


decode_ignores_pool_stride = _mutant(_pool_stride)
target_verify_without_n = _mutant(_tv_kv)
draft_extend_base_off_by_n = _mutant(_de_base)
var_ignores_zero_extends = _mutant(_zero_extends)
page_table_width_not_multiple = _mutant(_width_multiple)
real_page_table_off_by_one = _mutant(_real_page)
cu_sums_float32 = _mutant(_float_sums)
stale_page_table = _mutant(_stale)
writes_row_past_t = _mutant(_row_past_t)
int64_seq_read_as_int32 = _mutant(_int64_as_int32)
transposed_table_column_stride = _mutant(_col_stride)
bs128_no_carry = _mutant(_bs128)
bs0_crash = _mutant(_bs0)
topk_clamp_from_below = _mutant(_clamp_below)

MUTANTS = {
    "mode decode": "decode_ignores_pool_stride",
    "mode target_verify": "target_verify_without_n",
    "mode draft_extend": "draft_extend_base_off_by_n",
    "zero extends": "var_ignores_zero_extends",
    "page size, width not a multiple": "page_table_width_not_multiple",
    "page size > 1": "real_page_table_off_by_one",
    "running sums near int32": "cu_sums_float32",
    "back-to-back calls": "stale_page_table",
    "write region": "writes_row_past_t",
    "int64 inputs": "int64_seq_read_as_int32",
    "transposed req_to_token": "transposed_table_column_stride",
    "bs >= 128": "bs128_no_carry",
    "bs 0": "bs0_crash",
    "kv < e padding": "topk_clamp_from_below",
}


# --- a second set, one more per family of the list (bs either side of 32, 1024 and
# 16384, next_n 8, page sizes that are not powers of two, a width below the page size,
# repeated and last pool indices, int64 extends, dtype mixes, sums near 2**31, bs growing
# between calls on one set of buffers) ----------------------------------------------------


def _cu_off_past(n: int):
    def bend(step, value, env):
        if step == "cu" and len(value) > n + 1:
            return value[: n + 1] + [v + 1 for v in value[n + 1 :]]
        return value

    bend.__doc__ = f"cu_seqlens_k: one too many past request {n} (a block boundary)."
    return bend


def _single(step, value, env):
    """cu_seqlens_k: a one-request fast path that writes [0, 0]."""
    return [0, 0] if step == "cu" and len(value) == 2 else value


def _next_n_8(step, value, env):
    """target_verify: at most 7 rows a request (a next_n table sized for 7)."""
    if step == "e_kv" and env["mode"] == "target_verify" and env["next_n"] >= 8:
        return [min(x, 7) for x in value[0]], value[1]
    return value


def _page_shift(step, value, env):
    """real_page_table: the page index by a shift (exact for powers of two only)."""
    P = env["page_size"]
    if step == "pages" and P & (P - 1):
        return value * P // (1 << (P.bit_length() - 1))
    return value


def _width_below(step, value, env):
    """real_page_table: a width below the page size leaves its one page unwritten."""
    if step == "pages" and env["width"] < env["page_size"]:
        return value[:, :0]
    return value


def _repeat_index(step, value, env):
    """a pool index equal to the previous request's reads row 0 (a dedup gone wrong)."""
    if step == "r":
        return [0 if i and x == value[i - 1] else x for i, x in enumerate(value)]
    return value


def _last_row(step, value, env):
    """the last pool row is never read: indices clamped to pool - 2."""
    if step == "r":
        pool = env["req_to_token"].shape[0]
        return [min(x, max(pool - 2, 0)) for x in value]
    return value


def _extend_int64(step, value, env):
    """draft_extend_var: int64 extend_seq_lens read as int32 words."""
    t = env["extend_seq_lens"]
    if step == "e_kv" and env["mode"] == "draft_extend_var" and t.dtype == torch.int64:
        return t.contiguous().view(torch.int32)[: t.numel()].tolist(), value[1]
    return value


def _dtype_mix(step, value, env):
    """int64 seq_lens with int32 req_pool_indices: kv one too many (one template of four)."""
    mixed = env["seq_lens"].dtype == torch.int64 and env["req_pool_indices"].dtype == torch.int32
    if step == "e_kv" and mixed:
        return value[0], [x + 1 for x in value[1]]
    return value


def _sum_doubled(step, value, env):
    """dsa_cu_seqlens_k: a sum formed as 2 * s in int32 (wraps from 2**30)."""
    if step == "dsa_cu":
        return [((2 * v + 2**31) % 2**32 - 2**31) // 2 if v >= 2**30 else v for v in value]
    return value


_bs_seen: dict[int, tuple[weakref.ref, int]] = {}  # id(buffer) -> (the buffer, its last bs)


def _bs_grows(step, value, env):
    """cu_seqlens_k: past the previous call's bs, zeros (a buffer sized on first use)."""
    if step == "cu":
        buf = env["out"].cu_seqlens_k
        ref, before = _bs_seen.get(id(buf), (None, None))
        if ref is None or ref() is not buf:
            before = None
        _bs_seen[id(buf)] = (weakref.ref(buf), len(value))
        if before is not None and len(value) > before:
            return value[:before] + [0] * (len(value) - before)
    return value


bs_over_32_off = _mutant(_cu_off_past(32))
bs_over_1024_off = _mutant(_cu_off_past(1024))
bs_over_16384_off = _mutant(_cu_off_past(16384))
bs1_fast_path = _mutant(_single)
next_n_8_short = _mutant(_next_n_8)
page_size_shift = _mutant(_page_shift)
width_below_page_size = _mutant(_width_below)
repeated_pool_index_row0 = _mutant(_repeat_index)
last_pool_row_unread = _mutant(_last_row)
extend_int64_as_int32 = _mutant(_extend_int64)
dtype_mix_off_by_one = _mutant(_dtype_mix)
dsa_sums_doubled_int32 = _mutant(_sum_doubled)
bs_growth_zeros = _mutant(_bs_grows)

MUTANTS.update(
    {
        "bs either side of 32": "bs_over_32_off",
        "bs either side of 1024": "bs_over_1024_off",
        "bs either side of 16384": "bs_over_16384_off",
        "bs 1": "bs1_fast_path",
        "next_n 8": "next_n_8_short",
        "page size 3": "page_size_shift",
        "width below the page size": "width_below_page_size",
        "repeated pool indices": "repeated_pool_index_row0",
        "pool index at the end": "last_pool_row_unread",
        "int64 extends": "extend_int64_as_int32",
        "int32/int64 mix": "dtype_mix_off_by_one",
        "running sums near int32 (2 * s)": "dsa_sums_doubled_int32",
        "bs growing on one set of buffers": "bs_growth_zeros",
    }
)

HUNT = [(n, "metadata", f) for f, n in MUTANTS.items()] + [("correct", "metadata", "no bug")]

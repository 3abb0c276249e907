"""Second red-team round: planted bugs of narrow reach, each wrong in one corner of one input
family of issue 10 (v2, `--op metadata`) or of CONTRACT.md (v1, `--op expand`), and a
correct candidate of each op. Hunted by
`python benchmarks/hunt.py benchmarks/redteam2_mutants.py --seconds 60 --shrink-seconds 2`.

Every mutant is the torch backend (`nsa_meta.metadata` / `nsa_meta.expand`, validate off)
followed by one planted fault that fires only under its condition (its docstring).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nsa_meta  # noqa: E402

INT32_MAX = 2**31 - 1

# --- v2 helpers ---------------------------------------------------------------------------------


def _fill(kw: dict) -> None:
    nsa_meta.metadata(
        kw["mode"],
        kw["seq_lens"],
        kw["req_pool_indices"],
        kw["req_to_token"],
        topk=kw["topk"],
        width=kw["width"],
        page_size=kw["page_size"],
        next_n=kw["next_n"],
        extend_seq_lens=kw["extend_seq_lens"],
        backend="torch",
        out=kw["out"],
        validate=False,
    )


def _shape(kw: dict) -> tuple[list[int], list[int], list[int]]:
    """(e, kv, row starts cu) of the call, on the host."""
    s = kw["seq_lens"].tolist()
    mode, N = kw["mode"], kw["next_n"]
    if mode == "decode":
        e, kv = [1] * len(s), s
    elif mode == "target_verify":
        e, kv = [N] * len(s), [v + N for v in s]
    elif mode == "draft_extend":
        e, kv = [N] * len(s), s
    else:
        e, kv = kw["extend_seq_lens"].tolist(), s
    cu = [0]
    for v in e:
        cu.append(cu[-1] + v)
    return e, kv, cu


def _dtypes(kw: dict) -> tuple[str, str, str | None]:
    ext = kw["extend_seq_lens"]
    name = {torch.int32: "int32", torch.int64: "int64"}
    return (
        name[kw["seq_lens"].dtype],
        name[kw["req_pool_indices"].dtype],
        None if ext is None else name[ext.dtype],
    )


def _redo_dsa_cu(out, T: int) -> None:
    """dsa_cu_seqlens_k rebuilt from the (mutated) dsa_cache_seqlens."""
    if T:
        acc = torch.cumsum(out.dsa_cache_seqlens[:T].to(torch.int64), 0).to(torch.int32)
        out.dsa_cu_seqlens_k[1 : T + 1] = acc


def _pages_of(kw: dict) -> None:
    """real_page_table recomputed from the (mutated) page_table_1."""
    out, P = kw["out"], kw["page_size"]
    if P > 1:
        T = _shape(kw)[2][-1]
        cols = out.page_table_1[:T, 0 : kw["width"] : P]
        out.real_page_table[:T, : cols.shape[1]] = torch.div(cols, P, rounding_mode="floor")


def _rows(cu: list[int], i: int) -> slice:
    return slice(cu[i], cu[i + 1])


def _v2(fn):
    fn.op = "metadata"
    return fn


_state: dict = {}  # per-buffer memory of stateful mutants: {name: (out, ...)}


def _previous(name: str, out, now):
    """What the last call on these same buffers recorded for `name` (None on a new case)."""
    last = _state.get(name)
    _state[name] = (out, now)
    return last[1] if last is not None and last[0] is out else None


# --- v2 mutants ---------------------------------------------------------------------------------


@_v2
def correct(**kw) -> None:
    """The torch backend as it is."""
    _fill(kw)


@_v2
def cu_seq_i64_idx_i32(**kw) -> None:
    """seq_lens int64 with req_pool_indices int32: the last cu_seqlens_k is one too many."""
    _fill(kw)
    s, r, _ = _dtypes(kw)
    bs = kw["seq_lens"].numel()
    if (s, r) == ("int64", "int32") and bs:
        kw["out"].cu_seqlens_k[bs] += 1


@_v2
def var_ext_i32_seq_i64(**kw) -> None:
    """draft_extend_var with extend_seq_lens int32 and seq_lens int64: the first row is one low."""
    _fill(kw)
    s, _, e = _dtypes(kw)
    if (s, e) == ("int64", "int32") and _shape(kw)[2][-1]:
        kw["out"].seqlens_expanded[0] -= 1


@_v2
def var_i32_i64_i64_mix(**kw) -> None:
    """draft_extend_var with seq int32, extends int64, pool indices int64: cu_seqlens_k[1] + 1."""
    _fill(kw)
    if _dtypes(kw) == ("int32", "int64", "int64") and kw["seq_lens"].numel():
        kw["out"].cu_seqlens_k[1] += 1


@_v2
def idx_i64_strided(**kw) -> None:
    """req_pool_indices int64 with a step >= 2 read as if contiguous (from its offset)."""
    r = kw["req_pool_indices"]
    if r.dtype == torch.int64 and r.stride(0) >= 2 and r.numel():
        kw = {**kw, "req_pool_indices": r.as_strided((r.numel(),), (1,), r.storage_offset())}
        kw["req_pool_indices"] = kw["req_pool_indices"].clamp(0, kw["req_to_token"].shape[0] - 1)
    _fill(kw)


@_v2
def idx_stride0_as_row0(**kw) -> None:
    """req_pool_indices of stride 0 (a broadcast) taken as pool row 0."""
    r = kw["req_pool_indices"]
    if r.numel() > 1 and r.stride(0) == 0:
        kw = {**kw, "req_pool_indices": torch.zeros_like(r)}
    _fill(kw)


@_v2
def last_pool_row(**kw) -> None:
    """A pool index at the last pool row reads the row before it (bound pool - 2)."""
    r, table = kw["req_pool_indices"], kw["req_to_token"]
    pool = table.shape[0]
    if pool > 1:
        kw = {**kw, "req_pool_indices": torch.clamp(r, max=pool - 2)}
    _fill(kw)


@_v2
def seq_i32_offset_ignored(**kw) -> None:
    """seq_lens int32, stride 1 at a storage offset: read from the storage's start."""
    s = kw["seq_lens"]
    if s.dtype == torch.int32 and s.stride(0) == 1 and s.storage_offset() and s.numel():
        kw = {**kw, "seq_lens": s.as_strided((s.numel(),), (1,), 0).clamp(0, 2**30)}
    _fill(kw)


@_v2
def var_ext_i64_strided(**kw) -> None:
    """draft_extend_var, extend_seq_lens int64 with a step >= 2: the last row is one high."""
    _fill(kw)
    x = kw["extend_seq_lens"]
    T = _shape(kw)[2][-1]
    if x is not None and x.dtype == torch.int64 and x.stride(0) >= 2 and T:
        kw["out"].seqlens_expanded[T - 1] += 1


@_v2
def page3_width_mod1(**kw) -> None:
    """page 3 with width % 3 == 1: the last page column is never written (floor, not ceil)."""
    out, W = kw["out"], kw["width"]
    keep = out.real_page_table.clone() if kw["page_size"] == 3 and W % 3 == 1 else None
    _fill(kw)
    if keep is not None:
        out.real_page_table[:, -1] = keep[:, -1]


@_v2
def width_below_page(**kw) -> None:
    """width below the page size: real_page_table holds the token id, not the page."""
    _fill(kw)
    P, W, out = kw["page_size"], kw["width"], kw["out"]
    if P > 1 and W < P:
        T = _shape(kw)[2][-1]
        out.real_page_table[:T, 0] = out.page_table_1[:T, 0]


@_v2
def page128_second_page(**kw) -> None:
    """page 128 and more than one page: page 1 read from column 127 instead of 128."""
    _fill(kw)
    P, W, out = kw["page_size"], kw["width"], kw["out"]
    if P == 128 and W > 128:
        T = _shape(kw)[2][-1]
        out.real_page_table[:T, 1] = torch.div(
            out.page_table_1[:T, 127], 128, rounding_mode="floor"
        )


@_v2
def page64_tail_from_last_col(**kw) -> None:
    """page 64, width over 64 and not a multiple: the last page from column width - 1."""
    _fill(kw)
    P, W, out = kw["page_size"], kw["width"], kw["out"]
    if P == 64 and W > 64 and W % 64:
        T = _shape(kw)[2][-1]
        out.real_page_table[:T, -1] = torch.div(
            out.page_table_1[:T, W - 1], 64, rounding_mode="floor"
        )


@_v2
def page_shift_pow2(**kw) -> None:
    """real_page_table as token >> log2(page): wrong for a page size not a power of two."""
    _fill(kw)
    P, out = kw["page_size"], kw["out"]
    if P > 1 and P & (P - 1):
        T = _shape(kw)[2][-1]
        cols = out.page_table_1[:T, 0 : kw["width"] : P]
        out.real_page_table[:T, : cols.shape[1]] = cols >> (P.bit_length() - 1)


@_v2
def topk_equals_row(**kw) -> None:
    """A row whose length equals topk exactly is clamped to topk - 1 (`<` for `<=`)."""
    _fill(kw)
    out, K = kw["out"], kw["topk"]
    T = _shape(kw)[2][-1]
    if T and K > 0:
        hit = out.seqlens_expanded[:T] == K
        out.dsa_cache_seqlens[:T] = torch.where(hit, K - 1, out.dsa_cache_seqlens[:T])


@_v2
def topk_zero_no_clamp(**kw) -> None:
    """topk 0 taken as "no limit": dsa lengths (and their sums) unclamped."""
    _fill(kw)
    out = kw["out"]
    T = _shape(kw)[2][-1]
    if kw["topk"] == 0 and T:
        out.dsa_cache_seqlens[:T] = out.seqlens_expanded[:T]
        _redo_dsa_cu(out, T)


@_v2
def topk_int32_max(**kw) -> None:
    """topk 2**31 - 1 clamps at 2**31 - 2 (topk + 1 overflowed, then - 1 twice)."""
    _fill(kw)
    out = kw["out"]
    T = _shape(kw)[2][-1]
    if kw["topk"] == INT32_MAX and T:
        out.dsa_cache_seqlens[:T] = out.dsa_cache_seqlens[:T].clamp(max=INT32_MAX - 1)


@_v2
def decode_dsa_cu_unclamped(**kw) -> None:
    """decode: dsa_cu_seqlens_k summed from the unclamped lengths."""
    _fill(kw)
    out = kw["out"]
    T = _shape(kw)[2][-1]
    if kw["mode"] == "decode" and T:
        acc = torch.cumsum(out.seqlens_expanded[:T].to(torch.int64), 0)
        out.dsa_cu_seqlens_k[1 : T + 1] = acc.to(torch.int32)


@_v2
def stale_bs_shrinks(**kw) -> None:
    """A later call on the same buffers with a smaller bs skips cache_seqlens[bs - 1]."""
    out = kw["out"]
    bs = kw["seq_lens"].numel()
    before = _previous("stale_bs_shrinks", out, bs)
    keep = out.cache_seqlens.clone()
    _fill(kw)
    if before is not None and 0 < bs < before:
        out.cache_seqlens[bs - 1] = keep[bs - 1]


@_v2
def bs_grows_unwritten(**kw) -> None:
    """Buffers captured at the first call's bs: a later, larger bs writes only that many
    cache_seqlens."""
    out = kw["out"]
    bs = kw["seq_lens"].numel()
    first = _previous("bs_grows_unwritten", out, None)
    if first is None:
        _state["bs_grows_unwritten"] = (out, bs)
    else:
        _state["bs_grows_unwritten"] = (out, first)
    keep = out.cache_seqlens.clone()
    _fill(kw)
    if first is not None and bs > first:
        out.cache_seqlens[first:bs] = keep[first:bs]


@_v2
def var_T_grows_dsa_cu(**kw) -> None:
    """draft_extend_var replays: dsa_cu_seqlens_k written only up to the first call's T."""
    out = kw["out"]
    T = _shape(kw)[2][-1]
    first = _previous("var_T_grows_dsa_cu", out, None)
    _state["var_T_grows_dsa_cu"] = (out, T if first is None else first)
    keep = out.dsa_cu_seqlens_k.clone()
    _fill(kw)
    if kw["mode"] == "draft_extend_var" and first is not None and T > first:
        out.dsa_cu_seqlens_k[first + 1 : T + 1] = keep[first + 1 : T + 1]


@_v2
def stale_same_pool_row(**kw) -> None:
    """A replay skips the page-table gather of a request whose pool index is unchanged
    (the pool's content or the row positions may have changed)."""
    out = kw["out"]
    r = kw["req_pool_indices"].tolist()
    before = _previous("stale_same_pool_row", out, r)
    keep = out.page_table_1.clone()
    _fill(kw)
    if before is not None and len(before) == len(r):
        _, _, cu = _shape(kw)
        for i, (a, b) in enumerate(zip(before, r)):
            if a == b:
                out.page_table_1[_rows(cu, i)] = keep[_rows(cu, i)]
        _pages_of(kw)


@_v2
def T_equals_capacity(**kw) -> None:
    """T exactly the buffers' row capacity: dsa_cu_seqlens_k[T] is not written."""
    out = kw["out"]
    T = _shape(kw)[2][-1]
    keep = out.dsa_cu_seqlens_k.clone()
    _fill(kw)
    if T and out.seqlens_expanded.numel() == T:
        out.dsa_cu_seqlens_k[T] = keep[T]


@_v2
def bs_equals_capacity(**kw) -> None:
    """bs exactly the buffers' capacity: cu_seqlens_k[bs] repeats cu_seqlens_k[bs - 1]."""
    out = kw["out"]
    bs = kw["seq_lens"].numel()
    _fill(kw)
    if bs and out.cache_seqlens.numel() == bs:
        out.cu_seqlens_k[bs] = out.cu_seqlens_k[bs - 1]


@_v2
def bs_tail_33(**kw) -> None:
    """bs past 32 with bs % 32 == 1 (a lone request in the last tile): its kv is one high."""
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if bs > 32 and bs % 32 == 1:
        kw["out"].cache_seqlens[bs - 1] += 1


@_v2
def bs_tail_129_pool(**kw) -> None:
    """bs past 128 with bs % 128 == 1: the last request gathers the pool row of the one
    before it."""
    bs = kw["seq_lens"].numel()
    if bs > 128 and bs % 128 == 1:
        r = kw["req_pool_indices"].clone()
        r[bs - 1] = r[bs - 2]
        kw = {**kw, "req_pool_indices": r}
    _fill(kw)


@_v2
def bs_1023(**kw) -> None:
    """bs % 1024 == 1023 (a tile one short): cu_seqlens_k[bs - 1] one high."""
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if bs % 1024 == 1023:
        kw["out"].cu_seqlens_k[bs - 1] += 1


@_v2
def bs_16384_exact(**kw) -> None:
    """bs exactly 16384: the last running sum cu_seqlens_k[bs] one high."""
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if bs == 16384:
        kw["out"].cu_seqlens_k[bs] += 1


@_v2
def tv_next_n_8(**kw) -> None:
    """target_verify with next_n 8: each request's last row one low."""
    _fill(kw)
    if kw["mode"] == "target_verify" and kw["next_n"] == 8:
        _, _, cu = _shape(kw)
        for end in cu[1:]:
            kw["out"].seqlens_expanded[end - 1] -= 1


@_v2
def de_next_n_5to7(**kw) -> None:
    """draft_extend with next_n 5, 6 or 7: dsa_cu_seqlens_k[T] one high."""
    _fill(kw)
    T = _shape(kw)[2][-1]
    if kw["mode"] == "draft_extend" and 5 <= kw["next_n"] <= 7 and T:
        kw["out"].dsa_cu_seqlens_k[T] += 1


@_v2
def decode_uses_next_n(**kw) -> None:
    """decode with next_n > 1: kv taken as s + next_n - 1 in cache_seqlens."""
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if kw["mode"] == "decode" and kw["next_n"] > 1 and bs:
        kw["out"].cache_seqlens[:bs] += kw["next_n"] - 1


@_v2
def all_zero_skips_cu(**kw) -> None:
    """draft_extend_var with every extend 0 (bs > 0): returns before writing cu_seqlens_k."""
    out = kw["out"]
    keep = out.cu_seqlens_k.clone()
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if kw["mode"] == "draft_extend_var" and bs and _shape(kw)[2][-1] == 0:
        out.cu_seqlens_k[: bs + 1] = keep[: bs + 1]


@_v2
def zero_then_row_pool(**kw) -> None:
    """draft_extend_var: the first row after a zero-extend request (not the first request)
    gathers the zero request's pool row."""
    _fill(kw)
    if kw["mode"] != "draft_extend_var":
        return
    e, _, cu = _shape(kw)
    r, table, W = kw["req_pool_indices"].tolist(), kw["req_to_token"], kw["width"]
    for i in range(2, len(e)):
        if e[i - 1] == 0 and e[i] and e[i - 2]:
            kw["out"].page_table_1[cu[i], :] = table[r[i - 1], :W]
    _pages_of(kw)


@_v2
def pad_clamp_negative(**kw) -> None:
    """Rows of a padded request below 0 clamped to 0 (a clamp from below), sums too."""
    _fill(kw)
    out = kw["out"]
    T = _shape(kw)[2][-1]
    if T and bool((out.seqlens_expanded[:T] < 0).any()):
        out.seqlens_expanded[:T] = out.seqlens_expanded[:T].clamp(min=0)
        out.dsa_cache_seqlens[:T] = out.dsa_cache_seqlens[:T].clamp(min=0)
        _redo_dsa_cu(out, T)


@_v2
def padding_s1_rows_skipped(**kw) -> None:
    """draft_extend: a request of SGLang's padding (s = 1, next_n >= 2) gets no page-table
    rows written ("a dummy request is never read")."""
    out = kw["out"]
    keep = out.page_table_1.clone()
    _fill(kw)
    if kw["mode"] == "draft_extend" and kw["next_n"] >= 2:
        s = kw["seq_lens"].tolist()
        _, _, cu = _shape(kw)
        for i, v in enumerate(s):
            if v == 1:
                out.page_table_1[_rows(cu, i)] = keep[_rows(cu, i)]


@_v2
def transposed_table(**kw) -> None:
    """req_to_token with a column stride other than 1 read as if its columns were
    contiguous (row stride kept)."""
    t = kw["req_to_token"]
    if t.stride(1) != 1 and t.shape[0] > 1:
        rows, cols = t.shape
        flat = t.as_strided((rows, cols), (t.stride(0), 1), t.storage_offset())
        kw = {**kw, "req_to_token": flat.clone().clamp(min=0)}
    _fill(kw)


@_v2
def col_offset_ignored(**kw) -> None:
    """req_to_token sliced from a column offset: each row read from its storage row's start."""
    t = kw["req_to_token"]
    off = t.storage_offset()
    if t.stride(1) == 1 and t.stride(0) > 1 and off % t.stride(0):
        base = off - off % t.stride(0)
        kw = {**kw, "req_to_token": t.as_strided(t.shape, t.stride(), base).clamp(min=0)}
    _fill(kw)


@_v2
def repeated_idx_gathered_once(**kw) -> None:
    """A pool index repeated later in the batch: its later rows are not gathered."""
    out = kw["out"]
    keep = out.page_table_1.clone()
    _fill(kw)
    r = kw["req_pool_indices"].tolist()
    _, _, cu = _shape(kw)
    seen = set()
    for i, v in enumerate(r):
        if v in seen:
            out.page_table_1[_rows(cu, i)] = keep[_rows(cu, i)]
        seen.add(v)


@_v2
def idx_zero_sentinel_pages(**kw) -> None:
    """Pool row 0 taken as SGLang's padding slot when page_size > 1: its real_page_table
    rows zeroed."""
    _fill(kw)
    if kw["page_size"] > 1:
        r = kw["req_pool_indices"].tolist()
        _, _, cu = _shape(kw)
        for i, v in enumerate(r):
            if v == 0:
                kw["out"].real_page_table[_rows(cu, i)] = 0


@_v2
def cu_float32(**kw) -> None:
    """cu_seqlens_k summed in float32: wrong once a running sum passes 2**24."""
    _fill(kw)
    _, kv, _ = _shape(kw)
    if kv:
        acc = torch.cumsum(torch.tensor(kv, dtype=torch.float32), 0)
        kw["out"].cu_seqlens_k[1 : len(kv) + 1] = acc.to(torch.int64).clamp(max=INT32_MAX)


@_v2
def tv_kv_max(**kw) -> None:
    """target_verify: a kv of exactly 2**31 - 1 stored as 2**31 - 2."""
    _fill(kw)
    if kw["mode"] == "target_verify":
        _, kv, _ = _shape(kw)
        for i, v in enumerate(kv):
            if v == INT32_MAX:
                kw["out"].cache_seqlens[i] = INT32_MAX - 1


@_v2
def token_ids_float32(**kw) -> None:
    """page_table_1 through float32: token ids past 2**24 lose their low bits."""
    _fill(kw)
    T = _shape(kw)[2][-1]
    if T:
        pt = kw["out"].page_table_1[:T]
        pt.copy_(pt.to(torch.float32).to(torch.int64).clamp(max=INT32_MAX).to(torch.int32))


@_v2
def tv_cols_past_kv_zero(**kw) -> None:
    """target_verify: page-table columns at or past kv[i] zeroed (a context-limit mask)."""
    _fill(kw)
    if kw["mode"] != "target_verify":
        return
    _, kv, cu = _shape(kw)
    for i, v in enumerate(kv):
        if v < kw["width"]:
            kw["out"].page_table_1[_rows(cu, i), v:] = 0
    _pages_of(kw)


@_v2
def wide_col_tile_1024(**kw) -> None:
    """width past 1024: columns from 1024 on are not written (one column tile only)."""
    out = kw["out"]
    keep = out.page_table_1.clone() if kw["width"] > 1024 else None
    _fill(kw)
    if keep is not None:
        out.page_table_1[:, 1024:] = keep[:, 1024:]


@_v2
def width1_reads_col1(**kw) -> None:
    """width 1 with a wider req_to_token: page_table_1 reads column 1 (an off-by-one start)."""
    _fill(kw)
    t = kw["req_to_token"]
    if kw["width"] == 1 and t.shape[1] > 1:
        _, _, cu = _shape(kw)
        r = kw["req_pool_indices"].tolist()
        for i, v in enumerate(r):
            kw["out"].page_table_1[_rows(cu, i), 0] = t[v, 1]
        _pages_of(kw)


@_v2
def out_row_stride_as_width(**kw) -> None:
    """page_table_1 whose row stride exceeds its width: rows written at stride width
    (packed), as if contiguous."""
    out = kw["out"]
    pt = out.page_table_1
    W = kw["width"]
    if pt.stride(1) == 1 and pt.stride(0) > W and pt.shape[0] > 1:
        packed = pt.as_strided(pt.shape, (W, 1), pt.storage_offset())
        _fill({**kw, "out": out._replace(page_table_1=packed)})
    else:
        _fill(kw)


@_v2
def vec_stride_dsa_cu(**kw) -> None:
    """dsa_cu_seqlens_k of a stride other than 1 written as if contiguous."""
    out = kw["out"]
    d = out.dsa_cu_seqlens_k
    if d.stride(0) > 1 and d.numel() > 1:
        packed = d.as_strided(d.shape, (1,), d.storage_offset())
        _fill({**kw, "out": out._replace(dsa_cu_seqlens_k=packed)})
    else:
        _fill(kw)


@_v2
def cu_exact_int32_max(**kw) -> None:
    """A final cu_seqlens_k of exactly 2**31 - 1 saturates one short (`>=` taken as overflow)."""
    _fill(kw)
    _, kv, _ = _shape(kw)
    if kv and sum(kv) == INT32_MAX:
        kw["out"].cu_seqlens_k[len(kv)] = INT32_MAX - 1


@_v2
def dsa_cu_closed_form(**kw) -> None:
    """A request of e >= 2 unclamped rows summed in closed form, e * (2 kv - e + 1), in int32:
    wrong once that product passes 2**31 - 1 (the halved sum still fits)."""
    _fill(kw)
    e, kv, _ = _shape(kw)
    K = kw["topk"]
    over = [n >= 2 and K >= k and n * (2 * k - n + 1) > INT32_MAX for n, k in zip(e, kv)]
    T = sum(e)
    if any(over) and T:
        kw["out"].dsa_cu_seqlens_k[T] -= 1


@_v2
def rows_past_65536(**kw) -> None:
    """T past 2**16 rows: seqlens_expanded from row 65536 on one high (16-bit row ids)."""
    _fill(kw)
    T = _shape(kw)[2][-1]
    if T > 65536:
        kw["out"].seqlens_expanded[65536:T] += 1


@_v2
def third_call_stale(**kw) -> None:
    """The third call on the same buffers does not rewrite dsa_cache_seqlens."""
    out = kw["out"]
    n = _previous("third_call_stale", out, None)
    n = 1 if n is None else n + 1
    _state["third_call_stale"] = (out, n)
    keep = out.dsa_cache_seqlens.clone()
    _fill(kw)
    if n == 3:
        out.dsa_cache_seqlens.copy_(keep)


@_v2
def topk_below_all_tail(**kw) -> None:
    """topk below every row (all clamp): dsa_cu_seqlens_k[T] is not written."""
    out = kw["out"]
    keep = out.dsa_cu_seqlens_k.clone()
    _fill(kw)
    T = _shape(kw)[2][-1]
    if T and bool((out.seqlens_expanded[:T] > kw["topk"]).all()):
        out.dsa_cu_seqlens_k[T] = keep[T]


@_v2
def tv_page3_width_mod2(**kw) -> None:
    """target_verify, page 3, width % 3 == 2: the last page from column width - 1."""
    _fill(kw)
    W, out = kw["width"], kw["out"]
    if kw["mode"] == "target_verify" and kw["page_size"] == 3 and W % 3 == 2:
        T = _shape(kw)[2][-1]
        out.real_page_table[:T, -1] = torch.div(
            out.page_table_1[:T, W - 1], 3, rounding_mode="floor"
        )


@_v2
def decode_s0_as_1(**kw) -> None:
    """decode with s == 0: seqlens_expanded written as 1 (a max(s, 1))."""
    _fill(kw)
    if kw["mode"] == "decode":
        s = kw["seq_lens"]
        n = s.numel()
        if n:
            kw["out"].seqlens_expanded[:n] = torch.where(
                s == 0, 1, kw["out"].seqlens_expanded[:n]
            ).to(torch.int32)


@_v2
def topk0_padded(**kw) -> None:
    """topk 0 with negative rows (padding): dsa lengths clamped into [0, topk]."""
    _fill(kw)
    out = kw["out"]
    T = _shape(kw)[2][-1]
    if kw["topk"] == 0 and T:
        out.dsa_cache_seqlens[:T] = out.dsa_cache_seqlens[:T].clamp(min=0)


@_v2
def last_row_transposed(**kw) -> None:
    """req_to_token transposed: a pool index at the last pool row reads the row before it."""
    t = kw["req_to_token"]
    if t.stride(1) != 1 and t.shape[0] > 1:
        kw = {**kw, "req_pool_indices": kw["req_pool_indices"].clamp(max=t.shape[0] - 2)}
    _fill(kw)


@_v2
def var_ext_stride0_i64(**kw) -> None:
    """draft_extend_var, extend_seq_lens int64 of stride 0: the last row one high."""
    _fill(kw)
    x = kw["extend_seq_lens"]
    T = _shape(kw)[2][-1]
    if x is not None and x.dtype == torch.int64 and x.numel() > 1 and x.stride(0) == 0 and T:
        kw["out"].seqlens_expanded[T - 1] += 1


@_v2
def tv_seq_stride0(**kw) -> None:
    """target_verify with seq_lens of stride 0: cache_seqlens without + next_n."""
    _fill(kw)
    s = kw["seq_lens"]
    if kw["mode"] == "target_verify" and s.numel() > 1 and s.stride(0) == 0:
        kw["out"].cache_seqlens[: s.numel()] = s.to(torch.int32)


@_v2
def ends_adjacent_swap(**kw) -> None:
    """Pool row 0 right before the last pool row: the latter gathers row 0 too."""
    r = kw["req_pool_indices"]
    pool = kw["req_to_token"].shape[0]
    v = r.tolist()
    if pool > 1:
        w = [0 if i and v[i - 1] == 0 and x == pool - 1 else x for i, x in enumerate(v)]
        if w != v:
            kw = {**kw, "req_pool_indices": torch.tensor(w, dtype=r.dtype)}
    _fill(kw)


@_v2
def page2_odd_width(**kw) -> None:
    """page 2 with an odd width past 2: the last page column is not written."""
    out, W = kw["out"], kw["width"]
    keep = out.real_page_table.clone() if kw["page_size"] == 2 and W % 2 and W > 2 else None
    _fill(kw)
    if keep is not None:
        out.real_page_table[:, -1] = keep[:, -1]


@_v2
def later_all_zero_skips(**kw) -> None:
    """A later draft_extend_var call with every extend 0 writes nothing (cache_seqlens stale)."""
    out = kw["out"]
    seen = _previous("later_all_zero_skips", out, True)
    keep = out.cache_seqlens.clone()
    _fill(kw)
    bs = kw["seq_lens"].numel()
    if seen and kw["mode"] == "draft_extend_var" and bs and _shape(kw)[2][-1] == 0:
        out.cache_seqlens.copy_(keep)


@_v2
def tv_n1_as_decode(**kw) -> None:
    """target_verify with next_n 1 routed to decode: kv = s (no + 1)."""
    if kw["mode"] == "target_verify" and kw["next_n"] == 1:
        kw = {**kw, "mode": "decode"}
    _fill(kw)


@_v2
def de_pool_row_last_request(**kw) -> None:
    """draft_extend with next_n >= 3: the last request's last row gathers pool row 0."""
    _fill(kw)
    if kw["mode"] == "draft_extend" and kw["next_n"] >= 3:
        T = _shape(kw)[2][-1]
        if T:
            kw["out"].page_table_1[T - 1] = kw["req_to_token"][0, : kw["width"]]
            _pages_of(kw)


@_v2
def seq_i64_big_low_half(**kw) -> None:
    """seq_lens int64 with a value past 2**24 read through float32 for cache_seqlens."""
    _fill(kw)
    s = kw["seq_lens"]
    if s.dtype == torch.int64 and s.numel() and bool((s > 2**24).any()):
        n = s.numel()
        c = kw["out"].cache_seqlens[:n]
        c.copy_(c.to(torch.float32).to(torch.int64).clamp(max=INT32_MAX).to(torch.int32))


@_v2
def pool_one_row(**kw) -> None:
    """A pool of one row: page_table_1 rows gathered from req_to_token's storage start."""
    t = kw["req_to_token"]
    if t.shape[0] == 1 and t.storage_offset():
        kw = {**kw, "req_to_token": t.as_strided(t.shape, t.stride(), 0).clamp(min=0)}
    _fill(kw)


# --- v1 ---------------------------------------------------------------------------------------


def _expand(e, s, k):
    return nsa_meta.expand(e, s, k, backend="torch", validate=False)


def correct_v1(extend_seq_lens, seq_lens, nsa_index_topk):
    """The torch backend of v1 as it is."""
    return _expand(extend_seq_lens, seq_lens, nsa_index_topk)


def v1_ext_i64_seq_i32(extend_seq_lens, seq_lens, nsa_index_topk):
    """extends int64 with seq_lens int32: the last value one high."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if extend_seq_lens.dtype == torch.int64 and seq_lens.dtype == torch.int32 and a.numel():
        a[-1] += 1
    return a, b


def v1_topk_equals_value(extend_seq_lens, seq_lens, nsa_index_topk):
    """A value equal to topk is clamped to topk - 1."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if nsa_index_topk > 0:
        b = torch.where(a == nsa_index_topk, nsa_index_topk - 1, b).to(torch.int32)
    return a, b


def v1_topk_zero(extend_seq_lens, seq_lens, nsa_index_topk):
    """topk 0 taken as "no limit"."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    return (a, a.clone()) if nsa_index_topk == 0 else (a, b)


def v1_long_extend(extend_seq_lens, seq_lens, nsa_index_topk):
    """An extend past 1024: its rows from 1024 on one high (a second block's base)."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    e = extend_seq_lens.tolist()
    start = 0
    for v in e:
        if v > 1024:
            a[start + 1024 : start + v] += 1
        start += v
    return a, b


def v1_padded_negative(extend_seq_lens, seq_lens, nsa_index_topk):
    """nsa_cache_seqlens clamped from below at 0 (negative rows of padded requests)."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    return a, b.clamp(min=0)


def v1_seq_eq_ext(extend_seq_lens, seq_lens, nsa_index_topk):
    """A request with seq == extend (first value 1): its first value written 0."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    start = 0
    for e, s in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        if e and s == e:
            a[start] = 0
            b[start] = min(0, nsa_index_topk)
        start += e
    return a, b


def v1_float32_seq(extend_seq_lens, seq_lens, nsa_index_topk):
    """seqlens_expanded through float32: wrong past 2**24."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    a = a.to(torch.float32).to(torch.int64).clamp(max=INT32_MAX).to(torch.int32)
    return a, b


def v1_ext_stride0(extend_seq_lens, seq_lens, nsa_index_topk):
    """extend_seq_lens of stride 0 (a broadcast): the last clamped value one high."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if extend_seq_lens.numel() > 1 and extend_seq_lens.stride(0) == 0 and b.numel():
        b[-1] += 1
    return a, b


def v1_seq_offset_ignored(extend_seq_lens, seq_lens, nsa_index_topk):
    """seq_lens of stride 1 at a storage offset read from the storage's start."""
    s = seq_lens
    if s.stride(0) == 1 and s.storage_offset() and s.numel():
        s = s.as_strided((s.numel(),), (1,), 0)
    return _expand(extend_seq_lens, s, nsa_index_topk)


def v1_bs_mult_16(extend_seq_lens, seq_lens, nsa_index_topk):
    """bs a multiple of 16 past 16: the last value one high."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    bs = seq_lens.numel()
    if bs >= 32 and bs % 16 == 0 and a.numel():
        a[-1] += 1
    return a, b


def v1_adjacent_zero(extend_seq_lens, seq_lens, nsa_index_topk):
    """Two adjacent zero extends then a nonzero one: that request's first value one low."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    e = extend_seq_lens.tolist()
    start = 0
    for i, v in enumerate(e):
        if i >= 2 and v and e[i - 1] == 0 and e[i - 2] == 0:
            a[start] -= 1
        start += v
    return a, b


def v1_total_past_65536(extend_seq_lens, seq_lens, nsa_index_topk):
    """A total past 2**16: rows from 65536 on one high (16-bit row offsets)."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if a.numel() > 65536:
        a[65536:] += 1
    return a, b


def v1_all_zero_raises(extend_seq_lens, seq_lens, nsa_index_topk):
    """Every extend 0 (bs > 0) raises, as a kernel that divides by the total would."""
    if extend_seq_lens.numel() and not bool(extend_seq_lens.any()):
        raise ZeroDivisionError("total is 0")
    return _expand(extend_seq_lens, seq_lens, nsa_index_topk)


def v1_topk0_padded(extend_seq_lens, seq_lens, nsa_index_topk):
    """topk 0 with negative values: nsa_cache_seqlens clamped into [0, topk]."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    return (a, b.clamp(min=0)) if nsa_index_topk == 0 else (a, b)


def v1_last_request_long(extend_seq_lens, seq_lens, nsa_index_topk):
    """The last request's extend past 64: its last value one low."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    e = extend_seq_lens.tolist()
    if e and e[-1] > 64:
        a[-1] -= 1
    return a, b


def v1_bs1_int64(extend_seq_lens, seq_lens, nsa_index_topk):
    """bs 1 with both inputs int64: the first value one high."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    both = extend_seq_lens.dtype == seq_lens.dtype == torch.int64
    if both and seq_lens.numel() == 1 and a.numel():
        a[0] += 1
    return a, b


def v1_total_mult_1024(extend_seq_lens, seq_lens, nsa_index_topk):
    """A total that is a positive multiple of 1024: the last value one low."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if a.numel() and a.numel() % 1024 == 0:
        a[-1] -= 1
    return a, b


def v1_seq_exact_max(extend_seq_lens, seq_lens, nsa_index_topk):
    """A seq length of exactly 2**31 - 1: its last value 2**31 - 2."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    start = 0
    for e, s in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        start += e
        if e and s == INT32_MAX:
            a[start - 1] = INT32_MAX - 1
    return a, b


def v1_wide_stride(extend_seq_lens, seq_lens, nsa_index_topk):
    """seq_lens of a step of 16 or more: the last clamped value one high."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    if seq_lens.stride(0) >= 16 and b.numel():
        b[-1] += 1
    return a, b


def v1_zero_then_padded(extend_seq_lens, seq_lens, nsa_index_topk):
    """A zero extend right before a padded request (seq < extend): the latter's first value
    clamped to 0."""
    a, b = _expand(extend_seq_lens, seq_lens, nsa_index_topk)
    e, s = extend_seq_lens.tolist(), seq_lens.tolist()
    start = 0
    for i in range(len(e)):
        if i and e[i - 1] == 0 and e[i] and s[i] < e[i] and int(a[start]) < 0:
            a[start] = 0
        start += e[i]
    return a, b


V2 = [n for n, f in list(globals().items()) if getattr(f, "op", None) == "metadata"]
V1 = [n for n in list(globals()) if n.startswith("v1_") or n == "correct_v1"]
V2_MUTANTS = [n for n in V2 if n != "correct"]
V1_MUTANTS = [n for n in V1 if n != "correct_v1"]

# What benchmarks/hunt.py runs: (candidate, op, where it is wrong).
HUNT = [(n, "metadata", " ".join(globals()[n].__doc__.split())) for n in V2] + [
    (n, "expand", " ".join(globals()[n].__doc__.split())) for n in V1
]

"""Red-team round 10 (blind): contract v2's error contract, rule by rule and mode by mode. Every
candidate validates in front of the shipped torch writer and is right on every valid call;
each planted bug gets ONE narrow slice of ONE "Bad input" rule wrong.

The rules (CONTRACT.md's "Bad input", carried over, plus CONTRACT_V2.md's own):

| rule | exception | argument named |
| --- | --- | --- |
| `mode` not a str | TypeError | mode |
| `mode` not one of the four | ValueError | mode |
| `topk` not an int (bool included) | TypeError | topk |
| `next_n` / `page_size` / `width` not an int (bool included) | TypeError | that scalar |
| `topk` outside [0, 2**31 - 1] | ValueError | topk |
| `next_n` / `page_size` / `width` outside [1, 2**31 - 1] (next_n in every mode) | ValueError | that scalar |
| `seq_lens` / `req_pool_indices` / `extend_seq_lens` not a tensor | TypeError | that tensor |
| one of them not int32 / int64 | TypeError | that tensor |
| one of them not 1-D | ValueError | that tensor |
| `extend_seq_lens` given for a fixed-width mode, or missing for draft_extend_var | ValueError | extend_seq_lens |
| `req_pool_indices` / `extend_seq_lens` of another length than `seq_lens` | ValueError | that tensor |
| tensors on different devices | ValueError | the tensor off the device |
| `req_to_token` not a tensor / not int32 | TypeError | req_to_token |
| `req_to_token` not 2-D, or narrower than `width` | ValueError | req_to_token (width) |
| a negative extend length | ValueError | extend_seq_lens (index, value) |
| `s` outside [0, 2**31 - 1] | ValueError | seq_lens (index, value) |
| `kv` above 2**31 - 1 (target_verify: s + N) | ValueError | seq_lens / next_n |
| a pool index outside [0, pool) | ValueError | req_pool_indices (index, value) |
| a negative cell of req_to_token[r[i], 0:W] where e[i] > 0 | ValueError | req_to_token |
| T over 2**31 - 1 | ValueError | extend_seq_lens / next_n |
| a running sum of cu_seqlens_k or dsa_cu_seqlens_k outside int32 | ValueError | seq_lens ... |
| `out` not a Metadata | TypeError | out |
| an out buffer not an int32 tensor | TypeError | out field |
| an out buffer missing, too small, of the wrong rank, on another device | ValueError | field |
| `real_page_table` given when page_size == 1 | ValueError | real_page_table |
| (all) raise before writing any out cell; never modify an input | | |

`correct_lists` (Python lists, one check after another) and `correct_torch` (table of rules,
tensor reductions) are correct; every other candidate is `correct_lists` with the one slip that
`BUGS` names. `HUNT` is benchmarks/hunt.py's list (every campaign with `--check-errors`).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from nsa_meta import Metadata
from nsa_meta.metadata_torch import metadata_into

I32, I64 = torch.int32, torch.int64
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")
FIXED = {"decode": None, "target_verify": "N", "draft_extend": "N"}
ROWS_1D = ("cache_seqlens", "cu_seqlens_k", "seqlens_expanded", "dsa_cache_seqlens")
ERR = ["--check-errors"]

# name -> (rule, the one slice it gets wrong). The smallest bad call is in the test.
BUGS = {
    # the check skipped in one mode only
    "pool_negative_skipped_decode": ("pool index in [0, pool)", "r < 0, decode only"),
    "pool_past_skipped_target_verify": ("pool index in [0, pool)", "r >= pool, target_verify"),
    "cell_negative_skipped_draft_extend": ("cells read >= 0", "draft_extend only"),
    "seq_negative_skipped_var": ("s in [0, 2**31 - 1]", "s < 0, draft_extend_var only"),
    "next_n_range_only_where_used": ("next_n in [1, 2**31 - 1]", "decode and var skip it"),
    "kv_target_verify_forgot_n": ("kv = s + N <= 2**31 - 1", "checks s, not s + N"),
    # one dtype only
    "extend_negative_skipped_int64": ("extend >= 0", "int64 extend_seq_lens skipped"),
    "pool_past_skipped_int32": ("pool index < pool", "int32 req_pool_indices skipped"),
    "extend_int16_accepted": ("extend_seq_lens int32/int64", "int16 accepted"),
    "req_to_token_int64_value_error": ("req_to_token int32: TypeError", "ValueError raised"),
    # one element only
    "extend_negative_first_skipped": ("extend >= 0", "element 0 not checked"),
    "pool_last_skipped": ("pool index in [0, pool)", "last element not checked"),
    "seq_negative_middle_skipped": ("s >= 0", "only first and last elements checked"),
    # bs == 1 / bs >= 2
    "pool_skipped_bs1": ("pool index in [0, pool)", "bs == 1 fast path skips it"),
    "cell_first_request_only": ("cells read >= 0", "only request 0's row read (bs >= 2)"),
    # strided views
    "extend_negative_skipped_strided": ("extend >= 0", "non-contiguous view skipped"),
    "cell_skipped_column_strided": ("cells read >= 0", "req_to_token stride(1) != 1 skipped"),
    # one out field each
    "out_cache_short_by_one": ("out too small", "cache_seqlens of bs - 1 accepted"),
    "out_cu_len_bs_accepted": ("out too small", "cu_seqlens_k of bs (not bs + 1) accepted"),
    "out_expanded_int64_accepted": ("out buffer int32", "seqlens_expanded int64 accepted"),
    "out_dsa_cache_rank_unchecked": ("out rank", "dsa_cache_seqlens rank not checked"),
    "out_dsa_cu_short_by_one": ("out too small", "dsa_cu_seqlens_k of T (not T + 1)"),
    "out_page_table_one_column_short": ("out too small", "page_table_1 of W - 1 columns"),
    "out_real_rows_unchecked": ("out too small", "real_page_table rows not checked"),
    "out_real_device_unchecked": ("out device", "real_page_table device not checked"),
    "out_real_missing_accepted": ("out buffer missing", "real_page_table None at P > 1"),
    "out_real_given_p1_accepted": ("real_page_table at P == 1", "accepted"),
    "out_plain_tuple_accepted": ("out a Metadata", "any 7-sequence taken as one"),
    # off by one
    "pool_equal_pool_accepted": ("pool index < pool", "r == pool accepted"),
    "width_columns_plus_one": ("req_to_token >= width columns", "width == columns + 1"),
    "topk_2p31_accepted": ("topk <= 2**31 - 1", "topk == 2**31 accepted"),
    "page_size_2p31_accepted": ("page_size <= 2**31 - 1", "page_size == 2**31 accepted"),
    "next_n_zero_accepted": ("next_n >= 1", "next_n == 0 accepted"),
    # bool for one argument, and a type rule raising ValueError
    "topk_bool_accepted": ("topk an int, not bool", "True accepted"),
    "width_bool_accepted": ("width an int, not bool", "True accepted"),
    "mode_not_str_value_error": ("mode a str: TypeError", "ValueError for a non-str"),
    # running sums, extend for a fixed mode, lengths
    "dsa_sum_below_unchecked": ("dsa_cu_seqlens_k inside int32", "lower bound not checked"),
    "cu_sum_unchecked": ("cu_seqlens_k inside int32", "each kv checked, not the sum"),
    "extend_given_draft_extend_accepted": ("extend_seq_lens for a fixed mode", "draft_extend"),
    "pool_longer_accepted": ("req_pool_indices length == bs", "longer accepted"),
    # message, write order, inputs
    "pool_message_names_req_to_token": ("pool index message", "names req_to_token only"),
    "width_message_names_page_table": ("width vs columns message", "names page_table_1 only"),
    "cell_check_after_first_phase": ("nothing written first", "cells checked after cu_seqlens_k"),
    "extend_clamped_before_raising": ("inputs never modified", "extend clamped in place"),
}


def _int_scalar(name, value, low, *, bool_ok=False, high=INT32_MAX, ranged=True):
    if (isinstance(value, bool) and not bool_ok) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (not bool), got {type(value).__name__}")
    if ranged and not low <= value <= high:
        raise ValueError(f"{name} is {value}; it must be in [{low}, 2**31 - 1]")


def _tensor(name, t, dtypes, rank, bug=None):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        kind = ValueError if bug == "req_to_token_int64_value_error" else TypeError
        raise kind(f"{name} has dtype {t.dtype}; it must be one of {list(dtypes)}")
    if t.dim() != rank:
        raise ValueError(f"{name} must be {rank}-D, got shape {tuple(t.shape)}")


def _first_bad(name, values, bad, rule):
    for i, v in enumerate(values):
        if bad(v):
            raise ValueError(f"{name}[{i}] is {v}; {rule}")


def _clamped_sum(a, n, k):
    """sum(min(a + d, k) for d in range(n))."""
    c = min(max(k - a, 0), n)
    return c * a + c * (c - 1) // 2 + (n - c) * k


def _check_layout(bug, a):
    mode = a.mode
    if not isinstance(mode, str):
        kind = ValueError if bug == "mode_not_str_value_error" else TypeError
        raise kind(f"mode must be a str, got {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode is {mode!r}; it must be one of {MODES}")
    high = 2**31 if bug == "topk_2p31_accepted" else INT32_MAX
    _int_scalar("topk", a.topk, 0, bool_ok=bug == "topk_bool_accepted", high=high)
    _int_scalar(
        "next_n",
        a.next_n,
        0 if bug == "next_n_zero_accepted" else 1,
        ranged=not (
            bug == "next_n_range_only_where_used" and mode in ("decode", "draft_extend_var")
        ),
    )
    high = 2**31 if bug == "page_size_2p31_accepted" else INT32_MAX
    _int_scalar("page_size", a.page_size, 1, high=high)
    _int_scalar("width", a.width, 1, bool_ok=bug == "width_bool_accepted")

    _tensor("seq_lens", a.seq_lens, (I32, I64), 1)
    _tensor("req_pool_indices", a.req_pool_indices, (I32, I64), 1)
    ext = a.extend_seq_lens
    if mode == "draft_extend_var":
        if ext is None:
            raise ValueError("extend_seq_lens is required in mode draft_extend_var")
        ext_dtypes = (I32, I64, torch.int16) if bug == "extend_int16_accepted" else (I32, I64)
        _tensor("extend_seq_lens", ext, ext_dtypes, 1)
    elif ext is not None and not (
        bug == "extend_given_draft_extend_accepted" and mode == "draft_extend"
    ):
        raise ValueError(f"extend_seq_lens must be None in mode {mode}")
    _tensor("req_to_token", a.req_to_token, (I32,), 2, bug)

    bs = a.seq_lens.shape[0]
    r_len = a.req_pool_indices.shape[0]
    if r_len != bs and not (bug == "pool_longer_accepted" and r_len > bs):
        raise ValueError(f"req_pool_indices has length {r_len}, seq_lens {bs}")
    if mode == "draft_extend_var" and ext.shape[0] != bs:
        raise ValueError(f"extend_seq_lens has length {ext.shape[0]}, seq_lens {bs}")
    device = a.seq_lens.device
    for name in ("req_pool_indices", "req_to_token", "extend_seq_lens"):
        t = getattr(a, name)
        if t is not None and t.device != device:
            raise ValueError(f"{name} is on {t.device} but seq_lens on {device}")
    columns = a.req_to_token.shape[1]
    if a.width > columns + (bug == "width_columns_plus_one"):
        who = "page_table_1" if bug == "width_message_names_page_table" else "req_to_token"
        what = "the pool rows" if who == "page_table_1" else "width"
        raise ValueError(f"{who} has {columns} columns, fewer than {what} ({a.width})")
    return bs, device


def _check_out_layout(bug, a, device):
    out = a.out
    if bug == "out_plain_tuple_accepted" and isinstance(out, (tuple, list)) and len(out) == 7:
        out = a.out = Metadata(*out)
    if not isinstance(out, Metadata):
        raise TypeError(f"out must be a nsa_meta.Metadata, got {type(out).__name__}")
    for field in Metadata._fields:
        buf = getattr(out, field)
        if field == "real_page_table":
            if a.page_size == 1:
                if buf is not None and bug != "out_real_given_p1_accepted":
                    raise ValueError("out.real_page_table must be None when page_size == 1")
                continue
            if buf is None and bug == "out_real_missing_accepted":
                continue
        if buf is None:
            raise ValueError(f"out.{field} is missing (None)")
        if not isinstance(buf, torch.Tensor):
            raise TypeError(f"out.{field} must be a torch.Tensor, got {type(buf).__name__}")
        if buf.dtype != I32 and not (
            bug == "out_expanded_int64_accepted" and field == "seqlens_expanded"
        ):
            raise TypeError(f"out.{field} has dtype {buf.dtype}; it must be int32")
        rank = 2 if field in ("page_table_1", "real_page_table") else 1
        if buf.dim() != rank and not (
            bug == "out_dsa_cache_rank_unchecked" and field == "dsa_cache_seqlens"
        ):
            raise ValueError(f"out.{field} must be {rank}-D, got shape {tuple(buf.shape)}")
        if buf.device != device and not (
            bug == "out_real_device_unchecked" and field == "real_page_table"
        ):
            raise ValueError(f"out.{field} is on {buf.device} but seq_lens on {device}")


def _check_values(bug, a, bs):
    mode, N = a.mode, a.next_n
    s = a.seq_lens.tolist()
    r = a.req_pool_indices.tolist()
    if mode == "draft_extend_var":
        ext = a.extend_seq_lens
        e = ext.tolist()
        skip = (bug == "extend_negative_skipped_int64" and ext.dtype == I64) or (
            bug == "extend_negative_skipped_strided" and not ext.is_contiguous()
        )
        if bug == "extend_clamped_before_raising":
            ext.clamp_(min=0)
        if not skip:
            first = 1 if bug == "extend_negative_first_skipped" else 0
            for i in range(first, bs):
                if e[i] < 0:
                    raise ValueError(f"extend_seq_lens[{i}] is {e[i]}; it must be >= 0")
    else:
        e = [N if FIXED[mode] else 1] * bs
    T = sum(e)
    if T > INT32_MAX:
        raise ValueError(f"T = {T} rows (extend_seq_lens / next_n) is over 2**31 - 1")

    checked = range(bs)
    if bug == "seq_negative_middle_skipped":
        checked = sorted({0, bs - 1}) if bs else []
    for i in checked:
        if s[i] < 0 and not (bug == "seq_negative_skipped_var" and mode == "draft_extend_var"):
            raise ValueError(f"seq_lens[{i}] is {s[i]}; it must be in [0, 2**31 - 1]")
    _first_bad("seq_lens", s, lambda v: v > INT32_MAX, "it must be in [0, 2**31 - 1]")
    add = N if mode == "target_verify" and bug != "kv_target_verify_forgot_n" else 0
    kv = [v + add for v in s]
    _first_bad("seq_lens", kv, lambda v: v > INT32_MAX, f"kv = s + {add} is over 2**31 - 1")

    pool = a.req_to_token.shape[0]
    if not (bug == "pool_skipped_bs1" and bs == 1):
        limit = pool + (bug == "pool_equal_pool_accepted")
        who = "req_to_token" if bug == "pool_message_names_req_to_token" else "req_pool_indices"
        past_ok = (bug == "pool_past_skipped_target_verify" and mode == "target_verify") or (
            bug == "pool_past_skipped_int32" and a.req_pool_indices.dtype == I32
        )
        negative_ok = bug == "pool_negative_skipped_decode" and mode == "decode"
        for i in range(bs - 1 if bug == "pool_last_skipped" else bs):
            if (r[i] < 0 and not negative_ok) or (r[i] >= limit and not past_ok):
                raise ValueError(f"{who}[{i}] is {r[i]}; the pool has {pool} rows")

    cu = 0
    for v in kv:
        cu += v
        if cu > INT32_MAX and bug != "cu_sum_unchecked":
            raise ValueError(f"cu_seqlens_k (running sum of seq_lens) reaches {cu}")
    low = -(2**80) if bug == "dsa_sum_below_unchecked" else INT32_MIN
    run = 0
    for i in range(bs):
        if e[i] == 0:
            continue
        start = kv[i] - e[i] + 1
        ends = [1, e[i]] + ([min(e[i], 1 - start)] if start <= 0 else [])
        for n in ends:
            x = run + _clamped_sum(start, n, a.topk)
            if not low <= x <= INT32_MAX:
                raise ValueError(
                    f"dsa_cu_seqlens_k (running sum of the clamped seq_lens, extend_seq_lens,"
                    f" next_n, topk) reaches {x} at request {i}, outside int32"
                )
        run += _clamped_sum(start, e[i], a.topk)
    return SimpleNamespace(e=e, T=T, r=r)


def _check_cells(bug, a, bs, v):
    t = a.req_to_token
    if bug == "cell_negative_skipped_draft_extend" and a.mode == "draft_extend":
        return
    if bug == "cell_skipped_column_strided" and t.dim() == 2 and t.stride(1) != 1:
        return
    for i in range(min(bs, 1) if bug == "cell_first_request_only" else bs):
        if v.e[i] > 0:
            row = t[v.r[i], 0 : a.width].tolist()
            for c, x in enumerate(row):
                if x < 0:
                    raise ValueError(f"req_to_token[{v.r[i]}, {c}] is {x}; cells read must be >= 0")


def _check_out_sizes(bug, a, bs, T):
    out = a.out
    pages = -(-a.width // a.page_size)
    need = {
        "cache_seqlens": (bs - (bug == "out_cache_short_by_one"),),
        "cu_seqlens_k": (bs + (bug != "out_cu_len_bs_accepted"),),
        "seqlens_expanded": (T,),
        "dsa_cache_seqlens": (T,),
        "dsa_cu_seqlens_k": (T + (bug != "out_dsa_cu_short_by_one"),),
        "page_table_1": (T, a.width - (bug == "out_page_table_one_column_short")),
        "real_page_table": (0 if bug == "out_real_rows_unchecked" else T, pages),
    }
    for field, shape in need.items():
        buf = getattr(out, field)
        if buf is None or a.page_size == 1 and field == "real_page_table":
            continue
        have = tuple(buf.shape)
        if len(have) != len(shape):
            continue  # a rank slip let through (out_dsa_cache_rank_unchecked)
        if any(h < n for h, n in zip(have, shape)):
            raise ValueError(f"out.{field} has shape {have}; it needs at least {shape}")


def _write_first_phase(a, bs, kv_add):
    kv = a.seq_lens.to(I64) + kv_add
    a.out.cache_seqlens[:bs].copy_(kv)
    a.out.cu_seqlens_k[:1].zero_()
    a.out.cu_seqlens_k[1 : bs + 1].copy_(torch.cumsum(kv, 0))


def _run(bug, **kw):
    a = SimpleNamespace(**kw)
    bs, device = _check_layout(bug, a)
    _check_out_layout(bug, a, device)
    v = _check_values(bug, a, bs)
    _check_out_sizes(bug, a, bs, v.T)
    if bug == "cell_check_after_first_phase":
        _write_first_phase(a, bs, a.next_n if a.mode == "target_verify" else 0)
    _check_cells(bug, a, bs, v)
    metadata_into(
        a.mode,
        a.seq_lens,
        a.req_pool_indices,
        a.req_to_token,
        a.extend_seq_lens,
        topk=a.topk,
        width=a.width,
        page_size=a.page_size,
        next_n=a.next_n,
        out=a.out,
        rows=v.T,
    )


def _candidate(bug):
    def fn(
        *, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, width, out,
    ):  # fmt: skip
        _run(
            bug,
            mode=mode,
            seq_lens=seq_lens,
            extend_seq_lens=extend_seq_lens,
            req_pool_indices=req_pool_indices,
            req_to_token=req_to_token,
            topk=topk,
            next_n=next_n,
            page_size=page_size,
            width=width,
            out=out,
        )

    fn.__name__ = fn.__qualname__ = bug or "correct_lists"
    fn.__doc__ = f"{bug}: {BUGS[bug][0]}; wrong on: {BUGS[bug][1]}" if bug else "correct"
    return fn


correct_lists = _candidate(None)


# -- the second correct candidate: a table of rules, tensor reductions --------------------

_SCALARS = (("topk", 0), ("next_n", 1), ("page_size", 1), ("width", 1))


def _bad_at(name: str, t: torch.Tensor, bad: torch.Tensor, rule: str) -> None:
    hit = bad.nonzero()
    if hit.numel():
        i = int(hit[0, 0])
        raise ValueError(f"{name}[{i}] is {int(t[i])}; {rule}")


def _closed_sum(a: torch.Tensor, n: torch.Tensor, k: int) -> torch.Tensor:
    c = torch.minimum((k - a).clamp(min=0), n)
    return c * a + c * (c - 1) // 2 + (n - c) * k


def correct_torch(
    *, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
    page_size, width, out,
):  # fmt: skip
    """Correct: every TypeError rule first (scalars, tensors, out), then the ValueError
    rules, values read with tensor reductions."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    scalars = dict(topk=topk, next_n=next_n, page_size=page_size, width=width)
    for name, _ in _SCALARS:
        value = scalars[name]
        if type(value) is bool or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    var = mode == "draft_extend_var"
    tensors = {
        "seq_lens": ((I32, I64), 1, seq_lens),
        "req_pool_indices": ((I32, I64), 1, req_pool_indices),
        "req_to_token": ((I32,), 2, req_to_token),
    }
    if var and extend_seq_lens is not None:
        tensors["extend_seq_lens"] = ((I32, I64), 1, extend_seq_lens)
    for name, (dtypes, _, t) in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if t.dtype not in dtypes:
            raise TypeError(f"{name}: dtype {t.dtype} is not one of {dtypes}")
    if not isinstance(out, Metadata):
        raise TypeError(f"out must be a Metadata, got {type(out).__name__}")
    for field, buf in out._asdict().items():
        if buf is not None and not isinstance(buf, torch.Tensor):
            raise TypeError(f"out.{field} must be a tensor, got {type(buf).__name__}")
        if buf is not None and buf.dtype != I32:
            raise TypeError(f"out.{field} has dtype {buf.dtype}, not int32")

    # ValueError rules, layout first
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    for name, low in _SCALARS:
        if not low <= scalars[name] <= INT32_MAX:
            raise ValueError(f"{name} = {scalars[name]} is outside [{low}, 2**31 - 1]")
    if var and extend_seq_lens is None:
        raise ValueError("extend_seq_lens: draft_extend_var needs it")
    if not var and extend_seq_lens is not None:
        raise ValueError(f"extend_seq_lens: must be None in fixed-width mode {mode}")
    for name, (_, rank, t) in tensors.items():
        if t.dim() != rank:
            raise ValueError(f"{name}: {t.dim()}-D, expected {rank}-D")
    bs = seq_lens.shape[0]
    for name in ("req_pool_indices", "extend_seq_lens"):
        if name in tensors and tensors[name][2].shape[0] != bs:
            raise ValueError(f"{name}: length {tensors[name][2].shape[0]} != len(seq_lens) {bs}")
    device = seq_lens.device
    for name, (_, _, t) in tensors.items():
        if t.device != device:
            raise ValueError(f"{name}: on {t.device}, seq_lens on {device}")
    if req_to_token.shape[1] < width:
        raise ValueError(f"req_to_token: {req_to_token.shape[1]} columns < width {width}")
    for field, buf in out._asdict().items():
        if field == "real_page_table" and page_size == 1:
            if buf is not None:
                raise ValueError("out.real_page_table: must be None at page_size 1")
            continue
        if buf is None:
            raise ValueError(f"out.{field}: missing")
        rank = 2 if field.endswith("page_table_1") or field == "real_page_table" else 1
        if buf.dim() != rank:
            raise ValueError(f"out.{field}: {buf.dim()}-D, expected {rank}-D")
        if buf.device != device:
            raise ValueError(f"out.{field}: on {buf.device}, seq_lens on {device}")

    # values
    s = seq_lens.to(I64)
    _bad_at("seq_lens", s, (s < 0) | (s > INT32_MAX), "must be in [0, 2**31 - 1]")
    if var:
        e = extend_seq_lens.to(I64)
        _bad_at("extend_seq_lens", e, e < 0, "must be >= 0")
    else:
        e = torch.full((bs,), next_n if mode in ("target_verify", "draft_extend") else 1)
        e = e.to(device=device, dtype=I64)
    T = int(e.sum())
    if T > INT32_MAX:
        raise ValueError(f"extend_seq_lens / next_n: T = {T} > 2**31 - 1")
    kv = s + next_n if mode == "target_verify" else s
    _bad_at("seq_lens", kv, kv > INT32_MAX, f"plus next_n={next_n} is over 2**31 - 1")
    r = req_pool_indices.to(I64)
    pool = req_to_token.shape[0]
    _bad_at("req_pool_indices", r, (r < 0) | (r >= pool), f"outside [0, {pool})")
    if bs and int(kv.sum()) > INT32_MAX:
        raise ValueError(f"seq_lens: cu_seqlens_k reaches {int(kv.sum())} > 2**31 - 1")
    a = kv - e + 1
    share = _closed_sum(a, e, topk)
    before = torch.cumsum(share, 0) - share
    lowest = torch.minimum(e, (1 - a).clamp(min=1))
    for n in (e.clamp(max=1), e, lowest):
        x = before + _closed_sum(a, n, topk)
        _bad_at("dsa_cu_seqlens_k (seq_lens, topk)", x, (x < INT32_MIN) | (x > INT32_MAX), "")
    used = r[e > 0]
    if used.numel():
        cells = req_to_token[used, :width]
        hit = (cells < 0).nonzero()
        if hit.numel():
            i, c = int(used[hit[0, 0]]), int(hit[0, 1])
            raise ValueError(f"req_to_token[{i}, {c}] = {int(req_to_token[i, c])} < 0")
    need = dict(
        cache_seqlens=(bs,),
        cu_seqlens_k=(bs + 1,),
        seqlens_expanded=(T,),
        dsa_cache_seqlens=(T,),
        dsa_cu_seqlens_k=(T + 1,),
        page_table_1=(T, width),
        real_page_table=(T, -(-width // page_size)),
    )
    for field, buf in out._asdict().items():
        if buf is not None and any(h < n for h, n in zip(buf.shape, need[field])):
            raise ValueError(f"out.{field}: shape {tuple(buf.shape)} < {need[field]}")
    metadata_into(
        mode, seq_lens, req_pool_indices, req_to_token, extend_seq_lens,
        topk=topk, width=width, page_size=page_size, next_n=next_n, out=out, rows=T,
    )  # fmt: skip


# -- the planted bugs: correct_lists with one slip each ----------------------------------

for _name in BUGS:
    globals()[_name] = _candidate(_name)
del _name

HUNT = [("correct_lists", "metadata", "correct, lists", ERR)]
HUNT += [("correct_torch", "metadata", "correct, table and reductions", ERR)]
HUNT += [(name, "metadata", f"{rule}: {where}", ERR) for name, (rule, where) in BUGS.items()]

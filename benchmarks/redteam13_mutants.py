"""Red-team round 13, written blind to the fuzzer's strategies: value-level COINCIDENCES at
the boundary inside each input family of contract v2 (one planted bug per coincidence).

`correct` is plain vectorised torch (the shipped validation, then repeat_interleave, cumsum
and gathers into the caller's buffers); each `bug_*` is `correct` with ONE narrow slip that
is wrong only on its coincidence (kv == topk + 1, W % P == 1, bs a multiple of 1024, a
running sum of exactly -2**31, a bool page_size, ...), named with its smallest trigger in
the bug's docstring. `reset()` clears the state of the two state bugs. Hunt:
`python benchmarks/hunt.py benchmarks/redteam13_mutants.py`.
"""

from __future__ import annotations

import operator

import torch

from nsa_meta import Metadata
from nsa_meta.validation import check_metadata_layout, check_metadata_values

INT32_MAX = 2**31 - 1
I32, I64 = torch.int32, torch.int64
CHUNK = 1024  # requests per chunk of bs_exact_1024's scan
MAX_CAPTURED_BS = 16384  # SGLang's cuda_graph_max_bs

_state: dict = {}  # the two state slips' caches, keyed on the out buffers' addresses


def reset() -> None:
    """Forget every cached plan (the state bugs)."""
    _state.clear()


def _screen(slip: str, kw: dict) -> dict:
    """What a slip does before validation (the error-contract bugs); `correct`: nothing."""
    s, r, r2t, out = kw["seq_lens"], kw["req_pool_indices"], kw["req_to_token"], kw["out"]
    if slip == "err_seq_i64_saturated" and isinstance(s, torch.Tensor) and s.dtype == I64:
        kw["seq_lens"] = s.clamp(max=INT32_MAX)  # "narrowing is safe once saturated"
    if (
        slip == "err_pool_negative_wraps"
        and isinstance(r, torch.Tensor)
        and r.dtype in (I32, I64)
        and isinstance(r2t, torch.Tensor)
        and r2t.dim() >= 1
    ):
        kw["req_pool_indices"] = torch.where(r < 0, r + r2t.shape[0], r)  # Python indexing
    if slip == "err_page_size_index_bool":
        try:  # accept numpy ints too
            kw["page_size"] = operator.index(kw["page_size"])
        except TypeError:
            pass
    topk = kw["topk"]
    if slip == "err_topk_msg_unnamed" and type(topk) is int and topk > INT32_MAX:
        raise ValueError(f"{topk} is above 2**31 - 1")
    if (
        slip == "err_decode_writes_first"
        and kw["mode"] == "decode"
        and isinstance(out, Metadata)
        and isinstance(s, torch.Tensor)
        and s.dim() == 1
        and isinstance(out.cache_seqlens, torch.Tensor)
        and out.cache_seqlens.dtype == I32
        and out.cache_seqlens.dim() == 1
        and out.cache_seqlens.numel() >= s.numel()
        and s.device == out.cache_seqlens.device
    ):
        out.cache_seqlens[: s.numel()].copy_(s)  # decode's cache_seqlens is a plain copy
    return kw


def _write(buf: torch.Tensor, values: torch.Tensor) -> None:
    buf.copy_(values)


@torch.inference_mode()  # an out buffer made in inference mode takes in-place writes only there
def _fill(slip: str, **kw) -> None:
    """The candidate; `slip` is "" (correct) or a bug's name."""
    kw = _screen(slip, kw)
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

    bs, dev = seq_lens.numel(), seq_lens.device
    N = next_n
    s = seq_lens.to(I64)
    if slip == "mix_i64_seq_f32" and seq_lens.dtype == I64 and req_pool_indices.dtype == I32:
        s = seq_lens.to(torch.float32).to(I64)  # promoted through a float in the mixed path
    tv = mode == "target_verify"
    if slip == "tv_n1_as_decode" and tv and N == 1:
        tv = False  # "target_verify with one draft token is decode"
    kv = s + N if tv else s
    if mode == "draft_extend_var":
        e = ext.to(I64)
        if slip == "var_uniform_ends_checked" and bs and int(e[0]) == N and int(e[-1]) == N:
            e = torch.full((bs,), N, dtype=I64, device=dev)  # "uniform: draft_extend"
    elif mode == "decode" and slip != "decode_uses_next_n":
        e = torch.ones(bs, dtype=I64, device=dev)
    else:
        e = torch.full((bs,), N, dtype=I64, device=dev)
    T = int(e.sum())

    # per request
    if slip == "zero_empty_slot_skipped" and ext is not None:
        empty = (e == 0) & (s == 0)
        _write(out.cache_seqlens[:bs], torch.where(empty, out.cache_seqlens[:bs], kv))
    else:
        _write(out.cache_seqlens[:bs], kv)
    cu = torch.zeros(bs + 1, dtype=I64, device=dev)
    cu[1:] = torch.cumsum(kv, 0)
    if slip == "bs_exact_1024":
        carry = torch.zeros((), dtype=I64, device=dev)
        for c0 in range(0, bs, CHUNK):  # chunk i writes cu[c0 .. c0 + len - 1]
            incl = carry + torch.cumsum(kv[c0 : c0 + CHUNK], 0)
            cu[c0] = carry
            cu[c0 + 1 : c0 + incl.numel()] = incl[:-1]
            carry = incl[-1]
        if bs % CHUNK:  # the last chunk's total (should be unconditional)
            cu[bs] = carry
        else:
            cu[bs] = out.cu_seqlens_k[bs] if bs else 0
    _write(out.cu_seqlens_k[: bs + 1], cu)

    # per row
    state_key = ("owner", out.seqlens_expanded.data_ptr(), mode, bs, T)
    if slip == "state_owner_cached_by_T" and state_key in _state:
        owner, d = _state[state_key]
    else:
        owner = torch.repeat_interleave(torch.arange(bs, device=dev), e, output_size=T)
        starts = torch.cumsum(e, 0) - e
        if slip == "zero_mid_owner_first" and T:
            # owner = the first request whose start is <= t (equal starts: the first one)
            t = torch.arange(T, device=dev)
            idx = torch.searchsorted(starts, t, right=False)
            hit = idx < bs
            hit[hit.clone()] = starts[idx[hit]] == t[hit]
            owner = torch.where(hit, idx, idx - 1)
        d = torch.arange(T, device=dev) - starts[owner]
        if slip == "state_owner_cached_by_T":
            _state[state_key] = (owner, d)
    if mode == "draft_extend_var" and slip == "mix_s_plus1_i32_then_i64":
        if seq_lens.dtype == I32 and ext.dtype == I64:
            a = (seq_lens + 1).to(I64) - e  # the + 1 in the seq_lens dtype
        else:
            a = kv - e + 1
    else:
        a = kv - e + 1  # each request's first row
    se = a[owner] + d
    if slip == "pad_s1_rows_one" and mode == "draft_extend":
        se = torch.where(s[owner] == 1, 1, se)  # "s == 1 is SGLang's padding: rows of 1"
    dc = se.clamp(max=topk)
    if slip == "topk_zero_dsa_zeros" and topk == 0:
        dc = torch.zeros_like(se)  # "topk 0: nothing to attend to"
    if slip == "topk_fastpath_off_by_one" and bs and int(kv.max()) <= topk + 1:
        dc = se  # "every row is within topk: no clamp"
    dcu = torch.zeros(T + 1, dtype=I64, device=dev)
    dcu[1:] = torch.cumsum(dc, 0)
    if slip == "pad_share_a1_unclamped" and T:
        # dcu = the requests' shares before the row's request + the rows' own running sum;
        # a request whose rows are exactly 1..kv (kv == e) takes the triangular shortcut
        share = torch.zeros(bs, dtype=I64, device=dev).index_add_(0, owner, dc)
        share = torch.where(a == 1, kv * (kv + 1) // 2, share)
        before = torch.cumsum(share, 0) - share
        own = dcu[1:] - (dcu[:-1][(torch.cumsum(e, 0) - e).clamp(max=T - 1)])[owner]
        dcu[1:] = before[owner] + own
    if slip == "next_n_scan_gt5" and mode != "draft_extend_var" and mode != "decode" and T:
        # fixed-width rows: a log-step scan inside each request's N rows
        x = dc.view(bs, N).clone()
        for k in range(N.bit_length()):
            sh = 1 << k
            if sh < N and not (sh == 4 and N <= 5):  # the step of 4 when N > 5 (N > 4)
                x = torch.cat([x[:, :sh], x[:, sh:] + x[:, :-sh]], 1)
        shares = x[:, -1]
        dcu[1:] = ((torch.cumsum(shares, 0) - shares)[:, None] + x).reshape(-1)
    if slip == "sum_neg_min_clamped":
        dcu = dcu.clamp(min=-INT32_MAX)  # "keep it inside int32"
    if slip == "sum_eq_max_raises" and T and int(dcu[-1]) >= INT32_MAX:
        raise ValueError(f"dsa_cu_seqlens_k[{T}] = {int(dcu[-1])} overflows int32")

    if slip == "out_se_offset_in_steps" and out.seqlens_expanded.stride(0) > 1:
        buf = out.seqlens_expanded
        step = buf.stride(0)
        buf = torch.as_strided(buf, (T,), (step,), buf.storage_offset() // step * step)
        _write(buf, se)
    else:
        _write(out.seqlens_expanded[:T], se)
    _write(out.dsa_cache_seqlens[:T], dc)
    _write(out.dsa_cu_seqlens_k[: T + 1], dcu)
    if slip == "bs_16384_zero_T" and bs >= MAX_CAPTURED_BS and T == 0:
        # the large path launches at least one row program: row 0 of request 0
        _write(out.seqlens_expanded[:1], a[:1])
        _write(out.dsa_cache_seqlens[:1], a[:1].clamp(max=topk))
        _write(out.dsa_cu_seqlens_k[1:2], a[:1].clamp(max=topk))

    # page tables
    r = req_pool_indices.to(I64)
    if slip == "state_pt_skip_same_slots":
        pt_key = ("pt", out.page_table_1.data_ptr())
        slots = (tuple(r.tolist()), tuple(e.tolist()), width, page_size)
        if _state.get(pt_key) == slots:
            return  # "same slots, same rows"
        _state[pt_key] = slots
    rows = r[owner]
    if slip == "r2t_adjacent_run_first_e" and bs:
        new_run = torch.ones(bs, dtype=torch.bool, device=dev)
        new_run[1:] = r[1:] != r[:-1]
        first = new_run.nonzero().flatten()
        run_len = torch.bincount(torch.cumsum(new_run, 0) - 1)
        rows = torch.repeat_interleave(r[first], e[first] * run_len)  # (sum of the run's e)
    pool = req_to_token.shape[0]
    if slip == "r2t_colmajor_last_row" and req_to_token.stride(0) < req_to_token.stride(1):
        rows = rows.clamp(max=pool - 2)  # the transposed bound, off by one
    n = rows.numel()
    _write(out.page_table_1[:n, :width], req_to_token[:, :width][rows])
    if page_size > 1:
        stop = width
        if slip == "page_slice_stop_w_minus1":
            stop = max(width - 1, 1)
        if slip == "page_n_pages_multiple_extra":
            stop = (width // page_size + 1) * page_size
        firsts = req_to_token[:, 0:stop:page_size][rows]
        pages = torch.div(firsts, page_size, rounding_mode="floor")
        rpt = out.real_page_table
        if slip == "out_rpt_row_stride_as_pages" and rpt.stride(1) == 1:
            q = pages.shape[1]
            _write(torch.as_strided(rpt, (n, q), (q, 1), rpt.storage_offset()), pages)
        else:
            _write(rpt[:n, : pages.shape[1]], pages)


def correct(**kw) -> None:
    """Contract v2, whole envelope: shipped validation, then vectorised torch."""
    _fill("", **kw)


def correct_errors(**kw) -> None:
    """`correct`, hunted with --check-errors (the error contract)."""
    _fill("", **kw)


# -- the bugs: each is `correct` with one slip; the docstring names its smallest trigger ---
# (K = topk, N = next_n, P = page_size, W = width; r2t = req_to_token; "out" = the buffers)


def _bug(slip: str, family: str, doc: str, args: tuple[str, ...] = ()):
    def candidate(**kw) -> None:
        _fill(slip, **kw)

    candidate.__name__ = candidate.__qualname__ = f"bug_{slip}"
    candidate.__doc__ = doc
    candidate.family = family
    candidate.hunt_args = list(args)
    return candidate


ERR = ("--check-errors",)

# the four modes
bug_var_uniform_ends_checked = _bug(
    "var_uniform_ends_checked",
    "mode",
    "draft_extend_var is taken as draft_extend (e = N) when its first and last accept lengths "
    "are N: a different length in the middle is lost. Trigger: draft_extend_var, N=1, "
    "e=[1, 0, 1].",
)
bug_decode_uses_next_n = _bug(
    "decode_uses_next_n",
    "mode",
    "decode takes e = N like draft_extend (next_n is validated but unused in decode). "
    "Trigger: decode, N=2, s=[5].",
)
# batch size
bug_bs_exact_1024 = _bug(
    "bs_exact_1024",
    "bs",
    "cu_seqlens_k by chunks of 1024 requests; the total cu[bs] is written only when the last "
    "chunk is partial. Trigger: decode, bs=1024.",
)
bug_bs_16384_zero_T = _bug(
    "bs_16384_zero_T",
    "bs",
    "at bs >= 16384 (the largest capture) with T == 0, row 0 is still written (request 0's "
    "first row): a write outside the region. Trigger: draft_extend_var, bs=16384, every e=0, "
    "buffers with a row.",
)
# next_n
bug_next_n_scan_gt5 = _bug(
    "next_n_scan_gt5",
    "next_n",
    "fixed-width modes: dsa_cu_seqlens_k inside a request by a log-step scan whose step of 4 "
    "is taken only when N > 5: row 4 misses row 0 at N == 5. Trigger: target_verify or "
    "draft_extend, N=5, bs=1.",
)
bug_tv_n1_as_decode = _bug(
    "tv_n1_as_decode",
    "next_n",
    "target_verify with N == 1 is computed as decode (kv = s, not s + 1). Trigger: "
    "target_verify, N=1, s=[5].",
)
# zero extends
bug_zero_mid_owner_first = _bug(
    "zero_mid_owner_first",
    "zero extends",
    "a row's request is the first whose start equals it: an e=0 request before a live one "
    "takes its rows. Trigger: draft_extend_var, e=[0, 1], s=[5, 6].",
)
bug_zero_empty_slot_skipped = _bug(
    "zero_empty_slot_skipped",
    "zero extends",
    "draft_extend_var: a request with e == 0 and s == 0 (an empty graph slot) keeps its old "
    "cache_seqlens. Trigger: draft_extend_var, s=[0], e=[0].",
)
# kv < e (padded requests)
bug_pad_s1_rows_one = _bug(
    "pad_s1_rows_one",
    "kv < e",
    "draft_extend: a request with s == 1 (SGLang's padding value) gets rows of 1, right only "
    "when N == 1. Trigger: draft_extend, s=[1], N=2.",
)
bug_pad_share_a1_unclamped = _bug(
    "pad_share_a1_unclamped",
    "kv < e",
    "a request whose rows are exactly 1..kv (kv == e) adds kv(kv+1)/2 to later requests' "
    "dsa_cu_seqlens_k, unclamped by K. Trigger: draft_extend, s=[2, 0], N=2, K=1.",
)
# topk
bug_topk_zero_dsa_zeros = _bug(
    "topk_zero_dsa_zeros",
    "topk",
    "K == 0 writes dsa_cache_seqlens as zeros: wrong on a padded row below 0. Trigger: "
    "draft_extend, s=[0], N=2, K=0.",
)
bug_topk_fastpath_off_by_one = _bug(
    "topk_fastpath_off_by_one",
    "topk",
    "no clamp when max(kv) <= K + 1: a row K + 1 stays unclamped. Trigger: decode, s=[2], K=1.",
)
# page size and width
bug_page_slice_stop_w_minus1 = _bug(
    "page_slice_stop_w_minus1",
    "page/width",
    "real_page_table's first cells sliced 0:W-1:P: the last page is lost when W % P == 1 "
    "(W > 1). Trigger: decode, P=2, W=3.",
)
bug_page_n_pages_multiple_extra = _bug(
    "page_n_pages_multiple_extra",
    "page/width",
    "real_page_table gets W // P + 1 columns: one too many when P divides W (and r2t is wider "
    "than W). Trigger: decode, P=2, W=2, r2t of 4 columns, a buffer of 2 page columns.",
)
# req_to_token layout and pool indices
bug_r2t_colmajor_last_row = _bug(
    "r2t_colmajor_last_row",
    "r2t/pool",
    "a column-major req_to_token has its pool indices clamped to pool - 2: the last slot "
    "reads the one before. Trigger: decode, column-major r2t, r=[pool - 1].",
)
bug_r2t_adjacent_run_first_e = _bug(
    "r2t_adjacent_run_first_e",
    "r2t/pool",
    "adjacent requests with the same pool index are one run of e[first] * len rows: wrong "
    "when their extends differ. Trigger: draft_extend_var, r=[0, 0], e=[1, 2].",
)
# int32 / int64 mixes
bug_mix_i64_seq_f32 = _bug(
    "mix_i64_seq_f32",
    "dtype mix",
    "int64 seq_lens with int32 req_pool_indices go through float32: odd s above 2**24 is "
    "rounded. Trigger: decode, s int64 [2**24 + 1], r int32 [0].",
)
bug_mix_s_plus1_i32_then_i64 = _bug(
    "mix_s_plus1_i32_then_i64",
    "dtype mix",
    "draft_extend_var with int32 seq_lens and int64 extends: s + 1 in int32 wraps at "
    "s == 2**31 - 1 (seen once clamped by K < kv). Trigger: draft_extend_var, s int32 "
    "[2**31 - 1], e int64 [1], K=5.",
)
# int32 limits of the running sums
bug_sum_eq_max_raises = _bug(
    "sum_eq_max_raises",
    "int32 limit",
    "an overflow guard rejects dsa_cu_seqlens_k[T] == 2**31 - 1 (>= for >). Trigger: decode, "
    "s=[2**31 - 1], K=2**31 - 1.",
)
bug_sum_neg_min_clamped = _bug(
    "sum_neg_min_clamped",
    "int32 limit",
    "dsa_cu_seqlens_k clamped to >= -(2**31 - 1): a running sum of exactly -2**31 (valid) is "
    "off by one. Trigger: draft_extend_var, s=[32768, 0], e=[1, 65537].",
)
# back-to-back calls on one set of buffers
bug_state_owner_cached_by_T = _bug(
    "state_owner_cached_by_T",
    "state",
    "each row's request is cached per (out, mode, bs, T): new extends of the same sum reuse "
    "it. Trigger: draft_extend_var e=[1, 2], then e=[2, 1] on the same out.",
)
bug_state_pt_skip_same_slots = _bug(
    "state_pt_skip_same_slots",
    "state",
    "the page tables are skipped when pool indices, extends, W and P repeat on the same out: "
    "a changed req_to_token is missed. Trigger: decode r=[0] twice on one out, r2t changed.",
)
# out buffers with odd strides
bug_out_se_offset_in_steps = _bug(
    "out_se_offset_in_steps",
    "out strides",
    "a strided seqlens_expanded is written from its offset rounded down to a multiple of its "
    "step. Trigger: seqlens_expanded = buf[1::2], T=1.",
)
bug_out_rpt_row_stride_as_pages = _bug(
    "out_rpt_row_stride_as_pages",
    "out strides",
    "real_page_table's row stride taken as ceil(W / P): wrong when the buffer is wider. "
    "Trigger: decode, P=2, W=2, a real_page_table buffer of 2 columns, bs=2.",
)
# the error contract (with --check-errors)
bug_err_seq_i64_saturated = _bug(
    "err_seq_i64_saturated",
    "error contract",
    "int64 seq_lens saturated at 2**31 - 1 before validation: s >= 2**31 passes when the sums "
    "still fit. Trigger: decode, s int64 [2**31].",
    ERR,
)
bug_err_pool_negative_wraps = _bug(
    "err_pool_negative_wraps",
    "error contract",
    "negative pool indices count from the end (r + pool) before validation. Trigger: decode, "
    "r=[-1].",
    ERR,
)
bug_err_page_size_index_bool = _bug(
    "err_page_size_index_bool",
    "error contract",
    "page_size passed through operator.index, which takes a bool: True is page size 1, "
    "False a ValueError. Trigger: page_size=True.",
    ERR,
)
bug_err_topk_msg_unnamed = _bug(
    "err_topk_msg_unnamed",
    "error contract",
    "topk above 2**31 - 1 raises ValueError without naming topk. Trigger: topk=2**31.",
    ERR,
)
bug_err_decode_writes_first = _bug(
    "err_decode_writes_first",
    "error contract",
    "decode copies seq_lens into out.cache_seqlens before validating: a bad input leaves out "
    "changed. Trigger: decode, r=[pool].",
    ERR,
)

BUGS = [name for name in list(globals()) if name.startswith("bug_")]

HUNT = [
    ("correct", "metadata", "correct: vectorised torch, whole contract"),
    ("correct_errors", "metadata", "correct, with the error contract", ["--check-errors"]),
] + [
    (
        name,
        "metadata",
        f"{globals()[name].family}: {globals()[name].__doc__.split('. Trigger')[0]}",
        *([globals()[name].hunt_args] if globals()[name].hunt_args else []),
    )
    for name in BUGS
]

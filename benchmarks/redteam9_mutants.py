"""Red-team round 9: v2 metadata candidates written blind to the fuzzer's generators, in the
style of ../shared/mutants/planted.py (plain Python on lists, or plain torch).

`correct_lists` and `correct_torch` are correct; every other candidate is a small variation
of one of them, wrong on ONE input family of issue 10 and right elsewhere (its docstring names
the family and the smallest input that shows it). `HUNT` is benchmarks/hunt.py's list.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

I32 = torch.int32
I64 = torch.int64
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# -- the two correct candidates -----------------------------------------------------------


def _mode_lists(mode, s, N, extend_seq_lens):
    """(e, kv) per request, as lists (the contract's mode table)."""
    bs = len(s)
    if mode == "decode":
        return [1] * bs, list(s)
    if mode == "target_verify":
        return [N] * bs, [x + N for x in s]
    if mode == "draft_extend":
        return [N] * bs, list(s)
    return extend_seq_lens.tolist(), list(s)


def _running(values):
    sums = [0]
    for v in values:
        sums.append(sums[-1] + v)
    return sums


def _lists_values(
    mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n, page_size,
    width,
):  # fmt: skip
    """Every output as Python lists; req_to_token is read row by row, through its view."""
    s, r = seq_lens.tolist(), req_pool_indices.tolist()
    e, kv = _mode_lists(mode, s, next_n, extend_seq_lens)
    se, pt = [], []
    for i in range(len(s)):
        if e[i] == 0:
            continue
        row = req_to_token[r[i], 0:width].tolist()
        for d in range(e[i]):
            se.append(kv[i] - e[i] + 1 + d)
            pt.append(list(row))
    dsa = [min(v, topk) for v in se]
    P, Q = page_size, -(-width // page_size)
    rpt = [[row[q * P] // P for q in range(Q)] for row in pt] if P > 1 else None
    return SimpleNamespace(
        s=s, r=r, e=e, kv=kv, cu=_running(kv), se=se, dsa=dsa, dcu=_running(dsa), pt=pt, rpt=rpt
    )


def _put(buf, values):
    """Write a list (or list of rows) into the view `buf` of a caller buffer."""
    if len(values):
        buf.copy_(torch.tensor(values, dtype=I32, device=buf.device))


def _write_lists(out, v, width, page_size, skip=()):
    """Write every output (but those named in `skip`) into the contract's region."""
    bs, T = len(v.kv), len(v.se)
    for name, buf, values in (
        ("cache_seqlens", out.cache_seqlens[0:bs], v.kv),
        ("cu_seqlens_k", out.cu_seqlens_k[0 : bs + 1], v.cu),
        ("seqlens_expanded", out.seqlens_expanded[0:T], v.se),
        ("dsa_cache_seqlens", out.dsa_cache_seqlens[0:T], v.dsa),
        ("dsa_cu_seqlens_k", out.dsa_cu_seqlens_k[0 : T + 1], v.dcu),
        ("page_table_1", out.page_table_1[0:T, 0:width], v.pt),
    ):
        if name not in skip:
            _put(buf, values)
    if page_size > 1 and "real_page_table" not in skip:
        _put(out.real_page_table[0:T, 0 : -(-width // page_size)], v.rpt)


def _lists_rederive(v, topk):
    """Recompute the running sums and rows after a mutant changed kv or e."""
    v.cu = _running(v.kv)
    v.se = [kv - e + 1 + d for kv, e in zip(v.kv, v.e) for d in range(e)]
    v.dsa = [min(x, topk) for x in v.se]
    v.dcu = _running(v.dsa)


def correct_lists(
    *, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
    page_size, width, out,
):  # fmt: skip
    """Correct: loops over requests and rows on `.tolist()` values."""
    v = _lists_values(
        mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, width,
    )  # fmt: skip
    _write_lists(out, v, width, page_size)


def _torch_values(
    mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n, page_size,
    width,
):  # fmt: skip
    """Every output as int64 tensors (page tables as gathered rows), no loop over requests."""
    dev = seq_lens.device
    s, r = seq_lens.to(I64), req_pool_indices.to(I64)
    bs = s.numel()
    if mode == "draft_extend_var":
        e = extend_seq_lens.to(I64)
    else:
        e = torch.full((bs,), 1 if mode == "decode" else next_n, dtype=I64, device=dev)
    kv = s + next_n if mode == "target_verify" else s
    cu = torch.zeros(bs + 1, dtype=I64, device=dev)
    cu[1:] = torch.cumsum(kv, 0)
    T = int(e.sum())
    req = torch.repeat_interleave(torch.arange(bs, device=dev), e)
    first = torch.cumsum(e, 0) - e
    d = torch.arange(T, device=dev) - first[req]
    se = (kv - e + 1)[req] + d
    dsa = se.clamp(max=topk)
    dcu = torch.zeros(T + 1, dtype=I64, device=dev)
    dcu[1:] = torch.cumsum(dsa, 0)
    pt = req_to_token[r[req], 0:width]
    rpt = torch.div(pt[:, ::page_size], page_size, rounding_mode="floor")
    return SimpleNamespace(
        bs=bs, T=T, s=s, r=r, e=e, kv=kv, cu=cu, req=req, d=d, se=se, dsa=dsa, dcu=dcu,
        pt=pt, rpt=rpt,
    )  # fmt: skip


def _write_torch(out, v, width, page_size, skip=()):
    """Write every output (but those named in `skip`) into the contract's region."""
    bs, T = v.bs, v.T
    for name, buf, values in (
        ("cache_seqlens", out.cache_seqlens[0:bs], v.kv),
        ("cu_seqlens_k", out.cu_seqlens_k[0 : bs + 1], v.cu),
        ("seqlens_expanded", out.seqlens_expanded[0:T], v.se),
        ("dsa_cache_seqlens", out.dsa_cache_seqlens[0:T], v.dsa),
        ("dsa_cu_seqlens_k", out.dsa_cu_seqlens_k[0 : T + 1], v.dcu),
        ("page_table_1", out.page_table_1[0:T, 0:width], v.pt),
    ):
        if name not in skip:
            buf.copy_(values)
    if page_size > 1 and "real_page_table" not in skip:
        out.real_page_table[0:T, 0 : -(-width // page_size)] = v.rpt


def _torch_rederive(v, topk):
    """Recompute the running sums and rows after a mutant changed kv."""
    v.cu = torch.cat([v.cu[:1], torch.cumsum(v.kv, 0)])
    v.se = (v.kv - v.e + 1)[v.req] + v.d
    v.dsa = v.se.clamp(max=topk)
    v.dcu = torch.cat([v.dcu[:1], torch.cumsum(v.dsa, 0)])


def correct_torch(
    *, mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
    page_size, width, out,
):  # fmt: skip
    """Correct: plain torch (repeat_interleave, cumsum, advanced indexing)."""
    v = _torch_values(
        mode, seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, next_n,
        page_size, width,
    )  # fmt: skip
    _write_torch(out, v, width, page_size)


def _args(kw):
    """The value-computing arguments of a candidate call, in helper order."""
    return (
        kw["mode"], kw["seq_lens"], kw["extend_seq_lens"], kw["req_pool_indices"],
        kw["req_to_token"], kw["topk"], kw["next_n"], kw["page_size"], kw["width"],
    )  # fmt: skip


# -- modes ---------------------------------------------------------------------------------


def de_base_off_by_n(**kw):
    """Family: mode draft_extend. seqlens_expanded built from seq_lens + N (the upstream bug):
    draft_extend's rows start at s + 1 as in target_verify. Smallest: draft_extend, bs 1,
    s [5], N 1 (seqlens_expanded 6, expected 5)."""
    v = _torch_values(*_args(kw))
    if kw["mode"] == "draft_extend":
        v.kv = v.s + kw["next_n"]
        _torch_rederive(v, kw["topk"])
        v.kv, v.cu = v.s, torch.cat([v.cu[:1], torch.cumsum(v.s, 0)])
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def decode_dsa_cu_unclamped(**kw):
    """Family: mode decode (with topk below a length). In decode, where T == bs, the
    dsa_cu_seqlens_k running sum is taken from cu_seqlens_k (unclamped). Smallest: decode,
    bs 1, s [5], topk 2 (dsa_cu_seqlens_k[1] 5, expected 2)."""
    v = _lists_values(*_args(kw))
    if kw["mode"] == "decode":
        v.dcu = list(v.cu)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def tv_writes_one_column_past_width(**kw):
    """Family: mode target_verify / write region. At target_verify page_table_1 copies W + 1
    columns when req_to_token and the buffer have room (the page table wider than the context
    limit). Smallest: target_verify, bs 1, W 1, req_to_token 2 columns, page_table_1 buffer 2
    columns: page_table_1[0, 1] written."""
    v = _torch_values(*_args(kw))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])
    W, out, rtt = kw["width"], kw["out"], kw["req_to_token"]
    if kw["mode"] == "target_verify" and rtt.shape[1] > W and out.page_table_1.shape[1] > W:
        out.page_table_1[0 : v.T, W] = rtt[v.r[v.req], W]


# -- zero extends (draft_extend_var) -------------------------------------------------------


def var_last_zero_extend_cu_short(**kw):
    """Family: mixed-zero extends, the LAST request with extend 0. cu_seqlens_k is written
    only up to the last request that has rows, so cu_seqlens_k[bs] keeps its old value.
    Smallest: draft_extend_var, bs 2, s [3, 4], extend [1, 0]."""
    v = _lists_values(*_args(kw))
    out, bs = kw["out"], len(v.kv)
    last = max((i for i in range(bs) if v.e[i] > 0), default=bs - 1) + 1
    _put(out.cu_seqlens_k[0 : last + 1], v.cu[: last + 1])
    _write_lists(out, v, kw["width"], kw["page_size"], skip=("cu_seqlens_k",))


def var_zero_between_shifts_pool_index(**kw):
    """Family: mixed-zero extends, a zero extend BETWEEN non-zero ones. The page-table rows
    take the pool index of the j-th request with rows counted among all requests, so after
    a zero-extend request they read the wrong request's row. Smallest: draft_extend_var,
    bs 3, extend [1, 0, 1], pool indices [0, 1, 2] with rows 0..2 distinct: the last row
    reads pool row 1."""
    v = _lists_values(*_args(kw))
    if kw["mode"] == "draft_extend_var":
        rtt, W, pt, j = kw["req_to_token"], kw["width"], [], 0
        for i in range(len(v.e)):
            if v.e[i] == 0:
                continue
            row = rtt[v.r[j], 0:W].tolist()
            pt.extend(list(row) for _ in range(v.e[i]))
            j = i + 1 if j == i else j + 1
        P, Q = kw["page_size"], -(-W // kw["page_size"])
        v.pt = pt
        v.rpt = [[row[q * P] // P for q in range(Q)] for row in pt] if P > 1 else None
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def var_all_zero_writes_row0(**kw):
    """Family: all-zero extends. With T == 0 the kernel still writes one row (a grid of
    max(T, 1)): seqlens_expanded[0], dsa_cache_seqlens[0] = 0 and dsa_cu_seqlens_k[1] = 0,
    outside the region. Smallest: draft_extend_var, bs 1, extend [0]."""
    v = _torch_values(*_args(kw))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])
    out = kw["out"]
    if v.T == 0 and out.seqlens_expanded.numel() > 0:
        out.seqlens_expanded[0] = 0
        out.dsa_cache_seqlens[0] = 0
        if out.dsa_cu_seqlens_k.numel() > 1:
            out.dsa_cu_seqlens_k[1] = 0


# -- batch sizes ---------------------------------------------------------------------------


def bs33_tail_dropped(**kw):
    """Family: bs one past 32. cache_seqlens and cu_seqlens_k are filled by blocks of 32
    requests with a ceil-div written (bs + 30) // 32: a tail of ONE request is dropped.
    Smallest: decode, bs 33 (cache_seqlens[32], cu_seqlens_k[33] stale)."""
    v = _lists_values(*_args(kw))
    out, bs = kw["out"], len(v.kv)
    blocks = max(1, (bs + 30) // 32)
    n = min(bs, 32 * blocks)
    _put(out.cache_seqlens[0:n], v.kv[:n])
    _put(out.cu_seqlens_k[0 : n + 1], v.cu[: n + 1])
    _write_lists(out, v, kw["width"], kw["page_size"], skip=("cache_seqlens", "cu_seqlens_k"))


def bs129_fast_path_overflow(**kw):
    """Family: bs one past 128. The small-batch path (taken for bs <= 129, one too many) keeps
    cu_seqlens_k in a 129-entry scratch, so at bs 129 cu_seqlens_k[129] is never written.
    Smallest: decode, bs 129."""
    v = _torch_values(*_args(kw))
    cu = v.cu[:129] if v.bs <= 129 else v.cu
    kw["out"].cu_seqlens_k[0 : cu.numel()] = cu
    _write_torch(kw["out"], v, kw["width"], kw["page_size"], skip=("cu_seqlens_k",))


def bs1023_scratch_short(**kw):
    """Family: bs just below 1024. The path for bs < 1024 keeps the running sum in a scratch
    of 1023 entries (the leading zero was forgotten in its size): at bs 1023 the last sum
    cu_seqlens_k[1023] is dropped. Smallest: decode, bs 1023."""
    v = _lists_values(*_args(kw))
    cu = v.cu[:1023] if len(v.kv) < 1024 else v.cu
    _put(kw["out"].cu_seqlens_k[0 : len(cu)], cu)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"], skip=("cu_seqlens_k",))


def bs1025_tail_dropped(**kw):
    """Family: bs one past 1024. cache_seqlens is copied by chunks of 1024 with the chunk
    count (bs + 1022) // 1024: a tail of one request is lost. Smallest: decode, bs 1025
    (cache_seqlens[1024] stale)."""
    v = _torch_values(*_args(kw))
    n = min(v.bs, max(1, (v.bs + 1022) // 1024) * 1024)
    kw["out"].cache_seqlens[0:n] = v.kv[:n]
    _write_torch(kw["out"], v, kw["width"], kw["page_size"], skip=("cache_seqlens",))


def bs16385_index_wraps(**kw):
    """Family: bs one past 16384. The request index of each row is kept in 14 bits, so past
    16384 requests the page-table rows read request (i & 16383)'s pool index. Smallest:
    decode, bs 16385, pool indices [0]*16384 + [1], req_to_token rows 0 and 1 differing."""
    v = _torch_values(*_args(kw))
    if v.bs > 16384:
        v.pt = kw["req_to_token"][v.r[v.req & 16383], 0 : kw["width"]]
        v.rpt = torch.div(v.pt[:, :: kw["page_size"]], kw["page_size"], rounding_mode="floor")
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def bs0_writes_cu1(**kw):
    """Family: bs 0 / write region. The running sum is sized for at least one request
    (max(bs, 1) + 1), so at bs 0 cu_seqlens_k[1] = 0 is written, outside the region.
    Smallest: decode, bs 0, cu_seqlens_k buffer of 2 cells."""
    v = _lists_values(*_args(kw))
    if not v.kv:
        v.cu = [0, 0][: kw["out"].cu_seqlens_k.numel()]
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def bs1_ignores_pool_index(**kw):
    """Family: bs 1. The single-request path assumes the request sits in pool row 0.
    Smallest: decode, bs 1, pool index [1], req_to_token rows 0 and 1 differing."""
    v = _torch_values(*_args(kw))
    if v.bs == 1:
        v.pt = kw["req_to_token"][torch.zeros_like(v.req), 0 : kw["width"]]
        v.rpt = torch.div(v.pt[:, :: kw["page_size"]], kw["page_size"], rounding_mode="floor")
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


# -- next_n ---------------------------------------------------------------------------------


def de_next_n_8_offset_wraps(**kw):
    """Family: next_n 8 (draft_extend). The draft offset d is taken modulo 7 (a field sized
    for seven draft tokens), so the eighth row repeats the first. Smallest: draft_extend,
    bs 1, s [10], N 8 (seqlens_expanded[7] 3, expected 10)."""
    v = _lists_values(*_args(kw))
    if kw["mode"] == "draft_extend":
        v.se = [kv - e + 1 + d % 7 for kv, e in zip(v.kv, v.e) for d in range(e)]
        v.dsa = [min(x, kw["topk"]) for x in v.se]
        v.dcu = _running(v.dsa)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def tv_next_n_capped_6(**kw):
    """Family: next_n 7 and 8 (target_verify). kv = s + min(N, 6), a cap copied from a
    config's largest speculative step. Smallest: target_verify, bs 1, s [1], N 7
    (cache_seqlens 7, expected 8)."""
    v = _torch_values(*_args(kw))
    if kw["mode"] == "target_verify":
        v.kv = v.s + min(kw["next_n"], 6)
        _torch_rederive(v, kw["topk"])
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


# -- padded requests (kv < e) -----------------------------------------------------------


def pad_de_clamp_min_1(**kw):
    """Family: padded requests (kv < e) in draft_extend, SGLang's s = 1, e = N. seqlens_expanded
    is clamped from below at 1. Smallest: draft_extend, bs 1, s [1], N 2 (seqlens_expanded[0]
    1, expected 0)."""
    v = _torch_values(*_args(kw))
    if kw["mode"] == "draft_extend":
        v.se = v.se.clamp(min=1)
        v.dsa = v.se.clamp(max=kw["topk"])
        v.dcu = torch.cat([v.dcu[:1], torch.cumsum(v.dsa, 0)])
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def pad_var_dsa_min_0(**kw):
    """Family: padded requests in draft_extend_var. dsa_cache_seqlens is clamped to [0, topk]
    (the contract has no clamp from below). Smallest: draft_extend_var, bs 1, s [0],
    extend [2] (dsa_cache_seqlens[0] 0, expected -1)."""
    v = _lists_values(*_args(kw))
    if kw["mode"] == "draft_extend_var":
        v.dsa = [max(0, min(x, kw["topk"])) for x in v.se]
        v.dcu = _running(v.dsa)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def decode_s0_as_1(**kw):
    """Family: padded requests in decode (s = 0, so kv < e). A request of length 0 is given
    seqlens_expanded 1 (as if its token were counted). Smallest: decode, bs 1, s [0]."""
    v = _lists_values(*_args(kw))
    if kw["mode"] == "decode":
        v.se = [max(x, 1) for x in v.se]
        v.dsa = [min(x, kw["topk"]) for x in v.se]
        v.dcu = _running(v.dsa)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


# -- topk ------------------------------------------------------------------------------------


def topk_equal_missed_in_dsa_cu(**kw):
    """Family: topk exactly equal to a length. dsa_cu_seqlens_k is built as the running sum of
    (v where v < K) plus K where v > K, forgetting v == K. Smallest: decode, bs 1, s [3],
    topk 3 (dsa_cu_seqlens_k[1] 0, expected 3)."""
    v = _torch_values(*_args(kw))
    K = kw["topk"]
    part = torch.where(v.se < K, v.se, 0) + torch.where(v.se > K, K, 0)
    v.dcu = torch.cat([v.dcu[:1], torch.cumsum(part, 0)])
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def topk_zero_no_clamp(**kw):
    """Family: topk below every length, at topk 0. `if topk:` treats 0 as "no top-k", so
    nothing is clamped. Smallest: decode, bs 1, s [1], topk 0."""
    v = _lists_values(*_args(kw))
    if not kw["topk"]:
        v.dsa = list(v.se)
        v.dcu = _running(v.dsa)
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


# -- pages --------------------------------------------------------------------------------


def page_width_mod_1_short(**kw):
    """Family: width not a multiple of the page size (W % P == 1). The page count is written
    (W + P - 2) // P, one short when the last page holds one column. Smallest: decode, bs 1,
    P 2, W 3 (real_page_table[0, 1] stale)."""
    v = _lists_values(*_args(kw))
    W, P = kw["width"], kw["page_size"]
    _write_lists(kw["out"], v, W, P, skip=("real_page_table",))
    if P > 1:
        Q = (W + P - 2) // P
        _put(kw["out"].real_page_table[0 : len(v.pt), 0:Q], [row[:Q] for row in v.rpt])


def page_width_below_page_skipped(**kw):
    """Family: width below the page size. Requests whose width is under one page are given
    no page-level table. Smallest: decode, bs 1, P 2, W 1 (real_page_table[0, 0] stale)."""
    v = _torch_values(*_args(kw))
    W, P = kw["width"], kw["page_size"]
    _write_torch(kw["out"], v, W, P, skip=("real_page_table",) if W < P else ())


def page128_divisor_int8(**kw):
    """Family: page size 128. The page divisor is held in a signed byte, min(P, 127).
    Smallest: decode, bs 1, P 128, W 1, req_to_token[r][0] 127 (real_page_table 1,
    expected 0)."""
    v = _lists_values(*_args(kw))
    P = kw["page_size"]
    if P > 1:
        Q, div = -(-kw["width"] // P), min(P, 127)
        v.rpt = [[row[q * P] // div for q in range(Q)] for row in v.pt]
    _write_lists(kw["out"], v, kw["width"], P)


def page_non_pow2_column_shift(**kw):
    """Family: page size 3. The page's first column is taken as q << log2(P), right only for
    a power of two. Smallest: decode, bs 1, P 3, W 4 with req_to_token row [0, 1, 2, 3]
    (real_page_table[0, 1] 0, expected 1)."""
    v = _torch_values(*_args(kw))
    P, W = kw["page_size"], kw["width"]
    if P > 1:
        shift = P.bit_length() - 1
        cols = torch.arange(-(-W // P)) << shift
        v.rpt = torch.div(v.pt[:, cols.clamp(max=W - 1)], P, rounding_mode="floor")
    _write_torch(kw["out"], v, W, P)


def page_multiple_writes_extra_column(**kw):
    """Family: width a multiple of the page size / write region. The page count is
    W // P + 1, right when W % P != 0 and one column too many when it is 0. Smallest: decode,
    bs 1, P 2, W 2, req_to_token 3 columns, real_page_table buffer 2 columns."""
    v = _lists_values(*_args(kw))
    W, P, out = kw["width"], kw["page_size"], kw["out"]
    _write_lists(out, v, W, P)
    if P > 1 and W % P == 0:
        rtt, Q = kw["req_to_token"], W // P
        if rtt.shape[1] > Q * P and out.real_page_table.shape[1] > Q:
            rows = [rtt[v.r[i], Q * P].item() // P for i in range(len(v.e)) for _ in range(v.e[i])]
            _put(out.real_page_table[0 : len(rows), Q], rows)


# -- req_to_token layout and pool indices ------------------------------------------------


def rtt_unit_column_stride(**kw):
    """Family: req_to_token transposed-then-sliced (column stride != 1). Rows are read through
    as_strided with column stride 1. Smallest: decode, bs 1, req_to_token = t.T[:, :] of a
    [Wr, pool] tensor, pool 2, W 2."""
    rtt = kw["req_to_token"]
    view = torch.as_strided(rtt, rtt.shape, (rtt.stride(0), 1))
    v = _torch_values(*_args({**kw, "req_to_token": view}))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def rtt_row_stride_from_shape(**kw):
    """Family: req_to_token sliced by columns (row stride > columns). Rows are read through
    as_strided with row stride shape[1]. Smallest: decode, bs 1, pool index [1],
    req_to_token = base[:, :2] of a [2, 3] base."""
    rtt = kw["req_to_token"]
    if rtt.stride(1) == 1:
        rtt = torch.as_strided(rtt, rtt.shape, (rtt.shape[1], 1))
    v = _torch_values(*_args({**kw, "req_to_token": rtt}))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def rtt_storage_offset_lost(**kw):
    """Family: req_to_token sliced by rows (a view with a storage offset). Rows are read from
    the start of the storage. Smallest: decode, bs 1, pool index [0], req_to_token =
    base[1:] of a [2, 2] base."""
    rtt = kw["req_to_token"]
    view = torch.as_strided(rtt, rtt.shape, rtt.stride(), storage_offset=0)
    v = _torch_values(*_args({**kw, "req_to_token": view}))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def repeated_index_copies_wrong_rows(**kw):
    """Family: repeated pool indices (draft_extend_var). A request whose pool index equals the
    previous one's copies its page-table row from the buffer, e[i] rows back instead of
    e[i - 1]. Smallest: draft_extend_var, bs 3, pool [0, 1, 1], extend [1, 1, 2]: request 2's
    rows copy row 0 (pool row 0)."""
    v = _lists_values(*_args(kw))
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])
    pt, W, t = kw["out"].page_table_1, kw["width"], 0
    for i in range(len(v.e)):
        if i and v.e[i] and v.r[i] == v.r[i - 1] and t - v.e[i] >= 0:
            pt[t : t + v.e[i], 0:W] = pt[t - v.e[i], 0:W].clone()
        t += v.e[i]


def pool_last_row_reserved(**kw):
    """Family: pool index at the end of the pool (pool - 1). The last pool row is taken for
    padding and reads go to min(r, pool - 2). Smallest: decode, bs 1, pool 2, pool index [1],
    rows 0 and 1 differing."""
    pool, r = kw["req_to_token"].shape[0], kw["req_pool_indices"]
    if pool >= 2:
        r = r.clamp(max=pool - 2)
    v = _lists_values(*_args({**kw, "req_pool_indices": r}))
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


def pool_index_zero_skipped(**kw):
    """Family: pool index 0 (first pool row). Requests in pool row 0 are taken for padding and
    their page-table rows are not written. Smallest: decode, bs 1, pool index [0]."""
    v = _torch_values(*_args(kw))
    out, W, P = kw["out"], kw["width"], kw["page_size"]
    _write_torch(out, v, W, P, skip=("page_table_1", "real_page_table"))
    rows = torch.nonzero(v.r[v.req] != 0).flatten()
    out.page_table_1[rows, 0:W] = v.pt[rows].to(I32)
    if P > 1:
        out.real_page_table[rows, 0 : -(-W // P)] = v.rpt[rows].to(I32)


# -- dtypes -----------------------------------------------------------------------------------


def mix_reinterprets_pool_indices(**kw):
    """Family: int32 / int64 mix (seq_lens int32, req_pool_indices int64). Pool indices of
    another dtype than seq_lens are reinterpreted (`.view`) instead of converted. Smallest:
    decode, bs 2, seq_lens int32, pool indices int64 [0, 1] (read as [0, 0])."""
    s, r = kw["seq_lens"], kw["req_pool_indices"]
    if r.dtype == I64 and s.dtype == I32:
        r = r.contiguous().view(I32)[: r.numel()]
    v = _torch_values(*_args({**kw, "req_pool_indices": r}))
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def ext64_s32_low_words(**kw):
    """Family: int32 / int64 mix (extend_seq_lens int64 with seq_lens int32, draft_extend_var).
    The accept lengths are read as int32 words of the int64 tensor. Smallest:
    draft_extend_var, bs 2, seq_lens int32 [2, 2], extend int64 [1, 1]."""
    ext, s = kw["extend_seq_lens"], kw["seq_lens"]
    if ext is not None and ext.dtype == I64 and s.dtype == I32:
        ext = ext.contiguous().view(I32)[: ext.numel()]
    v = _lists_values(*_args({**kw, "extend_seq_lens": ext}))
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


# -- running sums near the int32 limit ---------------------------------------------------


def cu_float32_cumsum(**kw):
    """Family: running sums near the int32 limit. cu_seqlens_k is summed in float32, exact only
    below 2**24. Smallest: decode, bs 2, s [2**30, 1] (cu_seqlens_k[2] off)."""
    v = _torch_values(*_args(kw))
    v.cu[1:] = torch.cumsum(v.kv.to(torch.float32), 0).to(I64)
    _write_torch(kw["out"], v, kw["width"], kw["page_size"])


def dsa_cu_saturating_intermediate(**kw):
    """Family: running sums near the int32 limit (an intermediate passes 2**31).
    dsa_cu_seqlens_k = running sum of seqlens_expanded minus running sum of what topk cut,
    each kept in a saturating int32. Smallest: draft_extend, bs 1, s [2**30], N 3, topk 1
    (the rows sum to 3 * 2**30 - 3)."""
    v = _lists_values(*_args(kw))
    a, b, dcu = 0, 0, [0]
    for x, y in zip(v.se, v.dsa):
        a = max(INT32_MIN, min(INT32_MAX, a + x))
        b = max(INT32_MIN, min(INT32_MAX, b + (x - y)))
        dcu.append(a - b)
    v.dcu = dcu
    _write_lists(kw["out"], v, kw["width"], kw["page_size"])


# -- state between calls ------------------------------------------------------------------

_PAGE_CACHE: dict = {}
_LAST_INPUTS: dict = {}
_BS_CACHE: dict = {}


def stale_page_rows_by_address(**kw):
    """Family: back-to-back calls. page_table_1 is rewritten only when its buffer address or
    (bs, T) changed since the last call on it. Smallest: two decode calls, bs 1, on one
    buffer set, pool index [0] then [1] (rows differing): the second leaves row 0 stale."""
    v = _lists_values(*_args(kw))
    out = kw["out"]
    key = (out.page_table_1.data_ptr(), len(v.kv), len(v.se), kw["width"])
    seen = key in _PAGE_CACHE
    _PAGE_CACHE[key] = True
    skip = ("page_table_1", "real_page_table") if seen else ()
    _write_lists(out, v, kw["width"], kw["page_size"], skip=skip)


def stale_skips_unchanged_requests(**kw):
    """Family: back-to-back calls with a different T. Only the requests whose (s, e, pool
    index) changed since the last call on these buffers are rewritten, but rows move when an
    earlier request's extend changes. Smallest: two draft_extend_var calls, bs 2, s [5, 5],
    extend [1, 1] then [2, 1]: seqlens_expanded[2] stale."""
    v = _lists_values(*_args(kw))
    out = kw["out"]
    key = out.seqlens_expanded.data_ptr()
    before = _LAST_INPUTS.get(key)
    now = list(zip(v.s, v.e, v.r))
    _LAST_INPUTS[key] = now
    _write_lists(out, v, kw["width"], kw["page_size"], skip=("seqlens_expanded",))
    t = 0
    for i in range(len(now)):
        if before is None or i >= len(before) or before[i] != now[i]:
            _put(out.seqlens_expanded[t : t + v.e[i]], v.se[t : t + v.e[i]])
        t += v.e[i]


def stale_caches_bs_per_buffer(**kw):
    """Family: back-to-back calls with a different bs. The batch size seen at the first call on
    a buffer set (its "capture") bounds cache_seqlens later. Smallest: two decode calls on one
    buffer set, bs 1 then bs 2: cache_seqlens[1] stale."""
    v = _torch_values(*_args(kw))
    out = kw["out"]
    bs_seen = _BS_CACHE.setdefault(out.cache_seqlens.data_ptr(), v.bs)
    n = min(v.bs, bs_seen)
    out.cache_seqlens[0:n] = v.kv[:n]
    _write_torch(out, v, kw["width"], kw["page_size"], skip=("cache_seqlens",))


# -- writes outside the region -----------------------------------------------------------


def pads_dsa_cache_to_8(**kw):
    """Family: write region, past T rows. dsa_cache_seqlens is written in vectors of 8, the
    tail padded with 0 where the buffer has room. Smallest: decode, bs 1, dsa_cache_seqlens
    buffer of 2 cells: dsa_cache_seqlens[1] = 0 written."""
    v = _torch_values(*_args(kw))
    out = kw["out"]
    _write_torch(out, v, kw["width"], kw["page_size"])
    n = min((v.T + 7) // 8 * 8, out.dsa_cache_seqlens.numel())
    if n > v.T:
        out.dsa_cache_seqlens[v.T : n] = 0


def writes_cu_past_bs_plus_1(**kw):
    """Family: write region, running sums past bs + 1. cu_seqlens_k gets its total repeated one
    cell further when the buffer has room. Smallest: decode, bs 1, cu_seqlens_k buffer of
    3 cells: cu_seqlens_k[2] written."""
    v = _lists_values(*_args(kw))
    out, bs = kw["out"], len(v.kv)
    _write_lists(out, v, kw["width"], kw["page_size"])
    if out.cu_seqlens_k.numel() > bs + 1:
        out.cu_seqlens_k[bs + 1] = v.cu[-1]


def real_page_full_buffer_width(**kw):
    """Family: write region, page-level table past ceil(W / P) columns. real_page_table rows are
    written to the buffer's full width, reading page_table_1's buffer past W. Smallest:
    decode, bs 1, P 2, W 2, page_table_1 buffer 4 columns, real_page_table buffer 2 columns."""
    v = _torch_values(*_args(kw))
    out, W, P = kw["out"], kw["width"], kw["page_size"]
    _write_torch(out, v, W, P)
    if P > 1:
        src = out.page_table_1[0 : v.T, ::P][:, : out.real_page_table.shape[1]]
        n = src.shape[1]
        out.real_page_table[0 : v.T, 0:n] = torch.div(src, P, rounding_mode="floor")


HUNT = [
    ("correct_lists", "metadata", "correct: plain Python on lists"),
    ("correct_torch", "metadata", "correct: plain torch"),
    ("de_base_off_by_n", "metadata", "mode draft_extend"),
    ("decode_dsa_cu_unclamped", "metadata", "mode decode (topk below)"),
    ("tv_writes_one_column_past_width", "metadata", "mode target_verify, write past W"),
    ("var_last_zero_extend_cu_short", "metadata", "mixed-zero extends, last one zero"),
    ("var_zero_between_shifts_pool_index", "metadata", "mixed-zero extends, zero between"),
    ("var_all_zero_writes_row0", "metadata", "all-zero extends"),
    ("bs33_tail_dropped", "metadata", "bs one past 32"),
    ("bs129_fast_path_overflow", "metadata", "bs one past 128"),
    ("bs1023_scratch_short", "metadata", "bs just below 1024"),
    ("bs1025_tail_dropped", "metadata", "bs one past 1024"),
    ("bs16385_index_wraps", "metadata", "bs one past 16384"),
    ("bs0_writes_cu1", "metadata", "bs 0, write region"),
    ("bs1_ignores_pool_index", "metadata", "bs 1"),
    ("de_next_n_8_offset_wraps", "metadata", "next_n 8"),
    ("tv_next_n_capped_6", "metadata", "next_n 7, 8"),
    ("pad_de_clamp_min_1", "metadata", "padded s=1 e=N (draft_extend)"),
    ("pad_var_dsa_min_0", "metadata", "padded kv < e (draft_extend_var)"),
    ("decode_s0_as_1", "metadata", "padded kv < e (decode s=0)"),
    ("topk_equal_missed_in_dsa_cu", "metadata", "topk equal to a length"),
    ("topk_zero_no_clamp", "metadata", "topk 0 (below)"),
    ("page_width_mod_1_short", "metadata", "width not a multiple of page"),
    ("page_width_below_page_skipped", "metadata", "width below page size"),
    ("page128_divisor_int8", "metadata", "page size 128"),
    ("page_non_pow2_column_shift", "metadata", "page size 3"),
    ("page_multiple_writes_extra_column", "metadata", "width a multiple of page, write"),
    ("rtt_unit_column_stride", "metadata", "req_to_token transposed-then-sliced"),
    ("rtt_row_stride_from_shape", "metadata", "req_to_token column-sliced"),
    ("rtt_storage_offset_lost", "metadata", "req_to_token row-sliced"),
    ("repeated_index_copies_wrong_rows", "metadata", "repeated pool indices"),
    ("pool_last_row_reserved", "metadata", "pool index pool - 1"),
    ("pool_index_zero_skipped", "metadata", "pool index 0"),
    ("mix_reinterprets_pool_indices", "metadata", "dtype mix s32 r64"),
    ("ext64_s32_low_words", "metadata", "dtype mix ext64 s32"),
    ("cu_float32_cumsum", "metadata", "running sums near int32"),
    ("dsa_cu_saturating_intermediate", "metadata", "running sums, intermediate > 2**31"),
    ("stale_page_rows_by_address", "metadata", "back-to-back, same bs/T"),
    ("stale_skips_unchanged_requests", "metadata", "back-to-back, T changes"),
    ("stale_caches_bs_per_buffer", "metadata", "back-to-back, bs grows"),
    ("pads_dsa_cache_to_8", "metadata", "write past T"),
    ("writes_cu_past_bs_plus_1", "metadata", "write past bs + 1"),
    ("real_page_full_buffer_width", "metadata", "write past ceil(W/P)"),
]

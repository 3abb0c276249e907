"""Vectorised torch version of contract v2: cumsum, searchsorted and index_select, no loop
over requests.

It never reads a value back to the host: when T lives only on the device (draft_extend_var
without validation) every row up to the buffers' capacity is computed and rows at or past
T are rewritten with their own old values.
"""

from __future__ import annotations

import torch

from nsa_meta.validation import rows_per_request


def clamped_sum(a: torch.Tensor, n: torch.Tensor | int, topk: int) -> torch.Tensor:
    """sum(min(a + d, topk) for d in range(n)), closed form, elementwise (int64)."""
    c = (topk - a).clamp(min=0)  # how many of the n values stay below topk
    c = c.clamp(max=n) if isinstance(n, int) else torch.minimum(c, n)
    return c * a + c * (c - 1) // 2 + (n - c) * topk


def _write(dst: torch.Tensor, src: torch.Tensor, valid: torch.Tensor | None) -> None:
    dst.copy_(src if valid is None else torch.where(valid, src.to(dst.dtype), dst))


def row_capacity(out) -> int:
    """The most rows every row buffer can take."""
    caps = [
        out.seqlens_expanded.shape[0],
        out.dsa_cache_seqlens.shape[0],
        out.dsa_cu_seqlens_k.shape[0] - 1,
        out.page_table_1.shape[0],
    ]
    if out.real_page_table is not None:
        caps.append(out.real_page_table.shape[0])
    return max(0, min(caps))


@torch.inference_mode()  # an out buffer made in inference mode takes in-place writes only there
def metadata_into(
    mode: str,
    seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    extend_seq_lens: torch.Tensor | None,
    *,
    topk: int,
    width: int,
    page_size: int,
    next_n: int,
    out,
    rows: int | None,
) -> None:
    """Write the contract's region of `out`; `rows` is T when the host knows it, else None.
    Under inference mode: a normal out buffer takes the writes there too (about 1 us, no
    sync)."""
    bs = seq_lens.numel()
    device = seq_lens.device
    s = seq_lens.to(torch.int64)
    kv = s + next_n if mode == "target_verify" else s
    out.cache_seqlens[:bs].copy_(kv)
    out.cu_seqlens_k[:1].zero_()
    out.cu_seqlens_k[1 : bs + 1].copy_(torch.cumsum(kv, 0))
    out.dsa_cu_seqlens_k[:1].zero_()
    n = row_capacity(out) if rows is None else rows
    if bs == 0 or n == 0:
        return

    t = torch.arange(n, device=device, dtype=torch.int64)
    fixed = rows_per_request(mode, next_n)
    valid = None
    if fixed is not None:
        e: torch.Tensor | int = fixed
        owner, d = t // fixed, t % fixed
    else:
        assert extend_seq_lens is not None
        e = extend_seq_lens.to(torch.int64)
        ends = torch.cumsum(e, 0)  # request i owns rows [ends[i] - e[i], ends[i])
        owner = torch.searchsorted(ends, t, right=True).clamp_(max=bs - 1)
        d = t - (ends - e)[owner]
        if rows is None:
            valid = t < ends[-1]
    a = kv - e + 1  # each request's first seqlens_expanded value
    expanded = a[owner] + d
    sums = clamped_sum(a, e, topk)  # each request's share of dsa_cu_seqlens_k
    before = (torch.cumsum(sums, 0) - sums)[owner]
    _write(out.seqlens_expanded[:n], expanded, valid)
    _write(out.dsa_cache_seqlens[:n], expanded.clamp(max=topk), valid)
    _write(out.dsa_cu_seqlens_k[1 : n + 1], before + clamped_sum(a[owner], d + 1, topk), valid)

    # Garbage pool indices (validation off) must not read outside req_to_token.
    pool_rows = req_pool_indices.to(torch.int64)[owner].clamp_(0, req_to_token.shape[0] - 1)
    row_valid = None if valid is None else valid[:, None]
    _write(out.page_table_1[:n, :width], req_to_token[:, :width][pool_rows], row_valid)
    if out.real_page_table is not None:
        first_cells = req_to_token[:, 0:width:page_size][pool_rows]
        pages = torch.div(first_cells, page_size, rounding_mode="floor")
        _write(out.real_page_table[:n, : pages.shape[1]], pages, row_valid)

"""A small judge for red-team round 9's candidates, independent of the fuzzer: build one call
(or a sequence on one set of poisoned buffers) from lists, run a candidate, compare the
contract's region with reference.metadata and every other cell with what it held before.
"""

from __future__ import annotations

import torch

import nsa_meta
import reference

POISON = -777
I32, I64 = torch.int32, torch.int64


def table(rows: list[list[int]], layout: str = "contiguous") -> torch.Tensor:
    """req_to_token with `rows`, laid out as `layout`; the gaps hold values not in the view."""
    pool, wr = len(rows), len(rows[0])
    t = torch.tensor(rows, dtype=I32)
    if layout == "contiguous":
        return t
    if layout == "transposed":  # transposed-then-sliced: column stride pool + 1
        base = torch.full((wr + 1, pool + 1), 999_999, dtype=I32)
        base[:wr, :pool] = t.T
        return base.T[:pool, :wr]
    if layout == "colsliced":  # row stride wr + 2
        base = torch.full((pool, wr + 2), 999_999, dtype=I32)
        base[:, :wr] = t
        return base[:, :wr]
    if layout == "rowsliced":  # a storage offset of one row
        base = torch.full((pool + 1, wr), 999_999, dtype=I32)
        base[1:] = t
        return base[1:]
    raise ValueError(f"layout {layout!r}")


def call(
    mode: str,
    s: list[int],
    r: list[int],
    rows: list[list[int]],
    *,
    topk: int = 2048,
    width: int | None = None,
    page_size: int = 1,
    next_n: int = 1,
    ext: list[int] | None = None,
    dtypes: tuple = (I32, I32, I32),
    layout: str = "contiguous",
) -> dict:
    """One call: the oracle's lists and the candidate's tensors."""
    width = len(rows[0]) if width is None else width
    return dict(
        mode=mode,
        s=s,
        r=r,
        rows=rows,
        ext=ext,
        scalars=dict(topk=topk, width=width, page_size=page_size, next_n=next_n),
        tensors=dict(
            seq_lens=torch.tensor(s, dtype=dtypes[0]),
            req_pool_indices=torch.tensor(r, dtype=dtypes[1]),
            extend_seq_lens=None if ext is None else torch.tensor(ext, dtype=dtypes[2]),
            req_to_token=table(rows, layout),
        ),
    )


def expected(c: dict) -> reference.MetadataLists:
    return reference.metadata(
        c["mode"], c["s"], c["r"], c["rows"], extend_seq_lens=c["ext"], **c["scalars"]
    )


def buffers(calls: list[dict], extra: int = 3) -> nsa_meta.Metadata:
    """Poisoned buffers with room for every call, `extra` cells more in every dimension;
    page tables are views whose row stride exceeds their width."""
    outs = [expected(c) for c in calls]
    bs = max(len(o.cache_seqlens) for o in outs) + extra
    T = max(len(o.seqlens_expanded) for o in outs) + extra
    W = max(c["scalars"]["width"] for c in calls) + extra
    P = calls[0]["scalars"]["page_size"]

    def buf(*shape):
        return torch.full(shape, POISON, dtype=I32)

    return nsa_meta.Metadata(
        cache_seqlens=buf(bs),
        cu_seqlens_k=buf(bs + 1),
        seqlens_expanded=buf(T),
        dsa_cache_seqlens=buf(T),
        dsa_cu_seqlens_k=buf(T + 1),
        page_table_1=buf(T, W + 2)[:, :W],
        real_page_table=buf(T, -(-W // P) + 2)[:, : -(-W // P)] if P > 1 else None,
    )


def judge(fn, calls: list[dict], extra: int = 3) -> str | None:
    """None when `fn` is right on every call of `calls` (one set of buffers), else the first
    wrong cell as 'call k: buffer[cell] got X, expected Y'."""
    out = buffers(calls, extra)
    for k, c in enumerate(calls):
        want = expected(c)
        before = [None if b is None else b.clone() for b in out]
        try:
            fn(mode=c["mode"], out=out, **c["tensors"], **c["scalars"])
        except Exception as exc:  # a candidate that raises on a valid input is wrong
            return f"call {k}: raised {exc!r}"
        for name, buf, old, value in zip(out._fields, out, before, want):
            if buf is None:
                continue
            target = old.clone()
            if value is not None and len(value):
                region = torch.tensor(value, dtype=I32)
                index = tuple(slice(0, n) for n in region.shape)
                target[index] = region
            elif name in ("cu_seqlens_k", "dsa_cu_seqlens_k"):
                target[0] = 0
            bad = torch.nonzero(buf != target)
            if bad.numel():
                cell = tuple(bad[0].tolist())
                return f"call {k}: {name}{list(cell)} got {buf[cell]}, expected {target[cell]}"
    return None

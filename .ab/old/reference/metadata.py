"""Pure-Python oracle for CONTRACT_V2: the whole replay metadata, one line per output.

Read `metadata` beside the contract's two tables (modes, outputs); lists in, lists out.
It imports nothing (no torch), so it cannot share a bug with what it judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")


class MetadataLists(NamedTuple):
    """The seven outputs, named and ordered as in the contract (`real_page_table` is None
    when page_size == 1)."""

    cache_seqlens: list[int]
    cu_seqlens_k: list[int]
    seqlens_expanded: list[int]
    dsa_cache_seqlens: list[int]
    dsa_cu_seqlens_k: list[int]
    page_table_1: list[list[int]]
    real_page_table: list[list[int]] | None


def _running(values: list[int]) -> list[int]:
    """0, then the running sum of `values`."""
    sums = [0]
    for v in values:
        sums.append(sums[-1] + v)
    return sums


def metadata(
    mode: str,
    seq_lens: Sequence[int],
    req_pool_indices: Sequence[int],
    req_to_token: Sequence[Sequence[int]],
    *,
    topk: int,
    width: int,
    page_size: int = 1,
    next_n: int = 1,
    extend_seq_lens: Sequence[int] | None = None,
) -> MetadataLists:
    """Every output of CONTRACT_V2 for one call, as lists of ints (rows as lists)."""
    validate(
        mode,
        seq_lens,
        req_pool_indices,
        req_to_token,
        topk=topk,
        width=width,
        page_size=page_size,
        next_n=next_n,
        extend_seq_lens=extend_seq_lens,
    )
    s, r, N, W, P, K = list(seq_lens), list(req_pool_indices), next_n, width, page_size, topk
    bs = len(s)
    e, kv = per_request(mode, s, N, extend_seq_lens)
    rows = [(i, d) for i in range(bs) for d in range(e[i])]  # row t = request i's d-th row

    cache_seqlens = kv
    cu_seqlens_k = _running(kv)
    seqlens_expanded = [kv[i] - e[i] + 1 + d for i, d in rows]
    dsa_cache_seqlens = [min(v, K) for v in seqlens_expanded]
    dsa_cu_seqlens_k = _running(dsa_cache_seqlens)
    page_table_1 = [list(req_to_token[r[i]][0:W]) for i, _ in rows]
    Q = -(-W // P)  # ceil(W / P)
    real_page_table = [[row[q * P] // P for q in range(Q)] for row in page_table_1]

    return MetadataLists(
        cache_seqlens,
        cu_seqlens_k,
        seqlens_expanded,
        dsa_cache_seqlens,
        dsa_cu_seqlens_k,
        page_table_1,
        real_page_table if P > 1 else None,
    )


def per_request(
    mode: str, s: list[int], N: int, extend_seq_lens: Sequence[int] | None
) -> tuple[list[int], list[int]]:
    """The contract's mode table: (e, kv), one entry per request."""
    bs = len(s)
    if mode == "decode":
        return [1] * bs, list(s)
    if mode == "target_verify":
        return [N] * bs, [si + N for si in s]
    if mode == "draft_extend":
        return [N] * bs, list(s)
    assert extend_seq_lens is not None
    return list(extend_seq_lens), list(s)


# -- the contract's "Bad input", for lists ------------------------------------------------


def _check_ints(name: str, values: object) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__}")
    if all(type(v) is int for v in values):
        return
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name}[{i}] is {v!r} ({type(v).__name__}); expected int")


def _check_scalar(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= INT32_MAX:
        raise ValueError(f"{name} is {value}; it must be in [{low}, 2**31 - 1]")


def _first(values: list[int], bad) -> int | None:
    return next((i for i, v in enumerate(values) if bad(v)), None)


def _check_sums(name: str, sums: list[int], why: str) -> None:
    j = _first(sums, lambda v: not INT32_MIN <= v <= INT32_MAX)
    if j is not None:
        raise ValueError(f"{why} gives {name}[{j}] = {sums[j]}, outside int32")


def validate(
    mode: object,
    seq_lens: object,
    req_pool_indices: object,
    req_to_token: object,
    *,
    topk: object,
    width: object,
    page_size: object = 1,
    next_n: object = 1,
    extend_seq_lens: object = None,
) -> None:
    """CONTRACT_V2's error list for Python lists: TypeError / ValueError naming the argument."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode is {mode!r}; expected one of {', '.join(MODES)}")
    _check_scalar("topk", topk, 0)
    for name, value in (("next_n", next_n), ("page_size", page_size), ("width", width)):
        _check_scalar(name, value, 1)
    _check_ints("seq_lens", seq_lens)
    _check_ints("req_pool_indices", req_pool_indices)
    s, r = list(seq_lens), list(req_pool_indices)
    if (mode == "draft_extend_var") != (extend_seq_lens is not None):
        need = "required" if mode == "draft_extend_var" else "only for draft_extend_var"
        raise ValueError(f"extend_seq_lens is {need}; mode is {mode!r}")
    if extend_seq_lens is not None:
        _check_ints("extend_seq_lens", extend_seq_lens)
        if len(extend_seq_lens) != len(s):
            raise ValueError(
                f"extend_seq_lens has length {len(extend_seq_lens)} but seq_lens has "
                f"length {len(s)}; one entry per request in both"
            )
    if len(r) != len(s):
        raise ValueError(
            f"req_pool_indices has length {len(r)} but seq_lens has length {len(s)}; "
            "one entry per request in both"
        )
    if isinstance(req_to_token, (str, bytes)) or not isinstance(req_to_token, Sequence):
        raise TypeError(f"req_to_token must be a list of rows, got {type(req_to_token).__name__}")
    pool = len(req_to_token)
    for row_index, row in enumerate(req_to_token):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ValueError(f"req_to_token[{row_index}] is not a row; req_to_token must be 2-D")
        if len(row) != len(req_to_token[0]):
            raise ValueError(
                f"req_to_token[{row_index}] has {len(row)} columns but req_to_token[0] has "
                f"{len(req_to_token[0])}; req_to_token must be 2-D"
            )
    columns = len(req_to_token[0]) if pool else 0
    if pool and columns < width:  # an empty pool ([0, Wr]) has no row to measure
        raise ValueError(f"req_to_token has {columns} columns but width is {width}")

    i = _first(s, lambda v: not 0 <= v <= INT32_MAX)
    if i is not None:
        raise ValueError(f"seq_lens[{i}] is {s[i]}; seq lengths must be in [0, 2**31 - 1]")
    e, kv = per_request(mode, s, next_n, extend_seq_lens)
    i = _first(kv, lambda v: v > INT32_MAX)
    if i is not None:
        raise ValueError(
            f"seq_lens[{i}] is {s[i]}; kv = seq_lens + next_n = {kv[i]} is above 2**31 - 1"
        )
    i = _first(e, lambda v: v < 0)
    if i is not None:
        raise ValueError(f"extend_seq_lens[{i}] is {e[i]}; accept lengths must be >= 0")
    i = _first(r, lambda v: not 0 <= v < pool)
    if i is not None:
        raise ValueError(
            f"req_pool_indices[{i}] is {r[i]}; pool indices must be in [0, {pool}) "
            "(req_to_token's rows)"
        )
    T = sum(e)
    if T > INT32_MAX:
        which = "sum(extend_seq_lens)" if mode == "draft_extend_var" else "bs * e"
        raise ValueError(f"{which} is {T} rows (next_n {next_n}); T must be <= 2**31 - 1")
    _check_sums("cu_seqlens_k", _running(kv), "seq_lens")
    rows = [kv[i] - e[i] + 1 + d for i in range(len(s)) for d in range(e[i])]
    _check_sums("dsa_cu_seqlens_k", _running([min(v, topk) for v in rows]), "seq_lens with topk")
    for i in range(len(s)):
        if e[i] == 0:
            continue
        row = req_to_token[r[i]]
        for c in range(width):
            v = row[c]
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"req_to_token[{r[i]}][{c}] is {v!r} ({type(v).__name__})")
            if not 0 <= v <= INT32_MAX:
                raise ValueError(
                    f"req_to_token[{r[i]}][{c}] is {v} (read for req_pool_indices[{i}]); "
                    "the cells read must be in [0, 2**31 - 1]"
                )

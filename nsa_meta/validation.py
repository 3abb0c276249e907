"""One validation for every backend: CONTRACT.md's error list, checked before any write.

`check_layout` is cheap (types, shapes, devices) and never reads tensor values, so it runs
with validate=False too; `check_values` reads values and therefore synchronises the host.
"""

from __future__ import annotations

import math

import numpy as np
import torch

INT32_MAX = 2**31 - 1
INDEX_DTYPES = (torch.int32, torch.int64)

OutPair = tuple[torch.Tensor, torch.Tensor]


def _check_index_tensor(name: str, t: object) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    _check_strided(name, t)
    if t.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; expected torch.int32 or torch.int64")


def _check_strided(name: str, t: torch.Tensor) -> None:
    """A dense tensor: sparse ones have no strides (and torch fails deep inside, naming
    nothing)."""
    if t.layout is not torch.strided:
        raise TypeError(f"{name} is a {t.layout} tensor; expected a dense (strided) tensor")


OUT_NAMES = ("out_seqlens_expanded", "out_nsa_cache_seqlens")


def check_out_pair(out: object) -> None:
    """v1's `out`: a pair of int32 1-D tensors whose elements are distinct slots (what
    expand and prepare both require)."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"out must be a pair ({', '.join(OUT_NAMES)}), got {type(out).__name__}")
    for name, buf in zip(OUT_NAMES, out):
        if not isinstance(buf, torch.Tensor):
            raise TypeError(f"out: {name} must be a torch.Tensor, got {type(buf).__name__}")
        if buf.dtype != torch.int32:
            raise TypeError(f"out: {name} has dtype {buf.dtype}; expected torch.int32")
        if buf.dim() != 1:
            raise ValueError(f"out: {name} must be 1-D, got shape {tuple(buf.shape)}")
        if shares_memory(buf):  # `[total, capacity)` could not stay
            raise ValueError(f"out: {name} has stride 0; its elements would share one slot")


def _check_out(out: object, device: torch.device) -> None:
    check_out_pair(out)
    for name, buf in zip(OUT_NAMES, out):
        if buf.device != device:
            raise ValueError(f"out: {name} is on {buf.device} but the inputs are on {device}")


def check_layout(
    extend_seq_lens: object,
    seq_lens: object,
    nsa_index_topk: object,
    out: object = None,
) -> None:
    """Types, dtypes, ranks, lengths and devices: no tensor value is read."""
    _check_index_tensor("extend_seq_lens", extend_seq_lens)
    _check_index_tensor("seq_lens", seq_lens)
    if isinstance(nsa_index_topk, bool) or not isinstance(nsa_index_topk, int):
        raise TypeError(f"nsa_index_topk must be an int, got {type(nsa_index_topk).__name__}")
    assert isinstance(extend_seq_lens, torch.Tensor) and isinstance(seq_lens, torch.Tensor)
    for name, t in (("extend_seq_lens", extend_seq_lens), ("seq_lens", seq_lens)):
        if t.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if extend_seq_lens.numel() != seq_lens.numel():
        raise ValueError(
            f"extend_seq_lens has length {extend_seq_lens.numel()} but seq_lens has length "
            f"{seq_lens.numel()}; one entry per request in both"
        )
    if extend_seq_lens.device != seq_lens.device:
        raise ValueError(
            f"extend_seq_lens is on {extend_seq_lens.device} but seq_lens is on "
            f"{seq_lens.device}; both must be on one device"
        )
    if not 0 <= nsa_index_topk <= INT32_MAX:
        raise ValueError(f"nsa_index_topk is {nsa_index_topk}; it must be in [0, 2**31 - 1]")
    if out is not None:
        _check_out(out, extend_seq_lens.device)


def _first_bad(name: str, bad: torch.Tensor, t: torch.Tensor, rule: str) -> None:
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] is {int(t[i])}; {rule}")


def check_values(
    extend_seq_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    out: OutPair | None = None,
) -> int:
    """Value checks (host sync). Returns total = sum(extend_seq_lens)."""
    _first_bad(
        "extend_seq_lens", extend_seq_lens < 0, extend_seq_lens, "accept lengths must be >= 0"
    )
    _first_bad(
        "seq_lens",
        (seq_lens < 0) | (seq_lens > INT32_MAX),
        seq_lens,
        "seq lengths must be in [0, 2**31 - 1]",
    )
    # One huge extend alone must not wrap the int64 sum below round to a small total.
    _first_bad(
        "extend_seq_lens",
        extend_seq_lens > INT32_MAX,
        extend_seq_lens,
        "sum(extend_seq_lens) must be <= 2**31 - 1",
    )
    total = int(extend_seq_lens.sum(dtype=torch.int64))
    if total > INT32_MAX:
        raise ValueError(
            f"sum(extend_seq_lens) is {total}; the expanded length must be <= 2**31 - 1"
        )
    if out is not None:
        for name, buf in zip(("out_seqlens_expanded", "out_nsa_cache_seqlens"), out):
            if buf.numel() < total:
                raise ValueError(f"out: {name} holds {buf.numel()} elements but total is {total}")
    return total


def validate(
    extend_seq_lens: object,
    seq_lens: object,
    nsa_index_topk: object,
    out: object = None,
) -> int:
    """Every check in CONTRACT.md, in a fixed order. Returns total."""
    check_layout(extend_seq_lens, seq_lens, nsa_index_topk, out)
    return check_values(extend_seq_lens, seq_lens, out)  # type: ignore[arg-type]


# -- contract v2: the whole replay metadata ------------------------------------------------
# The same split as v1: `check_metadata_layout` reads no tensor value (runs with
# validate=False too); `check_metadata_values` reads values (a host sync). Both run before
# anything is written.

MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")
INT32_MIN = -(2**31)
OUT_FIELDS = (
    "cache_seqlens",
    "cu_seqlens_k",
    "seqlens_expanded",
    "dsa_cache_seqlens",
    "dsa_cu_seqlens_k",
    "page_table_1",
    "real_page_table",
)
_VALUE_CHUNK = 2**24  # req_to_token cells checked per step: bounded memory at any bs x width


def _check_scalar(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= INT32_MAX:
        raise ValueError(f"{name} is {value}; it must be in [{low}, 2**31 - 1]")


def rows_per_request(mode: str, next_n: int) -> int | None:
    """`e` of the fixed-width modes (the host knows T = bs * e); None for draft_extend_var."""
    return {"decode": 1, "target_verify": next_n, "draft_extend": next_n}.get(mode)


def shares_memory(buf: torch.Tensor) -> bool:
    """Whether two elements of a 1-D or 2-D tensor are one memory cell (exact; strides are
    >= 0 in torch). Two cells (i, j), (i + a, j + b) meet iff a * s0 + b * s1 = 0: the
    least solution is |a| = s1 / g, |b| = s0 / g with g = gcd(s0, s1)."""
    strides = buf.stride()
    if len(strides) == 1:
        return strides[0] == 0 and buf.shape[0] > 1
    (rows, cols), (s0, s1) = buf.shape, strides
    if s1 == 1 and s0 >= cols:  # rows apart, columns adjacent: the common layout
        return False
    if s0 == 0 or s1 == 0:
        return rows * cols > 1 and ((rows > 1 and s0 == 0) or (cols > 1 and s1 == 0))
    g = math.gcd(s0, s1)
    return s1 // g < rows and s0 // g < cols


def _check_metadata_out(
    out: object, bs: int, rows: int | None, width: int, page_size: int, device: torch.device
) -> None:
    from nsa_meta.metadata import Metadata  # here: nsa_meta.metadata imports this module

    if not isinstance(out, Metadata):
        raise TypeError(f"out must be a nsa_meta.Metadata, got {type(out).__name__}")
    pages = -(-width // page_size)
    # (rank, rows needed (None: T, unknown here), columns needed)
    needs = {
        "cache_seqlens": (1, bs, None),
        "cu_seqlens_k": (1, bs + 1, None),
        "seqlens_expanded": (1, rows, None),
        "dsa_cache_seqlens": (1, rows, None),
        "dsa_cu_seqlens_k": (1, None if rows is None else rows + 1, None),
        "page_table_1": (2, rows, width),
        "real_page_table": (2, rows, pages),
    }
    for name in OUT_FIELDS:
        buf = getattr(out, name)
        if name == "real_page_table" and page_size == 1:
            if buf is not None:
                raise ValueError(
                    "out.real_page_table must be None when page_size is 1 (page_table_1 is "
                    "the page table)"
                )
            continue
        if buf is None:
            raise ValueError(f"out.{name} is missing (None)")
        if not isinstance(buf, torch.Tensor):
            raise TypeError(f"out.{name} must be a torch.Tensor, got {type(buf).__name__}")
        _check_strided(f"out.{name}", buf)
        if buf.dtype != torch.int32:
            raise TypeError(f"out.{name} has dtype {buf.dtype}; expected torch.int32")
        rank, need_rows, need_cols = needs[name]
        if buf.dim() != rank:
            raise ValueError(f"out.{name} must be {rank}-D, got shape {tuple(buf.shape)}")
        if buf.device != device:
            raise ValueError(f"out.{name} is on {buf.device} but the inputs are on {device}")
        if shares_memory(buf):  # its region could not be exact and the rest kept
            raise ValueError(
                f"out.{name} has shape {tuple(buf.shape)} and strides {buf.stride()}: two of "
                "its elements are one memory cell; give a buffer whose elements are distinct"
            )
        if need_rows is not None and buf.shape[0] < need_rows:
            raise ValueError(f"out.{name} has {buf.shape[0]} rows but {need_rows} are needed")
        if need_cols is not None and buf.shape[1] < need_cols:
            raise ValueError(
                f"out.{name} has {buf.shape[1]} columns but {need_cols} are needed "
                f"(width {width}, page_size {page_size})"
            )


def check_metadata_layout(
    mode: object,
    seq_lens: object,
    req_pool_indices: object,
    req_to_token: object,
    *,
    topk: object,
    width: object,
    page_size: object,
    next_n: object,
    extend_seq_lens: object,
    out: object,
) -> int | None:
    """Types, dtypes, ranks, lengths, devices, sizes: no tensor value is read.

    Returns T when the host knows it (fixed-width modes: bs * e), else None.
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode is {mode!r}; expected one of {', '.join(MODES)}")
    _check_scalar("topk", topk, 0)
    for name, value in (("next_n", next_n), ("page_size", page_size), ("width", width)):
        _check_scalar(name, value, 1)
    assert isinstance(width, int) and isinstance(page_size, int) and isinstance(next_n, int)
    vectors = [("seq_lens", seq_lens), ("req_pool_indices", req_pool_indices)]
    if (mode == "draft_extend_var") != (extend_seq_lens is not None):
        need = "required" if mode == "draft_extend_var" else "only for draft_extend_var"
        raise ValueError(f"extend_seq_lens is {need}; mode is {mode!r}")
    if extend_seq_lens is not None:
        vectors.append(("extend_seq_lens", extend_seq_lens))
    for name, t in vectors:
        _check_index_tensor(name, t)
        assert isinstance(t, torch.Tensor)
        if t.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    assert isinstance(seq_lens, torch.Tensor)
    bs = seq_lens.numel()
    for name, t in vectors[1:]:
        assert isinstance(t, torch.Tensor)
        if t.numel() != bs:
            raise ValueError(
                f"{name} has length {t.numel()} but seq_lens has length {bs}; one entry per "
                "request in both"
            )
    if not isinstance(req_to_token, torch.Tensor):
        raise TypeError(f"req_to_token must be a torch.Tensor, got {type(req_to_token).__name__}")
    _check_strided("req_to_token", req_to_token)
    if req_to_token.dtype != torch.int32:
        raise TypeError(f"req_to_token has dtype {req_to_token.dtype}; expected torch.int32")
    if req_to_token.dim() != 2:
        raise ValueError(f"req_to_token must be 2-D, got shape {tuple(req_to_token.shape)}")
    if req_to_token.shape[1] < width:
        raise ValueError(f"req_to_token has {req_to_token.shape[1]} columns but width is {width}")
    device = seq_lens.device
    for name, t in [*vectors[1:], ("req_to_token", req_to_token)]:
        assert isinstance(t, torch.Tensor)
        if t.device != device:
            raise ValueError(
                f"{name} is on {t.device} but seq_lens is on {device}; all tensors must be "
                "on one device"
            )
    e = rows_per_request(mode, next_n)
    rows = None if e is None else bs * e
    if rows is not None and rows > INT32_MAX:  # the host knows T: name next_n, not a buffer
        raise ValueError(f"bs * next_n is {rows} rows (next_n {next_n}); T must be <= 2**31 - 1")
    if out is not None:
        _check_metadata_out(out, bs, rows, width, page_size, device)
        inputs = [*vectors, ("req_to_token", req_to_token)]
        _check_metadata_aliasing(out, inputs)  # type: ignore[arg-type]
    return rows


def _cells(t: torch.Tensor, origin: int, unit: int) -> np.ndarray:
    """The memory cells of `unit` bytes, counted from address `origin`, that `t`'s elements
    cover (int32 or int64; `unit` divides the element size and t's offset from `origin`).
    Host arithmetic on shapes and strides (numpy): no tensor, on no default device."""
    size = t.element_size()
    index = np.array((t.data_ptr() - origin) // unit, dtype=np.int64)
    for n, step in zip(t.shape, t.stride()):
        index = index[..., None] + np.arange(n, dtype=np.int64) * (step * size // unit)
    index = index.ravel()
    k = size // unit
    return np.concatenate([index + j for j in range(k)]) if k > 1 else index


def _span(t: torch.Tensor) -> tuple[int, int]:
    """[first, last] byte address of `t`'s elements (strides are >= 0 in torch)."""
    first = t.data_ptr()
    reach = sum((n - 1) * step for n, step in zip(t.shape, t.stride()))
    return first, first + (reach + 1) * t.element_size() - 1


EXACT_CELLS = 2**22  # tensors up to this many elements get the exact overlap test


def _meet(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors share a byte of memory, one storage or two (two storages can
    overlap: torch.from_numpy of overlapping numpy views): exact up to EXACT_CELLS
    elements each; larger ones whose spans interleave are let through (listing their cells
    would cost more than the call, and rejecting them could turn away a valid layout)."""
    if a.numel() == 0 or b.numel() == 0 or not a.data_ptr() or not b.data_ptr():
        return False  # no element, or no memory (meta)
    (a0, a1), (b0, b1) = _span(a), _span(b)
    if a1 < b0 or b1 < a0:
        return False
    if max(a.numel(), b.numel()) > EXACT_CELLS:
        return False
    unit = math.gcd(a0 - b0, 4)  # 4-byte cells, or smaller where the two are misaligned
    origin = min(a0, b0)
    return bool(np.isin(_cells(a, origin, unit), _cells(b, origin, unit)).any())


def _check_metadata_aliasing(out: object, inputs: list[tuple[str, torch.Tensor]]) -> None:
    """No out buffer shares memory with another or with an input (the region could not be
    written exactly, nor the inputs kept). Layout only, no value read: storages' address
    ranges first (most calls stop there), elements' cells only where those overlap."""
    named = [(f"out.{n}", b) for n, b in zip(OUT_FIELDS, out) if b is not None]  # type: ignore[call-overload]
    tensors = named + inputs
    # [first, end) bytes of each storage with memory (meta and empty ones have none)
    spans = sorted([(p, p + s.nbytes()) for _, t in tensors
                    if (p := (s := t.untyped_storage()).data_ptr())])  # fmt: skip
    end = 0
    for first, last in spans:
        if first < end:
            break  # two storages overlap (or are one): look at the elements' cells
        end = last
    else:
        return
    memory = [(p, p + s.nbytes()) if (p := (s := t.untyped_storage()).data_ptr()) else None
              for _, t in tensors]  # fmt: skip
    for i in range(len(named)):
        for j in range(i + 1, len(tensors)):
            mi, mj = memory[i], memory[j]
            if mi is None or mj is None or mi[1] <= mj[0] or mj[1] <= mi[0]:
                continue  # storages apart: no cell in common
            (name_a, a), (name_b, b) = tensors[i], tensors[j]
            if _meet(a, b):
                what = "another buffer" if j < len(named) else "an input, never modified"
                raise ValueError(
                    f"{name_a} and {name_b} share memory ({name_b} is {what}); give "
                    "out buffers that overlap nothing"
                )


def _first_bad_value(name: str, bad: torch.Tensor, t: torch.Tensor, rule: str) -> None:
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] is {int(t[i])}; {rule}")


def _check_running_sum(name: str, values: torch.Tensor, why: str) -> None:
    sums = torch.cumsum(values, 0)
    bad = (sums < INT32_MIN) | (sums > INT32_MAX)
    if bool(bad.any()):
        j = int(bad.nonzero()[0, 0])
        raise ValueError(f"{why} gives {name}[{j + 1}] = {int(sums[j])}, outside int32")


def _clamped_sum(a, n, c, topk):
    """sum(min(a + d, topk) for d < n) in closed form, given c = min(max(topk - a, 0), n)
    (the terms below topk): Python ints or int64 tensors alike."""
    return c * a + c * (c - 1) // 2 + (n - c) * topk


def _check_dsa_sums(kv: torch.Tensor, e: torch.Tensor, topk: int, T: int) -> None:
    """dsa_cu_seqlens_k's running sum inside int32, in O(bs), never O(T) (T may be near
    2**31). Request i adds min(a + d, topk) for d < e[i], a = kv - e + 1: steps that never
    decrease, so its partial sums are least after its negative steps and greatest at its
    end. The row named is found on the host, in the first request out of range, by
    bisection on the falling or the rising side."""
    # Each row adds at most topk, and a negative value only in a padded request (> -T):
    # every running sum lies in [-T * (T - 1), T * topk]; most calls need no tensor op.
    if T * topk <= INT32_MAX and T * (T - 1) <= -INT32_MIN:
        return
    a = kv - e + 1
    c = torch.minimum((topk - a).clamp(min=0), e)  # rows below topk
    full = _clamped_sum(a, e, c, topk)
    # |full| < 2**62 + 2**61 (the contract bounds kv, e and topk), so the int64 sums are
    # exact up to the first request out of range: all that is reported.
    ends = torch.cumsum(full, 0)
    lowest = torch.minimum((-a).clamp(min=0), e)  # rows of negative value (below topk)
    least = ends - full + _clamped_sum(a, lowest, lowest, topk)  # lowest rows: no clamp
    bad = (least < INT32_MIN) | (ends > INT32_MAX)
    if not bool(bad.any()):
        return
    i = int(bad.nonzero()[0, 0])  # a request with rows: one of none moves no sum
    ai, ei, low = int(a[i]), int(e[i]), max(1, int(lowest[i]))
    base = int(ends[i] - full[i])

    def at(m: int) -> int:
        return base + _clamped_sum(ai, m, min(max(topk - ai, 0), m), topk)

    def first(lo: int, hi: int, out_of_range) -> int:  # first m in [lo, hi] out of range
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if out_of_range(at(mid)) else (mid + 1, hi)
        return lo

    if at(low) < INT32_MIN:  # falling on [1, low]
        m = first(1, low, lambda v: v < INT32_MIN)
    else:  # rising on [low, e]
        m = first(low, ei, lambda v: v > INT32_MAX)
    row = int(e[:i].sum()) + m - 1
    raise ValueError(
        f"seq_lens with topk gives dsa_cu_seqlens_k[{row + 1}] = {at(m)}, outside int32"
    )


def _check_cells_read(
    req_pool_indices: torch.Tensor, e: torch.Tensor, req_to_token: torch.Tensor, width: int
) -> None:
    """Every cell req_to_token[r[i], 0:width] of a request with e[i] > 0 is >= 0."""
    rows_read = torch.unique(req_pool_indices[e > 0].to(torch.int64))
    per_step = max(1, _VALUE_CHUNK // width)
    for start in range(0, rows_read.numel(), per_step):
        chunk = rows_read[start : start + per_step]
        negative = (req_to_token[chunk, :width] < 0).any(dim=1)
        if bool(negative.any()):
            row = int(chunk[int(negative.nonzero()[0, 0])])
            col = int((req_to_token[row, :width] < 0).nonzero()[0, 0])
            i = int(((req_pool_indices == row) & (e > 0)).nonzero()[0, 0])
            raise ValueError(
                f"req_to_token[{row}, {col}] is {int(req_to_token[row, col])} (read for "
                f"req_pool_indices[{i}]); the cells read must be >= 0"
            )


def check_metadata_values(
    mode: str,
    seq_lens: torch.Tensor,
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    *,
    topk: int,
    width: int,
    next_n: int,
    extend_seq_lens: torch.Tensor | None,
    out: object,
) -> int:
    """Value checks (host sync), after `check_metadata_layout`. Returns T."""
    _first_bad_value(
        "seq_lens",
        (seq_lens < 0) | (seq_lens > INT32_MAX),
        seq_lens,
        "seq lengths must be in [0, 2**31 - 1]",
    )
    s = seq_lens.to(torch.int64)
    kv = s + next_n if mode == "target_verify" else s
    _first_bad_value(
        "seq_lens",
        kv > INT32_MAX,
        seq_lens,
        f"kv = seq_lens + next_n ({next_n}) is above 2**31 - 1",
    )
    bs = s.numel()
    fixed = rows_per_request(mode, next_n)
    if extend_seq_lens is not None:
        _first_bad_value(
            "extend_seq_lens",
            extend_seq_lens < 0,
            extend_seq_lens,
            "accept lengths must be >= 0",
        )
        _first_bad_value(
            "extend_seq_lens",
            extend_seq_lens > INT32_MAX,
            extend_seq_lens,
            "sum(extend_seq_lens) must be <= 2**31 - 1",
        )
        e = extend_seq_lens.to(torch.int64)
        T = int(e.sum())
        if T > INT32_MAX:
            raise ValueError(f"sum(extend_seq_lens) is {T}; T must be <= 2**31 - 1")
    else:
        assert fixed is not None
        e = torch.full_like(s, fixed)
        T = bs * fixed
        if T > INT32_MAX:
            raise ValueError(f"bs * next_n is {T} rows (next_n {next_n}); T must be <= 2**31 - 1")
    pool = req_to_token.shape[0]
    _first_bad_value(
        "req_pool_indices",
        (req_pool_indices < 0) | (req_pool_indices >= pool),
        req_pool_indices,
        f"pool indices must be in [0, {pool}) (req_to_token's rows)",
    )
    _check_running_sum("cu_seqlens_k", kv, "seq_lens")
    _check_dsa_sums(kv, e, topk, T)
    _check_cells_read(req_pool_indices, e, req_to_token, width)
    if out is not None and fixed is None:
        for name in OUT_FIELDS[2:]:
            buf = getattr(out, name)
            need = T + 1 if name == "dsa_cu_seqlens_k" else T
            if buf is not None and buf.shape[0] < need:
                raise ValueError(
                    f"out.{name} has {buf.shape[0]} rows but {need} are needed (T is {T})"
                )
    return T

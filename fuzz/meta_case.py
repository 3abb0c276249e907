"""A contract-v2 case is explicit data: 1 to 3 calls on one set of caller buffers.

Each `MetaCall` holds its inputs' values and layouts (dtype, stride, offset; req_to_token
as a formula-filled pool with its own layout); the `MetaCase` holds what the calls share:
width, page size and the poisoned out buffers (capacities, strides, offsets). JSON both
ways, so a corpus entry replays the same calls after the strategies change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import torch

import reference
from fuzz.case import DTYPES, Layout, _materialise
from reference.metadata import per_request

POISON = -777  # every buffer cell starts as this; a cell outside the region must keep it
TABLE_GAP = -5  # req_to_token cells outside the view: wrong (and invalid) if read
FIELDS = (
    "cache_seqlens",
    "cu_seqlens_k",
    "seqlens_expanded",
    "dsa_cache_seqlens",
    "dsa_cu_seqlens_k",
    "page_table_1",
    "real_page_table",
)
INPUTS = ("seq_lens", "req_pool_indices", "req_to_token", "extend_seq_lens")


SMALL_TABLE = 16  # req_to_token cells a case's description lists in full


@dataclass(frozen=True)
class Table:
    """req_to_token: `pool` rows of `columns` int32 token ids, cell (r, c) =
    base + (r * 1009 + c * 7 + seed) % 100_000, inside a larger storage: `row_pad` storage
    rows before it, `col_off` storage columns before it (a slice that starts mid-row),
    `col_pad` spare columns after it; transposed: column stride != 1. `base` lifts the
    token ids (2**24 and up: ids that float32 or 24-bit arithmetic get wrong). Cells the
    contract does not read may be negative: columns from `negative_from` (> 0, at least the
    width) and rows `negative_rows` (no request with rows points there) hold -1 - id."""

    pool: int
    columns: int
    seed: int = 0
    transposed: bool = False
    row_pad: int = 0
    col_pad: int = 0
    col_off: int = 0
    base: int = 0
    negative_from: int = 0
    negative_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_rows", tuple(self.negative_rows))  # from JSON lists

    def values(self) -> torch.Tensor:
        r = torch.arange(self.pool, dtype=torch.int64)[:, None]
        c = torch.arange(self.columns, dtype=torch.int64)[None, :]
        ids = (r * 1009 + c * 7 + self.seed) % 100_000
        v = self.base + ids
        if self.negative_from > 0:
            v[:, self.negative_from :] = -1 - ids[:, self.negative_from :]
        if self.negative_rows:
            rows = torch.tensor(self.negative_rows, dtype=torch.int64)
            v[rows] = -1 - ids[rows]
        return v.to(torch.int32)

    def rows(self) -> list[list[int]]:
        return self.values().tolist()

    def tensor(self, device) -> torch.Tensor:
        v = self.values()
        cols = slice(self.col_off, self.col_off + self.columns)
        wide = self.col_off + self.columns + self.col_pad
        if not self.transposed:
            store = torch.full((self.pool + self.row_pad, wide), TABLE_GAP, dtype=torch.int32)
            store[self.row_pad :, cols] = v
            return store.to(device)[self.row_pad :, cols]
        store = torch.full((wide, self.pool + self.row_pad), TABLE_GAP, dtype=torch.int32)
        store[cols, self.row_pad :] = v.t()
        return store.to(device).t()[self.row_pad :, cols]

    @property
    def plain(self) -> bool:
        return not self.transposed and self.row_pad == 0 and self.col_pad == 0 == self.col_off


def _seq_gap(n: int) -> torch.Tensor:
    return 1000 + 37 * torch.arange(n)


def _ext_gap(n: int) -> torch.Tensor:
    return 1 + torch.arange(n) % 3


def _idx_gap(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.int64)  # a valid pool row, but the wrong one


@dataclass(frozen=True)
class MetaCall:
    """One call of the v2 candidate signature. `width`: this call's page_table_1 width, at
    most the case's (the buffers'); None: the case's. SGLang's replays write
    `page_table[:, :width]` with a width that may change between replays on the same static
    buffers. `page_size`: this call's; None: the case's (a call of page size 1 gets
    real_page_table None, and the buffer, where another call needs it, stays untouched)."""

    mode: str
    seq_lens: tuple[int, ...]
    req_pool_indices: tuple[int, ...]
    table: Table
    extend_seq_lens: tuple[int, ...] | None = None
    topk: int = 2048
    next_n: int = 1
    seq_layout: Layout = field(default_factory=Layout)
    idx_layout: Layout = field(default_factory=Layout)
    ext_layout: Layout = field(default_factory=Layout)
    width: int | None = None
    page_size: int | None = None

    @property
    def bs(self) -> int:
        return len(self.seq_lens)

    def per_request(self) -> tuple[list[int], list[int]]:
        return per_request(self.mode, list(self.seq_lens), self.next_n, self.extend_seq_lens)

    @property
    def rows(self) -> int:
        return sum(self.per_request()[0])

    def layouts(self) -> list[Layout]:
        out = [self.seq_layout, self.idx_layout]
        return out + ([self.ext_layout] if self.extend_seq_lens is not None else [])

    def tensors(self, device) -> dict[str, torch.Tensor | None]:
        """The tensor arguments, by keyword."""
        ext = None
        if self.extend_seq_lens is not None:
            ext = _materialise(self.extend_seq_lens, self.ext_layout, device, _ext_gap)
        return {
            "seq_lens": _materialise(self.seq_lens, self.seq_layout, device, _seq_gap),
            "req_pool_indices": _materialise(
                self.req_pool_indices, self.idx_layout, device, _idx_gap
            ),
            "req_to_token": self.table.tensor(device),
            "extend_seq_lens": ext,
        }

    def width_in(self, case_width: int) -> int:
        """This call's width in a case of width `case_width` (the buffers')."""
        return case_width if self.width is None else self.width

    def page_in(self, case_page: int) -> int:
        """This call's page size in a case of page size `case_page`."""
        return case_page if self.page_size is None else self.page_size

    def scalars(self, width: int, page_size: int) -> dict:
        """The scalar arguments; `width`, `page_size`: the case's (the call's own, when set,
        is passed)."""
        return dict(
            mode=self.mode,
            topk=self.topk,
            next_n=self.next_n,
            page_size=self.page_in(page_size),
            width=self.width_in(width),
        )

    def to_json(self) -> dict:
        own = {} if self.width is None else {"width": self.width}  # older entries: as were
        if self.page_size is not None:
            own["page_size"] = self.page_size
        return {
            "mode": self.mode,
            "seq_lens": list(self.seq_lens),
            "extend_seq_lens": None if self.extend_seq_lens is None else list(self.extend_seq_lens),
            "req_pool_indices": list(self.req_pool_indices),
            # col_off, base, negative_* only when set: older entries read as before
            "req_to_token": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self.table).items()
                if v or k not in ("col_off", "base", "negative_from", "negative_rows")
            },
            "topk": self.topk,
            "next_n": self.next_n,
            "seq_layout": asdict(self.seq_layout),
            "idx_layout": asdict(self.idx_layout),
            "ext_layout": asdict(self.ext_layout),
            **own,
        }

    @classmethod
    def from_json(cls, d: dict) -> MetaCall:
        ext = d.get("extend_seq_lens")
        return cls(
            mode=d["mode"],
            seq_lens=tuple(d["seq_lens"]),
            req_pool_indices=tuple(d["req_pool_indices"]),
            table=Table(**d["req_to_token"]),
            extend_seq_lens=None if ext is None else tuple(ext),
            topk=d.get("topk", 2048),
            next_n=d.get("next_n", 1),
            seq_layout=Layout(**d.get("seq_layout", {})),
            idx_layout=Layout(**d.get("idx_layout", {})),
            ext_layout=Layout(**d.get("ext_layout", {})),
            width=d.get("width"),
            page_size=d.get("page_size"),
        )

    def describe(self, table: bool = False) -> str:
        """One line; `table`: name req_to_token's cells too (calls whose tables differ)."""

        def short(xs) -> str:
            return "[" + ", ".join(map(str, xs[:6])) + (", ..." if len(xs) > 6 else "") + "]"

        def lay(x: Layout) -> str:
            odd = (x.stride, x.offset) != (1, 0)
            return x.dtype + (f" stride={x.stride} offset={x.offset}" if odd else "")

        parts = [f"{self.mode} bs={self.bs} T={self.rows}"]
        if self.width is not None:
            parts.append(f"width={self.width}")
        if self.page_size is not None:
            parts.append(f"page_size={self.page_size}")
        if self.mode in ("target_verify", "draft_extend") or self.next_n != 1:
            parts.append(f"next_n={self.next_n}")
        parts.append(f"topk={self.topk} seq_lens={short(self.seq_lens)} ({lay(self.seq_layout)})")
        if self.extend_seq_lens is not None:
            parts.append(f"extend_seq_lens={short(self.extend_seq_lens)} ({lay(self.ext_layout)})")
        parts.append(f"req_pool_indices={short(self.req_pool_indices)} ({lay(self.idx_layout)})")
        t = self.table
        if not t.plain:
            how = "transposed" if t.transposed else "sliced"
            at = f" from column {t.col_off}" if t.col_off else ""
            parts.append(f"req_to_token {how}{at} [{t.pool}, {t.columns}]")
        if t.base:
            parts.append(f"token ids from {t.base}")
        if t.negative_from or t.negative_rows:
            where = [f"columns from {t.negative_from}"] if t.negative_from else []
            where += [f"pool rows {short(t.negative_rows)}"] if t.negative_rows else []
            parts.append(f"negative ids in unread cells ({', '.join(where)})")
        if table or t.seed:
            if t.pool * t.columns <= SMALL_TABLE:
                parts.append(f"req_to_token={t.rows()}")
            else:
                parts.append(f"req_to_token cells (1009 r + 7 c + {t.seed}) % 100000")
        return " ".join(parts)


def poison_again(out) -> None:
    """Every buffer's whole storage back to the poison, in place (a case's `repoison`)."""
    for t in out:
        if t is not None:
            torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage()).fill_(POISON)


def _refilled(previous, t):
    """`previous` with `t`'s storage copied in, where both are tensors of one dtype, device,
    shape, strides, offset and storage size; else `t`."""
    if not (isinstance(previous, torch.Tensor) and isinstance(t, torch.Tensor)):
        return t
    same = (previous.dtype, previous.device, previous.shape, previous.stride()) == (
        t.dtype,
        t.device,
        t.shape,
        t.stride(),
    )
    p_store, t_store = previous.untyped_storage(), t.untyped_storage()
    if not same or previous.storage_offset() != t.storage_offset():
        return t
    if p_store.nbytes() != t_store.nbytes() or p_store.data_ptr() == t_store.data_ptr():
        return t
    p_store.copy_(t_store)
    return previous


@dataclass(frozen=True)
class MetaCase:
    """Calls that share one set of poisoned out buffers (SGLang's capture, then replays).

    Buffers: `bs_slack`/`rows_slack` past the largest bs and T of the calls, 1-D ones with
    stride `vec_stride` (or one stride each, `vec_strides`, in FIELDS order) at storage
    offset `offset`, page tables with `table_pad` spare columns (row stride > width). Per
    page table (page_table_1, real_page_table): every `col_step`-th column of its storage
    (column stride != 1), and `table_transposed`: a view of a transposed storage (row
    stride 1, `table_pad` spare rows). `table_extra`: both page tables have that many
    columns more than the call needs (SGLang allocates them for the longest context), all
    outside the region. `out` ("buffers" or "none") and `validate` say how the built-ins
    are called; a candidate always writes into the buffers. `repoison`: every buffer's
    storage is poisoned again before each call after the first (`poison_again`), as new
    buffers landing at the same address would be: a kernel that skips work on state keyed
    on the address leaves poison there, in one case (the fold's, fuzz/meta_campaign.py).
    """

    calls: tuple[MetaCall, ...]
    width: int
    page_size: int = 1
    bs_slack: int = 0
    rows_slack: int = 0
    vec_stride: int = 1
    offset: int = 0
    table_pad: int = 0
    out: str = "buffers"
    validate: bool = True
    col_step: tuple[int, int] = (1, 1)
    table_transposed: tuple[bool, bool] = (False, False)
    vec_strides: tuple[int, ...] = ()
    table_extra: int = 0
    refill: bool = False
    repoison: bool = False

    @property
    def bs(self) -> int:
        return max(c.bs for c in self.calls)

    def call_args(self, k: int, device, previous: dict | None = None, built=None) -> dict:
        """Call k's tensor arguments (`built`: already made by `calls[k].tensors`). With
        `refill` (SGLang's replay: its inputs are static tensors, written in place before
        each replay), every input laid out as `previous`'s (call k - 1's arguments, as
        passed) is that very tensor, its whole storage overwritten with call k's: the same
        bytes a new tensor would hold, so what the judge expects does not change."""
        args = built if built is not None else self.calls[k].tensors(device)
        if not self.refill or previous is None:
            return args
        return {n: _refilled(previous.get(n), t) for n, t in args.items()}

    @property
    def total(self) -> int:
        return max(c.rows for c in self.calls)

    @property
    def paged(self) -> bool:
        """Some call has a page size above 1: the buffers have a real_page_table."""
        return any(self.call_page(k) > 1 for k in range(len(self.calls)))

    @property
    def pages(self) -> int:
        """real_page_table's columns in the buffers (the most any call can need)."""
        sizes = [self.call_page(k) for k in range(len(self.calls))]
        return max((-(-self.width // p) for p in sizes if p > 1), default=1)

    def call_width(self, k: int) -> int:
        """Call k's width: its own, else the case's (the buffers')."""
        return self.calls[k].width_in(self.width)

    def call_page(self, k: int) -> int:
        """Call k's page size: its own, else the case's."""
        return self.calls[k].page_in(self.page_size)

    def call_pages(self, k: int) -> int:
        """Call k's real_page_table columns: ceil(its width / its page size)."""
        return -(-self.call_width(k) // self.call_page(k))

    def call_out(self, out, call: MetaCall):
        """The buffers as `call` gets them: real_page_table None at page size 1."""
        if call.page_in(self.page_size) == 1 and out.real_page_table is not None:
            return out._replace(real_page_table=None)
        return out

    @property
    def page_changes(self) -> bool:
        """Some call's page size differs from another's."""
        return len({self.call_page(k) for k in range(len(self.calls))}) > 1

    def narrowed(self, width: int) -> MetaCase:
        """This case at width `width` (its buffers'), each call's own width cut to it."""
        calls = tuple(
            c if c.width is None or c.width <= width else replace(c, width=width)
            for c in self.calls
        )
        return replace(self, calls=calls, width=width)

    @property
    def width_changes(self) -> bool:
        """Some call's width differs from another's (a per-call width that matters)."""
        return len({self.call_width(k) for k in range(len(self.calls))}) > 1

    def expected(self) -> list[reference.MetadataLists]:
        """The oracle's answer for every call. Cached: a drawn case is checked for validity
        by the strategy and judged by the harness, and the pure-Python oracle is the costly
        half of a v2 case. Read-only for every caller."""
        return _expected(self)

    def _oracle(self) -> list[reference.MetadataLists]:
        for k, c in enumerate(self.calls):  # the buffers are the case's width wide
            if c.width is not None and not (type(c.width) is int and 1 <= c.width <= self.width):
                raise ValueError(f"calls[{k}].width: {c.width!r}, not in [1, {self.width}]")
        return [
            reference.metadata(
                c.mode,
                list(c.seq_lens),
                list(c.req_pool_indices),
                c.table.rows(),
                topk=c.topk,
                width=c.width_in(self.width),
                page_size=c.page_in(self.page_size),
                next_n=c.next_n,
                extend_seq_lens=None if c.extend_seq_lens is None else list(c.extend_seq_lens),
            )
            for c in self.calls
        ]

    def buffers(self, device):
        """The poisoned out buffers, a nsa_meta.Metadata (real_page_table None when P == 1)."""
        from nsa_meta import Metadata

        bs_cap, rows_cap = self.bs + self.bs_slack, self.total + self.rows_slack

        def vector(n: int, stride: int) -> torch.Tensor:
            size = self.offset + stride * max(n, 1) + 1
            store = torch.full((size,), POISON, dtype=torch.int32, device=device)
            return store.as_strided((n,), (stride,), self.offset)

        def table(columns: int, which: int) -> torch.Tensor:
            strides, extent = self.table_strides(which, rows_cap, columns)
            store = torch.full(
                (self.offset + extent + 1,), POISON, dtype=torch.int32, device=device
            )
            return store.as_strided((rows_cap, columns), strides, self.offset)

        v = self.vec_strides or (self.vec_stride,) * 5
        return Metadata(
            vector(bs_cap, v[0]),
            vector(bs_cap + 1, v[1]),
            vector(rows_cap, v[2]),
            vector(rows_cap, v[3]),
            vector(rows_cap + 1, v[4]),
            table(self.width + self.table_extra, 0),
            table(self.pages + self.table_extra, 1) if self.paged else None,
        )

    def table_strides(self, which: int, rows: int, columns: int) -> tuple[tuple[int, int], int]:
        """((row stride, column stride), storage elements past the offset) of page table
        `which` (0: page_table_1, 1: real_page_table) of `rows` x `columns`."""
        step = self.col_step[which]
        if self.table_transposed[which]:  # storage [columns * step, rows + pad], transposed
            col = max(rows + self.table_pad, 1) * step
            return (1, col), columns * col
        row = columns * step + self.table_pad
        return (row, step), rows * row

    @property
    def odd_tables(self) -> bool:
        """A page table whose column stride is not 1."""
        return self.col_step != (1, 1) or any(self.table_transposed)

    def size_key(self) -> tuple:
        calls = self.calls
        unusual = sum(
            (x.stride != 1) + (x.offset != 0) + (x.dtype != "int32")
            for c in calls
            for x in c.layouts()
        ) + sum(not c.table.plain for c in calls)
        unusual += (self.vec_stride != 1) + (self.offset != 0) + (self.table_pad != 0)
        unusual += self.table_extra != 0
        unusual += sum(s != 1 for s in self.col_step) + sum(self.table_transposed)
        unusual += len(set(self.vec_strides)) > 1
        unusual += self.repoison
        values = sum(
            sum(c.seq_lens) + sum(c.extend_seq_lens or ()) + sum(c.req_pool_indices) for c in calls
        )
        return (
            len(calls),
            self.bs,
            self.total,
            self.width,
            sum(c.width is not None for c in calls),
            self.page_size,
            sum(c.page_size is not None for c in calls),
            unusual,
            max(c.next_n for c in calls),
            values,
            sum(c.topk for c in calls),
            (self.out != "buffers") + (not self.validate) + self.bs_slack + self.rows_slack,
        )

    def to_json(self) -> dict:
        odd: dict = {}  # written only when set: older entries' bytes (the seeds) stay as were
        if self.odd_tables:
            odd = {"col_step": list(self.col_step), "table_transposed": list(self.table_transposed)}
        if self.vec_strides:
            odd["vec_strides"] = list(self.vec_strides)
        if self.table_extra:
            odd["table_extra"] = self.table_extra
        if self.refill:
            odd["refill"] = True
        if self.repoison:
            odd["repoison"] = True
        return {
            "calls": [c.to_json() for c in self.calls],
            "width": self.width,
            "page_size": self.page_size,
            "bs_slack": self.bs_slack,
            "rows_slack": self.rows_slack,
            "vec_stride": self.vec_stride,
            "offset": self.offset,
            "table_pad": self.table_pad,
            "out": self.out,
            "validate": self.validate,
            **odd,
        }

    @classmethod
    def from_json(cls, d: dict) -> MetaCase:
        keys = (
            "bs_slack",
            "rows_slack",
            "vec_stride",
            "offset",
            "table_pad",
            "out",
            "validate",
            "table_extra",
            "refill",
            "repoison",
        )
        lists = ("col_step", "table_transposed", "vec_strides")
        return cls(
            calls=tuple(MetaCall.from_json(c) for c in d["calls"]),
            width=d["width"],
            page_size=d.get("page_size", 1),
            **{k: d[k] for k in keys if k in d},
            **{k: tuple(d[k]) for k in lists if k in d},
        )

    def describe(self) -> str:
        head = f"width={self.width} page_size={self.page_size}"
        if (self.vec_stride, self.offset, self.table_pad) != (1, 0, 0):
            head += f" buffers(stride={self.vec_stride} offset={self.offset} pad={self.table_pad})"
        if self.vec_strides:
            head += f" 1-D buffer strides {list(self.vec_strides)}"
        if self.table_extra:
            head += f" page tables {self.table_extra} columns wider than needed"
        if self.refill:
            head += " inputs refilled in place between calls (the same tensors)"
        if self.repoison:
            head += " buffers poisoned again before each call (new ones at the same address)"
        if self.odd_tables:
            tables = []
            for name, step, t in zip(FIELDS[5:], self.col_step, self.table_transposed):
                if (step, t) == (1, False) or (name == "real_page_table" and not self.paged):
                    continue
                tables.append(f"{name} column step {step}" + (" of a transposed storage" * t))
            head += f" ({', '.join(tables)})" if tables else ""
        if len(self.calls) == 1:
            return f"{self.calls[0].describe()} {head}"
        tables = len({c.table for c in self.calls}) > 1
        body = "; ".join(f"call {k + 1}: {c.describe(tables)}" for k, c in enumerate(self.calls))
        return f"{len(self.calls)} calls on one set of buffers ({head}): {body}"


def dtype_of(name: str) -> torch.dtype:
    return DTYPES[name]


@lru_cache(maxsize=64)
def _expected(case: MetaCase) -> list[reference.MetadataLists]:
    return case._oracle()

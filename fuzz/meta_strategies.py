"""Hypothesis strategies and named cases for contract v2: every family of issue 10 is
reached by construction (weighted branches), and NAMED_META_CASES holds one documented case
per family, run first by every `--op metadata` campaign. Draws stay inside an envelope.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume
from hypothesis import strategies as st

from fuzz.case import Layout
from fuzz.envelope import EVERYTHING, Envelope
from fuzz.meta_case import MetaCall, MetaCase, Table
from fuzz.meta_envelope import restrict, valid, violations
from reference.metadata import INT32_MAX, MODES

EDGE_BS = (0, 1, 31, 32, 33, 127, 128, 129, 1023, 1024, 1025, 16383, 16384, 16385)
MID_BS = (9, 300)  # every residue of a vector or block tail (bs % 8 == 5, say) between edges
LONG_NEXT_N = (9, 12, 16, 17, 33)  # next_n past the family's 1 to 8: valid up to 2**31 - 1
LONG_NEXT_N_BS = 64  # ... drawn only for batches up to this (rows = bs * next_n)
WIDE_WIDTHS = (257, 511, 513, 1025, 2049, 4097)  # column tiles of 256 to 4096 and one past
WIDE_CELLS = 50_000  # rows x width of a wide case at most
WIDE_ONE_IN = 8  # one case in this many is wide
LONG_CELLS = 200_000  # rows x width of a case of long extends at most
PAGE_SIZES = (1, 2, 3, 64, 128)
OTHER_PAGE_SIZES = (4, 5, 16, 100, 256, 512, 1024)  # valid too: powers of two past 128 among them
OTHER_PAGE_ONE_IN = 8  # one case in this many takes one of them
BIG_POOL = 65_537  # pool rows past 2**16 (a 16-bit pool index), for narrow tables only
BIG_POOL_ONE_IN = 16  # one call in this many (bs <= 64, width <= 16) draws such a pool
# (column step, transposed storage) of a page table; the first is the plain row-major one
TABLE_LAYOUTS = ((1, False), (1, True), (2, True), (2, False), (3, False))
ODD_OUT_ONE_IN = 6  # one case in this many: column-strided page tables; 1-D strides apart
WIDER_TABLES_ONE_IN = 8  # one case in this many: page tables wider than the width
NEGATIVE_UNREAD_ONE_IN = 6  # one call in this many: req_to_token's unread cells negative
REFILL_ONE_IN = 2  # one replay in this many: on the first call's tensors, rewritten in place
NEW_TOPK_ONE_IN = 4  # one replay in this many: another topk (a new capture, same buffers)
WIDTH_CHANGE_ONE_IN = 4  # one case of 2-3 calls in this many: a call at its own width
PAGE_CHANGE_ONE_IN = 8  # ... and a call at its own page size


# --- named cases ---------------------------------------------------------------------------


def _call(mode, s, r, ext=None, *, N=2, topk=2048, pool=8, columns=None, **kw) -> MetaCall:
    table = kw.pop("table", None) or Table(pool, columns or 12, seed=kw.pop("seed", 0))
    return MetaCall(
        mode,
        tuple(s),
        tuple(r),
        table,
        None if ext is None else tuple(ext),
        topk=topk,
        next_n=N,
        **kw,
    )


def _case(*calls: MetaCall, width=5, page=1, **kw) -> MetaCase:
    kw.setdefault("rows_slack", 2)
    kw.setdefault("bs_slack", 1)
    return MetaCase(tuple(calls), width, page, **kw)


def _big(bs: int, mode: str = "decode") -> MetaCase:
    s = [(i * 7) % 50 + 1 for i in range(bs)]
    r = [(i * 5) % (bs + 2) for i in range(bs)]
    # (3i + 1) % 4: mixed zeros, and the last request (one past a block) has rows.
    ext = [(i * 3 + 1) % 4 for i in range(bs)] if mode == "draft_extend_var" else None
    return _case(_call(mode, s, r, ext, N=2, pool=bs + 2, columns=1), width=1)


I64 = Layout("int64")
_ALL64 = {"seq_layout": I64, "ext_layout": I64, "idx_layout": I64}


def named_meta_cases() -> dict[str, MetaCase]:
    """One case per family of issue 10 (documented by its name)."""
    c = _call
    cases = {
        "decode, pool indices int64 stride 3 offset 2": _case(
            c("decode", [10, 4, 7], [3, 1, 5], idx_layout=Layout("int64", 3, 2))
        ),
        "target_verify N=3": _case(c("target_verify", [10, 4, 1], [1, 2, 0], N=3, topk=9)),
        "draft_extend N=4": _case(c("draft_extend", [10, 4, 6], [2, 0, 7], N=4)),
        "draft_extend_var": _case(c("draft_extend_var", [10, 4, 9], [3, 0, 5], [3, 1, 2])),
        "bs 0": _case(c("decode", [], [])),
        "bs 0, draft_extend_var": _case(c("draft_extend_var", [], [], [])),
        "bs 1": _case(c("target_verify", [7], [3], N=3)),
        "next_n 8": _case(c("draft_extend", [20, 3], [1, 6], N=8, topk=12)),
        "all-zero extends": _case(c("draft_extend_var", [5, 6, 9], [1, 2, 3], [0, 0, 0])),
        "mixed zero extends": _case(
            c("draft_extend_var", [5, 0, 9, 3, 4], [1, 6, 2, 0, 5], [0, 2, 0, 1, 3])
        ),
        "kv < e padding (s=1, e=N)": _case(c("draft_extend", [1, 1, 6], [0, 4, 2], N=4, topk=1)),
        "topk below, at, above": _case(
            c("target_verify", [10, 12, 9], [0, 1, 2], N=3, topk=9),
            c("draft_extend", [10, 12, 9], [0, 1, 2], N=3, topk=INT32_MAX),
        ),
        "page 2, width a multiple": _case(c("draft_extend", [8, 3], [1, 4], N=2), width=6, page=2),
        "page 3, width not a multiple": _case(
            c("draft_extend", [8, 3], [5, 0], N=2), width=10, page=3
        ),
        "page 64 above the width": _case(c("decode", [8, 3, 2], [2, 3, 2]), width=7, page=64),
        "page 128, two pages": _case(c("decode", [8, 3], [2, 6], columns=140), width=130, page=128),
        "req_to_token sliced": _case(
            c(
                "decode",
                [8, 3, 5],
                [5, 0, 2],
                table=Table(8, 12, seed=1, row_pad=2, col_pad=3),
            ),
            page=2,
        ),
        "req_to_token transposed": _case(
            c("draft_extend", [8, 3], [5, 1], N=3, table=Table(8, 11, transposed=True, row_pad=2)),
            width=10,
            page=3,
        ),
        "repeated pool indices at both ends": _case(
            c("draft_extend", [4, 5, 6, 7], [0, 7, 0, 7], N=2)
        ),
        "int64 seq_lens and extends, int32 pool indices": _case(
            c(
                "draft_extend_var",
                [10, 4, 9],
                [3, 0, 5],
                [2, 1, 2],
                seq_layout=I64,
                ext_layout=I64,
            )
        ),
        # with the cases around it, all eight mixes of draft_extend_var's three inputs
        "int64 extends with int32 seq_lens, and the other mixes, on one set of buffers": _case(
            c("draft_extend_var", [10, 4, 9], [3, 0, 5], [2, 1, 2], ext_layout=I64),
            c("draft_extend_var", [6, 8], [1, 2], [1, 3], ext_layout=I64, idx_layout=I64),
            c("draft_extend_var", [7, 5, 3], [4, 0, 1], [2, 2, 1], seq_layout=I64),
            c("draft_extend_var", [9, 2], [5, 3], [3, 1], seq_layout=I64, idx_layout=I64),
            c("draft_extend_var", [4, 6], [2, 7], [2, 0], idx_layout=I64),
            c("draft_extend_var", [8, 1, 5], [0, 6, 3], [1, 1, 3], **_ALL64),
        ),
        "running sums near int32": _case(
            c("decode", [2**30, 2**30 - 101, 37], [0, 1, 2], topk=INT32_MAX)
        ),
        "kv at int32 max in target_verify": _case(
            c("target_verify", [INT32_MAX - 12, 5], [0, 1], N=2, topk=100)
        ),
        "back-to-back calls, smaller T": _case(
            c("draft_extend_var", [10, 4, 9], [3, 0, 5], [3, 2, 2], seed=0),
            c("draft_extend_var", [6, 8], [1, 2], [1, 2], seed=5),
        ),
        "back-to-back calls, larger bs": _case(
            c("decode", [3], [1]),
            c("decode", [10, 4, 9, 5], [3, 0, 5, 6], seed=2),
            c("decode", [2, 2], [0, 1], seed=4),
        ),
        "strided buffers": _case(
            c("target_verify", [10, 4], [1, 2], N=2),
            width=6,
            page=2,
            vec_stride=2,
            offset=3,
            table_pad=3,
        ),
        "page tables of a transposed storage (column stride != 1)": _case(
            c("target_verify", [10, 4, 7], [1, 2, 6], N=2),
            width=7,
            page=2,
            table_pad=2,
            table_transposed=(True, True),
        ),
        "page tables every 2nd and 3rd storage column": _case(
            c("draft_extend", [9, 13], [3, 0], N=3),
            width=10,
            page=3,
            offset=1,
            table_pad=1,
            col_step=(2, 3),
        ),
        "negative token ids in the req_to_token cells not read": _case(
            c(
                "draft_extend_var",
                [9, 5, 7],
                [1, 3, 0],
                [2, 0, 1],
                table=Table(5, 9, seed=4, negative_from=6, negative_rows=(2, 3, 4)),
            ),
            width=6,
            page=4,
        ),
        "page tables wider than the width (SGLang's longest-context buffers)": _case(
            c("draft_extend", [9, 13, 4], [3, 0, 6], N=2, columns=16),
            width=10,
            page=3,
            table_extra=6,
        ),
        "1-D buffers with a stride each": _case(
            c("draft_extend_var", [10, 4, 9], [3, 0, 5], [2, 1, 3]),
            offset=2,
            vec_strides=(3, 1, 2, 3, 2),
        ),
    }
    cases.update(
        {
            "wide page table (width 1025, page 64)": _case(
                c("target_verify", [30, 7], [3, 6], N=2, columns=1030), width=1025, page=64
            ),
            "replays at one bs with new values": _case(
                c("target_verify", [10, 4, 9], [3, 0, 5], N=3, topk=9, seed=0),
                c("target_verify", [2, 11, 6], [1, 7, 4], N=3, topk=9, seed=7),
                c("target_verify", [5, 5, 20], [6, 2, 0], N=3, topk=9, seed=3),
            ),
            "draft_extend_var replays at one bs, T growing": _case(
                c("draft_extend_var", [10, 4, 9], [3, 0, 5], [1, 0, 2], seed=0),
                c("draft_extend_var", [12, 6, 9], [3, 0, 5], [3, 2, 4], seed=2),
            ),
            "token ids near 2**31, page 3": _case(
                c("decode", [9, 4], [5, 2], table=Table(8, 41, seed=3, base=2**31 - 100_000)),
                width=40,
                page=3,
            ),
            "req_to_token sliced from a column offset": _case(
                c("decode", [8, 3], [6, 1], table=Table(8, 12, seed=2, col_off=3, col_pad=1)),
                width=7,
                page=2,
            ),
            "seq_lens broadcast (stride 0), one pool row": _case(
                c(
                    "draft_extend",
                    [7, 7, 7, 7],
                    [2, 2, 2, 2],
                    N=2,
                    seq_layout=Layout("int32", 0, 1),
                    idx_layout=Layout("int64", 0, 2),
                )
            ),
        }
    )
    cases.update(_corner_cases())
    for bs in (31, 32, 33, 127, 128, 129, 1023, 1024, 1025, 16383, 16384, 16385):
        cases[f"bs {bs}"] = _big(bs)
    for bs in (33, 129, 1025, 16385):  # one past a block of requests, in the other modes
        for mode in MODES[1:]:
            cases[f"bs {bs}, {mode}"] = _big(bs, mode)
    cases.update(_round13_cases())
    cases.update(_round8_cases())
    cases.update(_round9_cases())
    return cases


def _round13_cases() -> dict[str, MetaCase]:
    """Red-team round 13 (value-level coincidences): a batch of the largest capture with no
    rows (a kernel that still writes row 0 there), and a running sum that lands exactly on
    -2**31, valid (a clamp to -(2**31 - 1) "to stay inside int32")."""
    bs = 16_384
    s = [(i * 7) % 50 + 1 for i in range(bs)]
    r = [(i * 5) % (bs + 2) for i in range(bs)]
    return {
        "bs 16384, draft_extend_var, every extend 0": _case(
            _call("draft_extend_var", s, r, [0] * bs, pool=bs + 2, columns=1), width=1
        ),
        "dsa_cu_seqlens_k exactly -2**31 (32,768, then 65,537 rows of kv 0)": _case(
            _call("draft_extend_var", [32_768, 0], [1, 0], [1, 65_537], topk=INT32_MAX),
            width=1,
        ),
    }


def _round8_cases() -> dict[str, MetaCase]:
    """Red-team round 8 (Triton candidates under the interpreter): corners its bugs needed
    that the cases above reach only at 16,385 requests or not at all."""
    c = _call
    r64 = Layout("int64")
    tiles = {  # T past a 128-row tile that next_n does not divide
        "target_verify next_n 5, T 150 (past a 128-row tile)": c(
            "target_verify", [(i * 7) % 40 for i in range(30)], list(range(30)), N=5, pool=30
        ),
        "draft_extend next_n 7, T 140": c(
            "draft_extend", [(i * 5) % 40 for i in range(20)], list(range(20)), N=7, pool=20
        ),
        "draft_extend next_n 3, T 150": c(
            "draft_extend", [(i * 3) % 40 for i in range(50)], list(range(50)), N=3, pool=50
        ),
    }
    cases = {name: _case(call, width=3) for name, call in tiles.items()}
    cases["decode, pool indices int64, page size 2"] = _case(
        c("decode", [3, 4, 1], [0, 1, 2], idx_layout=r64, pool=3), width=4, page=2
    )
    cases["draft_extend_var, pool indices int64, page size 3"] = _case(
        c("draft_extend_var", [5, 2, 6], [2, 0, 1], [1, 0, 2], idx_layout=r64, pool=3),
        width=7,
        page=3,
    )
    cases["draft_extend_var back-to-back: T from 1 to 129 (past a 128-row tile)"] = _case(
        c("draft_extend_var", [3], [0], [1], pool=2),
        c("draft_extend_var", [130], [1], [129], pool=2, seed=3),
        width=2,
    )
    for mode in ("decode", "draft_extend_var"):  # past a 1024-request chunk and a 32 block
        suffix = "" if mode == "decode" else f", {mode}"
        cases[f"bs 1100{suffix}"] = _big(1100, mode)
    return cases


def _round9_cases() -> dict[str, MetaCase]:
    """Red-team round 9 (plain Python / plain torch candidates): its two finds left to the
    draws (10 to 12 s), a write one column past the width outside draft_extend, and a pool
    index repeated by neighbours whose extends grow."""
    c = _call
    return {
        "target_verify, decode, draft_extend_var: tables wider than the width": _case(
            c("target_verify", [9, 4], [2, 5], N=3, columns=12),
            c("decode", [7, 3], [5, 2], columns=12, seed=3),
            c("draft_extend_var", [6, 8], [1, 2], [2, 1], columns=12, seed=5),
            width=8,
            page=2,
            table_extra=4,
        ),
        "draft_extend_var, a pool index repeated by neighbours, extends growing": _case(
            c("draft_extend_var", [6, 4, 9, 5], [1, 3, 3, 3], [1, 1, 2, 3], pool=5), width=3
        ),
    }


SWEEP_PAGES = ((2, 7), (3, 7), (3, 8), (64, 100), (128, 200))  # (page, width): every residue


def _corner_cases() -> dict[str, MetaCase]:
    """Corners of the families that the draws reach only rarely: int32 limits hit exactly,
    long extends, a stride-0 int64 extend, and every mode at every page size with several
    pool rows (a page boundary between two columns shows in some row)."""
    c = _call
    kv_top = (INT32_MAX - 5 + 1) // 2  # its two rows sum to 2**31 - 6, the other's to 5
    cases = {
        "target_verify kv exactly 2**31 - 1 (bs 1), topk 2**31 - 1 then 100": _case(
            c("target_verify", [INT32_MAX - 1], [2], N=1, topk=INT32_MAX),
            c("target_verify", [INT32_MAX - 3], [5], N=3, topk=100, seed=3),
        ),
        "dsa_cu_seqlens_k near 2**31 - 1 from one request": _case(
            c("target_verify", [kv_top - 2, 1], [2, 5], N=2, topk=INT32_MAX)
        ),
        "topk 0 with padded rows": _case(c("draft_extend", [1, 0, 5], [1, 2, 3], N=3, topk=0)),
        "padded rows with topk 2**31 - 1 (se - topk below int32)": _case(
            c("draft_extend", [0, 1, 6], [1, 2, 3], N=4, topk=INT32_MAX)
        ),
        "next_n 9 then 17 (past the family's 1 to 8)": _case(
            c("draft_extend", [20, 3], [1, 6], N=9, topk=12),
            c("target_verify", [5, 30], [2, 0], N=17, topk=40, seed=3),
        ),
        "target_verify next_n 1, decode next_n 5": _case(
            c("target_verify", [6, 0, 9], [1, 2, 3], N=1, topk=6),
            c("decode", [6, 0, 9], [3, 2, 1], N=5, topk=6, seed=4),
        ),
        "extends across 1024 rows": _case(
            c("draft_extend_var", [1030, 5, 2000], [1, 2, 3], [1025, 0, 1023]), width=2
        ),
        "one extend past 2**16 rows": _case(
            c("draft_extend_var", [70_000, 3], [1, 0], [65_537, 2], columns=2), width=1
        ),
        "dsa_cu_seqlens_k below -2**31 + 2**15, then rows past 2**31 - 1 on their own": _case(
            c("draft_extend_var", [0, 2**30 + 100], [1, 0], [65_536, 2], topk=INT32_MAX),
            width=1,
        ),
        "draft_extend_var, s = 2**31 - 1": _case(
            c("draft_extend_var", [INT32_MAX, 0], [1, 0], [2, 1], topk=100)
        ),
        # red team 13: s + 1 taken in int32 only where the extends are int64
        "draft_extend_var, s = 2**31 - 1 in int32, extends int64": _case(
            c("draft_extend_var", [INT32_MAX, 0], [1, 0], [1, 2], topk=5, ext_layout=I64)
        ),
        "T = 257 rows (a tile of 64, 128 or 256 and one row)": _case(
            c("draft_extend_var", [300, 40, 500], [2, 0, 1], [200, 0, 57], topk=250),
            width=3,
            page=2,
        ),
        "T = 1025 rows, trailing zero extends": _case(
            c("draft_extend_var", [1200, 40, 30, 9], [2, 0, 1, 3], [1000, 25, 0, 0], topk=700),
            width=2,
        ),
        "decode, topk 2048 below some kv": _case(
            c("decode", [3000, 5, 2049, 2048], [1, 0, 2, 3], topk=2048)
        ),
        "page 256 (a power of two past 128), width not a multiple": _case(
            c("draft_extend", [9, 4], [1, 3], N=2, columns=300), width=300, page=256
        ),
        "page 512, width below it": _case(
            c("decode", [9, 4, 6], [1, 3, 0], columns=41), width=40, page=512
        ),
        "a pool of 2**16 + 1 rows, indices at both ends": _case(
            c("decode", [9, 4, 6], [BIG_POOL - 1, 0, 2**16], pool=BIG_POOL, columns=3), width=2
        ),
        "replay on the same input tensors, refilled in place (decode)": _case(
            c("decode", [1, 7], [0, 2], topk=4, pool=3, columns=3),
            c("decode", [2, 5], [1, 2], topk=4, pool=3, columns=3, seed=5),
            c("decode", [2, 5], [1, 2], topk=4, pool=3, columns=3, seed=9),  # new cells only
            width=2,
            refill=True,
        ),
        "replay on the same input tensors, refilled in place (draft_extend_var)": _case(
            c("draft_extend_var", [2, 6, 3], [0, 1, 2], [1, 0, 2], pool=3, seed=1),
            c("draft_extend_var", [2, 6, 4], [2, 1, 0], [2, 3, 0], pool=3, seed=6),
            c("draft_extend_var", [5, 6, 4], [1, 1, 0], [0, 1, 1], pool=3, seed=7),
            width=3,
            page=2,
            refill=True,
        ),
        "width grows between calls on one set of buffers (2, then 5)": _case(
            c("decode", [6, 3], [1, 2], N=1, topk=4, pool=3, columns=6, width=2),
            c("decode", [7, 5], [0, 2], N=1, topk=4, pool=3, columns=6, seed=3),
            width=5,
        ),
        "width 3, 7, 2 on one set of buffers, page 2, inputs refilled in place": _case(
            c("draft_extend", [5, 9], [2, 0], N=2, topk=6, pool=3, columns=8, width=3),
            c("draft_extend", [8, 4], [1, 2], N=2, topk=6, pool=3, columns=8, seed=4),
            c("draft_extend", [3, 7], [0, 1], N=2, topk=6, pool=3, columns=8, seed=8, width=2),
            width=7,
            page=2,
            refill=True,
        ),
        # Red-team round 7: a per-32-request "no clamp needed" test that skips lane 31, and
        # state that ignores a topk change between calls with the same lengths.
        "decode bs 32, only lane 31 above topk": _case(
            c("decode", [0] * 31 + [2], list(range(32)), topk=1, pool=32, columns=3), width=2
        ),
        "decode bs 64, only lane 63 above topk, then lane 0": _case(
            c("decode", [1] * 63 + [5], list(range(64)), topk=2, pool=64, columns=6),
            c("decode", [5] + [1] * 63, list(range(64)), topk=2, pool=64, columns=6, seed=2),
            width=5,
        ),
        "the same call again with a new topk (2, then 1, then 7)": _case(
            c("decode", [2, 9], [0, 1], topk=2, pool=2, columns=3),
            c("decode", [2, 9], [0, 1], topk=1, pool=2, columns=3),
            c("decode", [2, 9], [0, 1], topk=7, pool=2, columns=3),
            width=2,
        ),
        "draft_extend_var: the same extends again with a new topk, refilled in place": _case(
            c("draft_extend_var", [6, 3, 9], [2, 0, 1], [2, 0, 3], N=3, topk=8, pool=3, columns=4),
            c("draft_extend_var", [6, 3, 9], [2, 0, 1], [2, 0, 3], N=3, topk=5, pool=3, columns=4),
            width=3,
            refill=True,
        ),
        "draft_extend_var: request 1 unchanged, its rows moved by request 0's new extend": _case(
            c("draft_extend_var", [1, 1], [0, 1], [1, 1], N=2, topk=4, pool=2, columns=2),
            c("draft_extend_var", [1, 1], [0, 1], [2, 1], N=2, topk=4, pool=2, columns=2),
            width=1,
        ),
        "target_verify next_n 256, draft_extend next_n 65537 (bs 1)": _case(
            c("target_verify", [3], [1], N=256, topk=100, columns=2),
            c("draft_extend", [70_000], [0], N=65_537, topk=1000, columns=2, seed=2),
            width=1,
        ),
        "page 65537, width below it": _case(
            c("decode", [9, 4], [1, 0], columns=3), width=3, page=65_537
        ),
        "page 2**31 - 1, width 2": _case(c("decode", [9], [1], columns=2), width=2, page=INT32_MAX),
        "width 65536, one row": _case(c("decode", [5], [1], pool=2, columns=65_536), width=65_536),
        "decode bs 32769": _big(32_769),
        "extend_seq_lens int64 broadcast (stride 0)": _case(
            c(
                "draft_extend_var",
                [10, 4, 9],
                [3, 0, 5],
                [2, 2, 2],
                ext_layout=Layout("int64", 0, 1),
            )
        ),
    }
    for mode in MODES:
        ext = [2, 2, 2] if mode == "draft_extend_var" else None
        cases[f"{mode}, inputs broadcast (stride 0)"] = _case(
            c(
                mode,
                [9, 9, 9],
                [6, 6, 6],
                ext,
                N=3,
                topk=8,
                seq_layout=Layout("int32", 0, 2),
                idx_layout=Layout("int64", 0, 1),
                ext_layout=Layout("int64", 0, 3),
            )
        )
        for page, width in SWEEP_PAGES:
            ext = [3, 0, 2, 1, 3, 2] if mode == "draft_extend_var" else None
            s = [40, 1, 300, 7, 129, 64]
            call = c(mode, s, [0, 1, 2, 3, 4, 7], ext, N=3, columns=width + 1, seed=page)
            cases[f"{mode}, page {page}, width {width}, six pool rows"] = _case(
                call, width=width, page=page
            )
    return cases


def named_cases(envelope: Envelope | None = None) -> dict[str, MetaCase]:
    """The named cases moved inside `envelope` (those that cannot be are left out)."""
    out = {}
    for name, case in named_meta_cases().items():
        moved = restrict(envelope, case)
        if moved is not None:
            out[name] = moved
    return out


# --- drawing ----------------------------------------------------------------------------------


def _layout(draw, env: Envelope, values) -> Layout:
    dtype = draw(st.sampled_from(env.allowed_dtypes()))
    if env.contiguous or draw(st.integers(0, 2)) == 0:
        return Layout(dtype, 1, draw(st.sampled_from((0, 0, 1, 3))))
    same = len(set(values)) <= 1
    stride = draw(st.sampled_from((0, 0, 2, 3) if same else (2, 3)))
    return Layout(dtype, stride, draw(st.integers(0, 3)))


def _bs(draw, env: Envelope, mid_ok: bool = True) -> int:
    """Small, an edge, or (mid_ok: not for a wide table, whose rows x width the case would
    cut back) a batch between the edges."""
    if env.bs is not None:
        return draw(st.sampled_from(list(env.batch_sizes(INT32_MAX))))
    top = env.max_bs if env.max_bs is not None else 16385
    edges = [b for b in EDGE_BS if env.allows_bs(b) and b <= top]
    small = st.integers(0 if env.empty_batch else 1, max(1, min(8, top)))
    mid = st.integers(min(MID_BS[0], top), min(MID_BS[1], top))
    picks = (small, small, small, st.sampled_from(edges or [1])) + ((mid,) if mid_ok else ())
    pick = draw(st.one_of(*picks))
    if not env.allows_bs(pick):
        pick = draw(small)
    if pick > 1024 and draw(st.integers(0, 3)):  # the biggest batches are rare
        pick = draw(small)
    return pick


def _kv_add(mode: str, N: int) -> int:
    """What a mode adds to seq_lens for kv (target_verify: next_n)."""
    return N if mode == "target_verify" else 0


def _seq(draw, n: int, mode: str, N: int) -> list[int]:
    branch = draw(st.integers(0, 11))
    if branch == 11 and n:  # one request whose rows alone sum to near the int32 limit
        return _dsa_near_limit(draw, n, mode, N)
    if branch == 10 and n:  # one value for every request (a stride-0 broadcast can hold it)
        return [draw(st.sampled_from((0, 1, 5, 300, 2**24 + 1)))] * n
    if branch == 9 and n:  # running sums near the int32 limit
        limit = INT32_MAX - _kv_add(mode, N) * n
        share = limit // n
        return [share - v for v in _small(draw, n, 3)]
    if branch == 8 and n:  # one kv at the int32 limit (target_verify: the running sum there)
        s = _small(draw, n, 40)
        s = s if n == 1 else [v if v > 40 else 0 for v in s]
        j = draw(st.integers(0, n - 1))
        s[j] = 0
        add = _kv_add(mode, N)
        s[j] = INT32_MAX - add - sum(v + add for v in s)
        return s
    return _small(draw, n, draw(st.sampled_from((3, 12, 300, 5000))))


def _dsa_near_limit(draw, n: int, mode: str, N: int) -> list[int]:
    """Small lengths, and one request of kv ~ 2**31 / e, e its rows (next_n; a guess of N in
    draft_extend_var): its rows alone sum to near 2**31 - 1 when top-k does not clamp them
    (dsa_cu_seqlens_k near the limit; e * 2 kv past it)."""
    s = [v if v > 40 else 0 for v in _small(draw, n, 40)]
    e = 1 if mode == "decode" else N
    add = _kv_add(mode, N)
    j = draw(st.integers(0, n - 1))
    s[j] = 0
    rows = sum(e * (v + add) - e * (e - 1) // 2 for v in s)  # every other request's rows
    kv = (INT32_MAX - rows + e * (e - 1) // 2) // e - draw(st.integers(0, 2))
    s[j] = max(kv - add, 0)
    return s


def _small(draw, n: int, top: int) -> list[int]:
    """n values in [0, top]: one draw each up to 64, else _cheap's one draw for all."""
    return [draw(st.integers(0, top)) for _ in range(n)] if n <= 64 else _cheap(draw, n, top)


def _cheap(draw, n: int, top: int) -> list[int]:
    """Many values from one draw (a big batch must not cost thousands of draws)."""
    a, b = draw(st.integers(1, 97)), draw(st.integers(0, top))
    return [(b + i * a) % (top + 1) for i in range(n)]


LONG_EXTENDS = (255, 256, 257, 1023, 1024, 1025, 4097)  # across the row tiles a kernel may use
HUGE_EXTEND = 65_537  # one request alone past 2**16 rows


def _extends(draw, n: int, N: int) -> list[int]:
    branch = draw(st.integers(0, 7))
    if branch == 7 and n:  # long extends: one or two requests across 1024 rows, or past 2**16
        e = [draw(st.sampled_from((0, 1, N))) for _ in range(min(n, 64))]
        e += _cheap(draw, n - len(e), N) if n > 64 else []
        for _ in range(draw(st.integers(1, min(n, 2)))):
            e[draw(st.integers(0, n - 1))] = draw(st.sampled_from(LONG_EXTENDS + (HUGE_EXTEND,)))
        return e
    if branch == 0:
        return [0] * n
    if branch == 6:  # the same extend everywhere
        return [draw(st.sampled_from((1, N, 3 * N)))] * n
    if n > 64:
        return _cheap(draw, n, N + 1)
    return [draw(st.sampled_from((0, 0, 1, 2, N, N + 1, 3 * N))) for _ in range(n)]


def _topk_in(draw, env: Envelope, expanded_hint: int) -> int:
    return draw(st.sampled_from(env.topk)) if env.topk else _topk(draw, expanded_hint)


def _topk(draw, expanded_hint: int) -> int:
    hint = min(expanded_hint, INT32_MAX)
    return draw(
        st.sampled_from(
            (
                0,
                1,
                2,
                7,
                64,
                2048,
                INT32_MAX,
                hint,
                hint,
                min(hint + 1, INT32_MAX),
                max(hint - 1, 0),
            )
        )
    )


TOKEN_BASES = (0, 0, 0, 0, 0, 0, 2**24 - 50_000, 2**31 - 100_000)  # ids past 2**24, 2**31 - 1


@st.composite
def meta_calls(
    draw, env: Envelope, width: int, like: MetaCall | None = None, static: bool = False
) -> MetaCall:
    """One call; `like`: a replay of that call (SGLang's graph replay): same mode, bs and
    next_n, new values in every input, the same topk but in one replay in NEW_TOPK_ONE_IN
    (a new capture on the same buffers); `static` too: its inputs laid out as `like`'s (a
    case with `refill` then passes like's very tensors, rewritten in place)."""
    mode = like.mode if like else draw(st.sampled_from(env.modes or MODES))
    if like:
        N = like.next_n
    else:
        N = draw(st.sampled_from(env.next_n)) if env.next_n else draw(st.integers(1, 8))
    bs = like.bs if like else _bs(draw, env, mid_ok=width <= 300)
    if not like and not env.next_n and bs <= LONG_NEXT_N_BS and draw(st.integers(0, 15)) == 0:
        N = draw(st.sampled_from(LONG_NEXT_N))
    s = _seq(draw, bs, mode, N)
    ext = _extends(draw, bs, N) if mode == "draft_extend_var" else None
    if like and static:
        call = _static_replay(draw, like, s, ext)
        if draw(st.integers(1, NEW_TOPK_ONE_IN)) == 1:  # often the same lengths: topk alone
            hint = max(call.seq_lens, default=0) + _kv_add(mode, N)
            call = replace(call, topk=_topk_in(draw, env, hint))
        return call
    pool = max(1, bs + draw(st.sampled_from((0, 0, 1, 3))))
    if bs > 64:
        idx = _cheap(draw, bs, pool - 1)
    elif bs > 1 and draw(st.integers(0, 7)) == 0:
        idx = [draw(st.sampled_from((0, pool - 1)))] * bs  # one pool row for every request
    else:
        ends = st.sampled_from((0, pool - 1))
        idx = [draw(st.one_of(ends, st.integers(0, pool - 1))) for _ in range(bs)]
    plain = env.contiguous or draw(st.integers(0, 2)) == 0
    table = Table(
        pool,
        width + draw(st.sampled_from((0, 0, 1, 5))),
        seed=draw(st.integers(0, 99)),
        transposed=not plain and draw(st.booleans()),
        row_pad=0 if plain else draw(st.integers(0, 2)),
        col_pad=0 if plain else draw(st.integers(0, 3)),
        col_off=0 if plain else draw(st.sampled_from((0, 0, 1, 3))),
        base=draw(st.sampled_from(TOKEN_BASES)),
    )
    if draw(st.integers(1, NEGATIVE_UNREAD_ONE_IN)) == 1:
        # The contract asks only the cells read to be >= 0: the others negative.
        read = {r for i, r in enumerate(idx) if ext is None or ext[i] > 0}
        unread = tuple(r for r in range(pool) if r not in read)
        table = replace(table, negative_from=width, negative_rows=unread)
    if bs <= 64 and width <= 16 and draw(st.integers(1, BIG_POOL_ONE_IN)) == 1:
        # A pool past 2**16 rows, its last row read (a 16-bit pool index reads another).
        big = BIG_POOL + draw(st.integers(0, 3))
        table = replace(table, pool=big)
        idx = list(idx)
        if bs:
            idx[draw(st.integers(0, bs - 1))] = big - 1
    hint = max(s, default=0) + _kv_add(mode, N)  # the largest row
    if like and draw(st.integers(1, NEW_TOPK_ONE_IN)) > 1:
        topk = like.topk
    else:  # a first call, or a new capture with another topk on the same buffers
        topk = _topk_in(draw, env, hint)
    return MetaCall(
        mode,
        tuple(s),
        tuple(idx),
        table,
        None if ext is None else tuple(ext),
        topk=topk,
        next_n=N,
        seq_layout=_layout(draw, env, s),
        idx_layout=_layout(draw, env, idx),
        ext_layout=_layout(draw, env, ext or []),
    )


def _static_replay(draw, like: MetaCall, s: list[int], ext: list[int] | None) -> MetaCall:
    """A replay of `like` on its input layouts and req_to_token's shape: new lengths `s`
    and `ext`, new pool rows and token ids; or (one in 4 each) new token ids only, or one
    request's new values and like's for the others (a kernel that skips the requests it saw
    unchanged keeps rows an earlier request's new extend moved). A broadcast input, stride
    0, keeps like's values: a new value would not fit its one cell."""
    pool = like.table.pool
    idx = [draw(st.integers(0, pool - 1)) for _ in range(like.bs)]
    branch = draw(st.integers(0, 3))
    if branch == 0:  # the same lengths and pool rows: new token ids only
        s, idx = list(like.seq_lens), list(like.req_pool_indices)
        ext = None if ext is None else list(like.extend_seq_lens or ())
    elif branch == 1 and like.bs > 1:  # one request changes, the others keep like's values
        j = draw(st.integers(0, like.bs - 1))
        keep_s, keep_idx = list(like.seq_lens), list(like.req_pool_indices)
        keep_s[j], keep_idx[j] = s[j], idx[j]
        s, idx = keep_s, keep_idx
        if ext is not None:
            keep_e = list(like.extend_seq_lens or ())
            keep_e[j] = ext[j]
            ext = keep_e
    if like.seq_layout.stride == 0:
        s = list(like.seq_lens)
    if like.idx_layout.stride == 0:
        idx = list(like.req_pool_indices)
    if ext is not None and like.ext_layout.stride == 0:
        ext = list(like.extend_seq_lens or ())
    table = replace(
        like.table,
        seed=draw(st.integers(0, 99)),
        base=draw(st.sampled_from(TOKEN_BASES)),
        negative_from=0,
        negative_rows=(),
    )
    return replace(
        like,
        seq_lens=tuple(s),
        req_pool_indices=tuple(idx),
        table=table,
        extend_seq_lens=None if ext is None else tuple(ext),
    )


@st.composite
def meta_cases(draw, envelope: Envelope | None = None) -> MetaCase:
    """One valid case inside `envelope`: 1 to 3 calls on one set of poisoned buffers."""
    env = envelope or EVERYTHING
    sizes = env.page_sizes or PAGE_SIZES
    page = draw(st.sampled_from(sizes))
    widths = [
        1,
        2,
        5,
        page - 1,
        page,
        page + 1,
        2 * page,
        2 * page - 1,
        3 * page + 1,
        3 * page + 2,
        40,
    ]
    top = env.max_width or 300
    if draw(st.integers(1, WIDE_ONE_IN)) == 1:  # wide: past the column tiles a kernel may use
        top = env.max_width or WIDE_WIDTHS[-1]
        widths = list(WIDE_WIDTHS) + [4 * page + 1, 9 * page]
    width = draw(st.sampled_from(sorted({w for w in widths if 1 <= w <= top} or {1})))
    ncalls = draw(st.sampled_from((1, 1, 2, 2, 3)))
    calls = [draw(meta_calls(env, width))]
    refill = False
    for _ in range(ncalls - 1):  # a replay of the first call (same bs) or a new shape
        like = calls[0] if draw(st.booleans()) else None
        # One replay in REFILL_ONE_IN: on the first call's own tensors, rewritten in place.
        static = like is not None and draw(st.integers(1, REFILL_ONE_IN)) == 1
        refill = refill or static
        calls.append(draw(meta_calls(env, width, like, static)))
    if sum(c.bs for c in calls) > 2000:  # big batches: a narrow page table keeps it cheap
        width = min(width, 2)
        calls = [replace(c, table=replace(c.table, columns=width + 1)) for c in calls]
    elif width > 300 and max(c.rows for c in calls) * width > WIDE_CELLS:
        width = 300  # wide tables for few rows only: the oracle's cost is rows x width
    rows = max(c.rows for c in calls)
    if rows * width > LONG_CELLS:  # long extends: as many columns as the cell budget allows
        width = max(1, min(width, LONG_CELLS // rows))
        calls = [replace(c, table=replace(c.table, columns=width + 1)) for c in calls]
    contiguous = env.contiguous
    case = MetaCase(
        tuple(calls),
        width,
        page,
        bs_slack=draw(st.integers(0, 3)),
        rows_slack=draw(st.integers(0, 3)),
        vec_stride=1 if contiguous else draw(st.sampled_from((1, 1, 2))),
        offset=draw(st.sampled_from((0, 0, 2))),
        table_pad=0 if contiguous else draw(st.sampled_from((0, 0, 3))),
        out=draw(st.sampled_from(("buffers", "buffers", "none"))),
        validate=draw(st.booleans()),
        refill=refill,
    )
    if not contiguous:  # drawn last: the draws above keep their order
        case = draw(_odd_out(case))
    if env.page_sizes is None and draw(st.integers(1, OTHER_PAGE_ONE_IN)) == 1:
        # Page sizes past the family's (a power of two past 128 whose shift a kernel fixed).
        case = replace(case, page_size=draw(st.sampled_from(OTHER_PAGE_SIZES)))
    if not contiguous and draw(st.integers(1, WIDER_TABLES_ONE_IN)) == 1:
        # Page tables with columns past the width (allocated for the longest context): a
        # kernel that takes its width from the buffer writes them.
        extra = draw(st.sampled_from((1, 3, 64, max(1, calls[0].table.columns - width))))
        case = replace(case, table_extra=extra)
    if len(calls) > 1 and width > 1 and draw(st.integers(1, WIDTH_CHANGE_ONE_IN)) == 1:
        case = draw(_width_change(case))
    others = [p for p in sizes if p != page]
    if len(calls) > 1 and others and draw(st.integers(1, PAGE_CHANGE_ONE_IN)) == 1:
        # one call at another page size on the same buffers (real_page_table None at 1): a
        # page size baked on a first call, or kept per buffer, meets a call that differs
        k = draw(st.integers(0, len(calls) - 1))
        call = replace(case.calls[k], page_size=draw(st.sampled_from(others)))
        case = replace(case, calls=case.calls[:k] + (call,) + case.calls[k + 1 :])
    assume(valid(case) and not violations(env, case))
    return case


@st.composite
def _width_change(draw, case: MetaCase) -> MetaCase:
    """`case` (2-3 calls, width W > 1) with the width changing between calls on its buffers
    (SGLang's `page_table[:, :width]` at each replay's max context): the first call narrower
    than a later one (a width kept from the first call leaves cells unwritten), a later call
    narrower, or each call a width of its own in [1, W]. The buffers stay W wide. Widths are
    picked from a list, not drawn from a wide range, where Hypothesis mixes in constants of
    the modules loaded (they differ between a campaign's process and its compile-ahead
    helpers, which must draw the same cases: tests/test_compile_ahead.py saw them part)."""
    W, page = case.width, case.page_size
    picks = (1, 2, W // 3, W // 2, 2 * W // 3, W - 1, page - 1, page, page + 1, 2 * page + 1)
    narrow = st.sampled_from(sorted({w for w in picks if 1 <= w < W}))
    n = len(case.calls)
    branch = draw(st.integers(0, 3))
    if branch in (0, 2):  # the first call narrower, the later ones at W
        widths = [draw(narrow)] + [None] * (n - 1)
    elif branch == 1:  # a later call narrower than the first
        widths = [None] * n
        widths[draw(st.integers(1, n - 1))] = draw(narrow)
    else:  # each call its own width (the first narrower: a change in every such case)
        widths = [draw(narrow)] + [draw(st.one_of(st.none(), narrow)) for _ in range(n - 1)]
    calls = tuple(c if w is None else replace(c, width=w) for c, w in zip(case.calls, widths))
    return replace(case, calls=calls)


@st.composite
def _odd_out(draw, case: MetaCase) -> MetaCase:
    """`case` with, one time in ODD_OUT_ONE_IN each, page tables whose column stride is not
    1 (each table its own layout) and a stride per 1-D buffer."""
    if draw(st.integers(1, ODD_OUT_ONE_IN)) == 1:
        first = draw(st.sampled_from(TABLE_LAYOUTS[1:]))
        second = first if draw(st.booleans()) else draw(st.sampled_from(TABLE_LAYOUTS))
        case = replace(case, col_step=(first[0], second[0]), table_transposed=(first[1], second[1]))
    if draw(st.integers(1, ODD_OUT_ONE_IN)) == 1:
        case = replace(case, vec_strides=tuple(draw(st.sampled_from((1, 2, 3))) for _ in "12345"))
    return case


# --- bad calls (the error contract, --check-errors) ---------------------------------------------


@st.composite
def meta_bad_cases(draw, envelope: Envelope | None = None):
    """(one-call case, Fault): a valid call drawn inside `envelope`, then broken by a kind of
    fuzz/meta_contract.py's META_FAULTS that can break it (the envelope bounds the valid part)."""
    from fuzz.case import Fault
    from fuzz.meta_contract import META_FAULTS

    case = draw(meta_cases(envelope))
    case = replace(case, calls=case.calls[:1], out="buffers", validate=True)
    kinds = [k for k in META_FAULTS.values() if any(k.applies(case, v) for v in _values(k))]
    k = draw(st.sampled_from(kinds))
    if k.span is not None:
        lo, hi = k.span
        value = draw(st.one_of(st.sampled_from((lo, hi)), st.integers(lo, hi)))
        assume(k.applies(case, value))
    else:
        value = draw(st.sampled_from([v for v in k.values if k.applies(case, v)]))
    index = draw(st.integers(0, max(0, case.calls[0].bs - 1)))
    return case, Fault(k.kind, value, index)


def _values(k) -> tuple:
    return (k.span[0], k.span[1]) if k.span is not None else k.values

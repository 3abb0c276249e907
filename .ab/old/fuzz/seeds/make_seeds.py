"""Write the shipped regression seeds, one JSON entry each (the corpus schema, impl "seed"):
v1 (`op` expand) inputs that broke draft-extend kernels written outside this project, and
v2 (`op` metadata) seed-meta-*.json, one small explicit case per input family of issue 10.

    TRITON_INTERPRET=1 python fuzz/seeds/make_seeds.py   # rewrites fuzz/seeds/seed-*.json
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from fuzz.case import Case, Layout  # noqa: E402
from fuzz.corpus import FORMAT, versions  # noqa: E402
from fuzz.meta_case import MetaCall, MetaCase, Table  # noqa: E402
from reference.metadata import INT32_MAX  # noqa: E402

TOPK = 2048


def small(bs: int) -> Case:
    """bs requests with small extends (1..3) and seq lens that hold them."""
    return Case(tuple(1 + i % 3 for i in range(bs)), tuple(10 + i for i in range(bs)), TOPK)


SEEDS: dict[str, tuple[Case, str]] = {
    "stride0-seq-lens": (
        Case((1, 1), (0, 0), 6, seq_layout=Layout("int32", 0, 0)),
        "a Triton kernel that ignores strides returned 1 where 0 was due (seq_lens a stride-0 view)",
    ),
    "int64-step3-offset2-zero-extends": (
        Case((0, 0, 0), (0, 0, 0), TOPK, extend_layout=Layout("int64", 3, 2)),
        "a kernel that ignores strides read garbage between the extends and faulted on the device",
    ),
    **{
        f"bs{bs}-small-extends": (
            small(bs),
            "a CUDA block scan returned each request's previous offset from bs 128 on",
        )
        for bs in (128, 133, 139)
    },
    **{
        f"bs{bs}-one-block": (
            small(bs),
            f"a kernel launching one block of next_pow2(bs + 1) threads: {what}",
        )
        for bs, what in ((1024, "invalid argument at bs 1024"), (4096, "a crash at bs 4096"))
    },
    "empty-batch": (
        Case((), (), TOPK),
        "an empty batch: a kernel read extend_cumsum[-1] of an empty tensor",
    ),
}


# --- contract v2 (`--op metadata`): one small explicit case per family of issue 10 -------


def call(mode: str, s, r, ext=None, *, N: int = 1, topk: int = TOPK, table=None, **kw) -> MetaCall:
    """One call; req_to_token is an 8-row pool of 12 columns unless `table` says otherwise."""
    return MetaCall(
        mode,
        tuple(s),
        tuple(r),
        table or Table(8, 12, seed=kw.pop("seed", 0)),
        None if ext is None else tuple(ext),
        topk=topk,
        next_n=N,
        **kw,
    )


def meta(*calls: MetaCall, width: int = 5, page: int = 1, **kw) -> MetaCase:
    """The calls on one set of poisoned buffers with room past the region (a write one row
    or one request too far lands on poison and is named)."""
    kw.setdefault("rows_slack", 2)
    kw.setdefault("bs_slack", 1)
    return MetaCase(tuple(calls), width, page, **kw)


def batch(bs: int) -> MetaCase:
    """decode at bs requests, one-digit values (the file stays a few KB at bs 1025)."""
    return meta(call("decode", [1 + i % 9 for i in range(bs)], [i % 8 for i in range(bs)]))


I64 = Layout("int64")
MODES = {"decode": {}, "target-verify": {"N": 3}, "draft-extend": {"N": 3}}
BS1 = {"decode": "cu_seqlens_k", "target-verify": "kv = s + N", "draft-extend": "kv = s"}

META_SEEDS: dict[str, tuple[MetaCase, str]] = {
    **{
        f"bs0-{m}": (
            meta(call(m.replace("-", "_"), [], [], [] if m == "draft-extend-var" else None)),
            f"{m.replace('-', '_')} at bs 0: a kernel that takes max(seq_lens) or reads "
            "cu_seqlens_k[-1] of an empty batch raised",
        )
        for m in (*MODES, "draft-extend-var")
    },
    **{
        f"bs1-{m}": (
            meta(call(m.replace("-", "_"), [7], [3], **kw)),
            f"{m.replace('-', '_')} at bs 1: a one-request fast path wrote cu_seqlens_k [0, 0]; "
            f"{BS1[m]} is checked on one request",
        )
        for m, kw in MODES.items()
    },
    "bs1-draft-extend-var": (
        meta(call("draft_extend_var", [7], [3], [2])),
        "draft_extend_var at bs 1: a one-request fast path wrote cu_seqlens_k [0, 0]",
    ),
    "var-all-zero-extends": (
        meta(call("draft_extend_var", [5, 6, 9], [1, 2, 3], [0, 0, 0])),
        "draft_extend_var with every extend 0 (T = 0): no row written, the sums still due",
    ),
    "var-mixed-zero-extends": (
        meta(call("draft_extend_var", [5, 0, 9, 3, 4], [1, 6, 2, 0, 5], [0, 2, 0, 1, 3])),
        "draft_extend_var with zero extends between others: a kernel that compacts the "
        "requests with no rows away gives the next rows the wrong request's kv and table row",
    ),
    "padding-kv-below-e": (
        meta(call("draft_extend", [1, 1, 6], [0, 4, 2], N=4, topk=1)),
        "SGLang's padding (s = 1, e = N = 4): seqlens_expanded runs to -2; a kernel that "
        "clamps dsa_cache_seqlens from below at 0 is wrong",
    ),
    "topk-below-at-above": (
        meta(
            call("decode", [3, 9, 20], [0, 1, 2], topk=9),
            call("target_verify", [5, 8], [3, 4], N=2, topk=0),
        ),
        "topk below, at and above the lengths, then topk 0: dsa_cache_seqlens = "
        "min(seqlens_expanded, topk) on each side of the clamp",
    ),
    "page3-width-not-multiple": (
        meta(call("draft_extend", [8, 3], [5, 0], N=2), width=10, page=3),
        "page size 3, width 10: a kernel that writes whole pages of columns leaves column 9 "
        "unwritten; a page index by shift is wrong when P is not a power of two",
    ),
    "page3-width-below": (
        meta(call("decode", [4, 2], [7, 1]), width=2, page=3),
        "page size 3 above width 2: the one partial page of real_page_table must be written",
    ),
    "page64-width-not-multiple": (
        meta(call("decode", [8, 3], [2, 6], table=Table(8, 72)), width=70, page=64),
        "page size 64, width 70: two pages, the second partial; whole-page kernels drop "
        "columns 64..69",
    ),
    "page64-width-below": (
        meta(call("decode", [8, 3, 2], [2, 3, 2]), width=7, page=64),
        "page size 64 above width 7: one partial page per row, and no whole page of columns",
    ),
    "transposed-table-repeated-last-row": (
        meta(
            call(
                "draft_extend",
                [8, 3, 5, 6],
                [7, 7, 2, 7],
                N=2,
                table=Table(8, 11, transposed=True, row_pad=2, col_pad=1),
            ),
            width=10,
            page=3,
        ),
        "req_to_token transposed then sliced (column stride != 1) with the last pool row "
        "repeated: a kernel that assumes column stride 1, dedups pool indices or never reads "
        "row pool - 1 is wrong",
    ),
    "table-sliced": (
        meta(call("decode", [8, 3, 5], [5, 0, 2], table=Table(8, 12, 1, False, 2, 3))),
        "req_to_token a slice (2 rows cut off the top, 3 spare columns): a kernel that ignores "
        "the row stride or the storage offset reads the wrong cells",
    ),
    "decode-pool-indices-int64-strided": (
        meta(call("decode", [10, 4, 7], [3, 1, 5], idx_layout=Layout("int64", 3, 2))),
        "decode with req_pool_indices an int64 view (step 3, offset 2): a kernel that ignores "
        "its stride reads the gap values as pool rows",
    ),
    "int64-seq-int32-pool": (
        meta(call("target_verify", [10, 4, 9], [3, 0, 5], N=2, seq_layout=I64)),
        "int64 seq_lens with int32 req_pool_indices: a kernel that reads int64 as int32 words, "
        "or picks the wrong one of its dtype templates, is wrong",
    ),
    "int64-extends-int64-pool": (
        meta(
            call(
                "draft_extend_var", [10, 4, 9], [3, 0, 5], [2, 1, 2], idx_layout=I64, ext_layout=I64
            )
        ),
        "draft_extend_var with int64 extend_seq_lens and req_pool_indices, int32 seq_lens: "
        "extends read as int32 words give the wrong row counts",
    ),
    "sums-near-int32": (
        meta(call("decode", [2**30 + 1, 2**30 - 2], [0, 1], topk=INT32_MAX)),
        "running sums up to 2**31 - 1: a float32 cumsum (exact below 2**24) or a sum formed "
        "as 2 * s in int32 is wrong",
    ),
    "target-verify-kv-int32-max": (
        meta(call("target_verify", [INT32_MAX - 2], [4], N=2, topk=100)),
        "target_verify with kv = s + N = 2**31 - 1: the largest valid kv and cu_seqlens_k",
    ),
    "next-n-8": (
        meta(call("target_verify", [20, 3], [1, 6], N=8, topk=12)),
        "target_verify with next_n 8: a per-request table sized for 7 rows is wrong",
    ),
    **{
        f"bs{bs}": (
            batch(bs),
            f"decode at bs {bs}: {what}",
        )
        for bs, what in (
            (32, "one warp of requests exactly"),
            (33, "a sum that is wrong past request 32 (a warp boundary) is caught"),
            (128, "one block of 128 requests exactly"),
            (129, "a block scan without a carry from the first block of 128 is caught"),
            (1024, "one block of 1024 requests exactly"),
            (1025, "a sum that is wrong past request 1024 (a block carry) is caught"),
        )
    },
    "back-to-back-shrinking-t": (
        meta(
            call("draft_extend_var", [10, 4, 9], [3, 0, 5], [3, 2, 2]),
            call("draft_extend_var", [6, 8], [1, 2], [1, 2], seed=5),
        ),
        "two calls on one set of buffers, bs 3 then 2, T 7 then 3, new table values: a kernel "
        "that rewrites the page table only when T grows leaves stale rows",
    ),
    "back-to-back-growing-bs": (
        meta(
            call("decode", [3], [1]),
            call("decode", [10, 4, 9, 5], [3, 0, 5, 6], seed=2),
            call("decode", [2, 2], [0, 1], seed=4),
        ),
        "three calls on one set of buffers, bs 1, 4, 2: a kernel sized on its first call "
        "writes zeros past the first bs",
    ),
    "strided-out-buffers": (
        meta(
            call("target_verify", [10, 4], [1, 2], N=2),
            width=6,
            page=2,
            vec_stride=2,
            offset=3,
            table_pad=3,
        ),
        "out buffers with stride 2, storage offset 3 and page tables with 3 spare columns: a "
        "kernel that assumes contiguous outputs writes over the gaps",
    ),
}


# --- the files -------------------------------------------------------------------------------


def entry(slug: str, case: Case, note: str, date: str) -> dict:
    return {
        "format": FORMAT,
        "signature": f"seed:{slug}",
        "impl": "seed",
        "candidate": None,
        "mismatch": None,
        "summary": f"regression seed: {note}",
        "cause": "",
        "note": note,
        "case": case.to_json(),
        "case_summary": case.describe(),
        "fault": None,
        "device": "cpu",
        "seed": None,
        "versions": versions(),
        "date": date,
        "replay": f"python -m fuzz replay fuzz/seeds/seed-{slug}.json",
    }


def dumps(data: dict) -> str:
    """Indented JSON with each list of numbers on one line."""
    text = json.dumps(data, indent=2)
    numbers = re.compile(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]")
    return numbers.sub(lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]", text)


def check(case: Case, where: str) -> None:
    """The built-ins answer the seed as the oracle does (CPU: torch, and Triton's
    interpreter when TRITON_INTERPRET=1)."""
    import nsa_meta
    from nsa_meta.interpreter import interpreting

    want = case.expected()
    for backend in ("torch", "triton") if interpreting() else ("torch",):
        got = nsa_meta.expand(*case.tensors("cpu"), case.nsa_index_topk, backend=backend)
        if [t.tolist() for t in got] != [list(w) for w in want]:
            raise SystemExit(f"{where}: {backend} disagrees with the oracle")


def meta_entry(slug: str, case: MetaCase, note: str, date: str) -> dict:
    """A v2 seed: the v1 seed's keys, `op` "metadata" and a replay for v2 candidates."""
    data = entry(f"meta-{slug}", case, note, date)  # type: ignore[arg-type]
    data["replay"] += " --op metadata"
    return {"format": FORMAT, "op": "metadata", **data}


def check_meta(case: MetaCase, where: str) -> None:
    """The built-ins answer every call as the oracle does, into the case's poisoned buffers
    (CPU: torch, and Triton's interpreter when TRITON_INTERPRET=1)."""
    from fuzz.harness import Tally
    from fuzz.meta_harness import run_meta
    from nsa_meta.interpreter import interpreting

    backends = ["torch", "triton"] if interpreting() else ["torch"]
    found = run_meta([case], backends, [], "cpu", Tally())
    if found:
        raise SystemExit(f"{where}: {found[0].mismatch.cause or found[0].mismatch.describe()}")


def write(path: Path, data: dict, old: dict[str, str]) -> None:
    """Write one seed; a seed whose case, note and op are unchanged keeps its file as it is
    (date, versions, format), so that regenerating rewrites only what changed."""
    text = old.get(path.name)
    if text is not None:
        before = json.loads(text)
        if all(before.get(k) == data.get(k) for k in ("case", "note", "op")):
            path.write_text(text)
            return
    path.write_text(dumps(data) + "\n")


def main() -> int:
    import fuzz.meta_entry  # noqa: F401  (the decoder of "metadata" entries)
    from fuzz import corpus

    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    old = {}
    for path in HERE.glob("seed-*.json"):
        old[path.name] = path.read_text()
        path.unlink()
    for slug, (case, note) in SEEDS.items():
        path = HERE / f"seed-{slug}.json"
        write(path, entry(slug, case, note, date), old)
        back = Case.from_json(json.loads(path.read_text())["case"])
        assert back == case, f"{path.name}: the case does not read back"
        check(back, path.name)
        print(f"{path.name}: {note}")
    for slug, (case, note) in META_SEEDS.items():
        path = HERE / f"seed-meta-{slug}.json"
        write(path, meta_entry(slug, case, note, date), old)
        back = corpus.load(path)  # the strict decoder, as replay reads it
        assert back.op == "metadata" and back.is_seed, f"{path.name}: not a v2 seed"
        assert back.case == case, f"{path.name}: the case does not read back"
        check_meta(back.case, path.name)
        print(f"{path.name}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

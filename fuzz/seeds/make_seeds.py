"""Write the shipped regression seeds: inputs that broke draft-extend kernels written
outside this project, one JSON entry each (the corpus schema, impl "seed").

    python fuzz/seeds/make_seeds.py        # rewrites fuzz/seeds/seed-*.json and checks them
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


def main() -> int:
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for old in HERE.glob("seed-*.json"):
        old.unlink()
    for slug, (case, note) in SEEDS.items():
        path = HERE / f"seed-{slug}.json"
        path.write_text(dumps(entry(slug, case, note, date)) + "\n")
        back = Case.from_json(json.loads(path.read_text())["case"])
        assert back == case, f"{path.name}: the case does not read back"
        check(back, path.name)
        print(f"{path.name}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The shipped regression seeds (fuzz/seeds/): installed with the package, in the corpus
schema, and answered by every built-in as the oracle answers them."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
import torch

import nsa_meta
from fuzz.case import Case
from tests.helpers import DEVICE, SENTINEL

EXPECTED = {
    "seed-stride0-seq-lens.json",
    "seed-int64-step3-offset2-zero-extends.json",
    "seed-bs128-small-extends.json",
    "seed-bs133-small-extends.json",
    "seed-bs139-small-extends.json",
    "seed-bs1024-one-block.json",
    "seed-bs4096-one-block.json",
    "seed-empty-batch.json",
}
KEYS = {
    "format", "signature", "impl", "candidate", "mismatch", "summary", "cause", "note", "case",
    "case_summary", "fault", "device", "seed", "versions", "date", "replay",
}  # fmt: skip


def seed_files() -> dict[str, str]:
    """The v1 seeds (the v2 ones, seed-meta-*.json, are tests/test_meta_seeds.py's)."""
    seeds = files("fuzz") / "seeds"
    return {
        f.name: f.read_text()
        for f in seeds.iterdir()
        if f.name.endswith(".json") and not f.name.startswith("seed-meta-")
    }


def test_the_package_lists_every_seed() -> None:
    assert set(seed_files()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_entry_schema(name: str) -> None:
    data = json.loads(seed_files()[name])
    assert set(data) == KEYS, f"{name}: keys {sorted(set(data) ^ KEYS)}"
    slug = name.removeprefix("seed-").removesuffix(".json")
    assert data["signature"] == f"seed:{slug}" and data["impl"] == "seed"
    assert data["mismatch"] is None and data["candidate"] is None and data["fault"] is None
    assert data["cause"] == "" and data["device"] == "cpu" and data["seed"] is None
    note = data["note"]
    assert isinstance(note, str) and note.strip() and "\n" not in note, f"{name}: note"
    case = Case.from_json(data["case"])
    assert Case.from_json(case.to_json()) == case
    assert data["case_summary"] == case.describe()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_replays_clean_on_the_builtins(name: str) -> None:
    case = Case.from_json(json.loads(seed_files()[name])["case"])
    want = [list(w) for w in case.expected()]
    ext, seq = case.tensors(DEVICE)
    for backend in ("triton", "torch"):
        got = nsa_meta.expand(ext, seq, case.nsa_index_topk, backend=backend)
        assert [t.tolist() for t in got] == want, f"{name}: {backend}"
    dtypes = {"extend_dtype": ext.dtype, "seq_dtype": seq.dtype}
    out = [torch.full((case.total + 3,), SENTINEL, dtype=torch.int32, device=DEVICE) for _ in "ec"]
    nsa_meta.prepare((out[0], out[1]), case.bs, **dtypes)(ext, seq, case.nsa_index_topk)
    assert [o[: case.total].tolist() for o in out] == want, f"{name}: prepared"
    assert all((o[case.total :] == SENTINEL).all() for o in out), f"{name}: prepared tail"


def test_the_named_inputs_are_the_ones_that_broke_kernels() -> None:
    """The cases are the inputs the issue names, not look-alikes."""
    cases = {n: Case.from_json(json.loads(t)["case"]) for n, t in seed_files().items()}
    stride0 = cases["seed-stride0-seq-lens.json"]
    assert (stride0.extend_seq_lens, stride0.seq_lens, stride0.nsa_index_topk) == (
        (1, 1),
        (0, 0),
        6,
    )
    assert stride0.seq_layout.stride == 0
    zeros = cases["seed-int64-step3-offset2-zero-extends.json"]
    assert zeros.extend_seq_lens == (0, 0, 0)
    assert (zeros.extend_layout.dtype, zeros.extend_layout.stride, zeros.extend_layout.offset) == (
        "int64", 3, 2,
    )  # fmt: skip
    for bs in (128, 133, 139):
        assert cases[f"seed-bs{bs}-small-extends.json"].bs == bs
    assert cases["seed-bs1024-one-block.json"].bs == 1024
    assert cases["seed-bs4096-one-block.json"].bs == 4096
    assert cases["seed-empty-batch.json"].bs == 0

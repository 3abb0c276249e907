"""The shipped contract-v2 regression seeds (fuzz/seeds/seed-meta-*.json): one small case per
family of issue 10, written by make_seeds.py, passed by every built-in, failed by the planted
mutant of their family (tests/meta_mutants.py), and put only to candidates of their op.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

import fuzz.meta_entry  # noqa: F401  (the decoder of "metadata" entries)
import tests.meta_mutants as mm
from fuzz import corpus
from fuzz.harness import Tally
from fuzz.meta_case import MetaCase
from fuzz.meta_harness import judge_answer, run_meta
from fuzz.meta_judge import decode_meta_answer, plan
from fuzz.meta_worker import run_item
from fuzz.seeds import seeds_dir, shipped
from fuzz.worker import Runner
from reference.metadata import INT32_MAX
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
META_MUTANTS = ROOT / "tests" / "meta_mutants.py"
V1_MUTANTS = ROOT / "tests" / "mutants.py"


@lru_cache(maxsize=1)
def v2_seeds() -> dict[str, corpus.Entry]:
    return {p.name: corpus.load(p) for p in sorted(seeds_dir().glob("seed-meta-*.json"))}


def v1_names() -> set[str]:
    return {p.name for p in seeds_dir().glob("seed-*.json")} - set(v2_seeds())


def seed(slug: str) -> corpus.Entry:
    return v2_seeds()[f"seed-meta-{slug}.json"]


def judge(fn, name: str, case: MetaCase):
    """A candidate on a case as its isolated worker runs it (fuzz/meta_worker.py), judged as
    replay judges it; in this process."""
    item = {"op": "metadata", "case": case.to_json()}
    header, blobs = run_item(Runner(fn, "cpu", 1 << 30), item)
    return judge_answer(name, plan(case), decode_meta_answer(header, blobs, item))


# --- the files --------------------------------------------------------------------------------


def test_the_files_are_what_make_seeds_writes() -> None:
    from fuzz.seeds.make_seeds import META_SEEDS

    seeds = v2_seeds()
    assert set(seeds) == {f"seed-meta-{slug}.json" for slug in META_SEEDS}
    for slug, (case, note) in META_SEEDS.items():
        e = seeds[f"seed-meta-{slug}.json"]
        assert (e.case, e.note) == (case, note), f"{slug}: regenerate with make_seeds.py"


def test_every_v2_seed_is_a_metadata_seed_entry() -> None:
    assert len(v2_seeds()) >= 30
    for name, e in v2_seeds().items():
        slug = name.removeprefix("seed-").removesuffix(".json")
        assert e.op == "metadata" and e.is_seed and e.impl == "seed", name
        assert e.signature == f"seed:{slug}" and e.data["mismatch"] is None, name
        assert e.fault is None and e.candidate is None and e.cause == "", name
        assert e.note.strip() and "\n" not in e.note, f"{name}: note"
        assert e.data["replay"] == f"python -m fuzz replay fuzz/seeds/{name} --op metadata"
        assert e.data["case_summary"] == e.case.describe(), name
        assert MetaCase.from_json(json.loads(json.dumps(e.case.to_json()))) == e.case, name
        assert e.path.stat().st_size <= 8192, f"{name}: {e.path.stat().st_size} bytes"


def test_the_seeds_cover_the_families() -> None:
    cases = [e.case for e in v2_seeds().values()]
    calls = [c for case in cases for c in case.calls]
    for mode in ("decode", "target_verify", "draft_extend", "draft_extend_var"):
        for bs in (0, 1):
            assert any(c.mode == mode and c.bs == bs for c in calls), (mode, bs)
    assert {32, 33, 128, 129, 1024, 1025} <= {c.bs for c in calls}
    var = [c.extend_seq_lens for c in calls if c.mode == "draft_extend_var" and c.bs]
    assert any(set(e) == {0} for e in var) and any(0 in e and set(e) != {0} for e in var)
    assert any(min(w.seqlens_expanded, default=1) < 0 for case in cases for w in case.expected())
    assert {3, 64} <= {case.page_size for case in cases}
    assert any(case.width % case.page_size and case.width > case.page_size for case in cases)
    assert any(case.width < case.page_size for case in cases)
    table = [c for c in calls if c.table.transposed and c.table.row_pad]
    assert any(c.table.pool - 1 in c.req_pool_indices for c in table)
    assert any(len(set(c.req_pool_indices)) < c.bs for c in table)
    mixes = {(c.seq_layout.dtype, c.idx_layout.dtype) for c in calls}
    assert {("int64", "int32"), ("int32", "int64")} <= mixes
    assert any(c.ext_layout.dtype == "int64" for c in calls if c.extend_seq_lens)
    sums = [max(w.cu_seqlens_k) for case in cases for w in case.expected()]
    assert max(sums) > 2**30 and max(sums) <= INT32_MAX
    shrink = [case for case in cases if len(case.calls) > 1]
    assert any(case.calls[-1].rows < case.calls[0].rows for case in shrink)
    assert any(case.calls[1].bs > case.calls[0].bs for case in shrink)


def test_shipped_splits_the_seeds_by_op() -> None:
    meta, errors = shipped("metadata")
    expand, _ = shipped("expand")
    assert not errors
    assert {e.path.name for e in meta} == set(v2_seeds())
    assert {e.path.name for e in expand} == v1_names() and len(expand) == 8
    assert all(e.op == "expand" for e in expand) and all(e.op == "metadata" for e in meta)


# --- the built-ins pass, the planted mutants fail -----------------------------------------------


def test_every_builtin_passes_every_v2_seed() -> None:
    cases = [e.case for e in v2_seeds().values()]
    found = run_meta(cases, ["torch", "triton"], [], "cpu", Tally())  # triton: the interpreter
    assert not found, [(f.case.describe(), f.mismatch.cause) for f in found]


PAIRS = [  # (seed, mutant, what it finds, in its cause)
    ("var-mixed-zero-extends", "var_ignores_zero_extends", "values:page_table_1", "page_table_1["),
    ("bs0-decode", "bs0_crash", "raised RuntimeError", "max()"),
    ("back-to-back-shrinking-t", "stale_page_table", "stale:page_table_1", "left from call 1"),
    ("transposed-table-repeated-last-row", "transposed_table_column_stride",
     "values:page_table_1", "page_table_1[0, 1] is -5"),
    ("transposed-table-repeated-last-row", "repeated_pool_index_row0",
     "values:page_table_1", "page_table_1["),
    ("sums-near-int32", "cu_sums_float32", "values:cu_seqlens_k",
     "cu_seqlens_k[1] is 1073741824, expected 1073741825"),
    ("sums-near-int32", "dsa_sums_doubled_int32", "values:dsa_cu_seqlens_k", "dsa_cu_seqlens_k[1]"),
    ("bs129", "bs128_no_carry", "values:cu_seqlens_k", "cu_seqlens_k[129] is 3, expected 636"),
    ("bs1025", "bs_over_1024_off", "values:cu_seqlens_k", "cu_seqlens_k[1025]"),
    ("padding-kv-below-e", "topk_clamp_from_below", "values:dsa_cache_seqlens",
     "dsa_cache_seqlens[0] is 0, expected -2"),
    ("page3-width-below", "width_below_page_size", "values:real_page_table", "never written"),
    ("int64-extends-int64-pool", "extend_int64_as_int32", "values:seqlens_expanded", "seqlens"),
    ("back-to-back-growing-bs", "bs_growth_zeros", "values:cu_seqlens_k", "(call 2)"),
    ("decode-pool-indices-int64-strided", "decode_ignores_pool_stride", "values:page_table_1",
     "page_table_1[1, 0]"),
]  # fmt: skip


@pytest.mark.parametrize("slug, mutant, finds, cause", PAIRS, ids=[p[1] for p in PAIRS])
def test_a_planted_mutant_fails_on_the_seed_of_its_family(
    slug: str, mutant: str, finds: str, cause: str
) -> None:
    case = seed(slug).case
    assert judge(mm.plain, "plain", case) is None  # the unbent core passes: the bend fails
    found = judge(getattr(mm, mutant), mutant, case)
    assert found is not None, f"{mutant} passes seed-meta-{slug}"
    assert found.signature == f"metadata:{mutant}:{finds}"
    assert cause in found.cause, found.cause


def test_the_seeds_readme_lists_every_v2_seed_and_mutants_that_fail_on_it() -> None:
    text = (seeds_dir() / "README.md").read_text()
    rows = re.findall(r"^\| `(seed-meta-[^`]+)` \| .* \| (.*) \|$", text, re.M)
    assert sorted(name for name, _ in rows) == sorted(v2_seeds())
    listed = 0
    for name, column in rows:
        for mutant in re.findall(r"`(\w+)`", column):
            assert judge(getattr(mm, mutant), mutant, v2_seeds()[name].case), (name, mutant)
            listed += 1
    assert listed >= 40


@pytest.mark.parametrize("bs, mutant", [(32, "bs_over_32_off"), (128, "bs128_no_carry"),
                                        (1024, "bs_over_1024_off")])  # fmt: skip
def test_the_bs_edges_sit_either_side_of_the_mutant(bs: int, mutant: str) -> None:
    fn = getattr(mm, mutant)
    assert judge(fn, mutant, seed(f"bs{bs}").case) is None
    assert judge(fn, mutant, seed(f"bs{bs + 1}").case) is not None


# --- seeds go only to candidates of their op ------------------------------------------------


@pytest.mark.slow
def test_replay_puts_only_v2_seeds_to_a_v2_candidate_and_catches_its_bug() -> None:
    """The CLI path on the shipped folder: `replay --op metadata --candidate` (the mutant in
    its worker). A v1 seed handed to it would call it with v1's positional arguments and
    fail: every v1 seed is skipped instead; the two back-to-back seeds fail, cause printed."""
    r = fuzz_here("replay", seeds_dir(), "--op", "metadata", "--impl", "torch",
                  "--candidate", f"{META_MUTANTS}:stale_page_table")  # fmt: skip
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    n1, n2 = len(v1_names()), len(v2_seeds())
    assert f"{n2} regression seed(s) (2 failing)" in out, out
    assert f"{n1} of another op than --op metadata skipped" in out, out
    assert not any(name in out for name in v1_names()), out
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed == [
        f"FAIL SEED {seed(s).path}" for s in ("back-to-back-growing-bs", "back-to-back-shrinking-t")
    ], out
    assert "metadata meta_mutants:stale_page_table: stale:page_table_1" in out, out
    assert "cause: page_table_1[0, 0] is 3027, left from call 1; expected 1014 (call 2)" in out


@pytest.mark.slow
def test_replay_hands_v1_candidates_only_v1_seeds() -> None:
    r = fuzz_here("replay", seeds_dir(), "--impl", "torch", "--candidate", f"{V1_MUTANTS}:correct")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    n1, n2 = len(v1_names()), len(v2_seeds())
    assert f"{n1} regression seed(s) (0 failing)" in out, out
    assert f"{n2} of another op than --op expand skipped" in out, out
    assert "seed-meta-" not in out, out


def test_replay_without_candidates_puts_every_seed_to_the_builtins_of_its_op() -> None:
    r = fuzz_here("replay", seeds_dir(), "--impl", "torch")
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(v1_names()) + len(v2_seeds())
    assert f"{n} regression seed(s) (0 failing)" in r.stdout and "skipped" not in r.stdout

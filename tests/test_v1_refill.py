"""Refill cases (contract v1): a case with a `prior` is called twice on the SAME input
tensors, the prior's values then its own written in place, as SGLang's replay does. A
kernel that caches on the inputs' addresses answers call 2 with call 1's result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from findings import assert_no_findings
from hypothesis import given, settings
from meta_fuzz_helpers import benchmark_module

from fuzz import entry
from fuzz.answers import decode_answer
from fuzz.case import Case, Layout, refill
from fuzz.compare import expected_tensors
from fuzz.harness import REFILLED, Tally, call_case, judge_valid, run_example
from fuzz.minimise import shrink
from fuzz.registry import IMPLEMENTATIONS
from fuzz.strategies import REFILL_CASES, bad_calls, cases, named_cases
from fuzz.worker import Runner

ROOT = Path(__file__).resolve().parents[1]
M = benchmark_module("redteam5_mutants")
CACHE_BUG = "benchmarks/redteam5_mutants.py:v1_cache_by_pointer"
EXAMPLE = REFILL_CASES["refill: contract example after other values"]
STRIDED = REFILL_CASES["refill: int64 strided views with offsets, bs 40"]


def _raw(data: dict) -> bytes:
    return json.dumps(data).encode()


# --- the case as data --------------------------------------------------------------------------


def test_prior_round_trips_and_old_entries_load_equal() -> None:
    for case in REFILL_CASES.values():
        assert Case.from_json(json.loads(json.dumps(case.to_json()))) == case
        assert entry.decode_expand_case(_raw(case.to_json()), max_total=2**22) == case
    plain = Case((3, 0, 2), (10, 4, 1), 9)
    assert "prior" not in plain.to_json()
    assert Case.from_json(plain.to_json()) == plain
    assert EXAMPLE.size_key() > plain.size_key()  # a prior is more complex than none


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"prior": [[1, 1], [5, 6]]}, "prior: extend_seq_lens has 2 values, the case has bs 3"),
        ({"prior": [[1, 1, 1], [5, 6]]}, "prior: seq_lens has 2 values"),
        (
            {
                "seq_lens": [4, 4, 4],
                "seq_layout": {"dtype": "int32", "stride": 0, "offset": 0},
                "prior": [[1, 1, 1], [5, 6, 7]],
            },
            "case.prior.seq_lens: stride 0 needs all values equal",
        ),
        ({"prior": [[1, -1, 1], [5, 6, 7]]}, "case.prior"),
        ({"prior": [[1, 1, 1], [5, 2**31, 7]]}, "case.prior"),
        ({"prior": [[90, 1, 1], [95, 6, 7]]}, "case.prior: total 92 is above --max-total 64"),
    ],
)
def test_entry_rejects_a_bad_prior(change: dict, words: str) -> None:
    data = {**Case((3, 0, 2), (10, 4, 1), 9).to_json(), **change}
    with pytest.raises(ValueError, match="prior") as info:
        entry.decode_expand_case(_raw(data), max_total=64)
    assert words in str(info.value)


def test_case_rejects_a_misaligned_prior() -> None:
    with pytest.raises(ValueError, match="prior must be two tuples of bs=2"):
        Case((1, 2), (3, 4), 5, prior=((1,), (3,)))


@pytest.mark.parametrize("case", list(REFILL_CASES.values()), ids=list(REFILL_CASES))
def test_refill_writes_in_place_what_fresh_tensors_hold(case: Case) -> None:
    ext, seq = case.first_call().tensors("cpu")
    ptrs = (ext.data_ptr(), seq.data_ptr())
    assert [ext.tolist(), seq.tolist()] == [list(v) for v in case.prior]
    refill(case, ext, seq)
    assert (ext.data_ptr(), seq.data_ptr()) == ptrs
    fresh = case.tensors("cpu")
    for now, want in zip((ext, seq), fresh):
        assert now.tolist() == want.tolist() and now.stride() == want.stride()
        # the whole storage, gaps included, as a fresh case's: the judge reads it so
        assert torch.equal(
            torch.tensor(now.untyped_storage().tolist()),
            torch.tensor(want.untyped_storage().tolist()),
        )


def test_named_refill_cases_are_in_the_opening_and_drawn_cases_carry_priors() -> None:
    opening = named_cases()
    assert all(opening[name] == c for name, c in REFILL_CASES.items())
    assert STRIDED.bs > 32 and STRIDED.extend_layout.dtype == "int64"
    assert STRIDED.extend_layout.stride > 1 and STRIDED.seq_layout.offset > 0
    assert EXAMPLE.nsa_index_topk == 9 and EXAMPLE.prior != (
        EXAMPLE.extend_seq_lens,
        EXAMPLE.seq_lens,
    )
    drawn: list[Case] = []

    @settings(max_examples=240, database=None, derandomize=True)
    @given(cases())
    def draw(case: Case) -> None:
        drawn.append(case)

    draw()
    with_prior = [c for c in drawn if c.prior is not None]
    assert 8 <= len(with_prior) <= 80  # about 1 in 8
    for c in with_prior:
        assert len(c.prior[0]) == len(c.prior[1]) == c.bs
        c.first_call().expected()  # a valid call
    # the three shapes: other values, a decode step (same extends), the same seq_lens
    assert any(c.prior[0] == c.extend_seq_lens and c.prior[1] != c.seq_lens for c in with_prior)
    assert any(c.prior[1] == c.seq_lens and c.prior[0] != c.extend_seq_lens for c in with_prior)
    assert any(c.prior[0] != c.extend_seq_lens and c.prior[1] != c.seq_lens for c in with_prior)


def test_bad_calls_are_one_call_without_a_prior() -> None:
    seen: list[Case] = []

    @settings(max_examples=120, database=None, derandomize=True)
    @given(bad_calls(with_out=True))
    def draw(bad) -> None:
        seen.append(bad[0])

    draw()
    assert seen and all(c.prior is None for c in seen)


# --- the built-ins and the judge ---------------------------------------------------------------


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-by-one"])
def test_builtins_are_quiet_on_refill_cases(batched: bool) -> None:
    found = run_example(
        list(REFILL_CASES.values()),
        [],
        list(IMPLEMENTATIONS),
        [],
        "cpu",
        Tally(),
        triton_batched=batched,
        check_errors=False,
    )
    assert_no_findings(found)


def test_a_pointer_cache_is_judged_wrong_on_call_2() -> None:
    fn = M.v1_cache_by_pointer
    M._STATE.clear()
    answer = call_case(fn, EXAMPLE, "cpu")
    assert answer.first is not None
    found = judge_valid(fn.__name__, EXAMPLE, answer, expected_tensors(EXAMPLE.expected()), "cpu")
    assert found is not None and found.cause.startswith(REFILLED)
    # the same values on fresh tensors: nothing cached, nothing wrong
    M._STATE.clear()
    plain = Case(EXAMPLE.extend_seq_lens, EXAMPLE.seq_lens, EXAMPLE.nsa_index_topk)
    answer = call_case(fn, plain, "cpu")
    assert judge_valid("x", plain, answer, expected_tensors(plain.expected()), "cpu") is None


def test_a_failure_on_call_1_is_reported_as_call_1() -> None:
    def wrong_on_ones(e, s, k):  # a bug the prior's values show, not the case's
        out = M.correct_v1(e, s, k)
        if 1 in e.tolist():
            out[0][0] += 1
        return out

    case = Case((3, 2), (10, 6), 9, prior=((1, 2), (4, 5)))
    found = judge_valid(
        "x", case, call_case(wrong_on_ones, case, "cpu"), expected_tensors(case.expected()), "cpu"
    )
    assert found is not None and found.cause.startswith("call 1 of 2")


def _worker_answer(fn, case: Case):
    """The candidate's worker path in this process: Runner.run, then the parent's decoding."""
    item = {"case": case.to_json()}
    header, blobs = Runner(fn, "cpu", 2**26).run(item)
    return decode_answer(json.loads(json.dumps(header)), [bytes(b) for b in blobs], item, 2**26)


@pytest.mark.parametrize("case", [EXAMPLE, STRIDED], ids=["example", "int64 strided bs 40"])
def test_the_worker_calls_twice_on_the_same_tensors(case: Case) -> None:
    M._STATE.clear()
    good = _worker_answer(M.correct_v1, case)
    assert good.first is not None and good.first.status == "ok" == good.status
    want = expected_tensors(case.expected())
    assert judge_valid("correct_v1", case, good, want, "cpu") is None
    M._STATE.clear()
    bad = _worker_answer(M.v1_cache_by_pointer, case)
    found = judge_valid("v1_cache_by_pointer", case, bad, want, "cpu")
    assert found is not None and found.cause.startswith(REFILLED)


# --- the shrinker ------------------------------------------------------------------------------


def test_the_shrinker_keeps_the_prior_aligned() -> None:
    """Fails only when request i held extend 4 in call 1 and holds 1 in call 2: shrinking
    must carry the prior's request i along with the case's."""

    def fails(c: Case) -> bool:
        return c.prior is not None and any(
            p == 4 and e == 1 for p, e in zip(c.prior[0], c.extend_seq_lens)
        )

    n = 20
    ext = tuple(1 if i == 13 else 2 for i in range(n))
    case = Case(
        ext,
        tuple(100 + i for i in range(n)),
        50,
        Layout("int64", 2, 1),
        Layout("int64"),
        prior=(tuple(4 if i == 13 else 3 for i in range(n)), tuple(200 + i for i in range(n))),
    )
    small = shrink(case, fails, seconds=10)
    assert small.bs == 1 and small.prior is not None
    assert small.prior[0] == (4,) and small.extend_seq_lens == (1,)
    assert small.prior[1] == (0,) and small.extend_layout == Layout("int32")


def test_the_shrinker_drops_a_prior_the_failure_does_not_need() -> None:
    small = shrink(STRIDED, lambda c: c.total > 3, seconds=10)
    assert small.prior is None
    first_only = shrink(EXAMPLE, lambda c: 12 in c.seq_lens, seconds=10)
    assert first_only.prior is None and first_only.seq_lens == (12,)


# --- the command line --------------------------------------------------------------------------


def _fuzz(tmp_path: Path, *args: object) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_the_campaign_finds_a_pointer_cache_and_replays_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    common = ("--max-cases", 40, "--seconds", 60, "--bulk", 0, "--corpus", corpus)
    r = _fuzz(tmp_path, "run", "--candidate", CACHE_BUG, *common)
    assert r.returncode == 1, r.stdout + r.stderr
    assert REFILLED in r.stdout
    saved = [entry.load(p) for p in sorted(corpus.glob("*.json"))]
    assert saved and all(e.case.prior is not None for e in saved)
    replay = _fuzz(tmp_path, "replay", "--candidate", CACHE_BUG, saved[0].path)
    assert replay.returncode == 1 and REFILLED in replay.stdout, replay.stdout + replay.stderr
    good = "benchmarks/redteam5_mutants.py:correct_v1"
    r = _fuzz(tmp_path, "run", "--candidate", good, *common[:-1], tmp_path / "quiet")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_a_candidate_with_state_saves_only_entries_that_fail_alone(tmp_path: Path) -> None:
    # A cache by (bs, topk): in the campaign's warm worker every smaller case of a shape
    # seen before "fails"; on the old code the shrinker kept such a case (saved, and passing
    # on replay). Now every entry fails on replay, or says it needs the calls before it.
    corpus, report = tmp_path / "corpus", tmp_path / "report.json"
    spec = "tests/candidates/hostile.py:caches_by_shape"
    r = _fuzz(
        tmp_path, "run", "--candidate", spec, "--max-cases", 60, "--bulk", 0,
        "--corpus", corpus, "--report", report,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    failures = json.loads(report.read_text())["failures"]
    alone = [f for f in failures if f["reproduced_alone"] is not False]
    assert alone and any(f["shrunk"] for f in alone), failures
    for f in failures:  # saved with the calls it needs before it, if some were found
        replay = _fuzz(tmp_path, "replay", "--candidate", spec, f["file"])
        fails_again = replay.returncode == 1 and "(1 failing)" in replay.stdout
        replayable = f in alone or bool(f["reproduced_after_calls"])
        assert fails_again == replayable, (f, replay.stdout)

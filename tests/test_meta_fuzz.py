"""`--op metadata`: the fuzzer as judge of contract-v2 kernels. CLI campaigns find planted
bugs (tests/meta_mutants.py) through their named family cases, entries replay (a stale
value as two calls), `show` prints Python that runs; in-process: the judge names buffer and
cell, the strict decoder, envelopes, and canonical shrinking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz.meta_entry  # noqa: F401  (registers the metadata decoder)
from fuzz import corpus, entry
from fuzz.envelope import Envelope
from fuzz.harness import Tally
from fuzz.meta_case import POISON, MetaCase
from fuzz.meta_entry import MAX_CALLS
from fuzz.meta_envelope import valid, violations
from fuzz.meta_harness import run_meta
from fuzz.meta_judge import judge_sequence, plan
from fuzz.meta_shrink import shrink
from fuzz.meta_strategies import meta_cases, named_cases, named_meta_cases
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = "tests/meta_mutants.py"
SPEC_ROOT = f"{ROOT / MUTANTS}"  # replays run in this process, whatever its directory


def fuzz(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hunt(tmp_path: Path, mutant: str) -> dict:
    """A campaign against one mutant (the CLI, as a user runs it); its one corpus entry,
    checked to replay (in this process: the command, without a second torch import)."""
    spec = f"{MUTANTS}:{mutant}"
    run = fuzz(
        "run", "--op", "metadata", "--candidate", spec, "--seconds", "60",
        "--max-failures", "1", "--corpus", str(tmp_path), "--shrink-seconds", "5",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    (path,) = sorted(tmp_path.glob("metadata-*.json"))
    entry = json.loads(path.read_text())
    assert entry["op"] == "metadata" and entry["signature"].startswith("metadata:")
    assert "--op metadata" in entry["replay"]
    again = fuzz_here("replay", path, "--op", "metadata", "--candidate", f"{SPEC_ROOT}:{mutant}")
    assert again.returncode == 1, again.stdout + again.stderr
    builtins = fuzz_here("replay", path, "--op", "metadata")
    assert builtins.returncode == 0, builtins.stdout + builtins.stderr
    return {"path": path, "entry": entry, "run": run.stdout, "replay": again.stdout}


@pytest.mark.slow
def test_stale_value_found_named_and_replayed_as_two_calls(tmp_path: Path) -> None:
    got = hunt(tmp_path, "stale_page_table")
    entry = got["entry"]
    assert entry["signature"] == "metadata:meta_mutants:stale_page_table:stale:page_table_1"
    assert "left from call 1" in entry["cause"] and "(call 2)" in entry["cause"]
    assert len(entry["case"]["calls"]) == 2  # the shrunk case still needs both calls
    assert "stale:page_table_1" in got["replay"]


@pytest.mark.slow
def test_write_outside_region_named_by_buffer_and_cell(tmp_path: Path) -> None:
    entry = hunt(tmp_path, "writes_row_past_t")["entry"]
    assert entry["signature"].endswith(":outside-region:page_table_1")
    assert f"(poison {POISON} became 0); region is [0, " in entry["cause"]
    case = MetaCase.from_json(entry["case"])
    assert len(case.calls) == 1 and case.calls[0].bs == 1  # shrunk to one request


@pytest.mark.slow
def test_bs0_raise_found_with_its_cause(tmp_path: Path) -> None:
    entry = hunt(tmp_path, "bs0_crash")["entry"]
    assert entry["signature"].endswith(":raised RuntimeError")
    assert entry["cause"].startswith("RuntimeError: ")
    assert MetaCase.from_json(entry["case"]).bs == 0


@pytest.mark.slow
def test_correct_candidate_gives_no_alarm_and_show_runs(tmp_path: Path) -> None:
    run = fuzz(
        "run", "--op", "metadata", "--candidate", f"{MUTANTS}:correct", "--max-cases", "40",
        "--corpus", str(tmp_path / "c"),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failure(s)" in run.stdout and not list((tmp_path / "c").glob("*.json"))
    path = hunt(tmp_path / "d", "var_ignores_zero_extends")["path"]
    shown = fuzz_here("show", path, "--op", "metadata")
    assert shown.returncode == 0
    script = shown.stdout.split("# reproduce in Python:\n", 1)[1]
    ran = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "PASS", ran.stdout + ran.stderr
    listed = fuzz_here("list", path.parent, "--op", "metadata")
    assert listed.returncode == 0 and "var_ignores_zero_extends" in listed.stdout


# --- in-process -----------------------------------------------------------------------------


def test_named_cases_are_valid_and_builtins_pass_them() -> None:
    named = named_meta_cases()
    assert len(named) >= 30 and all(valid(c) for c in named.values())
    small = [c for c in named.values() if c.bs < 100]
    found = run_meta(small, ["reference", "torch"], [], "cpu", Tally())
    found += run_meta(small[:6], ["triton"], [], "cpu", Tally())
    assert not found, [f.mismatch.cause for f in found]


def test_judge_names_a_write_outside_a_vector_region() -> None:
    case = named_meta_cases()["decode, pool indices int64 stride 3 offset 2"]
    p = plan(case)
    out = case.buffers("cpu")
    import nsa_meta
    from fuzz.meta_harness import storage_arrays

    call = case.calls[0]
    args = call.tensors("cpu")
    nsa_meta.metadata(
        call.mode, args["seq_lens"], args["req_pool_indices"], args["req_to_token"],
        topk=call.topk, width=case.width, next_n=call.next_n, backend="torch", out=out,
    )  # fmt: skip
    assert judge_sequence("x", p, [storage_arrays(out, args)]) is None
    out.cu_seqlens_k[call.bs + 1] = 0  # one past the region
    found = judge_sequence("x", p, [storage_arrays(out, args)])
    assert found.signature == "metadata:x:outside-region:cu_seqlens_k"
    assert found.cause == f"cu_seqlens_k[4] written (poison {POISON} became 0); region is [0, 4)"
    args["seq_lens"].add_(1)  # an input written during the call
    out.cu_seqlens_k[call.bs + 1] = POISON
    found = judge_sequence("x", p, [storage_arrays(out, args)])
    assert found.signature == "metadata:x:input-modified:seq_lens"


def _entry(case: dict) -> bytes:
    return json.dumps(
        {"format": 2, "op": "metadata", "signature": "metadata:torch:values:x", "impl": "torch",
         "case": case}
    ).encode()  # fmt: skip


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda c: c["calls"][0].update(seq_lens="123"), "seq_lens"),
        (lambda c: c.update(width=True), "width"),
        (lambda c: c.update(width=1.0), "width"),
        (lambda c: c["calls"][0]["seq_layout"].update(stride=-1), "stride"),
        (lambda c: c["calls"][0].update(mode="prefill"), "mode"),
        (lambda c: c.update(extra=1), "extra"),
        (lambda c: c.update(calls=c["calls"] * (MAX_CALLS + 1)), "calls"),
        (lambda c: c["calls"][0].update(req_pool_indices=[0, 99, 1]), "req_pool_indices"),
        (lambda c: c["calls"][0]["req_to_token"].update(pool=2**30), "max-total"),
        (lambda c: c["calls"][0].update(seq_lens=[2**31 - 1, 2**31 - 1, 1]), "int32"),
    ],
)
def test_strict_decoder_names_the_bad_key(change, reason: str) -> None:
    case = named_meta_cases()["draft_extend N=4"].to_json()
    assert entry.decode(_entry(case)).case == MetaCase.from_json(case)
    change(case)
    with pytest.raises(corpus.CorpusError, match=reason):
        entry.decode(_entry(case))


ENVELOPE = Envelope.parse(
    {"modes": ["decode", "draft_extend"], "page_sizes": [1, 64], "next_n": [1, 4],
     "max_width": 8, "dtypes": ["int32"], "contiguous": True, "max_bs": 40},
    source="test",
)  # fmt: skip


def test_named_cases_move_inside_an_envelope() -> None:
    inside = named_cases(ENVELOPE)
    assert len(inside) >= 12
    for name, case in inside.items():
        assert not violations(ENVELOPE, case), name


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(meta_cases(ENVELOPE))
def test_draws_stay_inside_the_envelope(case: MetaCase) -> None:
    assert valid(case) and not violations(ENVELOPE, case)


def test_shrink_needs_bs_129_and_is_canonical() -> None:
    big = named_meta_cases()["bs 1025"]
    big = replace(big, calls=(replace(big.calls[0], next_n=3, topk=77),), vec_stride=2)
    small = shrink(big, lambda c: any(call.bs >= 129 for call in c.calls), 30)
    (call,) = small.calls
    assert call.bs == 129 and set(call.seq_lens) == {0} and set(call.req_pool_indices) == {0}
    assert (small.width, small.page_size, small.vec_stride, call.next_n, call.topk) == (
        1, 1, 1, 1, 0,
    )  # fmt: skip


def test_shrink_keeps_two_calls_when_the_failure_needs_them() -> None:
    case = named_meta_cases()["back-to-back calls, larger bs"]
    small = shrink(case, lambda c: len(c.calls) >= 2, 10)
    assert len(small.calls) == 2 and all(c.bs == 0 for c in small.calls)

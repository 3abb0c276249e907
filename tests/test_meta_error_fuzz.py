"""`--op metadata --check-errors`: contract v2's bad inputs (fuzz/meta_contract.py) put to
candidates. Short CLI campaigns find planted error-contract bugs (tests/meta_error_mutants.py)
through the named bad case of their kind, entries replay and `show` runs; in-process: the
built-ins pass every kind, drawn bad calls are well formed, the decoder is strict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz.meta_entry  # noqa: F401  (registers the metadata decoder)
from fuzz import corpus, entry
from fuzz.envelope import Envelope
from fuzz.harness import Tally
from fuzz.meta_contract import META_FAULTS, fault_problem, named_bad_cases
from fuzz.meta_envelope import violations
from fuzz.meta_harness import run_meta
from fuzz.meta_strategies import meta_bad_cases
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = "tests/meta_error_mutants.py"


def fuzz(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fuzz", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def hunt(tmp_path: Path, mutant: str, *, replay: bool = False) -> dict:
    """A short campaign with --check-errors; its entry (with `replay`: checked to replay, and
    not to fail the built-ins)."""
    spec = f"{MUTANTS}:{mutant}"
    run = fuzz(
        "run", "--op", "metadata", "--check-errors", "--candidate", spec, "--seconds", "30",
        "--max-failures", "1", "--corpus", str(tmp_path), "--shrink-seconds", "1",
        "--fault-shrink-seconds", "1",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    paths = sorted(tmp_path.glob("metadata-*.json"))
    assert paths, run.stdout
    path = paths[0]
    data = json.loads(path.read_text())
    assert data["op"] == "metadata" and data["fault"]["kind"] in META_FAULTS
    if not replay:
        return {"path": path, "entry": data, "run": run.stdout}
    # The replays run in this process (the same command, no second torch import).
    again = fuzz_here(
        "replay", path, "--op", "metadata", "--candidate", f"{ROOT / MUTANTS}:{mutant}"
    )
    assert again.returncode == 1 and data["signature"] in again.stdout + json.dumps(data)
    builtins = fuzz_here("replay", path, "--op", "metadata")
    assert builtins.returncode == 0, builtins.stdout + builtins.stderr
    return {"path": path, "entry": data, "run": run.stdout}


@pytest.mark.slow
def test_wrong_exception_type_for_a_bool_topk(tmp_path: Path) -> None:
    got = hunt(tmp_path, "topk_bool_value_error", replay=True)
    sig = got["entry"]["signature"]
    want = "metadata:meta_error_mutants:topk_bool_value_error:error topk_not_int: wrong exception"
    assert sig == want, sig
    assert "expected TypeError" in got["entry"]["cause"]


@pytest.mark.slow
def test_writes_before_raising_named_by_buffer(tmp_path: Path) -> None:
    got = hunt(tmp_path, "writes_before_raising")
    assert got["entry"]["signature"].endswith(": wrote before raising:cu_seqlens_k")
    assert "cu_seqlens_k storage element" in got["entry"]["cause"]


@pytest.mark.slow
def test_negative_pool_index_not_rejected(tmp_path: Path) -> None:
    got = hunt(tmp_path, "negative_pool_index_ignored")
    assert got["entry"]["signature"].endswith(":error pool_index_negative: no exception")
    shown = fuzz_here("show", got["path"], "--op", "metadata")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    script = shown.stdout.split("# reproduce in Python:\n", 1)[1]
    ran = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # the shipped entry stands in for the candidate: it raises as due
    assert ran.returncode == 0 and ran.stdout.strip() == "PASS", ran.stdout + ran.stderr


@pytest.mark.slow
def test_a_table_on_another_device_must_be_rejected(tmp_path: Path) -> None:
    got = hunt(tmp_path, "table_device_ignored")
    assert got["entry"]["signature"].endswith(":error table_other_device: no exception")
    assert got["entry"]["cause"].startswith("returned instead of raising ValueError")


@pytest.mark.slow
def test_correct_candidate_gives_no_alarm_with_check_errors(tmp_path: Path) -> None:
    run = fuzz(
        "run", "--op", "metadata", "--check-errors", "--candidate", f"{MUTANTS}:correct",
        "--max-cases", "40", "--corpus", str(tmp_path),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failure(s)" in run.stdout and not list(tmp_path.glob("*.json"))
    assert "not implemented" not in run.stderr


# --- in-process -----------------------------------------------------------------------------


def test_every_kind_has_a_named_bad_case_the_builtins_pass() -> None:
    named = named_bad_cases()
    assert {f.kind for _, f in named.values()} == set(META_FAULTS)
    found = run_meta([], ["reference", "torch", "triton"], [], "cpu", Tally(), bad=named.values())
    assert not found, [f.mismatch.signature for f in found]


ENVELOPE = Envelope.parse(
    {"modes": ["decode", "draft_extend_var"], "page_sizes": [1, 2], "max_width": 6,
     "dtypes": ["int32"], "contiguous": True, "max_bs": 8},
    source="test",
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(meta_bad_cases(ENVELOPE))
def test_drawn_bad_calls_break_a_valid_call_inside_the_envelope(bad) -> None:
    case, fault = bad
    assert fault_problem(case, fault) is None and not violations(ENVELOPE, case)
    found = run_meta([], ["torch"], [], "cpu", Tally(), bad=[bad])
    assert not found, found[0].mismatch.cause


def _entry(case: dict, fault: dict) -> bytes:
    return json.dumps(
        {"format": 2, "op": "metadata", "signature": "metadata:torch:error x: no exception",
         "impl": "torch", "case": case, "fault": fault}
    ).encode()  # fmt: skip


@pytest.mark.parametrize(
    "fault, reason",
    [
        ({"kind": "topk_is_weird"}, "unknown kind"),
        ({"kind": "topk_not_int", "value": "complex"}, "makes no sense"),
        ({"kind": "pool_index_negative", "value": 3}, "makes no sense"),
        ({"kind": "pool_index_negative", "value": "-1"}, "makes no sense"),
        ({"kind": "out_dtype", "value": "real_page_table"}, "needs a buffer"),
        ({"kind": "kv_too_large", "value": 5}, "value below next_n"),
        ({"kind": "topk_not_int", "value": "bool", "index": -1}, "index"),
        ({"kind": "topk_not_int", "value": "bool", "extra": 1}, "extra"),
    ],
)
def test_strict_decoder_rejects_bad_faults(fault: dict, reason: str) -> None:
    case, good = named_bad_cases()["error: topk_not_int"]
    assert entry.decode(_entry(case.to_json(), good.to_json())).fault == good
    # target_verify, next_n 3, page size 1 (no real_page_table)
    base = next(c for c, _ in named_bad_cases().values() if c.calls[0].mode == "target_verify")
    with pytest.raises(corpus.CorpusError, match=reason):
        entry.decode(_entry(base.to_json(), fault))


def test_a_bad_calls_storages_are_those_on_its_own_device() -> None:
    """`*_other_device` bad calls move the faulted tensor off the call's device (`meta` for a
    CPU call, the CPU for a CUDA one): tensors_of names only the call's own device's, so the
    parent (a CPU build) and a CUDA worker name the same storages (stop 22: every such bad
    call was a protocol failure on CUDA, a false alarm; tests/test_metadata_gpu.py checks
    it there)."""
    from fuzz.meta_contract import faulty_call, named_bad_cases, tensors_of

    case, fault = named_bad_cases()["error: seq_other_device"]
    kw = faulty_call(case, fault, "cpu")
    assert kw["seq_lens"].device.type == "meta"
    assert "seq_lens" not in [n for n, _ in tensors_of(kw, "cpu")]
    assert [n for n, _ in tensors_of(kw, "meta")] == ["seq_lens"]

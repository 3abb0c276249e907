"""Verdicts on CUDA that the CPU runs cannot show: a correct candidate gives no alarm there,
the error contract included (stop 22: every `*_other_device` bad call was a protocol
failure on CUDA, where the faulted tensor lands on the CPU, not on `meta`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

ROOT = Path(__file__).resolve().parents[1]


def test_other_device_bad_calls_name_the_storages_the_parent_expects() -> None:
    from fuzz.meta_contract import faulty_call, named_bad_cases, tensors_of
    from fuzz.meta_judge import fault_storages

    kinds = set()
    for case, fault in named_bad_cases().values():
        if fault.kind.endswith("other_device"):
            kw = faulty_call(case, fault, "cuda")
            named = [n for n, _ in tensors_of(kw, "cuda")]
            assert named == list(fault_storages(case, fault)), fault
            kinds.add(fault.kind)
    assert len(kinds) == 5, kinds


def test_a_correct_candidate_on_cuda_with_check_errors_gives_no_alarm(tmp_path: Path) -> None:
    cand = f"{ROOT / 'tests' / 'meta_error_mutants.py'}:correct"
    r = subprocess.run(
        [sys.executable, "-m", "fuzz", "run", "--op", "metadata", "--device", "cuda",
         "--check-errors", "--candidate", cand, "--max-cases", "40", "--seed", "0",
         "--corpus", str(tmp_path / "corpus")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "FAIL" not in r.stdout and "0 failure(s)" in r.stdout, r.stdout[-3000:]

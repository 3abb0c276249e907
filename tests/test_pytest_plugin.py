"""The pytest plugin, as a user's CI runs it: from a directory with no tests of its own,
`pytest --nsa-candidate FILE:fn` fails on a planted bug naming the family, passes on a
correct kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "mutants.py"


def user_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # Loaded by name, autoload off: the same whether or not this checkout is pip-installed
    # (its entry point is checked below).
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NSA_HYPOTHESIS_PROFILE": "ci",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "fuzz.pytest_plugin",
            "-q",
            "-rfs",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_a_planted_bug_fails_naming_its_family(tmp_path: Path) -> None:
    r = user_pytest(tmp_path, "--nsa-candidate", f"{MUTANTS}:all_zero_extends_wrong")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "family: all zero extends" in out, out


@pytest.mark.slow
def test_a_correct_kernel_passes(tmp_path: Path) -> None:
    r = user_pytest(tmp_path, "--nsa-candidate", f"{MUTANTS}:correct")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "passed" in out and "failed" not in out, out


def test_the_plugin_is_inert_without_a_candidate(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    r = user_pytest(tmp_path)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr


def test_the_package_declares_the_plugin_entry_point() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["pytest11"] == {"nsa_meta_fuzz": "fuzz.pytest_plugin"}

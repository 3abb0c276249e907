"""The pytest plugin, as a user's CI runs it: from a directory with no tests of its own,
`pytest --nsa-candidate FILE:fn` fails on a planted bug naming the family, passes on a
correct kernel."""

from __future__ import annotations

import json
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
    # The family item is what is checked; the property (which fails too, and shrinks) is not.
    spec = f"{MUTANTS}:all_zero_extends_wrong"
    r = user_pytest(tmp_path, "--nsa-candidate", spec, "-k", "not property")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "FAILED ::nsa[mutants:all_zero_extends_wrong][family: all zero extends]" in out, out


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


# --- --nsa-op metadata (contract v2) ----------------------------------------------------------

META_MUTANTS = ROOT / "tests" / "meta_mutants.py"
META_ERRORS = ROOT / "tests" / "meta_error_mutants.py"


def meta_corpus(tmp_path: Path) -> Path:
    """A corpus dir: one metadata entry (the mixed-zero-extends family) and one v1 seed."""
    from fuzz.meta_strategies import named_meta_cases
    from fuzz.seeds import seeds_dir

    d = tmp_path / "corpus"
    d.mkdir()
    case = named_meta_cases()["mixed zero extends"].to_json()
    entry = {"format": 2, "op": "metadata", "signature": "metadata:torch:values:page_table_1",
             "impl": "torch", "case": case}  # fmt: skip
    (d / "metadata-mixed.json").write_text(json.dumps(entry))
    (d / "seed-empty-batch.json").write_text((seeds_dir() / "seed-empty-batch.json").read_text())
    return d


@pytest.mark.slow
def test_metadata_planted_bug_fails_naming_its_family_and_corpus_file(tmp_path: Path) -> None:
    corpus = meta_corpus(tmp_path)
    spec = f"{META_MUTANTS}:var_ignores_zero_extends"
    # The family and corpus items are what is checked; the Hypothesis properties (which
    # fail too, and shrink for seconds) are deselected.
    r = user_pytest(tmp_path, "--nsa-op", "metadata", "--nsa-candidate", spec,
                    "--nsa-corpus", str(corpus), "-k", "not property")  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "FAILED ::nsa[meta_mutants:var_ignores_zero_extends][family: mixed zero extends]" in out
    assert "[corpus: metadata-mixed.json]" in out and "values:page_table_1" in out, out
    assert "seed-empty-batch.json: a 'expand' entry; this run is --nsa-op metadata" in out
    assert "family: decode, pool indices int64" not in out.split("short test summary")[1]


@pytest.mark.slow
def test_metadata_error_contract_item_names_the_kind(tmp_path: Path) -> None:
    spec = f"{META_ERRORS}:topk_bool_value_error"
    # Only the error items (every id holds "error": the module's name; so families and
    # properties are deselected by name).
    r = user_pytest(tmp_path, "--nsa-op", "metadata", "--nsa-check-errors",
                    "--nsa-candidate", spec, "-k", "not family and not property")  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "FAILED ::nsa[meta_error_mutants:topk_bool_value_error][error: topk_not_int]" in out
    assert "error topk_not_int: wrong exception" in out and "expected TypeError" in out, out
    assert "[error: topk_out_of_range]" not in out  # the other kinds pass


@pytest.mark.slow
def test_metadata_correct_kernel_passes_with_the_error_contract(tmp_path: Path) -> None:
    corpus = meta_corpus(tmp_path)
    r = user_pytest(tmp_path, "--nsa-op", "metadata", "--nsa-check-errors", "--nsa-candidate",
                    f"{META_ERRORS}:correct", "--nsa-corpus", str(corpus))  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "failed" not in out and "1 skipped" in out, out  # the v1 seed, with its reason
    from fuzz.meta_contract import META_FAULTS
    from fuzz.meta_strategies import named_meta_cases

    # every family, every error kind, two properties, the metadata corpus entry
    assert f"{len(named_meta_cases()) + len(META_FAULTS) + 3} passed" in out, out


@pytest.mark.slow
def test_an_expand_run_skips_metadata_entries_with_a_reason(tmp_path: Path) -> None:
    corpus = meta_corpus(tmp_path)
    r = user_pytest(tmp_path, "--nsa-candidate", f"{MUTANTS}:correct", "--nsa-corpus",
                    str(corpus), "-k", "corpus")  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "1 passed, 1 skipped" in out, out
    assert "metadata-mixed.json: a 'metadata' entry; this run is --nsa-op expand" in out, out


@pytest.mark.slow
def test_a_metadata_run_on_the_shipped_seeds_collects_only_seeds_of_its_op(tmp_path: Path) -> None:
    # The shipped seeds are v1 (seed-*) and v2 (seed-meta-*) inputs: each run collects its
    # own op's only, and piles up no skips.
    r = user_pytest(tmp_path, "--nsa-op", "metadata", "--nsa-candidate",
                    f"{META_MUTANTS}:correct", "--collect-only")  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "[family: " in out and "[corpus: seed-meta-bs0-decode.json]" in out, out
    assert "[corpus: seed-empty-batch.json]" not in out, out
    r = user_pytest(tmp_path, "--nsa-candidate", f"{MUTANTS}:correct", "--collect-only")
    out = r.stdout + r.stderr
    assert "[corpus: seed-empty-batch.json]" in out and "[corpus: seed-meta-" not in out, out

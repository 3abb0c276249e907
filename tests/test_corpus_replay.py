"""Every file in corpus/ replayed through every built-in; and fuzz/corpus.py's own promises.

A saved failure fails CI until it is fixed, then stays as a regression test. Corpus
entries are content-named, written atomically, and a corrupt one is named, not fatal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from findings import assert_no_findings
from helpers import DEVICE

from fuzz import corpus
from fuzz.case import Case, Fault, Layout
from fuzz.compare import Mismatch
from fuzz.harness import Tally, run_example
from fuzz.registry import IMPLEMENTATIONS

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ENTRIES = [pytest.param(p, id=p.name) for p in corpus.entry_files([CORPUS])] or [
    pytest.param(None, id="no-entries", marks=pytest.mark.skip(reason="corpus/ is empty"))
]


@pytest.mark.parametrize("path", ENTRIES)
def test_corpus_entry_passes_every_builtin(path: Path) -> None:
    entry = corpus.load(path)  # a corrupt file fails here, with its name in the message
    cases, bad = ([], [(entry.case, entry.fault)]) if entry.fault else ([entry.case], [])
    found = run_example(
        cases,
        bad,
        list(IMPLEMENTATIONS),
        [],
        str(DEVICE),
        Tally(),
        triton_batched=False,
        check_errors=True,
    )
    assert_no_findings(found, device=str(DEVICE))


# --- fuzz/corpus.py --------------------------------------------------------------------------

CASE = Case((3, 0, 2), (10, 4, 1), 9, Layout("int64", 2, 1), Layout("int32"))
MISMATCH = Mismatch("torch", "values", "seqlens_expanded", 1, 9, 8)


def save(directory: Path, mismatch: Mismatch = MISMATCH, case: Case = CASE, fault=None) -> Path:
    return corpus.save(directory, mismatch, case, fault, device="cpu", seed=7, spec=None)


def test_same_signature_same_name(tmp_path: Path) -> None:
    first = save(tmp_path / "a")
    second = save(tmp_path / "b")
    assert first.name == second.name
    assert save(tmp_path / "a") == first
    assert [p.name for p in (tmp_path / "a").iterdir()] == [first.name]


def test_other_signature_other_file(tmp_path: Path) -> None:
    other = Mismatch("triton", "values", "seqlens_expanded", 1, 9, 8)
    assert save(tmp_path, mismatch=other).name != save(tmp_path).name
    assert len(corpus.entry_files([tmp_path])) == 2


def test_entry_round_trips(tmp_path: Path) -> None:
    fault = Fault("extend_dtype", "float32", 0)
    entry = corpus.load(save(tmp_path, fault=fault))
    assert (entry.case, entry.fault, entry.signature) == (CASE, fault, MISMATCH.signature)
    assert (entry.impl, entry.op, entry.is_seed, entry.note) == ("torch", "expand", False, None)
    assert entry.cause == MISMATCH.describe()
    assert entry.data["replay"] == f"python -m fuzz replay {entry.path}"
    assert entry.data["format"] == corpus.FORMAT


def test_write_leaves_no_temp_files(tmp_path: Path) -> None:
    save(tmp_path)
    save(tmp_path, mismatch=Mismatch("triton", "values", "seqlens_expanded", 1, 9, 8))
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus, "_write_all", disk_full)
    with pytest.raises(corpus.CorpusWriteError, match="No space left on device") as caught:
        save(tmp_path)
    assert caught.value.path.parent == tmp_path
    assert caught.value.entry["case"] == CASE.to_json()  # what to print when it is lost
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    ['{"signature": "torch:values", "case": ', "[1, 2, 3]", '{"signature": "x"}', ""],
    ids=["truncated", "not-an-object", "no-case", "empty"],
)
def test_corrupt_file_is_named_and_skipped(tmp_path: Path, content: str) -> None:
    good = save(tmp_path)
    bad = tmp_path / "0-corrupt.json"
    bad.write_text(content)
    with pytest.raises(corpus.CorpusError, match="0-corrupt.json"):
        corpus.load(bad)
    entries, errors = corpus.load_all([tmp_path])
    assert [e.path for e in entries] == [good]
    assert len(errors) == 1 and "0-corrupt.json" in str(errors[0])


def test_entry_files_reads_json_only_in_a_stable_order(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not an entry")
    (tmp_path / "report.json").write_text('{"cases": 3, "failures": []}')
    impls = ("torch", "triton", "legacy")
    names = [save(tmp_path, mismatch=Mismatch(i, "values", "seqlens_expanded")).name for i in impls]
    assert [p.name for p in corpus.entry_files([tmp_path])] == sorted(names)
    single = tmp_path / names[0]
    assert corpus.entry_files([single]) == [single]
    assert json.loads(single.read_text())["format"] == corpus.FORMAT

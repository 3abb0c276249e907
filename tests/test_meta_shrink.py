"""A stale failure shrunk to its essence: when the failing call, run alone, leaves the same
cell unwritten (the poison, a `values` failure), the lone call is the repro; the book files
it under that signature with its own cause, merges it with a finding already there, and its
corpus entry replays as that signature (fuzz/meta_shrink.py, fuzz/book.py, meta_judge)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from meta_fuzz_helpers import judged_here

import fuzz.meta_entry  # noqa: F401  (registers the metadata decoder)
from fuzz import corpus
from fuzz.book import Book
from fuzz.candidates import candidate_name
from fuzz.harness import Finding
from fuzz.meta_case import POISON, MetaCase, Table
from fuzz.meta_judge import MetaMismatch, same_missed_write, values_twin
from fuzz.meta_shrink import shrink
from fuzz.meta_strategies import named_meta_cases
from fuzz.report import Report
from fuzz.summary import print_summary
from tests.candidates import unwritten_tail
from tests.cli_here import fuzz_here

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"{ROOT / 'tests/candidates/unwritten_tail.py'}:skips_bs3"
IMPL = candidate_name(SPEC)
STALE = f"metadata:{IMPL}:stale:cache_seqlens"
VALUES = f"metadata:{IMPL}:values:cache_seqlens"
# Two calls on one set of buffers: bs 1, then bs 4 (whose cache_seqlens is never written).
TWO = replace(
    named_meta_cases()["back-to-back calls, larger bs"],
    calls=named_meta_cases()["back-to-back calls, larger bs"].calls[:2],
)
LONE = replace(TWO, calls=TWO.calls[1:])


def judged(fn, case: MetaCase) -> MetaMismatch | None:
    return judged_here(fn, case, IMPL)


class HereBook(Book):
    """The campaign's book, its runs made in this process and its entries written to a real
    corpus directory."""

    op = "metadata"

    def __init__(self, corpus_dir: Path, fn=unwritten_tail.skips_bs3) -> None:
        options = SimpleNamespace(shrink_seconds=30.0, fault_shrink_seconds=30.0,
                                  corpus_dir=corpus_dir, device="cpu", seed=0)  # fmt: skip
        campaign = SimpleNamespace(o=options, deadline=None, done=lambda: False,
                                   interrupted=False, envelope=None, errors=[], workers=[],
                                   spec_of=lambda impl: SPEC)  # fmt: skip
        super().__init__(campaign)
        self.fn = fn

    def _reproduce(self, case, fault, sig, *, confirm):
        m = judged(self.fn, case)
        return Finding(m, case) if m is not None and m.signature == sig else None

    def shrink_case(self, failure, fails, budget):
        return shrink(failure.case, fails, budget)


def found(case: MetaCase, fn=unwritten_tail.skips_bs3) -> Finding:
    m = judged(fn, case)
    assert m is not None
    return Finding(m, case)


def entries(d: Path) -> list:
    got, errors = corpus.load_all([d])
    assert not errors
    return got


def test_the_cases_fail_as_this_file_says() -> None:
    assert found(TWO).mismatch.signature == STALE
    assert found(LONE).mismatch.signature == VALUES and found(LONE).mismatch.got == POISON


def test_a_stale_failure_shrinks_to_its_lone_call_filed_as_values(tmp_path: Path) -> None:
    """Dropping the earlier call leaves the same cell holding the poison: one call, the
    values signature, its own cause ("never written"), one entry saying the same."""
    book = HereBook(tmp_path)
    book.record(found(TWO), found_by="hypothesis")
    assert list(book.failures) == [VALUES] and STALE in book and len(book) == 1
    f = book.failures[VALUES]
    assert len(f.case.calls) == 1 and f.shrunk and f.found_as == STALE
    assert f.signature == f.mismatch.signature == VALUES
    assert "never written" in f.mismatch.cause and "left from call" not in f.mismatch.cause
    got = f.to_json()
    assert got["signature"] == VALUES and got["cause"] == f.mismatch.cause
    assert got["found_as"] == STALE and got["original_case"] == TWO.describe()
    (e,) = entries(tmp_path)  # the entry saved when it was found as stale is gone
    assert e.path == f.path and e.signature == VALUES and e.case == f.case
    assert e.data["cause"] == f.mismatch.cause and e.original_case == TWO


def test_the_summary_names_the_signature_a_refiled_failure_was_found_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = HereBook(tmp_path)
    book.record(found(TWO), found_by="hypothesis")
    print_summary(Report(failures=[book.failures[VALUES].to_json()]))
    out = capsys.readouterr().out
    assert f"FAIL {VALUES}" in out and f"found with signature: {STALE}" in out, out


@pytest.mark.parametrize("first", ["values", "stale"])
def test_a_refiled_failure_merges_with_the_finding_of_that_signature(
    tmp_path: Path, first: str
) -> None:
    """Found as values and as stale, in either order: one finding, one entry."""
    book = HereBook(tmp_path)
    finds = [found(LONE), found(TWO)] if first == "values" else [found(TWO), found(LONE)]
    for f in finds:
        book.record(f, found_by="hypothesis")
    assert list(book.failures) == [VALUES] and len(book) == 1 and STALE in book
    f = book.failures[VALUES]
    assert len(f.case.calls) == 1 and "never written" in f.mismatch.cause
    (e,) = entries(tmp_path)
    assert e.signature == VALUES and e.path == f.path and e.case == f.case


def test_a_stale_failure_found_again_is_not_shrunk_again(tmp_path: Path) -> None:
    book = HereBook(tmp_path)
    book.record(found(TWO), found_by="hypothesis")
    book._reproduce = lambda *a, **k: pytest.fail("the stale failure was run again")
    book.record(found(TWO), found_by="hypothesis")
    assert list(book.failures) == [VALUES]


def test_the_refiled_entry_replays_as_its_signature(tmp_path: Path) -> None:
    """`fuzz replay` of the saved entry, with the candidate in its own worker."""
    book = HereBook(tmp_path)
    book.record(found(TWO), found_by="hypothesis")
    (e,) = entries(tmp_path)
    run = fuzz_here("replay", e.path, "--op", "metadata", "--candidate", SPEC)
    assert run.returncode == 1, run.stdout + run.stderr
    verdict = f"metadata {IMPL}: values:cache_seqlens (cache_seqlens[0] is {POISON} (poison: never"
    assert verdict in run.stdout and "stale" not in run.stdout, run.stdout


def test_minimise_of_a_saved_stale_entry_ends_as_its_values_entry(tmp_path: Path) -> None:
    """`fuzz minimise` of a two-call stale entry (as a campaign saved it before this rule):
    the lone call, saved under the values signature; the stale entry removed."""
    stale = found(TWO)
    path = corpus.save(tmp_path, stale.mismatch, TWO, None, device="cpu", seed=0,
                       spec=SPEC, op="metadata")  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "fuzz", "minimise", str(path), "--candidate", SPEC,
         "--seconds", "30"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"signature: {STALE} -> {VALUES}" in run.stdout, run.stdout
    (e,) = entries(tmp_path)
    assert e.signature == VALUES and len(e.case.calls) == 1 and not path.exists()
    assert "never written" in e.data["cause"]


def test_a_wrong_value_on_fresh_buffers_is_not_the_missed_write(tmp_path: Path) -> None:
    """Alone, the call writes a wrong value (not the poison): another bug, maybe. The
    failure stays stale, with both calls, and so does its entry."""
    fn = unwritten_tail.skips_bs3_wrong_value
    assert found(LONE, fn).mismatch.signature == VALUES
    book = HereBook(tmp_path, fn)
    book.record(found(TWO, fn), found_by="hypothesis")
    assert list(book.failures) == [STALE]
    f = book.failures[STALE]
    assert len(f.case.calls) == 2 and "left from call 1" in f.mismatch.cause and not f.found_as
    assert {e.signature for e in entries(tmp_path)} == {STALE}


def test_a_wrong_value_that_only_looked_stale_shrinks_to_its_lone_call(tmp_path: Path) -> None:
    """Round 9's decode_s0_as_1 writes 1 for a decode request of length 0; after a call that
    left 1 in that cell, the failure reads as stale ("left from call 1"). Alone, the call
    writes the same 1: the earlier call plays no part, so one call, the values signature
    (stop 22: the shrinker kept both calls)."""
    from meta_fuzz_helpers import benchmark_module

    from fuzz.meta_strategies import _call, _case

    fn = benchmark_module("redteam9_mutants").decode_s0_as_1
    two = _case(_call("target_verify", [0], [0], N=1), _call("decode", [0], [0]), width=1)
    stale, values = (f"metadata:{IMPL}:{kind}:seqlens_expanded" for kind in ("stale", "values"))
    assert found(two, fn).mismatch.signature == stale
    book = HereBook(tmp_path, fn)
    book.record(found(two, fn), found_by="hypothesis")
    assert list(book.failures) == [values]
    f = book.failures[values]
    assert len(f.case.calls) == 1 and f.case.calls[0].mode == "decode" and f.found_as == stale
    assert "is 1, expected 0" in f.mismatch.cause and "left from call" not in f.mismatch.cause


def test_same_missed_write_needs_the_buffer_the_cell_and_the_poison() -> None:
    was = found(TWO).mismatch
    now = found(LONE).mismatch
    assert same_missed_write(TWO, was, LONE, now)
    assert not same_missed_write(TWO, was, LONE, replace(now, got=12345))
    # Alone, the same wrong value the stale cell held: written by the call itself.
    assert same_missed_write(TWO, replace(was, got=12345), LONE, replace(now, got=12345))
    assert not same_missed_write(TWO, was, LONE, replace(now, output="cu_seqlens_k"))
    assert not same_missed_write(TWO, was, LONE, replace(now, index=1))
    assert not same_missed_write(TWO, was, LONE, replace(now, impl="other:fn"))
    assert not same_missed_write(TWO, now, LONE, now)  # a values failure is not stale
    # The same cell in another layout (offset 3, stride 2): storage element 3, cell [0].
    moved = replace(LONE, offset=3, vec_stride=2)
    assert same_missed_write(TWO, was, moved, replace(now, index=3))
    assert not same_missed_write(TWO, was, moved, replace(now, index=0))  # not in the view


def test_values_twin_names_the_same_buffer_of_stale_signatures_only() -> None:
    assert values_twin(STALE) == VALUES
    assert values_twin(VALUES) is None
    assert values_twin("metadata:a:stale:b:stale:page_table_1") == (
        "metadata:a:stale:b:values:page_table_1"
    )
    assert values_twin("metadata:x:stale:not_a_buffer") is None
    assert values_twin("x:stale:cache_seqlens") is None  # not a metadata signature


def test_a_plain_predicate_shrinks_as_before() -> None:
    """No probe (minimise, tests): the signature is fails's own business; two calls kept."""
    small = shrink(
        TWO, lambda c: getattr(judged(unwritten_tail.skips_bs3, c), "signature", 0) == STALE, 5
    )
    assert len(small.calls) == 2 and small != TWO


def _agreeing_calls_fail(c: MetaCase) -> bool:
    """A cache keyed on the lengths that ignores top-k: two calls with the same lengths and
    pool rows, at least one row, and another top-k (the stale-topk family)."""
    if len(c.calls) != 2:
        return False
    a, b = c.calls
    same = (a.seq_lens, a.extend_seq_lens, a.req_pool_indices, a.next_n) == (
        b.seq_lens, b.extend_seq_lens, b.req_pool_indices, b.next_n,
    )  # fmt: skip
    return same and a.topk != b.topk and sum(a.extend_seq_lens or ()) > 0


def test_calls_that_must_agree_shrink_together() -> None:
    """A failure that needs both calls to keep the same batch shrinks them together: one
    request, the smallest values and next_n 1 in both calls. Shrinking one call at a time
    cannot move (each step breaks the agreement), and left this at bs 3, next_n 3."""
    base = named_meta_cases()[
        "draft_extend_var: the same extends again with a new topk, refilled in place"
    ]
    call = replace(base.calls[0], seq_lens=(6, 3, 9), extend_seq_lens=(2, 0, 3),
                   req_pool_indices=(2, 0, 1), next_n=3, topk=8)  # fmt: skip
    case = replace(base, calls=(call, replace(call, topk=5)))
    assert _agreeing_calls_fail(case)
    got = shrink(case, _agreeing_calls_fail, 30.0)
    assert _agreeing_calls_fail(got)
    for c in got.calls:
        assert (c.bs, c.seq_lens, c.extend_seq_lens, c.req_pool_indices, c.next_n) == (
            1, (0,), (1,), (0,), 1,
        ), got  # fmt: skip


def _same_sums_fail(c: MetaCase) -> bool:
    """A cache keyed on (bs, sum of the lengths): two calls of one bs whose lengths differ but
    sum the same (round 7's cache_keyed_on_sums)."""
    if len(c.calls) != 2:
        return False
    a, b = c.calls
    return a.bs == b.bs and a.seq_lens != b.seq_lens and sum(a.seq_lens) == sum(b.seq_lens)


def test_requests_between_those_a_failure_needs_are_dropped() -> None:
    """The two requests that differ sit at both ends of a batch of 64: no prefix or window
    drops the 62 between them (each keeps one end only); dropping runs of requests from both
    calls at once does."""
    base = named_meta_cases()[
        "draft_extend_var: the same extends again with a new topk, refilled in place"
    ]
    first = replace(base.calls[0], mode="decode", extend_seq_lens=None, topk=2,
                    seq_lens=(1,) + (3,) * 62 + (5,), req_pool_indices=(0,) * 64)  # fmt: skip
    second = replace(first, seq_lens=(5,) + (3,) * 62 + (1,))
    case = replace(base, calls=(first, second))
    assert _same_sums_fail(case)
    got = shrink(case, _same_sums_fail, 30.0)
    assert _same_sums_fail(got) and [c.bs for c in got.calls] == [2, 2], got


def test_calls_whose_tables_differ_name_their_cells() -> None:
    """Two calls that differ only in req_to_token's values (a cache keyed on the pool rows):
    each call's description lists its table, so the repro does not read as the same call
    twice; a single call on the default table lists none."""
    base = named_meta_cases()[
        "draft_extend_var: the same extends again with a new topk, refilled in place"
    ]
    call = replace(base.calls[0], mode="decode", extend_seq_lens=None, seq_lens=(0,),
                   req_pool_indices=(0,), table=Table(1, 1))  # fmt: skip
    case = replace(base, width=1, calls=(call, replace(call, table=Table(1, 1, seed=2))))
    text = case.describe()
    assert "call 1: " in text and "req_to_token=[[0]]; call 2: " in text, text
    assert text.endswith("req_to_token=[[2]]"), text
    assert "req_to_token" not in replace(case, calls=(call,)).describe()

"""A v2 failure that needs an earlier case's calls (state keyed on the buffers: their
address, a width or a top-k decision baked on a first call): the book folds that case's
calls into the failing case as its first calls on the same buffers, and saves the result,
self-contained (fuzz/meta_campaign.py `folded`, MetaBook._not_alone). Before stop 24 such
entries passed on replay (red-team round 12's bug_state_topk_fastpath_baked, round 11's
v2_width_baked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from book_doubles import campaign_double
from meta_fuzz_helpers import judged_here, torch_candidate

from fuzz.book import CALLS_RULED_OUT, CONFIRMS, REPEAT_PROBE, SOME_RUNS, Failure, repeated
from fuzz.compare import Mismatch
from fuzz.meta_campaign import FOLDED, MetaBook, folded
from fuzz.meta_case import POISON
from fuzz.meta_entry import MAX_CALLS, decode_meta_case
from fuzz.meta_harness import run_builtin
from fuzz.meta_judge import plan
from fuzz.meta_strategies import named_meta_cases

ROOT = Path(__file__).resolve().parents[1]
NAMED = named_meta_cases()
ONE = NAMED["decode, pool indices int64 stride 3 offset 2"]
GROWS = NAMED["width grows between calls on one set of buffers (2, then 5)"]


def test_a_fold_puts_the_earlier_calls_first_on_the_case_buffers() -> None:
    prior = replace(ONE, width=ONE.width + 3)
    got = folded(prior, GROWS)
    both = (*prior.calls, *GROWS.calls)
    assert [c.mode for c in got.calls] == [c.mode for c in both]
    assert [c.seq_lens for c in got.calls] == [c.seq_lens for c in both]
    assert all(c.table.columns >= got.width for c in got.calls)  # an entry's rule
    assert got.width == max(prior.width, GROWS.width)
    # each call keeps the width it had: the case's, where it named none
    assert [got.call_width(k) for k in range(len(got.calls))] == [
        *(prior.call_width(k) for k in range(len(prior.calls))),
        *(GROWS.call_width(k) for k in range(len(GROWS.calls))),
    ]
    assert (got.page_size, got.bs_slack, got.vec_stride) == (
        GROWS.page_size, GROWS.bs_slack, GROWS.vec_stride,
    )  # fmt: skip
    assert decode_meta_case(json.dumps(got.to_json()).encode(), max_total=2**22) == got


def test_a_fold_keeps_each_calls_page_size_and_stops_at_the_entry_limit() -> None:
    got = folded(replace(ONE, page_size=ONE.page_size + 63), ONE)
    assert got.page_size == ONE.page_size and len(got.calls) == 2
    assert [got.call_page(k) for k in (0, 1)] == [ONE.page_size + 63, ONE.page_size]
    assert [c.page_size for c in got.calls] == [ONE.page_size + 63, None]
    assert folded(ONE, ONE).calls[0].page_size is None  # the case's: nothing to hold
    many = replace(ONE, calls=ONE.calls * MAX_CALLS)
    assert folded(many, ONE) is None


class FoldBook(MetaBook):
    """A book whose fresh-worker runs fail exactly on the case folded from `needs`."""

    def __init__(self, needs, past: list[dict]) -> None:
        super().__init__(campaign_double(shrink_seconds=0.0))
        self.needs, self.past, self.tries, self.saved = needs, past, [], []

    def impl_of(self, sig: str) -> str:
        return "cand:fn"

    def alone(self, case, fault, sig):
        self.tries.append(case)
        return SimpleNamespace(mismatch=self.mismatch) if case == self.needs else None

    def _reproduce(self, case, fault, sig, *, confirm, before=(), also=()):
        if before:
            return None  # no prefix in a fresh worker shows it (an address-keyed state)
        self.tries.append(case)  # a fold of a cell left poisoned (MetaBook._fold_alone)
        return SimpleNamespace(mismatch=self.mismatch) if case == self.needs else None

    def _save(self, mismatch, case, fault, *, original, note=None, before=None, **kw):
        self.saved.append((case, note, before))
        return None


def _fail(book: FoldBook, past: list[dict]) -> dict:
    book.mismatch = Mismatch("cand:fn", "values", "page_table_1", cause="[0, 1] is 7")
    f = Failure(book.mismatch.signature, book.mismatch, GROWS, None, None)
    f.past = (past, 0)
    book._not_alone(f)
    return f.to_json()


def test_the_earlier_case_that_makes_it_fail_is_folded_in_and_saved_whole() -> None:
    others = [{"op": "metadata", "case": replace(ONE, width=w).to_json()} for w in (6, 7, 8)]
    needs = folded(replace(ONE, width=7), GROWS)
    book = FoldBook(needs, others)
    got = _fail(book, others)
    assert book.saved[-1] == (needs, FOLDED, None)  # self-contained: no calls before it
    assert got["reproduced_alone"] is True and got["cause"].endswith(FOLDED)
    assert book.tries[0] == folded(replace(ONE, width=8), GROWS)  # the last one first


def test_without_a_fold_that_fails_the_prefix_search_goes_on() -> None:
    others = [{"op": "metadata", "case": ONE.to_json()}]
    book = FoldBook(needs=None, past=others)
    got = _fail(book, others)
    # the fold, then (no prefix fails either) the case alone again and again
    assert book.tries == [folded(ONE, GROWS)] + [GROWS] * REPEAT_PROBE
    assert got["reproduced_alone"] is False and book.saved[-1][1] != FOLDED


class FlakyFoldBook(FoldBook):
    """A slip on a call at random: the first fold tried fails once, in its fresh worker; the
    same fold run again passes; the case alone fails on the fifth run since."""

    def alone(self, case, fault, sig):
        self.tries.append(case)
        return SimpleNamespace(mismatch=self.mismatch) if len(self.tries) == 1 else None

    def _reproduce(self, case, fault, sig, *, confirm, before=(), also=()):
        self.tries.append(case)
        return SimpleNamespace(mismatch=self.mismatch) if len(self.tries) == 7 else None


def test_a_fold_that_shows_a_flaky_failure_once_is_not_blamed() -> None:
    """Red-team 14's slip on 1 call in 3 was saved folded with an earlier case, its cause
    blaming that case's calls: a fold is run CONFIRMS more times first, and one that passes
    leaves the case as found, run alone again and again."""
    others = [{"op": "metadata", "case": ONE.to_json()}]
    book = FlakyFoldBook(needs=None, past=others)
    got = _fail(book, others)
    fold = folded(ONE, GROWS)
    assert book.tries == [fold, fold, GROWS, GROWS, GROWS, GROWS, GROWS]  # no prefix search
    note = f"{CALLS_RULED_OUT.format(passed=1, runs=1)}; {repeated(5)}"
    assert book.saved[-1] == (GROWS, note, None) and FOLDED not in got["cause"]
    assert got["reproduced_alone"] is False and got["replay_runs"] == 16
    # nothing shows it better (the case alone never fails): the fold is kept, not blamed
    never = FlakyFoldBook(needs=None, past=others)
    never._reproduce = lambda case, *a, **kw: never.tries.append(case)  # None: passes
    got = _fail(never, others)
    case, note, before = never.saved[-1]
    assert case == fold and before is None and SOME_RUNS in note and FOLDED not in note
    assert got["replay_runs"] == 16 and got["reproduced_alone"] is False
    # a fold that shows it every time is blamed (it ran CONFIRMS more times)
    steady = FoldBook(fold, others)
    assert _fail(steady, others)["cause"].endswith(FOLDED)
    assert steady.tries[: 1 + CONFIRMS] == [fold] * (1 + CONFIRMS)


class StaleFoldBook(FoldBook):
    """Its fresh-worker runs of the fold fail as `stale` on the buffer the failure left
    poisoned: the earlier calls wrote it first, and the failing call skipped it again."""

    def _workers_of(self, sig):
        return [("cand:fn", SimpleNamespace(fresh=lambda: None))]

    def alone(self, case, fault, sig):
        return None  # with the failure's own signature, no fold fails

    def _reproduce(self, case, fault, sig, *, confirm, before=(), also=()):
        if case == self.needs and self.stale.signature in also:
            return SimpleNamespace(mismatch=self.stale)
        return None


def test_a_cell_never_written_folds_as_stale_on_the_same_buffer() -> None:
    """Red-team 13's page tables skipped when a call repeats on the same buffers: alone, a
    cell the failing call never wrote holds the poison; folded, the earlier call's value."""
    others = [{"op": "metadata", "case": ONE.to_json()}]
    book = StaleFoldBook(folded(ONE, GROWS), others)
    book.stale = Mismatch("cand:fn", "stale", "page_table_1", cause="[0, 0] left from call 1")
    f = Failure("", None, GROWS, None, None)
    f.mismatch = Mismatch("cand:fn", "values", "page_table_1", got=POISON, cause="poison")
    f.signature, f.past = f.mismatch.signature, (others, 0)
    book._not_alone(f)
    assert book.saved[-1] == (folded(ONE, GROWS), FOLDED, None)
    assert f.mismatch.kind == "stale" and f.reproduced_alone
    other = StaleFoldBook(folded(ONE, GROWS), others)  # another wrong value: not its twin
    other.stale = book.stale
    g = Failure("", None, GROWS, None, None)
    g.mismatch = Mismatch("cand:fn", "values", "page_table_1", got=5, cause="5")
    g.signature, g.past = g.mismatch.signature, (others, 0)
    other._not_alone(g)
    assert other.saved[-1][1] != FOLDED and not g.reproduced_alone


def _skips_repeats(seen: dict):
    """Red-team 13's page tables skipped when a call's slots repeat on buffers at the same
    address (the tiny twin of bug_state_pt_skip_same_slots)."""

    def fn(**kw):
        out = kw["out"]
        key = (tuple(kw["req_pool_indices"].tolist()), kw["width"], kw["page_size"])
        if seen.get(out.page_table_1.data_ptr()) == key:
            kw = {**kw, "out": out._replace(page_table_1=out.page_table_1.clone())}
        seen[out.page_table_1.data_ptr()] = key
        return torch_candidate(**kw)

    return fn


def test_a_repoisoned_case_poisons_every_buffer_again_before_each_later_call() -> None:
    twice = replace(ONE, calls=ONE.calls * 2)
    again = replace(twice, repoison=True)
    assert judged_here(torch_candidate, again) is None  # correct: every region rewritten
    assert judged_here(_skips_repeats({}), twice) is None  # the same buffers hold its values
    m = judged_here(_skips_repeats({}), again)
    assert m is not None and m.kind == "values" and m.got == POISON and "(call 2)" in m.cause
    assert "poisoned again" in again.describe()
    assert decode_meta_case(json.dumps(again.to_json()).encode(), max_total=2**22) == again
    assert "repoison" not in twice.to_json()  # older entries' bytes are unchanged
    for name in ("torch", "triton"):
        assert run_builtin(name, again, plan(again), "cpu") is None


def test_a_cell_left_poisoned_folds_with_the_buffers_poisoned_again() -> None:
    """When the earlier case wrote the same values, only new buffers at the same address
    show a skipped write: the fold poisons the same buffers again before the case's calls
    (before: a prefix of calls whose replay depended on the allocator)."""
    others = [{"op": "metadata", "case": ONE.to_json()}]
    needs = replace(folded(ONE, GROWS), repoison=True)
    book = FoldBook(needs, others)
    book.mismatch = Mismatch("cand:fn", "values", "page_table_1", got=POISON, cause="poison")
    f = Failure(book.mismatch.signature, book.mismatch, GROWS, None, None)
    f.past = (others, 0)
    book._workers_of = lambda sig: [("cand:fn", SimpleNamespace(fresh=lambda: None))]
    book._not_alone(f)
    assert book.tries[-1] == needs and book.saved[-1] == (needs, FOLDED, None)
    plain = FoldBook(needs, others)  # a wrong value that is not the poison: no such fold
    assert _fail(plain, others)["reproduced_alone"] is False and needs not in plain.tries


@pytest.mark.slow
def test_a_kernel_keying_state_on_its_buffers_gets_an_entry_that_replays(tmp_path) -> None:
    """Red-team round 12's top-k decision baked per buffer address, hunted until one entry
    is saved: it must fail again on replay, and pass on the built-ins."""
    spec = f"{ROOT / 'benchmarks' / 'redteam12_mutants.py'}:bug_state_topk_fastpath_baked"
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

    def fuzz(*args):
        return subprocess.run(
            [sys.executable, "-m", "fuzz", *map(str, args)], cwd=ROOT, capture_output=True,
            text=True, timeout=240, env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip

    corpus = tmp_path / "c"
    r = fuzz("run", "--op", "metadata", "--candidate", spec, "--seconds", 40,
             "--max-failures", 1, "--corpus", corpus)  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    replay = fuzz("replay", "--op", "metadata", "--candidate", spec, corpus)
    assert replay.returncode == 1, replay.stdout
    assert fuzz("replay", "--op", "metadata", corpus).returncode == 0

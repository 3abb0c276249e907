"""The `--op metadata` campaign: campaign.py's round driver and book, with contract-v2 cases.

Named cases of every family first, then seeded Hypothesis rounds of meta_strategies; each
example is a few cases, every one through every selected built-in and candidate
(meta_harness). Failures go to a MetaBook: saved with `"op": "metadata"`, shrunk by
meta_shrink within the same per-kind budgets, saved again.
"""

from __future__ import annotations

import time
from dataclasses import replace

from hypothesis import strategies as st

import fuzz.meta_entry  # noqa: F401  (registers the decoder of metadata entries)
from fuzz.book import (
    BUDGET_ENDED,
    REPLAY_REPEAT_MIN,
    SOME_RUNS,
    Book,
    is_fault_kind,
    json_leaves,
    noted,
)
from fuzz.campaign import Campaign
from fuzz.harness import Finding
from fuzz.meta_case import POISON, MetaCase
from fuzz.meta_contract import named_bad_cases
from fuzz.meta_entry import MAX_CALLS
from fuzz.meta_harness import reproduce_meta, run_meta
from fuzz.meta_shrink import shrink
from fuzz.meta_strategies import meta_bad_cases, meta_cases, named_cases

CASES_PER_EXAMPLE = 4
FOLDED = (
    "it fails after an earlier case's calls on the same buffers (its worker ran that case "
    "before it): saved as one case of those calls and its own"
)


# A failure that needs the calls before it: those calls folded into the case as its first
# calls on the same buffers, tried (each in a fresh worker) before a prefix is searched.
FOLD_TRIES = 8


def folded(prior: MetaCase, case: MetaCase) -> MetaCase | None:
    """`case` with `prior`'s calls first, on `case`'s buffers (sized for every call: a width
    and a page size each where they differ); None past the calls an entry holds. A
    candidate keeping state keyed on the buffers (their address, a width, a page size or a
    decision baked on a first call) meets it within one case, replayable alone."""
    if len(prior.calls) + len(case.calls) > MAX_CALLS:
        return None
    width = max(prior.width, case.width)
    calls = tuple(
        replace(
            c,
            width=c.width if c.width is not None or w == width else w,
            # every req_to_token as wide as the buffers (an entry's rule); cells past a
            # call's width are never read
            table=replace(c.table, columns=max(c.table.columns, width)),
            page_size=c.page_size if src is case else _own(c.page_in(prior.page_size), case),
        )
        for src, w in ((prior, prior.width), (case, case.width))
        for c in src.calls
    )
    return replace(case, calls=calls, width=width)


def _poisoned(m) -> bool:
    """A wrong value that is the poison: a cell the failing call never wrote."""
    return m.kind == "values" and m.got == POISON


def _own(page: int, case: MetaCase) -> int | None:
    """A page size as a call of `case` holds it: None where it is the case's."""
    return None if page == case.page_size else page


class MetaBook(Book):
    op = "metadata"

    def _not_alone(self, failure) -> None:
        """As Book's, but first the calls before it folded into the case (`folded`): one
        that fails in a fresh worker is the failure's case, self-contained (no `before`)."""
        found = None if self.c.out_of_time() else self._fold_before(failure)
        if found is not None:  # blamed only if it shows every time (a flaky one by chance)
            found = self._held(failure, found, lambda: self._fold_again(found[0], failure))
        if found is None:
            return super()._not_alone(failure)
        self._save_fold(failure, *found, note=FOLDED)

    def _save_shaky(self, failure) -> None:
        case, finding = failure.shaky
        if not isinstance(case, MetaCase):  # calls before it (Book's prefix search)
            return super()._save_shaky(failure)
        note = (
            f"{failure.ruled_out}; {SOME_RUNS}; saved as one case of those calls and its "
            f"own, which replay runs up to {REPLAY_REPEAT_MIN} times in one fresh worker"
        )
        self._save_fold(failure, case, finding, note=note, shrink=False)

    def _save_fold(self, failure, case, finding, *, note: str, shrink: bool = True) -> None:
        """The folded case as the failure's, its calls not needed dropped (each smaller case
        failing alone), saved self-contained."""
        failure.original_case = failure.original_case or failure.case
        failure.case, failure.mismatch = case, finding.mismatch
        failure.reproduced_alone = shrink
        failure.why_not_shrunk, failure.shrink_complete = BUDGET_ENDED, False
        budget = self.left(self.c.o.shrink_seconds) if shrink else 0
        if budget > 0:  # the calls it does not need dropped, each smaller case failing alone
            started = time.monotonic()
            fails = self._careful(failure, finding, finding.mismatch, budget)
            small = fails.shrunk
            failure.case, failure.mismatch = small, fails.findings[small].mismatch
            failure.shrink_complete = time.monotonic() - started < budget * 0.98
            failure.shrunk = True
            failure.why_not_shrunk = None
        elif not shrink:
            failure.why_not_shrunk = note
        failure.mismatch = noted(failure.mismatch, note)
        failure.repeat = REPLAY_REPEAT_MIN
        path = self._save(
            failure.mismatch, failure.case, failure.fault, original=failure.original_case,
            note=note, replace_any=True, repeat=REPLAY_REPEAT_MIN,
        )  # fmt: skip
        failure.path, failure.settled = path or failure.path, True

    def _fold_before(self, failure):
        """(case, finding): the first of the worker's earlier cases (the last one, then the
        most like it) that, folded in, makes the case fail alone; None within FOLD_TRIES."""
        if failure.fault is not None or is_fault_kind(failure.mismatch):
            return None  # a crash or a hang: the prefix search (Book)
        if not self._plugin(failure.signature):
            return None
        items = [i for i in (failure.past or ([], 0))[0] if "fault" not in i and "case" in i]
        like = json_leaves(failure.case.to_json())
        order = sorted(
            range(len(items)),
            key=lambda k: (k != len(items) - 1, len(like ^ json_leaves(items[k]["case"]))),
        )
        for k in order[:FOLD_TRIES]:
            if self.c.out_of_time():
                return None
            try:
                prior = MetaCase.from_json(items[k]["case"])
            except (KeyError, TypeError, ValueError):
                continue
            case = folded(prior, failure.case)
            if case is None:
                continue
            # A cell left poisoned may need new buffers at the same address (the earlier
            # case's own, freed), not its values: the same buffers poisoned again.
            for fold in (case, replace(case, repoison=True))[: 1 + _poisoned(failure.mismatch)]:
                got = self._fold_alone(fold, failure)
                if got is not None:
                    return fold, got
        return None

    def _fold_alone(self, case: MetaCase, failure):
        """`alone` for a folded case: the failure's signature, or, for a cell left poisoned
        (never written), the same buffer's `stale` (the earlier calls wrote it first; red-team
        13's page tables skipped when a call repeats on the same buffers)."""
        if not _poisoned(failure.mismatch):
            return self.alone(case, None, failure.signature)
        return self._fold_again(case, failure)

    def _fold_again(self, case: MetaCase, failure):
        """A folded case run in a fresh worker, every time (`alone` remembers its answer)."""
        m = failure.mismatch
        for _, w in self._workers_of(failure.signature):
            w.fresh()
        also = (replace(m, kind="stale").signature,) if _poisoned(m) else ()
        return self._reproduce(case, None, failure.signature, confirm=True, also=also)

    def shrink_case(self, failure, fails, budget: float):
        return shrink(failure.case, fails, budget, envelope=self.c.envelope)

    def _reproduce(self, case, fault, sig: str, *, confirm: bool, before=(), also=()):
        impl = self.impl_of(sig)
        return reproduce_meta(
            case,
            sig,
            [b for b in self.c.o.builtins if b == impl],
            self._workers_of(sig),
            self.c.o.device,
            self.c.tally,
            deadline=self.c.deadline,
            slow_is_failure=self.c.o.slow_is_failure,
            confirm=confirm,
            fault=fault,
            before=before,
            also=also,
        )


LARGE_OPENING_CASE = 4096  # requests plus rows over a case's calls (bs 16,385, T 65,537)
# The large named cases in the order they run (one after each round): one past 16,384
# requests in decode and draft_extend_var, then 65,536 unclamped rows of one request (running
# sums near -2**31: round 8's n(n-1)/2 in int32), the other modes, the rest.
LARGE_FIRST = (
    "bs 16385",
    "bs 16385, draft_extend_var",
    "dsa_cu_seqlens_k below -2**31 + 2**15, then rows past 2**31 - 1 on their own",
    "bs 16385, target_verify",
    "bs 16385, draft_extend",
    "bs 16384, draft_extend_var, every extend 0",
    "dsa_cu_seqlens_k exactly -2**31 (32,768, then 65,537 rows of kv 0)",
    "one extend past 2**16 rows",
    "bs 16383",
    "bs 16384",
)
# ... the first LARGE_BEFORE_ROUNDS of them right after the small opening: one past 16,384
# requests is a family of its own that only these cases reach (round 8's correct candidate
# takes 13-15 s a call there, so one after each round of ~12 s reached the second at ~60 s).
LARGE_BEFORE_ROUNDS = 2
# The named cases follow the contract's table, one family after another, so the batch-size
# edges and the dtype mixes came 90-140 cases in. On a GPU a Triton candidate's opening is
# compile-bound (round 12's upstream-style kernel: 85 cases in 30 s on an H100, s24/c8): these
# run right after FIRST_PASS_AFTER, the last of the first case of every other family.
FIRST_PASS_AFTER = "back-to-back calls, larger bs"
FIRST_PASS = (
    "bs 33",
    "bs 1025",
    "bs 1025, draft_extend_var",
    "bs 129, target_verify",
    "int64 extends with int32 seq_lens, and the other mixes, on one set of buffers",
)


class MetaCampaign(Campaign):
    deferred_first = LARGE_BEFORE_ROUNDS

    def __init__(self, options, on_progress=None):
        super().__init__(options, on_progress)
        self.book = MetaBook(self)

    def _opening_cases(self) -> list:
        """One named case per family, and the shipped v2 regression seeds, inside the
        envelope, a first pass over every family leading (FIRST_PASS). On the CPU the large
        ones last, in LARGE_FIRST's order (an interpreted kernel takes seconds on each of
        them: the opening is judged chunk by chunk, so the small ones' finds come first, and
        a timed campaign runs the large ones between its rounds)."""
        from fuzz.meta_envelope import restrict
        from fuzz.seeds import shipped

        named = named_cases(self.envelope)
        opening = list(named.values())
        entries, errors = shipped("metadata")
        for e in errors:
            self.errors.append(f"a shipped regression seed could not be read: {e}")
        for e in entries:
            case = restrict(self.envelope, e.case)
            if case is not None and e.fault is None:
                opening.append(case)
        compiled = self._compiled()
        order = _first_pass(list(named), large=compiled)
        opening = [named[n] for n in order] + opening[len(named) :]
        if compiled:
            return opening
        rank = {id(named[n]): i for i, n in enumerate(LARGE_FIRST) if n in named}
        return sorted(opening, key=lambda c: (_large(c), rank.get(id(c), len(LARGE_FIRST))))

    def _compiled(self) -> bool:
        """On a GPU a large case costs what a small one does (a compile), so one past 16,384
        requests joins the first pass; on the CPU an interpreted kernel spends seconds on
        it (round 12's bs_static_16384 found at 30 s there, and in no 20 s on an H100,
        where 159 small cases came first)."""
        return self.o.device.startswith("cuda")

    def _split_opening(self, cases: list) -> tuple[list, list]:
        """The large named cases wait for the rounds (one after each) in a campaign with a
        time budget; with --max-cases only (a fixed count), the whole opening comes first."""
        if self.deadline is None or self._compiled():
            return cases, []
        return [c for c in cases if not _large(c)], [c for c in cases if _large(c)]

    def _strategy(self) -> st.SearchStrategy:
        cases = st.lists(meta_cases(self.envelope), min_size=1, max_size=CASES_PER_EXAMPLE)
        wants = self._wants_bad()
        bad = st.lists(meta_bad_cases(self.envelope), max_size=2) if wants else st.just([])
        return st.tuples(cases, bad)

    def _wants_bad(self) -> bool:
        """Bad calls go to the built-in backends always, to candidates with --check-errors."""
        builtins = any(b != "reference" for b in self.o.builtins)
        return builtins or (self.o.check_errors and bool(self.o.candidates))

    def _opening_bad(self) -> list:
        if self._wants_bad() and self.o.unit == 0:
            # one per kind first, then every value on every base (red team 9e)
            return list(named_bad_cases(self.envelope, every_value=True).values())
        return []

    def _run(self, cases, bad, builtins, workers) -> list[Finding]:
        return run_meta(
            cases,
            builtins,
            workers,
            self.o.device,
            self.tally,
            deadline=self.deadline,
            hard_deadline=self.hard_deadline,
            slow_is_failure=self.o.slow_is_failure,
            bad=bad,
            check_errors=self.o.check_errors,
        )

    def _shipped_path(self, cases) -> list[Finding]:
        return []  # every built-in call here is already the shipped nsa_meta.metadata

    def _describe(self, item: dict) -> str:
        from fuzz.meta_case import MetaCase

        try:
            return MetaCase.from_json(item["case"]).describe()
        except (KeyError, TypeError, ValueError):
            return "?"


def _first_pass(names: list[str], large: bool = False) -> list[str]:
    """`names` with FIRST_PASS (`large`: and the first LARGE_BEFORE_ROUNDS of LARGE_FIRST)
    moved to right after FIRST_PASS_AFTER (to the front where the envelope left that one
    out)."""
    first = FIRST_PASS + (LARGE_FIRST[:LARGE_BEFORE_ROUNDS] if large else ())
    early = [n for n in first if n in names]
    rest = [n for n in names if n not in early]
    cut = rest.index(FIRST_PASS_AFTER) + 1 if FIRST_PASS_AFTER in rest else 0
    return rest[:cut] + early + rest[cut:]


def _large(case) -> bool:
    """A named case that costs an interpreted kernel seconds: sent after the others."""
    return sum(c.bs + c.rows for c in case.calls) > LARGE_OPENING_CASE


def campaign_class(op: str) -> type[Campaign]:
    return MetaCampaign if op == "metadata" else Campaign

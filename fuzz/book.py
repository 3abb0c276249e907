"""The book of a campaign's failures: each one saved the moment it is found (so nothing is
lost), shrunk to the canonical case, and saved again with the case it was found as.

Wrong outputs shrink within `--shrink-seconds`; crashes, device faults and hangs, whose
every try may cost a fresh worker, within `--fault-shrink-seconds`. "Does it still fail
with the same signature?" is `harness.reproduce`, the one question minimise and replay ask.
A failure whose shrunk case fails with another signature (a metadata stale cell become the
values failure of its lone call) is filed under that one, merged with a finding already there.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fuzz import corpus
from fuzz.case import Case, Fault
from fuzz.compare import Mismatch
from fuzz.entry import MAX_BEFORE, MAX_REPEAT
from fuzz.harness import Finding, reproduce
from fuzz.isolation import AFTER_CALLS, IN_A_FRESH_WORKER, worker_items
from fuzz.minimise import shrink

# Kinds whose tries may each cost a worker restart or a timeout: shrunk on their own budget.
FAULT_KINDS = ("hang", "crash", "cuda-fault", "protocol", "oversize", "slow")


def is_fault_kind(mismatch: Mismatch) -> bool:
    return mismatch.kind.split(":")[-1].strip().split(" ")[0] in FAULT_KINDS or any(
        mismatch.kind.endswith(k) for k in FAULT_KINDS
    )


def _hangs_after_calls(mismatch: Mismatch) -> bool:
    """A hang in a worker that had run calls before it, where the case re-run alone answered."""
    return mismatch.kind == "hang" and mismatch.cause.endswith(AFTER_CALLS)


def _confirmed_alone(mismatch: Mismatch) -> bool:
    """A hang whose confirmation re-ran the case alone in a fresh worker (isolation)."""
    return mismatch.kind == "hang" and mismatch.cause.endswith(IN_A_FRESH_WORKER)


BUDGET_ENDED = "the time budget ended before shrinking could finish"
CONFIRM_CUT = "the time budget ended before the smaller case could be confirmed"
NOT_ALONE = (
    "it did not fail again when re-run alone in a fresh worker: the failure needs the calls "
    "made before it in the candidate's process, or is flaky; replay may not show it"
)
# A failure no saved prefix shows is run again and again alone in one fresh worker: one that
# fails on the k-th run depends on how many calls its process made (red-team 14: from the
# 50th call on), or is flaky (1 call in 3); its entry holds how often replay runs it.
REPEAT_PROBE = 64  # runs of the case alone at most
REPEAT_PROBE_S = 10.0  # ... within this many seconds
REPLAY_REPEAT_MIN = 16  # replay runs such an entry (and one not reproduced) this often at least


def repeated(k: int) -> str:
    """What a failure that showed on the k-th run of its case alone says (summary, cause)."""
    if k == 1:
        where = "it fails on its first run alone in a fresh worker, not after its worker's calls"
    else:
        where = f"it fails on run {k} of the case alone in a fresh worker, not on the first"
    return (
        f"{where}: it depends on how many calls its process made before, or is flaky (saved "
        "to be run again and again by replay)"
    )


FLAKY_RUNS = 4  # runs of a case that failed again, to see whether it always does
FLAKY_S = 3.0  # ... within this many seconds (a large case on an interpreter takes more)


def flaky(passed: int, runs: int, found_as: bool = False) -> str:
    """What a failure that failed again, then passed `passed` of `runs` more runs in the
    same worker says; `found_as`: said of a smaller case it was shrunk to."""
    which = "the case it was found as" if found_as else "the same case"
    return (
        f"{which} passed {passed} of {runs} more runs in the same worker: flaky, or it "
        "depends on the calls its process made before (saved to be run again and again by "
        "replay)"
    )


def noted(m: Mismatch, note: str) -> Mismatch:
    """`m` with `note` added to its cause (what the book learned of the failure)."""
    return replace(m, cause=f"{m.cause or m.describe()}; {note}")


def replay_repeats(k: int) -> int:
    """How often replay runs an entry that failed on run k: twice that, REPLAY_REPEAT_MIN
    at least (a flaky failure gets its chances), MAX_REPEAT at most."""
    return min(MAX_REPEAT, max(REPLAY_REPEAT_MIN, 2 * k))


UNCONFIRMED = (
    "the time budget ended before it could be re-run alone in a fresh worker: saved with the "
    "calls its worker ran before it, which replay runs first, then its case again and again"
)
PREFIX_MIN_S = 10.0  # the search for the calls a failure needs before it, at least
SINGLES = 16  # calls tried alone before all of them are (the most like the case first)
SEARCH_SPARES = 3  # fresh workers loading at once during that search (one per try)


def after_calls(n: int) -> str:
    """What a failure that needs `n` calls before it in its worker says (summary, cause)."""
    return (
        f"fails after {n} call{'s' if n != 1 else ''} before it in the same process "
        "(saved with the entry; replay runs them first)"
    )


# A prefix or a fold that showed the failure once is run this many more times, each in a
# fresh worker, before the calls are blamed: a flaky failure shows after any calls by chance
# (red-team 14's slip on 1 call in 3 was saved as "fails after an earlier case's calls").
CONFIRMS = 3
CALLS_RULED_OUT = (
    "it failed once after calls made before it, then passed {passed} of {runs} more runs "
    "after the same calls, each in a fresh worker: those calls do not explain it alone"
)
SOME_RUNS = (
    "nor did its case alone, run again and again: flaky, or it hangs on where those calls "
    "left the process (an address)"
)

STATEFUL = (
    "smaller cases failed only after earlier calls in the same worker (the candidate keeps "
    "state between calls), none in a fresh worker within the budget"
)


@dataclass
class Failure:
    signature: str
    mismatch: Mismatch
    case: Case
    fault: Fault | None
    path: Path | None
    original_case: Case | None = None
    shrunk: bool = False
    in_corpus_before: bool = False
    found_by: str = ""
    why_not_shrunk: str = ""
    reproduced_alone: bool | None = None  # None: not tried (budget, corpus)
    repeat: int = 1  # how often replay runs its entry in one fresh worker (_not_alone)
    shrink_complete: bool | None = None  # False: the budget ended before a fixed point
    found_as: str = ""  # the signature it was found with, when its shrunk case has another
    past: tuple[list[dict], int] | None = None  # its worker's items before it, bulk batches
    before: list[dict] | None = None  # the calls it fails after in a fresh worker (saved)
    ruled_out: str = ""  # CALLS_RULED_OUT: calls showed it once, not again (flaky)
    shaky: tuple | None = None  # (calls or a folded case, finding) ruled out: a last resort
    unsteady: tuple[int, int] | None = None  # (passed, runs) of _steady's more runs
    settled: bool = False  # its entry written whole (note, calls before it, repeat): kept

    def to_json(self) -> dict:
        return {
            "signature": self.signature,
            "summary": self.mismatch.describe(),
            "cause": getattr(self.mismatch, "cause", "") or self.mismatch.describe(),
            "output_tail": getattr(self.mismatch, "output_tail", ""),
            "case": self.case.describe(),
            "original_case": self.original_case.describe() if self.original_case else None,
            "fault": self.fault and self.fault.to_json(),
            "file": str(self.path) if self.path else None,
            "shrunk": self.shrunk,
            "in_corpus_before": self.in_corpus_before,
            "found_by": self.found_by,
            "why_not_shrunk": self.why_not_shrunk,
            "reproduced_alone": self.reproduced_alone,
            "shrink_complete": self.shrink_complete,
            "found_as": self.found_as or None,
            "reproduced_after_calls": None if self.before is None else len(self.before),
            "replay_runs": self.repeat,  # times replay runs its entry in one fresh worker
        }


def forget_entry(path: Path | None, signature: str, case: Case) -> bool:
    """Remove the entry saved when a failure was found, now filed under another
    signature: only while it still holds that case (a smaller one put there since, by
    another worker of the campaign, is another finding). Whether it was removed."""
    if path is None:
        return False
    with corpus.locked(path.parent):  # the check and the removal as one step
        try:
            entry = corpus.load(path, max_total=corpus.INT32_MAX)
        except (corpus.CorpusError, OSError, ValueError):
            return False
        if entry.signature == signature and entry.case == case:
            path.unlink(missing_ok=True)
            return True
    return False


def json_leaves(data, path: str = "") -> set:
    """(path, value) of every scalar in plain JSON data: how alike two cases are."""
    if isinstance(data, dict):
        return set().union(*(json_leaves(v, f"{path}.{k}") for k, v in data.items()))
    if isinstance(data, list):
        return set().union(*(json_leaves(v, f"{path}[{i}]") for i, v in enumerate(data)))
    return {(path, data)}


class Probe:
    """The shrinkers' question for one failure: `probe(case)` is the finding when `case`
    still fails with the failure's signature (None if not), `probe(case, signature=s)` the
    same for s; each (case, signature) is run once. `found`: the mismatch it starts from."""

    def __init__(self, book: Book, failure: Failure, fault_kind: bool, alone: bool = False):
        self.book, self.failure, self.fault_kind = book, failure, fault_kind
        self.alone = alone  # a case that fails is confirmed in a fresh worker before it counts
        self.found = failure.mismatch
        self.shrunk = failure.case
        self.findings: dict = {}  # case -> its latest finding
        self.tried: dict = {}

    def __call__(self, case, signature: str | None = None):
        sig = signature or self.failure.signature
        if (case, sig) in self.tried:  # the shrinker may ask again for the case it starts from
            return self.tried[(case, sig)]
        c = self.book.c
        if c.done() and c.interrupted:
            raise KeyboardInterrupt  # stopped by a signal: the report comes first
        # A hang is retried without the long confirmation while shrinking; the result
        # is confirmed once at the end, so a slow compile never becomes the verdict.
        f = self.failure
        got = self.book._reproduce(case, f.fault, sig, confirm=not self.fault_kind)
        if got is not None and self.alone:
            got = self.book.alone(case, f.fault, sig)
        if got is not None:
            self.findings[case] = got
        self.tried[(case, sig)] = got
        return got


class Book:
    """Failures of one campaign. `op` names the operation its entries record; a subclass for
    another operation (fuzz/meta_book.py) replaces `_reproduce` and `shrink_case`."""

    op = "expand"

    def __init__(self, campaign):
        self.c = campaign  # options, workers, tally, deadline, envelope, errors
        self.failures: dict[str, Failure] = {}
        self.refiled: dict[str, str] = {}  # a signature found -> the one its failure shrank to
        self.in_corpus = self._corpus_signatures()
        self._alone: dict = {}  # (case, signature) -> its finding in a fresh worker, or None

    def __contains__(self, signature: str) -> bool:
        return signature in self.failures or signature in self.refiled

    def __len__(self) -> int:
        return len(self.failures)

    # --- recording -------------------------------------------------------------------------

    def record(
        self,
        f: Finding,
        *,
        found_by: str,
        hypothesis_shrunk: Case | None = None,
        past: tuple[list[dict], int] | None = None,
    ) -> None:
        """Save at once, shrink, save again. `hypothesis_shrunk`: what Hypothesis already
        reduced `f.case` to (the greedy passes go on from there). `past`: what ran before it
        in its worker, where its history does not say (a case of a bulk batch)."""
        sig = f.mismatch.signature
        if sig in self:
            return
        if sig in self.in_corpus:
            self.failures[sig] = Failure(
                sig, f.mismatch, f.case, f.fault, self.in_corpus[sig], in_corpus_before=True
            )
            return
        original = f.case
        path = self._save(f.mismatch, f.case, f.fault, original=None)
        failure = Failure(sig, f.mismatch, f.case, f.fault, path, found_by=found_by)
        failure.past = past or self._past(f)  # before any re-run adds to the worker's history
        self.failures[sig] = failure
        if hypothesis_shrunk is not None and hypothesis_shrunk != f.case:
            if is_fault_kind(f.mismatch):
                again = self._reproduce(hypothesis_shrunk, f.fault, sig, confirm=True)
            else:  # Hypothesis shrank in a warm worker: the smaller case must fail alone
                again = self.alone(hypothesis_shrunk, f.fault, sig)
            if again is not None:
                failure.case, failure.mismatch = hypothesis_shrunk, again.mismatch
        self._shrink(failure)
        if failure.mismatch.signature != sig:
            self._refile(failure, original, first=path)
        elif not failure.settled and (
            failure.case != original or (failure.repeat > 1 and failure.reproduced_alone)
        ):
            # (a failure not reproduced alone was saved with its note and repeat already)
            if failure.case != original:
                failure.original_case = original
            new = self._save(
                failure.mismatch, failure.case, failure.fault, original=original,
                repeat=failure.repeat, replace_any=failure.case == original,
            )  # fmt: skip
            failure.path = new or failure.path

    def _refile(self, failure: Failure, original: Case, *, first: Path | None) -> None:
        """The shrunk case fails with another signature (its cause and entry say which):
        file the failure under it, and merge it with a finding already filed there (the
        smaller case stays). Later finds of the first signature are this same failure."""
        found_as, sig = failure.signature, failure.mismatch.signature
        del self.failures[found_as]
        self.refiled[found_as] = sig
        failure.signature, failure.found_as, failure.original_case = sig, found_as, original
        # No entry of the first signature once one of this signature is written (a write
        # that failed kept the first entry, printed the new one and made the run exit 3).
        failure.path = self._save(
            failure.mismatch, failure.case, failure.fault, original=original,
            repeat=failure.repeat,
        )  # fmt: skip
        if failure.path is not None:
            forget_entry(first, found_as, original)
        failure.in_corpus_before = sig in self.in_corpus
        other = self.failures.get(sig)
        if other is None or failure.case.size_key() < other.case.size_key():
            self.failures[sig] = failure

    def _shrink(self, failure: Failure) -> None:
        self._reproduce_and_shrink(failure)
        m = failure.mismatch
        if failure.unsteady and not (m.cause or "").endswith(flaky(*failure.unsteady)):
            # the shrunk case's mismatch replaced the one _steady's note was added to
            failure.mismatch = noted(m, flaky(*failure.unsteady, found_as=True))

    def _reproduce_and_shrink(self, failure: Failure) -> None:
        o = self.c.o
        budget = self.left(
            o.fault_shrink_seconds if is_fault_kind(failure.mismatch) else o.shrink_seconds
        )
        if budget <= 0:
            failure.why_not_shrunk = "the time budget had ended"
            return
        fault_kind = is_fault_kind(failure.mismatch)
        fails = Probe(self, failure, fault_kind)
        best = fails.findings

        # First, does it fail again alone (a fresh worker for a crash or a hang)? If not,
        # it needs the calls before it or is flaky: said, not shrunk (replay may not show it).
        # A confirmed hang already did: its confirmation ran it alone in a fresh worker. A
        # wrong value re-runs in the warm worker here; a fresh one judges the shrunk case.
        if _hangs_after_calls(failure.mismatch):
            return self._not_alone(failure)  # its lone re-run answered (fuzz/isolation.py)
        if not _confirmed_alone(failure.mismatch) and not fails(failure.case):
            return self._not_alone(failure)
        failure.reproduced_alone = True
        alone = fails.tried.get((failure.case, failure.signature))
        fails.found = getattr(alone, "mismatch", fails.found)
        self._steady(failure)
        budget = self.left(budget)  # the lone re-run took its share
        started = time.monotonic()
        try:
            small = self.shrink_case(failure, fails, budget)
            sig = failure.signature
            if not fault_kind and self._plugin(sig) and not self.alone(small, failure.fault, sig):
                # Shrunk (and re-run) in a warm worker, which may hold state from the calls
                # before (a cache keyed on addresses): the case saved must fail in a fresh
                # one, as replay will run it. The one found does not: it needs those calls.
                if small == failure.case or not self.alone(failure.case, failure.fault, sig):
                    return self._not_alone(failure)
                # It does: a smaller one hit state an earlier one left. Shrink again, each
                # smaller failing case confirmed in a fresh worker.
                key = (failure.case, sig)
                left = budget - (time.monotonic() - started)
                fails = self._careful(failure, fails.tried[key], fails.found, left)
                small, best = fails.shrunk, fails.findings
                if small == failure.case:
                    failure.why_not_shrunk, failure.shrink_complete = STATEFUL, False
                    return
        except KeyboardInterrupt:
            raise
        # Both shrinkers stop at a fixed point or at their budget: one that returned before
        # its budget ended found no smaller failing case; one stopped by it may have missed one.
        failure.shrink_complete = time.monotonic() - started < budget * 0.98
        if small == failure.case:
            if failure.shrink_complete:
                failure.shrunk = True
            else:
                failure.why_not_shrunk = BUDGET_ENDED
            return
        if fault_kind:  # the canonical case must fail as the original did, confirmed
            confirmed = self._reproduce(small, failure.fault, failure.signature, confirm=True)
            if confirmed is None:
                if self.c.deadline is not None and time.monotonic() >= self.c.deadline:
                    # Cut by the campaign's end (a hang's confirmation takes tens of
                    # seconds): nothing is known of the smaller case.
                    failure.why_not_shrunk = CONFIRM_CUT
                    failure.shrink_complete = False
                else:
                    failure.why_not_shrunk = "the smaller case did not confirm the failure"
                return
            best[small] = confirmed
        failure.case, failure.mismatch, failure.shrunk = small, best[small].mismatch, True

    def impl_of(self, sig: str) -> str:
        """The implementation a signature names; a candidate's name holds a colon itself."""
        rest = sig.removeprefix(f"{self.op}:") if self.op != "expand" else sig
        names = [*self.c.o.builtins, *(n for n, _ in self.c.workers)]
        return max((n for n in names if rest.startswith(n + ":")), key=len, default="")

    def shrink_case(self, failure: Failure, fails, budget: float):
        return shrink(failure.case, fails, budget, envelope=self.c.envelope, fault=failure.fault)

    def left(self, seconds: float) -> float:
        """`seconds`, or what is left of the campaign's time if less."""
        if self.c.deadline is None:
            return seconds
        return min(seconds, self.c.deadline - time.monotonic())

    def _careful(self, failure: Failure, finding, found: Mismatch, budget: float) -> Probe:
        """The shrink again, for a candidate that keeps state between calls: a smaller case
        counts only once it fails in a fresh worker too; `finding` is `failure.case`'s, and
        `found` the mismatch it starts from. Its result is `.shrunk`."""
        careful = Probe(self, failure, is_fault_kind(failure.mismatch), alone=True)
        careful.tried[(failure.case, failure.signature)] = finding
        careful.findings[failure.case] = finding
        careful.found = found
        careful.shrunk = self.shrink_case(failure, careful, budget) if budget > 0 else failure.case
        return careful

    def _not_alone(self, failure: Failure) -> None:
        if self.c.deadline is not None and time.monotonic() >= self.c.deadline:
            # The campaign's time ran out during the lone re-run: nothing is known. A
            # plug-in's entry keeps the calls its worker ran before it, and replay runs them,
            # then its case again and again: the failure may need those calls (GPU, s27/c4:
            # red-team 12's top-k decision baked per out buffer, saved as its case alone,
            # passed 128 runs) or so many calls in a process (red-team 14's slip from the
            # 50th call, saved as run once on an H100, passed).
            failure.why_not_shrunk = UNCONFIRMED
            if self._plugin(failure.signature):
                failure.repeat, failure.reproduced_alone = MAX_REPEAT, None
                failure.before = (failure.past or ([], 0))[0][-MAX_BEFORE:] or None
                failure.mismatch = noted(failure.mismatch, UNCONFIRMED)
                path = self._save(
                    failure.mismatch, failure.case, failure.fault, original=None,
                    note=UNCONFIRMED, replace_any=True, repeat=MAX_REPEAT, before=failure.before,
                )  # fmt: skip
                failure.path, failure.settled = path or failure.path, True
            return
        failure.reproduced_alone = False
        found = None if failure.ruled_out else self._calls_before(failure)
        if found is not None:
            sig, fault = failure.signature, failure.fault
            found = self._held(
                failure,
                found,
                lambda: self._reproduce(failure.case, fault, sig, confirm=True, before=found[0]),
            )
        if found is not None:  # it fails after these calls in a fresh worker: replayable
            failure.before, got = found
            note = after_calls(len(failure.before))
            failure.mismatch = noted(got.mismatch, note)
            failure.why_not_shrunk = note
        elif (rep := self._repeated(failure))[0] is not None:
            k, got = rep
            note = f"{failure.ruled_out}; {repeated(k)}" if failure.ruled_out else repeated(k)
            failure.mismatch = noted(got.mismatch, note)
            failure.why_not_shrunk = note
            failure.repeat = replay_repeats(k)
        elif failure.shaky is not None:
            return self._save_shaky(failure)
        else:
            note = NOT_ALONE
            bulk = failure.past[1] if failure.past else 0
            if bulk:
                note += f" ({bulk} bulk batch(es) also ran in its worker, not saved as calls)"
            failure.why_not_shrunk = note
            # the cause says so too, as every other branch's does: an entry read alone (the
            # report's cause, `show`) must not look like one that replays. A hang after calls
            # says it already, and its cause must end so (_hangs_after_calls).
            if not _hangs_after_calls(failure.mismatch):
                failure.mismatch = noted(failure.mismatch, note)
            # a flaky failure gets its chances on replay; all of them where the campaign's
            # time cut the runs short (one from the 50th call on was not reached, s26 CI)
            failure.repeat = REPLAY_REPEAT_MIN if rep[1] else MAX_REPEAT
        saved = {"before": failure.before} if failure.before else {"repeat": failure.repeat}
        path = self._save(
            failure.mismatch, failure.case, failure.fault, original=None, note=note, **saved
        )
        failure.path, failure.settled = path or failure.path, True

    def _save_shaky(self, failure: Failure) -> None:
        """Calls that showed the failure in some runs after them, not all, and nothing that
        shows it better (the case alone, again and again): the entry keeps them; replay runs
        them in each of its tries (a fresh worker each), then the case up to
        REPLAY_REPEAT_MIN times. Where a later call lands (an address) may decide it, as
        well as chance."""
        failure.before, got = failure.shaky
        failure.repeat = REPLAY_REPEAT_MIN
        note = (
            f"{failure.ruled_out}; {SOME_RUNS}; saved with the {len(failure.before)} call(s) "
            f"before it, which replay runs first in each fresh worker it tries, then the case up "
            f"to {failure.repeat} times"
        )
        failure.mismatch = noted(got.mismatch, note)
        failure.why_not_shrunk = note
        path = self._save(
            failure.mismatch, failure.case, failure.fault, original=None, note=note,
            before=failure.before, repeat=failure.repeat,
        )  # fmt: skip
        failure.path, failure.settled = path or failure.path, True

    def _held(self, failure: Failure, found: tuple, again) -> tuple | None:
        """`found` (calls or a fold, and its finding) when `again()`, a fresh-worker run of
        them then the case, shows the failure CONFIRMS more times; else None, the calls
        ruled out (`failure.ruled_out`) and `found` kept as a last resort (`failure.shaky`).
        Runs the deadline cut leave it as found (nothing more is known)."""
        workers = [w for _, w in self._workers_of(failure.signature) if hasattr(w, "spares")]
        for w in workers:
            w.spares(SEARCH_SPARES)  # one fresh worker a run: they load at once
        try:
            passed = runs = 0
            while runs < CONFIRMS and not passed and not self.c.out_of_time():
                runs += 1
                passed += again() is None
        finally:
            for w in workers:
                w.spares(1)
        if not passed:
            return found
        failure.ruled_out = CALLS_RULED_OUT.format(passed=passed, runs=runs)
        failure.shaky = found
        return None

    def _steady(self, failure: Failure) -> None:
        """A failure that failed again: does it every time? A few more runs of its case in
        the same worker (FLAKY_RUNS within FLAKY_S); any that passes makes it flaky, or
        dependent on the process's calls: its cause says so and replay runs it again and
        again (red-team 14: a slip on 1 call in 3 at random was saved as one that always
        fails, and replay passed it 2 times in 3). Not for a hang, a crash (each run costs
        a fresh worker) or a built-in."""
        if is_fault_kind(failure.mismatch) or not self._plugin(failure.signature):
            return
        until, passed, runs = time.monotonic() + FLAKY_S, 0, 0
        while runs < FLAKY_RUNS and time.monotonic() < until and not self.c.out_of_time():
            runs += 1
            got = self._reproduce(failure.case, failure.fault, failure.signature, confirm=True)
            passed += got is None
        if passed:
            failure.unsteady = (passed, runs)
            failure.mismatch = noted(failure.mismatch, flaky(passed, runs))
            failure.repeat = REPLAY_REPEAT_MIN

    def _repeated(self, failure: Failure) -> tuple:
        """(k, finding): the run k of the case alone, again and again in one fresh worker,
        on which it fails (REPEAT_PROBE runs within REPEAT_PROBE_S at most); else (None,
        whether every run was made). None for a hang (each run would wait out its limit)
        or a built-in (no state): nothing to run."""
        if failure.mismatch.kind in ("hang", "timeout") or not self._plugin(failure.signature):
            return None, True
        until = time.monotonic() + REPEAT_PROBE_S
        for _, w in self._workers_of(failure.signature):
            w.fresh()
        for k in range(1, REPEAT_PROBE + 1):
            now, deadline = time.monotonic(), self.c.deadline
            if now >= until or (deadline is not None and now >= deadline) or self.c.interrupted:
                return None, False
            got = self._reproduce(failure.case, failure.fault, failure.signature, confirm=True)
            if got is not None:
                return k, got
        return None, True

    def _past(self, f: Finding) -> tuple[list[dict], int] | None:
        """The items the plug-in's worker ran before `f`'s case (its first ones and its
        last ones), and the bulk batches it ran; None for a built-in."""
        for _, w in self._workers_of(f.mismatch.signature):
            if hasattr(w, "calls_before"):
                cases, bad = ([], [(f.case, f.fault)]) if f.fault else ([f.case], [])
                return w.calls_before(worker_items(cases, bad, op=self.op)[0])
        return None

    def _calls_before(self, failure: Failure) -> tuple[list[dict], Finding] | None:
        """A short list of the calls its worker ran before it after which the case fails in
        a fresh worker (the first, the last, both, the others alone, all of them; then
        fewer: runs of calls dropped, halving their length down to one), within its shrink
        budget (PREFIX_MIN_S at least), and the finding after it; None when none does. A
        crash or a hang inside the calls is no failure."""
        items = (failure.past or ([], 0))[0][-MAX_BEFORE:]
        if not items or not self._plugin(failure.signature):
            return None
        o, fault_kind = self.c.o, is_fault_kind(failure.mismatch)
        until = time.monotonic() + max(
            o.fault_shrink_seconds if fault_kind else o.shrink_seconds, PREFIX_MIN_S
        )
        tried: dict[tuple, Finding | None] = {}

        def fails(prefix: list[dict]) -> Finding | None:
            key = tuple(map(id, prefix))
            if key not in tried:
                if self.c.done() and self.c.interrupted:
                    raise KeyboardInterrupt  # stopped by a signal: the report comes first
                if time.monotonic() >= until or self.c.out_of_time():
                    return None
                tried[key] = self._reproduce(
                    failure.case, failure.fault, failure.signature, confirm=True, before=prefix
                )
            return tried[key]

        workers = [w for _, w in self._workers_of(failure.signature)]
        for w in workers:  # every try takes a fresh worker: several load at once
            if hasattr(w, "spares"):
                w.spares(SEARCH_SPARES)
        try:
            return self._search_before(failure, items, fails)
        finally:
            for w in workers:
                if hasattr(w, "spares"):
                    w.spares(1)

    def _search_before(self, failure: Failure, items: list[dict], fails):
        first, last = items[0], items[-1]
        # Then each other call alone, the most like the case first (state keyed on shapes,
        # or on buffer addresses, reused for buffers of the same sizes), all of them after
        # the first SINGLES of those.
        like = json_leaves(failure.case.to_json())
        rest = sorted(
            range(1, len(items) - 1),
            key=lambda k: (len(like ^ json_leaves(items[k].get("case"))), -k),
        )
        singles = [[items[k]] for k in rest]
        tries = [[first], [last], [first, last], *singles[:SINGLES], items, *singles[SINGLES:]]
        best = next((t for t in tries if fails(t) is not None), None)
        if best is None:
            return None
        size = len(best) // 2
        while size >= 1:  # drop runs of calls, halving their length down to one at a time
            k = 0
            while k < len(best) and len(best) > 1:
                fewer = best[:k] + best[k + size :]
                if fails(fewer) is not None:
                    best = fewer
                else:
                    k += size
            size //= 2
        return best, fails(best)

    def _workers_of(self, sig: str) -> list:
        """(name, worker) of the plug-in a signature names; none for a built-in."""
        if not self.c.workers:
            return []
        impl = self.impl_of(sig)
        return [(n, w) for n, w in self.c.workers if n == impl]

    def _plugin(self, sig: str) -> bool:
        return bool(self._workers_of(sig))

    def alone(self, case, fault: Fault | None, sig: str):
        """`_reproduce` with the plug-in in a fresh worker: what replay of the entry will see
        (a built-in keeps no state between calls)."""
        if (case, sig) in self._alone:
            return self._alone[(case, sig)]
        for _, w in self._workers_of(sig):
            w.fresh()
        got = self._alone[(case, sig)] = self._reproduce(case, fault, sig, confirm=True)
        return got

    def _reproduce(self, case: Case, fault: Fault | None, sig: str, *, confirm: bool, before=()):
        impl = self.impl_of(sig)
        return reproduce(
            case,
            fault,
            sig,
            [b for b in self.c.o.builtins if b == impl],
            self._workers_of(sig),
            self.c.o.device,
            self.c.tally,
            deadline=self.c.deadline,
            slow_is_failure=self.c.o.slow_is_failure,
            confirm=confirm,
            before=before,
        )

    # --- the corpus ----------------------------------------------------------------------------

    def _save(
        self,
        mismatch: Mismatch,
        case: Case,
        fault: Fault | None,
        *,
        original: Case | None,
        note: str | None = None,
        before: list[dict] | None = None,
        replace_any: bool = False,
        repeat: int = 1,
    ) -> Path | None:
        """Write the entry; a failure that cannot be written is printed in full on stderr,
        kept in the report, and makes the run exit 3."""
        try:
            return corpus.save(
                self.c.o.corpus_dir,
                mismatch,
                case,
                fault,
                device=self.c.o.device,
                seed=self.c.o.seed,
                spec=self.c.spec_of(mismatch.impl),
                original_case=original,
                op=self.op,
                note=note,
                replace_same=note is not None,
                before=before,
                replace_any=replace_any,
                repeat=repeat,
            )
        except (corpus.CorpusWriteError, OSError) as exc:
            entry = getattr(exc, "entry", None) or {
                "signature": mismatch.signature,
                "cause": getattr(mismatch, "cause", "") or mismatch.describe(),
                "case": case.to_json(),
                "fault": fault and fault.to_json(),
                "original_case": original.to_json() if original else None,
                "before": before,
            }
            print(f"could not save a failure ({exc}); here it is:", file=sys.stderr)
            print(json.dumps(entry), file=sys.stderr)
            self.c.errors.append(f"a failure could not be saved: {exc}: {json.dumps(entry)}")
            return None

    def _corpus_signatures(self) -> dict[str, Path]:
        d = self.c.o.corpus_dir
        entries, _ = corpus.load_all([d]) if d.is_dir() else ([], [])
        return {e.signature: e.path for e in entries if e.path is not None}

    def to_json(self) -> list[dict]:
        return [f.to_json() for f in self.failures.values()]

"""A campaign: rounds of seeded Hypothesis runs until the time, case or failure budget ends.

Round r has its own seed, derived from the campaign seed, so the same --seed and
--max-cases give the same cases, and N workers or N machines split one campaign by
taking every N-th round. A new failure is shrunk by Hypothesis at once (only the failing
implementation runs while it shrinks), saved, and the campaign goes on.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from fuzz import bulk, corpus
from fuzz.candidates import candidate_name
from fuzz.case import Case, Fault
from fuzz.compare import Mismatch
from fuzz.harness import Finding, Tally, run_example, run_one, smallest_per_signature
from fuzz.isolation import IsolatedCandidate
from fuzz.minimise import minimise
from fuzz.strategies import NAMED_CASES, bad_calls, batches

EXAMPLES_PER_ROUND = 25
POLISH_SECONDS = 3.0
BULK_CHUNK = 131072
FAULT_KINDS = ("hang", "crash")


@dataclass
class Options:
    seconds: float | None = None
    max_cases: int | None = None
    seed: int = 0
    builtins: list[str] = field(default_factory=lambda: ["reference"])
    candidates: list[str] = field(default_factory=list)
    device: str = "cpu"
    corpus_dir: Path = Path("corpus")
    max_failures: int = 20
    timeout: float = 5.0
    check_errors: bool = False
    unit: int = 0  # this process's share of the rounds: r % units == unit
    units: int = 1
    shrink_seconds: float = 10.0
    memory_limit_gb: float = 8.0
    bulk: int = 0  # cases per bulk screen of the Triton kernel after each round (0: none)


@dataclass
class Failure:
    signature: str
    mismatch: Mismatch
    case: Case
    fault: Fault | None
    path: Path | None
    shrunk: bool = False
    in_corpus_before: bool = False
    named: bool = False

    def to_json(self) -> dict:
        return {
            "signature": self.signature,
            "summary": self.mismatch.describe(),
            "case": self.case.describe(),
            "fault": self.fault and self.fault.to_json(),
            "file": str(self.path) if self.path else None,
            "shrunk": self.shrunk,
            "in_corpus_before": self.in_corpus_before,
            "named_case": self.named,
        }


class _Shrink(Exception):
    """Raised inside the property so that Hypothesis shrinks the example."""


class _InternalError(Exception):
    """A bug in the fuzzer itself: stops the campaign loudly instead of being shrunk."""


def round_seed(campaign_seed: int, r: int) -> int:
    return int(hashlib.sha256(f"{campaign_seed}:{r}".encode()).hexdigest()[:16], 16)


class Campaign:
    def __init__(self, options: Options, on_progress: Callable[[Campaign], None] | None = None):
        self.o = options
        self.on_progress = on_progress or (lambda c: None)
        self.tally = Tally()
        self.cases = 0
        self.bulk_cases = 0
        self.bulk_seconds = 0.0
        self.examples = 0
        self.rounds = 0
        self.failures: dict[str, Failure] = {}
        self.pending: dict[str, Failure] = {}  # saved unshrunk; shrunk if found again
        self.digest = hashlib.sha256()
        self.interrupted = False
        self.start = time.monotonic()
        self.deadline = None if options.seconds is None else self.start + options.seconds
        self.names = {spec: candidate_name(spec) for spec in options.candidates}
        self.workers: list[tuple[str, IsolatedCandidate]] = []
        self.in_corpus = self._corpus_signatures()
        self._chasing: str | None = None
        self._chase_start = 0.0
        self._internal: BaseException | None = None
        self._seen: set[bytes] = set()

    # --- budget -------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def out_of_cases(self) -> bool:
        return self.o.max_cases is not None and self.cases >= self.o.max_cases

    def done(self) -> bool:
        return (
            self.out_of_time()
            or self.out_of_cases()
            or len(self.failures) >= self.o.max_failures
            or self._internal is not None
        )

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> Campaign:
        # Cases are small: one intra-op thread beats several, and leaves a core to plug-ins.
        torch.set_num_threads(1)
        try:
            self.workers = [
                (
                    self.names[spec],
                    IsolatedCandidate(spec, self.o.device, self.o.timeout, self.o.memory_limit_gb),
                )
                for spec in self.o.candidates
            ]
            for _, w in self.workers:
                w.start()
            if self.o.unit == 0:  # one named case per family, already small: no shrinking
                self._check(list(NAMED_CASES.values()), [], count=True, shrinkable=False)
            r = self.o.unit
            while not self.done():
                self._round(r)
                if self.o.bulk and "triton" in self.o.builtins and not self.done():
                    self._bulk(r)
                r += self.o.units
                self.rounds += 1
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self._finish_chase()
            for _, w in self.workers:
                w.close()
        if self._internal is not None:
            raise self._internal
        return self

    def _strategy(self) -> st.SearchStrategy:
        wants_bad = any(b != "reference" for b in self.o.builtins) or (
            self.o.check_errors and self.o.candidates
        )
        bad = st.lists(bad_calls(with_out=True), max_size=3) if wants_bad else st.just([])
        return st.tuples(batches(), bad)

    def _round(self, r: int) -> None:
        @settings(
            database=None,
            max_examples=EXAMPLES_PER_ROUND,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
            verbosity=Verbosity.quiet,
            print_blob=False,
        )
        @seed(round_seed(self.o.seed, r))
        @given(self._strategy())
        def property_(example: tuple[list[Case], list[tuple[Case, Fault]]]) -> None:
            self._property(*example)

        try:
            property_()
        except _Shrink:
            pass
        except Exception as exc:  # Hypothesis's Flaky when shrinking ran out of time, etc.
            if self._chasing is None and self._internal is None:
                raise _InternalError(f"campaign round {r} failed: {exc!r}") from exc
        self._finish_chase()

    def _property(self, cases: list[Case], bad: list[tuple[Case, Fault]]) -> None:
        if self._chasing is not None:
            return self._shrink_step(cases, bad)
        if self.done():
            return
        if self.o.max_cases is not None:
            cases = cases[: self.o.max_cases - self.cases]
        # Every round opens with Hypothesis's simplest examples (all-zero bytes): run and
        # count an example once per campaign, not once per round.
        seen = hashlib.blake2b(repr((cases, bad)).encode(), digest_size=16).digest()
        if seen in self._seen:
            return
        self._seen.add(seen)
        chase = self._check(cases, bad, count=True, shrinkable=True)
        if chase is not None:
            self._chasing, self._chase_start = chase, time.monotonic()
            raise _Shrink(chase)

    def _check(self, cases, bad, *, count: bool, shrinkable: bool) -> str | None:
        """Run one example; record findings. Returns a new signature worth shrinking."""
        try:
            findings = self._run(cases, bad, self.o.builtins, self.workers)
        except Exception as exc:
            self._internal = _InternalError(f"the harness failed: {exc!r}")
            self._internal.__cause__ = exc
            return None
        if count:
            self.cases += len(cases)
            self.examples += 1
            for c in cases:
                self.digest.update(repr(c).encode())
            self.on_progress(self)
        chase = None
        for f in smallest_per_signature(findings):
            sig = f.mismatch.signature
            if sig in self.failures:
                continue
            if sig in self.in_corpus:
                self._record(f, self.in_corpus[sig], in_corpus_before=True)
            elif f.mismatch.kind.endswith(FAULT_KINDS):
                self._record(f, self._save(f))  # shrinking a hang would cost a timeout a try
            elif not shrinkable:  # a named case: Hypothesis did not draw it
                self._record_unshrunk(f)
            elif chase is None:
                chase = sig
                self.pending[sig] = Failure(sig, f.mismatch, f.case, f.fault, self._save(f))
            elif sig not in self.pending:
                self.pending[sig] = Failure(sig, f.mismatch, f.case, f.fault, self._save(f))
        return chase

    def _run(self, cases, bad, builtins, workers) -> list[Finding]:
        return run_example(
            cases,
            bad,
            builtins,
            workers,
            self.o.device,
            self.tally,
            triton_batched=self.o.device == "cpu",
            check_errors=self.o.check_errors,
            deadline=self.deadline,
        )

    def _shrink_step(self, cases, bad) -> None:
        sig = self._chasing
        assert sig is not None
        if time.monotonic() - self._chase_start > self.o.shrink_seconds or self.out_of_time():
            return  # keep what we have: Hypothesis stops once nothing fails any more
        impl = self.pending[sig].mismatch.impl
        builtins = [b for b in self.o.builtins if b == impl]
        workers = [(n, w) for n, w in self.workers if n == impl]
        bad = [(c, f) for c, f in bad if self.o.check_errors or impl in self.o.builtins]
        try:
            findings = self._run(cases, bad, builtins, workers)
        except Exception as exc:
            self._internal = _InternalError(f"the harness failed while shrinking: {exc!r}")
            return
        same = [f for f in findings if f.mismatch.signature == sig]
        if not same:
            return
        best = min(same, key=lambda f: f.case.size_key())
        current = self.pending[sig]
        if best.case.size_key() <= current.case.size_key():
            self.pending[sig] = Failure(sig, best.mismatch, best.case, best.fault, current.path)
        raise _Shrink(sig)

    def _bulk(self, r: int) -> None:
        """Screen a numpy-drawn batch through the Triton kernel; confirm what differs."""
        n = self.o.bulk
        if self.o.max_cases is not None:
            n = min(n, self.o.max_cases - self.cases)
        if n <= 0:
            return
        rng = np.random.default_rng(round_seed(self.o.seed, r))
        case = None
        for chunk in range(0, n, BULK_CHUNK):  # bounded host memory, whatever N is
            size = min(BULK_CHUNK, n - chunk)
            start = time.perf_counter()
            found, part = bulk.screen(bulk.draw(rng, size), self.o.device)
            self.bulk_seconds += time.perf_counter() - start
            self.cases += size
            self.bulk_cases += size
            self.digest.update(f"bulk {r} {chunk} {size}".encode())
            self.on_progress(self)
            if found.first_bad is not None:
                case = part.case(found.first_bad)
                break
            if self.out_of_time():
                return
        if case is None:
            return
        # The vectorised oracle only points; the reference and the public entry decide.
        for batched in (False, True):
            findings = run_example(
                [case],
                [],
                ["reference", "triton"],
                [],
                self.o.device,
                self.tally,
                triton_batched=batched,
                check_errors=False,
            )
            new = [f for f in findings if f.mismatch.signature not in self.failures]
            if new:
                self._record_unshrunk(new[0])
                return
        print(
            f"bulk screen: oracle disagreement not confirmed on {case.describe()}", file=sys.stderr
        )

    def _record_unshrunk(self, f: Finding) -> None:
        """A failure Hypothesis did not draw: save at once, reduce greedily, save again."""
        sig = f.mismatch.signature
        first = self._save(f)  # on disk at once, in case the reduction is cut short
        polished = self._polish(
            Failure(sig, f.mismatch, f.case, f.fault, first), self.o.shrink_seconds
        )
        small = Finding(polished.mismatch, polished.case, polished.fault)
        path = self._save(small)
        if path != first:
            first.unlink(missing_ok=True)
        self._record(small, path, shrunk=polished.case != f.case, named=True)

    def _finish_chase(self) -> None:
        sig, self._chasing = self._chasing, None
        if sig is None or sig not in self.pending:
            return
        f = self.pending.pop(sig)
        if not self.interrupted and not self.out_of_time():
            f = self._polish(f)
        old = f.path
        path = self._save(Finding(f.mismatch, f.case, f.fault))
        if old is not None and old != path:
            old.unlink(missing_ok=True)
        self._record(Finding(f.mismatch, f.case, f.fault), path, shrunk=True)

    def _polish(self, f: Failure, seconds: float = POLISH_SECONDS) -> Failure:
        """A few seconds of greedy reductions after Hypothesis: rounder values, plainer layouts."""
        builtins = [b for b in self.o.builtins if b == f.mismatch.impl]
        workers = [(n, w) for n, w in self.workers if n == f.mismatch.impl]
        best = [f]

        def fails(case: Case) -> bool:
            found = run_one(
                case, f.fault, builtins, workers, self.o.device, self.tally, self.deadline
            )
            same = [x for x in found if x.mismatch.signature == f.signature]
            if same:
                best[0] = Failure(f.signature, same[0].mismatch, case, f.fault, f.path)
            return bool(same)

        seconds = min(seconds, self.o.shrink_seconds)
        if self.deadline is not None:
            seconds = min(seconds, self.deadline - time.monotonic())
        small = minimise(f.case, fails, seconds)
        return best[0] if best[0].case == small else f

    # --- bookkeeping ------------------------------------------------------------------------

    def _spec_of(self, impl: str) -> str | None:
        return next((s for s, n in self.names.items() if n == impl), None)

    def _save(self, f: Finding) -> Path:
        return corpus.save(
            self.o.corpus_dir,
            f.mismatch,
            f.case,
            f.fault,
            device=self.o.device,
            seed=self.o.seed,
            spec=self._spec_of(f.mismatch.impl),
        )

    def _record(
        self,
        f: Finding,
        path: Path | None,
        *,
        shrunk: bool = False,
        in_corpus_before: bool = False,
        named: bool = False,
    ) -> None:
        sig = f.mismatch.signature
        self.pending.pop(sig, None)
        self.failures[sig] = Failure(
            sig, f.mismatch, f.case, f.fault, path, shrunk, in_corpus_before, named
        )

    def _corpus_signatures(self) -> dict[str, Path]:
        entries, _ = (
            corpus.load_all([self.o.corpus_dir]) if self.o.corpus_dir.is_dir() else ([], [])
        )
        return {e.signature: e.path for e in entries if e.path is not None}

    def all_failures(self) -> list[Failure]:
        """Shrunk and re-found failures, then those saved unshrunk (found once, never again)."""
        return list(self.failures.values()) + list(self.pending.values())

    def report(self) -> dict:
        seconds = self.elapsed()
        return {
            "cases": self.cases,
            "hypothesis_cases": self.cases - self.bulk_cases,
            "bulk_cases": self.bulk_cases,
            "bulk_seconds": round(self.bulk_seconds, 3),
            "examples": self.examples,
            "rounds": self.rounds,
            "seconds": round(seconds, 3),
            "cases_per_second": round(self.cases / seconds, 1) if seconds else 0.0,
            "failures": [f.to_json() for f in self.all_failures()],
            "implementations": {
                name: {
                    "calls": self.tally.calls[name],
                    "seconds": round(self.tally.seconds[name], 3),
                }
                for name in self.tally.calls
            },
            "known_divergences": dict(self.tally.divergences),
            "restarts": {n: w.restarts for n, w in self.workers},
            "seed": self.o.seed,
            "unit": f"{self.o.unit}/{self.o.units}",
            "device": self.o.device,
            "cases_digest": self.digest.hexdigest(),
            "interrupted": self.interrupted,
            "versions": corpus.versions(),
        }

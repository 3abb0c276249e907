"""The round driver: named cases and shipped seeds first, then rounds of seeded Hypothesis
runs (and bulk screens) until the time, case or failure budget ends.

Round r has its own seed, derived from the campaign seed, so the same --seed and
--max-cases give the same cases, and N workers or N machines split one campaign by
taking every N-th round. Failures go to the book (book.py), which saves, shrinks and
saves again; this module only decides what runs next and counts it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from fuzz import bulk, corpus, plugin_bulk
from fuzz.book import Book, is_fault_kind
from fuzz.candidates import CandidateError, candidate_name, check_callable_as
from fuzz.case import Case, Fault
from fuzz.compare import Mismatch
from fuzz.compile_ahead import Helpers, compiles_ahead
from fuzz.harness import Finding, Tally, run_example, smallest_per_signature
from fuzz.isolation import AFTER_CALLS, IsolatedCandidate, default_confirm_seconds
from fuzz.report import Report
from fuzz.strategies import bad_calls, batches

EXAMPLES_PER_ROUND = 25
BULK_CHUNK = 131072
PLUGIN_BATCH = 8192  # cases per round trip to a plug-in's worker
PLUGIN_DEPTH = 2  # bulk batches in flight per plug-in: one runs while the last is judged
# Plug-in bulk time per round, as a multiple of the round's own time: on a GPU the bulk
# engine is where a plug-in's throughput is (a Hypothesis case costs a round trip each).
PLUGIN_SHARE = {"cpu": 4.0, "cuda": 20.0}
PLUGIN_REQUESTS = 2**18  # requests per plug-in batch at most (an envelope of large bs)
PLUGIN_SEED = 0x5EED_B01C
BULK_FAULTS = ("hang", "crash", "cuda-fault")  # a bulk batch's, failures of the case it was on
PER_CASE_CPU_S, PER_CASE_CUDA_S = 0.01, 0.002  # a batch's time limit, on top of --timeout
SUSPECTS_PER_BATCH = 8
FALLBACK_CASES = 256  # re-run one by one when a batch faults as a whole
SHIPPED_PER_EXAMPLE = 1
OPENING_CHUNK = 16  # opening cases a round trip (each chunk judged before the next is sent)
LEGACY_EVERY_CUDA = 16  # the legacy loop launches per request: on CUDA it sees a sample  # CPU: cases per example also sent through nsa_meta.expand itself
INJECT_ENV = "NSA_FUZZ_INJECT"  # tests only: "harness-error:<unit>" or "internal-error:<unit>"


@dataclass
class Options:
    deadline: float | None = None  # time.monotonic() at which --seconds ends
    max_cases: int | None = None
    seed: int = 0
    builtins: list[str] = field(default_factory=lambda: ["reference"])
    candidates: list[str] = field(default_factory=list)
    device: str = "cpu"
    corpus_dir: Path = Path("corpus")
    max_failures: int = 20
    timeout: float = 5.0
    confirm_seconds: float | None = None  # a timed-out case's lone re-run; None: the default
    slow_is_failure: bool = False
    check_errors: bool = False
    unit: int = 0  # this process's share of the rounds: r % units == unit
    units: int = 1
    shrink_seconds: float = 10.0
    fault_shrink_seconds: float = 60.0
    memory_limit_gb: float = 8.0
    bulk: int = 0  # cases per bulk screen of the Triton kernel after each round (0: none)
    envelope: dict | None = None  # from --envelope; a candidate's own fn.envelope wins
    named: bool = True
    op: str = "expand"  # "metadata": fuzz/meta_campaign.py drives contract-v2 cases
    compile_ahead: int = 0  # helper processes that run cases first (fuzz/compile_ahead.py)

    def to_json(self) -> dict:
        """Plain data, to start a worker process without importing this module first."""
        data = asdict(self)
        data["corpus_dir"] = str(self.corpus_dir)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Options:
        return cls(**{**data, "corpus_dir": Path(data["corpus_dir"])})

    def confirm_timeout(self) -> float:
        if self.confirm_seconds is not None:
            return self.confirm_seconds
        return default_confirm_seconds(self.timeout)

    def grace_seconds(self) -> float:
        """How far past --seconds a campaign may run: one hang confirmation."""
        return self.confirm_timeout() + 5.0 if self.candidates else 5.0


class _Shrink(Exception):
    """Raised inside the property so that Hypothesis shrinks the example."""


def fault_suspects(n: int, running: int | None) -> list[int]:
    """The cases to re-run alone when a bulk batch faulted as a whole: the one its worker
    was running when it died or hung and the 63 before it (a fault may surface a few calls
    late), then the first FALLBACK_CASES."""
    first = list(range(min(n, FALLBACK_CASES)))
    if running is None or not 0 <= running < n:
        return first
    near = list(range(running, max(-1, running - 64), -1))
    seen = set(near)
    return near + [i for i in first if i not in seen]


def round_seed(campaign_seed: int, r: int) -> int:
    return int(hashlib.sha256(f"{campaign_seed}:{r}".encode()).hexdigest()[:16], 16)


class Campaign:
    deferred_first = 0  # deferred opening cases run before the first round (_open_deferred)

    def __init__(self, options: Options, on_progress: Callable[[Campaign], None] | None = None):
        self.o = options
        self.on_progress = on_progress or (lambda c: None)
        self.should_stop: Callable[[], bool] = lambda: False  # set by whoever owns the signals
        self.tally = Tally()
        self.cases = self.bulk_cases = self.shipped_cases = self.plugin_bulk_cases = 0
        self.opening_cases = 0
        self.opening_left = 0  # opening cases --seconds ended before they were sent
        self._deferred: list = []  # opening cases run one after each round (_open_deferred)
        self.not_judged: Counter = Counter()  # campaign cases a candidate never answered
        self.unreproduced: list[dict] = []  # bulk batches that faulted, no case re-run alone did
        self.bulk_seconds = 0.0
        self.examples = self.rounds = 0
        self.digest = hashlib.sha256()
        self.interrupted = False
        self.errors: list[str] = []
        self.start = time.monotonic()
        self.deadline = options.deadline
        self.hard_deadline = (
            None if self.deadline is None else self.deadline + options.grace_seconds()
        )
        self.names = {spec: candidate_name(spec) for spec in options.candidates}
        self.workers: list[tuple[str, IsolatedCandidate]] = []
        self.envelope = None
        self.book = Book(self)
        self.pending: dict[str, tuple[Finding, Case]] = {}  # being shrunk by Hypothesis
        self._chasing: str | None = None
        self._chase_start = 0.0
        self._seen: set[bytes] = set()
        self._plugin_case_s: float | None = None  # a plug-in bulk case's worker time, lately

    # --- budget ---------------------------------------------------------------------------

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def out_of_cases(self) -> bool:
        return self.o.max_cases is not None and self.cases >= self.o.max_cases

    def done(self) -> bool:
        if not self.interrupted and self.should_stop():
            # A signal's KeyboardInterrupt can be swallowed (raised inside a gc callback,
            # say): the flag it also sets stops the campaign at the next check regardless.
            self.interrupted = True
        return (
            self.out_of_time()
            or self.out_of_cases()
            or len(self.book) >= self.o.max_failures
            or bool(self.errors)
            or self.interrupted
        )

    def _open(self, cases: list) -> None:
        """The opening cases, OPENING_CHUNK at a time: each chunk judged as it comes back,
        so a bug a small named case shows is found before the large ones have run (an
        interpreted Triton candidate spends tens of seconds on a few cases of 16,385
        requests). Cases the time cut off before they were sent count as not judged."""
        for i in range(0, len(cases), OPENING_CHUNK):
            if self.out_of_time():
                self.opening_left = len(cases) - i
                for name, _ in self.workers:
                    self.not_judged[name] += len(cases) - i
                return
            if self.errors or self.interrupted or len(self.book) >= self.o.max_failures:
                return
            bad = self._opening_bad() if i == 0 else []
            self._check(cases[i : i + OPENING_CHUNK], bad, count=True, found_by="named case")

    def _split_opening(self, cases: list) -> tuple[list, list]:
        """(the opening proper, cases deferred to one after each round). v1 defers none."""
        return cases, []

    def _open_deferred(self) -> None:
        """One deferred opening case after each round: the large named cases, on which an
        interpreted kernel spends seconds each (13-15 s at 16,385 requests for one of round
        8's), so Hypothesis's draws start once the small opening is judged and both go on
        side by side. Counted as opening cases."""
        if not self._deferred or self.done():
            return
        before = self.cases
        self._check([self._deferred.pop(0)], [], count=True, found_by="named case")
        self.opening_cases += self.cases - before

    def _opening_bad(self) -> list:
        """Bad calls sent with the opening's first chunk (v2: one named case per kind)."""
        return []

    def _room(self, n: int) -> int:
        return n if self.o.max_cases is None else max(0, min(n, self.o.max_cases - self.cases))

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> Campaign:
        # Cases are small: one intra-op thread beats several, and leaves a core to plug-ins.
        torch.set_num_threads(1)
        wanted = compiles_ahead(self.o.candidates, self.o.builtins)
        helpers = Helpers(self.o, self.o.compile_ahead if wanted else 0)
        try:
            helpers.start()  # their start-up overlaps the worker's
            self._start_workers()
            if self.o.named:
                # Every N-th opening case, as rounds: N workers compile a candidate's
                # variants for them side by side (a GPU campaign of a Triton candidate is
                # compile-bound there), and each case still runs once in the campaign.
                mine = self._opening_cases()[self.o.unit :: self.o.units]
                if mine:
                    first, self._deferred = self._split_opening(mine[: self._room(len(mine))])
                    try:
                        self._open(first)
                        for _ in range(self.deferred_first):
                            self._open_deferred()
                    finally:
                        self.opening_cases = self.cases
            r = self.o.unit
            if os.environ.get(INJECT_ENV) == f"internal-error:{self.o.unit}":
                raise RuntimeError(f"injected internal error ({INJECT_ENV})")
            while not self.done():
                began = time.monotonic()
                self._round(r)
                if self.o.bulk and "triton" in self.o.builtins and not self.done():
                    self._bulk(r)
                if self.o.bulk and self.workers and not self.done():
                    # Plug-ins get most of the time in bulk: a few times what the round took.
                    kind = "cpu" if self.o.device == "cpu" else "cuda"
                    share = PLUGIN_SHARE[kind] * (time.monotonic() - began)
                    self._plugin_bulk(r, until=time.monotonic() + share)
                self._open_deferred()
                r += self.o.units
                self.rounds += 1
            if self._deferred and self.out_of_time():
                self.opening_left += len(self._deferred)
                for name, _ in self.workers:
                    self.not_judged[name] += len(self._deferred)
        except KeyboardInterrupt:
            self.interrupted = True
        except CandidateError:
            raise  # a usage error (exit 2), decided by the caller
        except Exception as exc:  # our own bug: the report says so and the run exits 3
            if self.should_stop():  # an interrupt a library turned into another exception
                self.interrupted = True
            else:
                tail = traceback.format_exc(limit=8)[-2000:]
                self.errors.append(f"internal error: {exc!r}\n" + tail)
        finally:
            try:
                self._finish_chase()
            except KeyboardInterrupt:
                self.interrupted = True
            except Exception as exc:
                self.errors.append(f"internal error while finishing: {exc!r}")
            for _, w in self.workers:
                w.close()
            helpers.close()
        if not self.interrupted:
            self._judged_nothing()
        return self

    def _judged_nothing(self) -> None:
        """A candidate that answered no case and failed none: nothing is known of it, so the
        run cannot pass it (exit 3, not 0). Under load a 6 s campaign of a candidate taking
        0.25 s a call ended before its first answer, and exited 0."""
        failed = {f.mismatch.impl for f in self.book.failures.values()}
        for name, _ in self.workers:
            answered = self.tally.calls[name] + self.tally.calls[f"{name} (bulk)"]
            if not answered and name not in failed:
                self.errors.append(
                    f"--candidate {name}: not one case was judged in the campaign's time "
                    f"({self.not_judged.get(name, 0):,} sent, never answered): nothing is "
                    "known of it; give the campaign more --seconds"
                )

    def _start_workers(self) -> None:
        from fuzz.envelope import Envelope, EnvelopeError

        for spec in self.o.candidates:
            w = IsolatedCandidate(
                spec,
                self.o.device,
                self.o.timeout,
                self.o.memory_limit_gb,
                confirm_timeout=self.o.confirm_timeout(),
            )
            self.workers.append((self.names[spec], w))
            w.start(deadline=self.deadline)  # import time counts against --seconds
        cli = Envelope.parse(self.o.envelope, source="--envelope") if self.o.envelope else None
        found = []
        for spec, (_, w) in zip(self.o.candidates, self.workers):
            check_callable_as(spec, w.callable_as, self.o.op)
            own = getattr(w, "envelope", None)
            try:
                found.append(Envelope.parse(own, source=f"{spec}.envelope") if own else cli)
            except EnvelopeError as exc:
                raise CandidateError(str(exc)) from None
        if len({repr(e) for e in found}) > 1:
            raise CandidateError(
                "these candidates declare different envelopes; run each in its own campaign"
            )
        self.envelope = found[0] if found else cli

    def _opening_cases(self) -> list[Case]:
        """One named case per family, and the shipped regression seeds, inside the envelope."""
        from fuzz.seeds import shipped
        from fuzz.strategies import named_cases

        opening = list(named_cases(self.envelope).values())
        entries, errors = shipped("expand")
        for e in errors:
            self.errors.append(f"a shipped regression seed could not be read: {e}")
        for e in entries:
            case = e.case if self.envelope is None else self.envelope.restrict(e.case)
            if case is not None and e.fault is None:
                opening.append(case)
        return opening

    def _strategy(self) -> st.SearchStrategy:
        wants_bad = any(b != "reference" for b in self.o.builtins) or (
            self.o.check_errors and self.o.candidates
        )
        bad = (
            st.lists(bad_calls(with_out=True, envelope=self.envelope), max_size=3)
            if wants_bad
            else st.just([])
        )
        return st.tuples(batches(envelope=self.envelope), bad)

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
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # Hypothesis's Flaky when shrinking ran out of time, etc.
            if self.should_stop():
                # Ctrl-C or SIGTERM raised inside Hypothesis's engine, which can turn it
                # into another exception (an AssertionError of its own): an interrupt.
                raise KeyboardInterrupt from exc
            if self._chasing is None and not self.errors:
                self.errors.append(f"campaign round {r} failed: {exc!r}")
        self._finish_chase()

    def _property(self, cases: list[Case], bad: list[tuple[Case, Fault]]) -> None:
        if self._chasing is not None:
            return self._shrink_step(cases, bad)
        if self.done():
            return
        cases = cases[: self._room(len(cases))]
        # Every round opens with Hypothesis's simplest examples (all-zero bytes): run and
        # count an example once per campaign, not once per round.
        seen = hashlib.blake2b(repr((cases, bad)).encode(), digest_size=16).digest()
        if seen in self._seen:
            return
        self._seen.add(seen)
        chase = self._check(cases, bad, count=True, found_by="hypothesis")
        if chase is not None:
            self._chasing, self._chase_start = chase, time.monotonic()
            raise _Shrink(chase)

    def _check(self, cases, bad, *, count: bool, found_by: str) -> str | None:
        """Run one example; record findings. Returns a new signature for Hypothesis to shrink."""
        if os.environ.get(INJECT_ENV) == f"harness-error:{self.o.unit}":
            self.errors.append(f"worker {self.o.unit}: injected harness error ({INJECT_ENV})")
            return None
        unanswered = {name: self.tally.unanswered[name] for name, _ in self.workers}
        try:
            findings = self._run(cases, bad, self.o.builtins, self.workers)
            if "triton" in self.o.builtins and cases:
                findings += self._shipped_path(cases)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.errors.append(f"the harness failed: {exc!r}")
            return None
        if count:
            # A case counts once every candidate judged it (a case the time cut off does not).
            missed = {n: self.tally.unanswered[n] - k for n, k in unanswered.items()}
            self.not_judged.update({n: m for n, m in missed.items() if m})
            self.cases += len(cases) - max(missed.values(), default=0)
            self.examples += 1
            for c in cases:
                self.digest.update(repr(c).encode())
            self.on_progress(self)
        chase = None
        for f in smallest_per_signature(findings):
            sig = f.mismatch.signature
            if sig in self.book or sig in self.pending:
                continue
            if found_by == "hypothesis" and chase is None and not is_fault_kind(f.mismatch):
                chase = sig  # Hypothesis shrinks wrong outputs first, the book goes on after
                self.pending[sig] = (f, f.case)
                continue
            self.book.record(f, found_by=found_by)
        return chase

    def _run(self, cases, bad, builtins, workers) -> list[Finding]:
        return run_example(
            cases,
            bad,
            builtins,
            workers,
            self.o.device,
            self.tally,
            triton_batched=True,  # one launch per example; a sample takes the public path
            check_errors=self.o.check_errors,
            deadline=self.deadline,
            hard_deadline=self.hard_deadline,
            slow_is_failure=self.o.slow_is_failure,
            legacy_every=1 if self.o.device == "cpu" else LEGACY_EVERY_CUDA,
        )

    def _shipped_path(self, cases: list[Case]) -> list[Finding]:
        """The batched launch (fuzz/triton_batched.py: the shipped kernel's body) stands in
        for the Triton kernel on an example's cases; a few cases per example also go through
        nsa_meta.expand itself, with caller buffers and both validate modes, so the shipped
        public path is exercised too."""
        i = self.examples % len(cases)
        case = cases[i]
        variants = [replace(case, out_slack=case.out_slack or 3, validate=not case.validate)]
        variants = variants[:SHIPPED_PER_EXAMPLE] + [case][: max(0, SHIPPED_PER_EXAMPLE - 1)]
        self.shipped_cases += len(variants)
        return run_example(
            variants,
            [],
            ["reference", "triton"],
            [],
            self.o.device,
            self.tally,
            triton_batched=False,
            check_errors=False,
        )

    def _shrink_step(self, cases, bad) -> None:
        sig = self._chasing
        assert sig is not None
        if time.monotonic() - self._chase_start > self.o.shrink_seconds or self.out_of_time():
            return  # keep what we have: Hypothesis stops once nothing fails any more
        first, current = self.pending[sig]
        impl = first.mismatch.impl
        builtins = [b for b in self.o.builtins if b == impl]
        workers = [(n, w) for n, w in self.workers if n == impl]
        bad = [(c, f) for c, f in bad if self.o.check_errors or impl in self.o.builtins]
        try:
            findings = self._run(cases, bad, builtins, workers)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self.errors.append(f"the harness failed while shrinking: {exc!r}")
            return
        same = [f for f in findings if f.mismatch.signature == sig]
        if not same:
            return
        best = min(same, key=lambda f: f.case.size_key())
        if best.case.size_key() <= current.size_key():
            self.pending[sig] = (Finding(first.mismatch, first.case, best.fault), best.case)
        raise _Shrink(sig)

    def _finish_chase(self) -> None:
        sig, self._chasing = self._chasing, None
        if sig is None or sig not in self.pending:
            return
        first, shrunk = self.pending.pop(sig)
        self.book.record(first, found_by="hypothesis", hypothesis_shrunk=shrunk)

    def _plugin_bulk(self, r: int, until: float) -> None:
        """Batches through every plug-in until `until` (one batch at least), up to
        PLUGIN_DEPTH in flight: each worker runs the next batch while this process judges
        the last one. A batch starts, as one after another would, when the ones ahead of it
        should end before `until`. Batches still in flight when the campaign ends are
        discarded, their workers ended (never judged, never counted)."""
        flights: deque[tuple[int, bulk.Batch, list[bytes], int]] = deque()
        k = 0
        try:
            while True:
                while len(flights) < PLUGIN_DEPTH and (k == 0 or self._another(flights, until)):
                    sent = self._send_plugin_batch(r, k, flights)
                    k += 1
                    if not sent:
                        break
                if not flights or self.done():
                    return
                self._plugin_batch(r, *flights.popleft())
        finally:
            for _, w in self.workers:
                if w.bulk_in_flight():
                    w.discard_bulk()

    def _another(self, flights: deque, until: float) -> bool:
        """Whether one more batch should start: the batches ahead of it end before `until`
        (by the last batches' pace; not known yet: only when none is ahead)."""
        if self.done():
            return False
        ahead = sum(n for *_, n in flights)
        if ahead and self._plugin_case_s is None:
            return False
        return time.monotonic() + ahead * (self._plugin_case_s or 0.0) < until

    def _send_plugin_batch(self, r: int, k: int, flights: deque) -> bool:
        """Draw batch k and send it to every plug-in; False when no case is left to run."""
        reserved = sum(n for *_, n in flights)
        n = max(0, self._room(min(self.o.bulk, PLUGIN_BATCH) + reserved) - reserved)
        if self.envelope is not None and self.envelope.bs:
            n = min(n, max(1, PLUGIN_REQUESTS // max(self.envelope.bs)))
        if n <= 0:
            return False
        rng = np.random.default_rng([round_seed(self.o.seed, r) ^ PLUGIN_SEED, k])
        batch = bulk.draw(rng, n, self.envelope)
        header, blobs = plugin_bulk.pack(batch)
        per_case = PER_CASE_CPU_S if self.o.device == "cpu" else PER_CASE_CUDA_S
        for _, w in self.workers:
            w.send_bulk(header, blobs, self.o.timeout + n * per_case, self.hard_deadline)
        flights.append((k, batch, blobs, n))
        return True

    def _plugin_batch(self, r: int, k: int, batch: bulk.Batch, sent: list[bytes], n: int) -> None:
        """Judge batch k, sent to each plug-in (fuzz/plugin_bulk.py); suspects are confirmed
        alone against the reference. A batch that hangs, crashes or garbles is re-run case by
        case, where the fault gets its verdict, its cause and its shrinking as any other.
        Its cases count as screened once a plug-in's reply was judged (not when it faulted)."""
        self.digest.update(f"plugin bulk {r} {k} {n}".encode())
        counted = False
        for name, w in self.workers:
            status, reply, out, cause = w.receive_bulk()
            self.tally.add(f"{name} (bulk)", w.bulk_seconds, n)
            if status == "ok" and n:
                self._plugin_case_s = w.bulk_seconds / n
            verdict = None
            if status == "ok":
                try:
                    verdict = plugin_bulk.judge(batch, reply, out, sent)
                except (ValueError, TypeError, KeyError, IndexError):
                    verdict = None  # a reply that does not add up: re-run case by case
            if verdict is not None and not counted:
                self.cases += n
                self.plugin_bulk_cases += n
                counted = True
            if verdict is not None:
                suspects = verdict.suspects[:SUSPECTS_PER_BATCH]
                if verdict.inputs_modified and not suspects:
                    suspects = list(range(min(n, FALLBACK_CASES)))
            else:
                suspects = fault_suspects(n, w.bulk_progress if status != "ok" else None)
            if suspects:
                w.settle_bulk()  # the next batch is read first: the worker is then idle
            found = self._confirm_suspects(batch, suspects, name, w)
            if status in BULK_FAULTS and not found and w.bulk_progress is not None:
                # It died or stuck on one case after calls before it, and the case answers
                # alone: the fault needs those calls (as an item's would, fuzz/book.py).
                self._fault_after_calls(batch.case(w.bulk_progress), name, status, cause)
                found = True
            if suspects and not found and not self.done() and len(self.unreproduced) < 100:
                if status == "ok":  # the screen saw a difference a lone re-run does not show
                    status, cause = "differed", f"{len(suspects)} case(s) flagged in bulk"
                self.unreproduced.append(
                    {
                        "impl": name,
                        "status": status,
                        "cause": cause,
                        "cases": n,
                        "running": w.bulk_progress,
                    }  # fmt: skip
                )
            self.on_progress(self)
            if self.done():
                return

    def _fault_after_calls(self, case, name: str, status: str, cause: str) -> None:
        """A failure of the bulk case its worker died or stuck on (what ran before it was a
        bulk batch: no calls to search, said in its note)."""
        if self.out_of_time():  # its suspects may not have run alone: nothing claimed
            cause = f"{cause} (not re-run alone: the time budget ended)"
        elif status == "hang":
            cause = f"{cause}; alone it answered: {AFTER_CALLS}"
        else:
            cause = f"{cause} (on a case of a bulk batch, after the cases of it before)"
        m = Mismatch(name, status, detail=cause, cause=cause)
        if m.signature not in self.book:
            self.book.record(Finding(m, case), found_by="bulk screen", past=([], 1))

    def _confirm_suspects(self, batch, suspects: list[int], name: str, w) -> bool:
        """The vectorised oracle only points; the reference and the plug-in decide. True
        when a re-run alone failed."""
        for chunk in range(0, len(suspects), 64):
            cases = [batch.case(i) for i in suspects[chunk : chunk + 64]]
            findings = run_example(
                cases,
                [],
                ["reference"],
                [(name, w)],
                self.o.device,
                self.tally,
                triton_batched=False,
                check_errors=False,
                deadline=self.deadline,
                hard_deadline=self.hard_deadline,
                slow_is_failure=self.o.slow_is_failure,
            )
            for f in smallest_per_signature(findings):
                if f.mismatch.signature not in self.book:
                    self.book.record(f, found_by="bulk screen")
            if findings:
                return True
            if self.done():
                return False
        return False

    def _bulk(self, r: int) -> None:
        """Screen a numpy-drawn batch through the Triton kernel; confirm what differs."""
        n = self._room(self.o.bulk)
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
            new = [f for f in findings if f.mismatch.signature not in self.book]
            if new:
                self.book.record(new[0], found_by="bulk screen")
                return
        print(
            f"bulk screen: oracle disagreement not confirmed on {case.describe()}", file=sys.stderr
        )

    # --- bookkeeping ------------------------------------------------------------------------

    def spec_of(self, impl: str) -> str | None:
        return next((s for s, n in self.names.items() if n == impl), None)

    def progress(self) -> tuple[int, int]:
        return self.cases, len(self.book) + len(self.pending)

    def _hypothesis_cases(self) -> int:
        return self.cases - self.opening_cases - self.bulk_cases - self.plugin_bulk_cases

    def counts(self) -> dict:
        return {
            "cases": self.cases,
            "opening_cases": self.opening_cases,
            "hypothesis_cases": self._hypothesis_cases(),
            "bulk_cases": self.bulk_cases,
            "plugin_bulk_cases": self.plugin_bulk_cases,
            "failures": len(self.book) + len(self.pending),
        }

    def _describe(self, item: dict) -> str:
        try:
            return Case.from_json(item["case"]).describe()
        except (KeyError, TypeError, ValueError):
            return "?"

    def _slow(self) -> list[dict]:
        """Cases answered past --timeout, then those still running when their re-run was
        stopped (too slow to judge under the interpreter: `answered` false)."""
        out = []
        for name, w in self.workers:
            for item, seconds in w.slow:
                out.append(
                    {"impl": name, "seconds": round(seconds, 2), "case": self._describe(item)}
                )
            for item, seconds in w.too_slow:
                out.append(
                    {"impl": name, "seconds": round(seconds, 2), "case": self._describe(item),
                     "answered": False}
                )  # fmt: skip
        return out

    def report(self) -> Report:
        pending = [
            {
                "signature": sig,
                "summary": f.mismatch.describe(),
                "cause": getattr(f.mismatch, "cause", "") or f.mismatch.describe(),
                "case": f.case.describe(),
                "file": None,
                "shrunk": False,
                "why_not_shrunk": "interrupted while Hypothesis shrank it",
            }
            for sig, (f, _) in self.pending.items()
        ]
        return Report(
            cases=self.cases,
            opening_cases=self.opening_cases,
            opening_left=self.opening_left,
            hypothesis_cases=self._hypothesis_cases(),
            bulk_cases=self.bulk_cases,
            plugin_bulk_cases=self.plugin_bulk_cases,
            bulk_seconds=self.bulk_seconds,
            shipped_path_cases=self.shipped_cases,
            examples=self.examples,
            rounds=self.rounds,
            seconds=time.monotonic() - self.start,
            failures=self.book.to_json() + pending,
            errors=list(self.errors),
            slow=self._slow(),
            unconfirmed_hangs=[
                {"impl": n, "count": c} for n, c in self.tally.unconfirmed_hangs.items()
            ],
            not_judged=dict(self.not_judged),
            unreproduced_faults=list(self.unreproduced),
            implementations={
                name: {
                    "calls": self.tally.calls[name],
                    "seconds": round(self.tally.seconds[name], 3),
                }
                for name in self.tally.calls
            },
            known_divergences=dict(self.tally.divergences),
            restarts={n: w.restarts for n, w in self.workers},
            envelope=self.envelope.to_json() if self.envelope is not None else None,
            left_out=self.envelope.left_out() if self.envelope is not None else [],
            seed=self.o.seed,
            unit=f"{self.o.unit}/{self.o.units}",
            device=self.o.device,
            cases_digest=self.digest.hexdigest(),
            interrupted=self.interrupted,
            versions=corpus.versions(),
        )

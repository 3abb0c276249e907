"""Run every selected implementation on the same cases and compare each with the oracle.

Built-ins run in this process; plug-ins in isolated workers (isolation.py), which work
while the built-ins run. An example of many cases is screened (fuzz/screen.py): a numpy
oracle for all, one batched pass per backend; only what differs meets the pure-Python
reference and the per-case path, whose verdict it is.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from fuzz import screen
from fuzz.answers import Answer, call_checked, raised_cause
from fuzz.case import Case, Fault, faulty_args, faulty_out, refill_calls
from fuzz.compare import Mismatch, check_outputs, expected_tensors, summarise
from fuzz.contract import FAULTS, KNOWN_DIVERGENCES, OUT_FAULTS, expected_error
from fuzz.isolation import IsolatedCandidate, worker_items
from fuzz.registry import IMPLEMENTATIONS
from nsa_meta.api import expand

POISON = -777  # written into caller buffers beforehand; must survive past `total`
GUARD = 8  # slots past the buffer's capacity that must survive too
BACKENDS = ("triton", "torch")  # built-ins that take `out=` and `validate=`
SCREEN_MIN = 8  # an example of this many cases or more is screened in bulk (fuzz/screen.py)
NUMPY_ORACLE = "oracle (numpy)"  # the Tally's name for the screen's vectorised oracle


@dataclass
class Finding:
    mismatch: Mismatch
    case: Case
    fault: Fault | None = None


@dataclass
class Tally:
    """Counts and time per implementation, for the report."""

    calls: Counter = field(default_factory=Counter)
    seconds: defaultdict = field(default_factory=lambda: defaultdict(float))
    divergences: Counter = field(default_factory=Counter)
    slow: Counter = field(default_factory=Counter)  # plug-in answers past --timeout
    unconfirmed_hangs: Counter = field(default_factory=Counter)  # cut short by the budget
    # Cases a candidate never answered: the time ended, or a hang or crashes ended their
    # batch, first. The campaign does not count them as cases, and the report says so.
    unanswered: Counter = field(default_factory=Counter)

    def add(self, impl: str, seconds: float, n: int = 1) -> None:
        self.calls[impl] += n
        self.seconds[impl] += seconds


def is_known_divergence(impl: str, case: Case, answer: Answer) -> bool:
    """A departure fuzz.contract.KNOWN_DIVERGENCES documents (the legacy loop raising on an
    empty batch): counted and reported, not a failure. CONTRACT.md keeps it visible."""
    return (impl, "empty batch") in KNOWN_DIVERGENCES and case.bs == 0 and answer.status == "raised"


class HarnessError(Exception):
    """Our own fault (a plug-in's worker could not build a case): never the candidate's.
    The campaign turns it into exit 3."""


PLUGIN_FAULTS = ("hang", "crash", "cuda-fault", "protocol", "oversize")


def _fault(impl: str, kind: str, answer: Answer) -> Mismatch:
    cause = answer.cause or answer.detail or answer.status
    return Mismatch(impl, kind, detail=cause, cause=cause, output_tail=answer.output_tail)


def _not_ours(impl: str, answer: Answer) -> None:
    if answer.status == "harness-error":
        raise HarnessError(f"{impl}: the worker could not build the case: {answer.cause}")


REFILLED = "call 2, same input tensors refilled in place"
BEFORE_REFILL = "call 1 of 2, the prior values, before the in-place refill"
EITHER_CALL = "one of 2 calls on the same input tensors, refilled in place between them"


def at_call(found: Mismatch | None, which: str) -> Mismatch | None:
    """`found` with its cause saying which call of a refill case it was."""
    if found is None:
        return None
    return replace(found, cause=f"{which}: {found.cause or found.describe()}")


def judge_valid(
    impl: str, case: Case, answer: Answer, expected, device, *, slow_is_failure: bool = False
) -> Mismatch | None:
    """A valid call must return the oracle's pair and leave its inputs alone. A refill case
    (`case.prior`): call 1 is judged against the prior's own answer, then call 2."""
    if case.prior is None:
        return _judge_call(impl, answer, expected, device, slow_is_failure)
    if answer.first is None:  # a fault of the item as a whole (a crash, a hang)
        return at_call(_judge_call(impl, answer, expected, device, slow_is_failure), EITHER_CALL)
    first = case.first_call()
    want = expected_tensors(first.expected())
    found = _judge_call(impl, answer.first, want, device, slow_is_failure)
    if found is not None:
        return at_call(found, BEFORE_REFILL)
    return at_call(_judge_call(impl, answer, expected, device, slow_is_failure), REFILLED)


def _judge_call(impl: str, answer: Answer, expected, device, slow_is_failure: bool):
    _not_ours(impl, answer)
    if answer.status in PLUGIN_FAULTS:
        return _fault(impl, answer.status, answer)
    if answer.status == "unconfirmed-hang":
        return None  # the budget cut the confirmation short: counted, not a verdict
    if answer.status == "raised":
        return Mismatch(
            impl,
            f"raised {answer.exc_type}",
            detail=answer.message[:200],
            cause=answer.cause,
            output_tail=answer.output_tail,
        )
    if answer.status == "slow" and slow_is_failure:
        return _fault(impl, "slow", answer)
    if answer.status not in ("ok", "slow"):
        return _fault(impl, answer.status, answer)
    found = check_outputs(impl, answer.outputs, expected, device)
    if found is None and answer.modified:
        return Mismatch(impl, "input-modified", cause="an input's storage changed during the call")
    return found


def judge_error(
    impl: str, fault: Fault, answer: Answer, *, slow_is_failure: bool = False
) -> Mismatch | None:
    """A bad input must raise the contract's exception, naming the argument, writing nothing."""
    _not_ours(impl, answer)
    want, names = expected_error(fault)
    kind = f"error {fault.kind}"
    bad = f"({' or '.join(names)}: {fault.to_json()})"  # the argument and what was wrong
    if answer.status in PLUGIN_FAULTS or (answer.status == "slow" and slow_is_failure):
        return _fault(impl, f"{kind}: {answer.status}", answer)
    if answer.status == "unconfirmed-hang":
        return None
    if answer.status != "raised":
        return Mismatch(
            impl,
            f"{kind}: no exception",
            expected=want.__name__,
            got="returned",
            cause=f"returned instead of raising {want.__name__} {bad}",
        )
    if want.__name__ not in answer.exc_mro:
        return Mismatch(
            impl,
            f"{kind}: wrong exception",
            expected=want.__name__,
            got=answer.exc_type,
            detail=answer.message[:200],
            cause=f"raised {answer.cause}, expected {want.__name__} {bad}",
        )
    if not any(n in answer.message for n in names):
        return Mismatch(
            impl,
            f"{kind}: message",
            expected=" or ".join(names),
            got=answer.message[:200],
            cause=f"the message does not name {' or '.join(names)}: {answer.cause}",
        )
    if answer.modified:
        return Mismatch(impl, f"{kind}: wrote before raising", cause="an input's storage changed")
    return None


def _poisoned(n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    store = torch.full((2, n + GUARD), POISON, dtype=torch.int32, device=device)
    return store[0], store[1]


def call_case(fn, case: Case, device) -> Answer:
    """`fn` called here on the case's inputs; a refill case calls it twice on the same
    tensors (the prior's values, then the case's written in place): call 2's Answer, with
    call 1's as `first`."""
    if case.prior is None:
        return call_checked(fn, (*case.tensors(device), case.nsa_index_topk), device)
    calls = refill_calls(case, device)
    first = call_checked(fn, next(calls), device)
    answer = call_checked(fn, next(calls), device)
    answer.first, answer.seconds = first, answer.seconds + first.seconds
    return answer


def run_backend(name: str, case: Case, device, expected) -> tuple[Mismatch | None, float]:
    """Call nsa_meta.expand with this case's out/validate mode; check buffers' tails too.
    A refill case: call 1 on the prior's values, then call 2 on the same tensors refilled."""
    if case.prior is None:
        return _backend_call(name, case, device, expected, *case.tensors(device))
    first, calls = case.first_call(), refill_calls(case, device)
    ext, seq, _ = next(calls)
    want = expected_tensors(first.expected())
    found, seconds = _backend_call(name, first, device, want, ext, seq)
    if found is not None:
        return at_call(found, BEFORE_REFILL), seconds
    next(calls)  # the case's values, in place
    found, more = _backend_call(name, case, device, expected, ext, seq)
    return at_call(found, REFILLED), seconds + more


def _backend_call(name: str, case: Case, device, expected, ext, seq):
    if case.out_slack is None:
        answer = call_checked(
            lambda e, s, k: expand(e, s, k, backend=name, validate=case.validate),
            (ext, seq, case.nsa_index_topk),
            device,
        )
        return judge_valid(name, case, answer, expected, device), answer.seconds
    capacity = case.total + case.out_slack
    store_e, store_c = _poisoned(capacity, device)

    def into_buffers(e, s, k) -> None:  # what matters is the buffers, read below
        expand(
            e,
            s,
            k,
            backend=name,
            out=(store_e[:capacity], store_c[:capacity]),
            validate=case.validate,
        )

    answer = call_checked(into_buffers, (ext, seq, case.nsa_index_topk), device)
    if answer.status != "ok":
        return judge_valid(name, case, answer, expected, device), answer.seconds
    total = case.total
    written = summarise((store_e[:total], store_c[:total]))
    found = check_outputs(name, written, expected, device)
    if found is None and answer.modified:
        found = Mismatch(name, "input-modified", cause="an input's storage changed during the call")
    for out_name, store in (("seqlens_expanded", store_e), ("nsa_cache_seqlens", store_c)):
        tail = store[total:].cpu()
        if found is None and bool((tail != POISON).any()):
            i = int((tail != POISON).nonzero()[0, 0])
            found = Mismatch(
                name,
                "tail-written",
                out_name,
                total + i,
                POISON,
                int(tail[i]),
                detail=f"capacity {capacity}",
                cause=f"{out_name}[{total + i}] past total was written: {int(tail[i])}",
            )
    return found, answer.seconds


def run_builtin_error(name: str, case: Case, fault: Fault, device) -> Mismatch | None:
    if fault.kind in OUT_FAULTS:
        if name not in BACKENDS:
            return None
        out = faulty_out(case, fault, device)
        before = [o.clone() for o in out if isinstance(o, torch.Tensor) and o.device.type != "meta"]
        ext, seq = case.tensors(device)
        answer = call_checked(
            lambda e, s, k: expand(e, s, k, backend=name, out=out, validate=True),
            (ext, seq, case.nsa_index_topk),
            device,
        )
        after = [o for o in out if isinstance(o, torch.Tensor) and o.device.type != "meta"]
        answer.modified = answer.modified or any(
            not torch.equal(a, b) for a, b in zip(after, before)
        )
    else:
        answer = call_checked(IMPLEMENTATIONS[name], faulty_args(case, fault, device), device)
    return judge_error(name, fault, answer)


class Oracle:
    """An example's expected outputs. Screened (`screened=True`): the numpy oracle answers
    every case in one pass (`wants`), cross-checked against the pure-Python reference on a
    sample, and the reference (`self[i]`, the judge) runs only for the cases asked of it.
    Otherwise the reference answers every case up front, as the judge and the screen both.
    The Tally counts the reference's real runs under "reference"."""

    def __init__(self, cases: list[Case], tally: Tally, *, screened: bool):
        self.cases, self.tally = cases, tally
        self._judged: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._lists: dict[int, tuple[list, list]] = {}
        if not screened:
            start = time.perf_counter()
            self._judged = {i: expected_tensors(c.expected()) for i, c in enumerate(cases)}
            self.wants = [(e.numpy(), c.numpy()) for e, c in self._judged.values()]
            tally.add("reference", time.perf_counter() - start, len(cases))
            return
        start = time.perf_counter()
        self.wants = screen.numpy_oracle(cases)
        tally.add(NUMPY_ORACLE, time.perf_counter() - start, len(cases))
        start = time.perf_counter()
        try:
            self._lists = screen.cross_check(cases, self.wants)
        except screen.OracleDisagreement as exc:
            raise HarnessError(str(exc)) from None
        tally.add("reference", time.perf_counter() - start, len(self._lists))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference's answer for case i (the judge's), run once when first asked."""
        if i not in self._judged:
            start = time.perf_counter()
            ran = i not in self._lists
            values = self._lists[i] if not ran else self.cases[i].expected()
            self._judged[i] = expected_tensors(values)
            self.tally.add("reference", time.perf_counter() - start, int(ran))
        return self._judged[i]

    def confirm(self, i: int, seen: screen.Want) -> None:
        """A screen saw `seen` for case i, unlike `wants[i]`: if the reference gives `seen`,
        the numpy oracle was wrong (our bug), whatever the implementation does alone."""
        ref = self[i]
        if all(np.array_equal(s, r.numpy()) for s, r in zip(seen, ref)):
            message = screen.disagreement(self.cases[i], self.wants[i], [r.tolist() for r in ref])
            raise HarnessError(message)
        # The batched pass got wrong values that the same built-in, alone, does not: the
        # screen's batching (ours) or a built-in that depends on its neighbours. Never silent.
        raise HarnessError(
            f"a built-in gave other values in the batched screen than alone on "
            f"{self.cases[i].describe()}: screened {[list(map(int, s[:8])) for s in seen]}, "
            f"reference {[r.tolist()[:8] for r in ref]} (first 8 of each output)"
        )

    def judge(self, impl: str, i: int, answer: Answer, device, slow_is_failure: bool = False):
        """judge_valid, with the reference asked only when the screen sees anything off."""
        if answer.status == "ok" and not answer.modified and answer.first is None:
            if screen.outputs_match(answer.outputs, self.wants[i], device):
                return None
        return judge_valid(
            impl, self.cases[i], answer, self[i], device, slow_is_failure=slow_is_failure
        )


def run_triton_batch(cases: list[Case], device, expected: Oracle, tally: Tally) -> list[Finding]:
    """All cases through the Triton kernel's body, one launch per dtype pair and length
    range, fed from one upload of every case's storages (each case keeps its own strides,
    offset and top-k); every output fetched in one download and screened; what differs is
    judged case by case against the reference."""
    from fuzz.triton_batched import expand_packed

    # A launch's tile is (requests x longest extend), so cases go by how long their longest
    # extend is: a thousand MTP-sized requests never pay for one long extend.
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        longest = max(c.extend_seq_lens, default=0)
        bucket = sum(longest > edge for edge in (4, 16, 64, 256))
        groups[(c.extend_layout.dtype, c.seq_layout.dtype, bucket)].append(i)
    start = time.perf_counter()
    inputs = screen.upload(cases, device)
    for i, views in enumerate(inputs.views):
        if views is None:
            cases[i].tensors(device)  # raises what the per-case path raises
    tally.add("triton", time.perf_counter() - start, 0)
    findings = []
    results: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    as_tensor = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    for (ext_dtype, seq_dtype, _), idx in groups.items():
        totals = [cases[i].total for i in idx]
        topk = np.repeat(
            np.fromiter((cases[i].nsa_index_topk for i in idx), np.int64, len(idx)),
            [cases[i].bs for i in idx],
        )
        start = time.perf_counter()
        try:
            out_e, out_c = expand_packed(
                inputs.buffers[ext_dtype],
                inputs.buffers[seq_dtype],
                as_tensor(inputs.request_index(cases, idx, 0)),
                as_tensor(inputs.request_index(cases, idx, 1)),
                as_tensor(topk),
                sum(totals),
                max((max(cases[i].extend_seq_lens, default=0) for i in idx), default=0),
            )
        except Exception as exc:
            findings.append(
                Finding(
                    Mismatch(
                        "triton",
                        f"raised {type(exc).__name__}",
                        detail=str(exc)[:200],
                        cause=raised_cause(type(exc).__name__, str(exc)),
                    ),
                    cases[idx[0]],
                )
            )
            continue
        tally.add("triton", time.perf_counter() - start, len(idx))
        results.update(zip(idx, zip(out_e.split(totals), out_c.split(totals))))
    start = time.perf_counter()
    seen = screen.screen_results(results, cases, expected.wants, device)
    tally.add("triton", time.perf_counter() - start, 0)
    for i in seen.suspects:
        found = check_outputs("triton", summarise(results[i]), expected[i], device)
        if found is None and i in seen.seen:
            expected.confirm(i, seen.seen[i])
        elif found is not None:
            findings.append(Finding(found, cases[i]))
    return findings


def screen_backend(name: str, cases: list[Case], device, expected: Oracle, tally: Tally):
    """A built-in backend on all cases in one batched pass (fuzz/screen.py); the cases it
    flags are re-run alone through `run_backend`, which decides. Tally: one call a case."""

    def call(ext, seq, topk, out, validate):
        return expand(ext, seq, topk, backend=name, out=out, validate=validate)

    seen = screen.screen_backend(call, cases, expected.wants, device, POISON, GUARD)
    tally.add(name, seen.seconds, len(cases))
    findings = []
    for i in seen.suspects:
        found, seconds = run_backend(name, cases[i], device, expected[i])
        tally.add(name, seconds, 0)
        if found is not None:
            findings.append(Finding(found, cases[i]))
        elif i in seen.seen:
            expected.confirm(i, seen.seen[i])
    return findings


def run_example(
    cases: list[Case],
    bad: list[tuple[Case, Fault]],
    builtins: list[str],
    candidates: list[tuple[str, IsolatedCandidate]],
    device: str,
    tally: Tally,
    *,
    triton_batched: bool,
    check_errors: bool,
    deadline: float | None = None,
    hard_deadline: float | None = None,
    slow_is_failure: bool = False,
    legacy_every: int = 1,
    before: list[dict] | tuple = (),
) -> list[Finding]:
    """Every implementation on every case (the legacy loop on every `legacy_every`-th);
    a Finding for each mismatch.

    An example of SCREEN_MIN cases or more is screened (fuzz/screen.py): built-in backends
    run in one batched pass, every answer is compared with the numpy oracle, and only what
    differs goes to the per-case path and the pure-Python reference, whose verdict it is.
    Plug-ins answer by `deadline` (a hang confirmation may run on to `hard_deadline`);
    a plug-in item that got no answer in time is simply not judged. HarnessError when a
    plug-in's worker reports our own fault, or when the two oracles disagree. `before`:
    worker items each plug-in runs first, in a fresh worker (`IsolatedCandidate.submit`);
    built-ins keep no state between calls and ignore them."""
    # A plug-in has no `out` argument: only the faults of the three contract arguments.
    plugin_bad = [(c, f) for c, f in bad if f.kind in FAULTS] if check_errors else []
    if candidates:
        items = worker_items(cases, plugin_bad)
        for _, worker in candidates:
            worker.submit(items, before)

    findings: list[Finding] = []
    screened = len(cases) >= SCREEN_MIN
    expected = Oracle(cases, tally, screened=screened)
    for name in builtins:
        if name == "reference":
            continue
        # The error contract runs on every built-in, the batched Triton path included.
        batched = name == "triton" and triton_batched
        if batched:
            findings += run_triton_batch(cases, device, expected, tally)
        elif screened and name in BACKENDS:
            findings += screen_backend(name, cases, device, expected, tally)
        todo = list(enumerate(cases))
        if batched or (screened and name in BACKENDS):
            # The batched passes call each case once on fresh tensors: a refill case's two
            # calls on the same tensors go through the per-case path as well.
            todo = [(i, c) for i, c in todo if c.prior is not None]
        elif name == "legacy" and legacy_every > 1:  # per-request launches: a sample only
            todo = todo[::legacy_every]
        for i, case in todo:
            if name in BACKENDS:
                found, seconds = run_backend(name, case, device, expected[i])
            else:
                answer = call_case(IMPLEMENTATIONS[name], case, device)
                seconds = answer.seconds
                if is_known_divergence(name, case, answer):
                    tally.divergences[f"{name}: empty batch"] += 1
                    found = None
                else:
                    found = expected.judge(name, i, answer, device)
            tally.add(name, seconds)
            if found is not None:
                findings.append(Finding(found, case))
        for case, fault in bad:
            found = run_builtin_error(name, case, fault, device)
            if found is not None:
                findings.append(Finding(found, case, fault))

    for name, worker in candidates:
        answers = worker.collect(deadline, hard_deadline)
        for i, answer in enumerate(answers):
            if answer is None:
                tally.unanswered[name] += i < len(cases)
                continue
            tally.add(name, answer.seconds)
            if answer.status == "slow":
                tally.slow[name] += 1
            elif answer.status == "unconfirmed-hang":
                tally.unconfirmed_hangs[name] += 1
            if i < len(cases):
                found = expected.judge(name, i, answer, device, slow_is_failure)
                if found is not None:
                    findings.append(Finding(found, cases[i]))
            else:
                case, fault = plugin_bad[i - len(cases)]
                found = judge_error(name, fault, answer, slow_is_failure=slow_is_failure)
                if found is not None:
                    findings.append(Finding(found, case, fault))
    return findings


def run_one(
    case: Case,
    fault: Fault | None,
    builtins: list[str],
    candidates: list[tuple[str, IsolatedCandidate]],
    device: str,
    tally: Tally,
    deadline: float | None = None,
    hard_deadline: float | None = None,
    slow_is_failure: bool = False,
    before: list[dict] | tuple = (),
) -> list[Finding]:
    """One saved or reduced case (valid, or with its fault) through the public entries;
    `before`: the calls a plug-in runs first in a fresh worker (see `run_example`)."""
    cases, bad = ([], [(case, fault)]) if fault else ([case], [])
    return run_example(
        cases,
        bad,
        builtins,
        candidates,
        device,
        tally,
        triton_batched=False,
        check_errors=True,
        deadline=deadline,
        hard_deadline=hard_deadline,
        slow_is_failure=slow_is_failure,
        before=before,
    )


def reproduce(
    case: Case,
    fault: Fault | None,
    signature: str,
    builtins: list[str],
    candidates: list[tuple[str, IsolatedCandidate]],
    device: str,
    tally: Tally,
    *,
    deadline: float | None = None,
    hard_deadline: float | None = None,
    slow_is_failure: bool = False,
    confirm: bool = True,
    before: list[dict] | tuple = (),
) -> Finding | None:
    """Does `case` still fail with `signature`? The one question the campaign's shrinking,
    `minimise` and `replay` ask. `confirm=False`: a plug-in timeout counts as the hang at
    once, without the long re-run (shrinking confirms its final case instead). `before`:
    calls a plug-in runs first in a fresh worker (a failure that needs them)."""
    for _, w in candidates:
        w.confirm = confirm
    try:
        found = run_one(
            case,
            fault,
            builtins,
            candidates,
            device,
            tally,
            deadline=deadline,
            hard_deadline=hard_deadline,
            slow_is_failure=slow_is_failure,
            before=before,
        )
    finally:
        for _, w in candidates:
            w.confirm = True
    same = [f for f in found if f.mismatch.signature == signature]
    return same[0] if same else None


def smallest_per_signature(findings: list[Finding]) -> list[Finding]:
    """One finding per signature: the one with the simplest case."""
    best: dict[str, Finding] = {}
    for f in findings:
        sig = f.mismatch.signature
        if sig not in best or f.case.size_key() < best[sig].case.size_key():
            best[sig] = f
    return list(best.values())

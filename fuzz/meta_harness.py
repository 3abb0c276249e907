"""Run every selected implementation on contract-v2 cases and judge it (fuzz/meta_judge.py).

Built-ins (`nsa_meta.metadata` on the triton and torch backends) run here, into the case's
poisoned buffers (validate on or off) or with out=None; candidates run in isolated workers
(items with "op": "metadata") and send storages back; the oracle runs in this process.
"""

from __future__ import annotations

import time

import torch

from fuzz.answers import Answer, raised_cause
from fuzz.harness import PLUGIN_FAULTS, Finding, HarnessError, Tally
from fuzz.isolation import worker_items
from fuzz.meta_case import FIELDS, MetaCase, poison_again
from fuzz.meta_judge import MetaMismatch, Plan, fault_storages, judge_error, judge_sequence, plan
from fuzz.meta_worker import storages

BACKENDS = ("triton", "torch")


def _fault(impl: str, kind: str, answer: Answer) -> MetaMismatch:
    cause = answer.cause or answer.detail or answer.status
    return MetaMismatch(impl, kind, detail=cause, cause=cause, output_tail=answer.output_tail)


def judge_answer(
    impl: str, p: Plan, answer: Answer, *, slow_is_failure: bool = False
) -> MetaMismatch | None:
    """A candidate's answer: faults first, then every call it made, then its exception."""
    if answer.status == "harness-error":
        raise HarnessError(f"{impl}: the worker could not build the case: {answer.cause}")
    if answer.status in PLUGIN_FAULTS:
        return _fault(impl, answer.status, answer)
    if answer.status == "unconfirmed-hang":
        return None
    if answer.status == "slow" and slow_is_failure:
        return _fault(impl, "slow", answer)
    calls = answer.outputs if isinstance(answer.outputs, list) else []
    done = calls if answer.status != "raised" else calls[:-1]  # the raising call is not judged
    found = judge_sequence(impl, p, done)
    if found is not None:
        return found
    if answer.status == "raised":
        k = getattr(answer, "call", 0)
        where = f" (call {k + 1})" if len(p.expected) > 1 else ""
        return MetaMismatch(
            impl,
            f"raised {answer.exc_type}",
            detail=answer.message[:200],
            cause=answer.cause + where,
            output_tail=answer.output_tail,
        )
    if answer.status not in ("ok", "slow"):
        return _fault(impl, answer.status, answer)
    return None


# --- built-ins, in this process ----------------------------------------------------------


def storage_arrays(out, args) -> dict:
    names, flats = storages(out, args)
    p_dtypes = {}
    for n, t in zip(FIELDS, out):
        if t is not None:
            p_dtypes[n] = t.dtype
    got = {}
    for n, f in zip(names, flats):
        dtype = p_dtypes.get(n) or args[n].dtype
        got[n] = f.cpu().view(dtype).numpy().copy()
    return got


def run_builtin(name: str, case: MetaCase, p: Plan, device) -> MetaMismatch | None:
    if case.out == "none":
        return _run_fresh(name, case, p, device)
    out = case.buffers(device)
    calls = []
    args = None
    for k, call in enumerate(case.calls):
        args = case.call_args(k, device, args)
        if case.repoison and k:
            poison_again(out)
        try:
            _builtin(name, call, case, args, out=out)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
        except Exception as exc:
            found = judge_sequence(name, p, calls)
            if found is not None:
                return found
            return MetaMismatch(
                name,
                f"raised {type(exc).__name__}",
                detail=str(exc)[:200],
                cause=raised_cause(type(exc).__name__, str(exc)[:2000]) + f" (call {k + 1})",
            )
        calls.append(storage_arrays(out, args))
    return judge_sequence(name, p, calls)


def _builtin(name: str, call, case: MetaCase, args: dict, *, out):
    """One call of a built-in backend through the public entry, as the case asks for it."""
    import nsa_meta

    return nsa_meta.metadata(
        call.mode,
        args["seq_lens"],
        args["req_pool_indices"],
        args["req_to_token"],
        topk=call.topk,
        width=call.width_in(case.width),
        page_size=call.page_in(case.page_size),
        next_n=call.next_n,
        extend_seq_lens=args["extend_seq_lens"],
        backend=name,
        out=None if out is None else case.call_out(out, call),
        validate=case.validate,
    )


def _run_fresh(name: str, case: MetaCase, p: Plan, device) -> MetaMismatch | None:
    """out=None: each call returns new tensors of exactly the contract's shapes."""

    for k, (call, want) in enumerate(zip(case.calls, p.expected)):
        args = call.tensors(device)
        try:
            got = _builtin(name, call, case, args, out=None)
        except Exception as exc:
            return MetaMismatch(
                name,
                f"raised {type(exc).__name__}",
                detail=str(exc)[:200],
                cause=raised_cause(type(exc).__name__, str(exc)[:2000]),
            )
        for field, buf, values in zip(FIELDS, got, want):
            if values is None:
                if buf is not None:
                    return MetaMismatch(name, "not-none", field, cause=f"{field} is not None")
                continue
            columns = {"page_table_1": p.widths[k], "real_page_table": p.pages[k]}.get(field)
            want_t = torch.tensor(values, dtype=torch.int32)
            if columns is not None:  # a page table is 2-D, even with no rows
                want_t = want_t.reshape(len(values), columns)
            if not isinstance(buf, torch.Tensor) or buf.dtype != torch.int32:
                return MetaMismatch(name, "dtype", field, cause=f"{field} is not an int32 tensor")
            if tuple(buf.shape) != tuple(want_t.shape):
                return MetaMismatch(
                    name,
                    "shape",
                    field,
                    cause=f"{field} has shape {tuple(buf.shape)}, expected {tuple(want_t.shape)}",
                )
            diff = (buf.cpu() != want_t).nonzero()
            if diff.numel():
                cell = tuple(int(x) for x in diff[0])
                g, w = int(buf.cpu()[cell]), int(want_t[cell])
                label = "[" + ", ".join(map(str, cell)) + "]"
                return MetaMismatch(
                    name, "values", field, None, w, g, cause=f"{field}{label} is {g}, expected {w}"
                )
    return None


def run_builtin_error(name: str, case: MetaCase, fault, device) -> MetaMismatch | None:
    """A bad call through nsa_meta.metadata (validate=True, into the case's buffers): the
    contract's exception, naming the argument, nothing written."""
    import nsa_meta

    def call(kw: dict) -> None:
        mode = kw.pop("mode")
        args = [kw.pop(n) for n in ("seq_lens", "req_pool_indices", "req_to_token")]
        nsa_meta.metadata(mode, *args, **kw, backend=name, validate=True)

    return judge_bad_call_here(name, call, case, fault, device)


def judge_bad_call_here(impl: str, call, case: MetaCase, fault, device) -> MetaMismatch | None:
    """`call(kw)` on one bad call built here (kw: the v2 keyword arguments, `out` included),
    judged as a worker's answer is: the exception, its message, nothing written."""
    from fuzz.meta_contract import faulty_call, tensors_of

    kw = faulty_call(case, fault, device)
    named = tensors_of(kw, device)
    before = fault_storages(case, fault)
    start = time.perf_counter()
    try:
        call(dict(kw))
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        answer = Answer("ok")
    except Exception as exc:
        message = str(exc)[:2000]
        answer = Answer(
            "raised",
            exc_type=type(exc).__name__,
            exc_mro=tuple(c.__name__ for c in type(exc).__mro__),
            message=message,
            cause=raised_cause(type(exc).__name__, message),
        )
    answer.seconds = time.perf_counter() - start
    answer.outputs = {
        n: torch.empty(0, dtype=torch.uint8, device=t.device)
        .set_(t.untyped_storage())
        .cpu()
        .numpy()
        .copy()
        for n, t in named
    }
    return judge_error(impl, fault, answer, before)


# --- one example ----------------------------------------------------------------------------


def run_meta(
    cases: list[MetaCase],
    builtins: list[str],
    candidates: list,
    device: str,
    tally: Tally,
    *,
    deadline: float | None = None,
    hard_deadline: float | None = None,
    slow_is_failure: bool = False,
    bad: list | tuple = (),
    check_errors: bool = True,
    before: list[dict] | tuple = (),
) -> list[Finding]:
    """Every implementation on every case, and on every bad call of `bad` ((case, fault)
    pairs: built-ins always, candidates with `check_errors`); a Finding per failure.
    `before`: worker items each candidate runs first, in a fresh worker; built-ins keep no
    state between calls and ignore them."""
    plugin_bad = list(bad) if check_errors else []
    if candidates:
        items = worker_items(cases, plugin_bad, op="metadata")
        for _, worker in candidates:
            worker.submit(items, before)
    start = time.perf_counter()
    try:
        plans = [plan(c) for c in cases]
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"the oracle rejected a drawn case: {exc}") from None
    tally.add("reference", time.perf_counter() - start, len(cases))
    findings: list[Finding] = []
    for name in builtins:
        if name not in BACKENDS:
            continue
        for case, p in zip(cases, plans):
            start = time.perf_counter()
            found = run_builtin(name, case, p, device)
            tally.add(name, time.perf_counter() - start)
            if found is not None:
                findings.append(Finding(found, case))
        for case, fault in bad:
            start = time.perf_counter()
            found = run_builtin_error(name, case, fault, device)
            tally.add(name, time.perf_counter() - start)
            if found is not None:
                findings.append(Finding(found, case, fault))
    befores = [fault_storages(c, f) for c, f in plugin_bad] if candidates else []
    for name, worker in candidates:
        answers = worker.collect(deadline, hard_deadline)
        for i, answer in enumerate(answers[len(cases) :]):
            if answer is None:
                continue
            tally.add(name, answer.seconds)
            case, fault = plugin_bad[i]
            found = judge_error(name, fault, answer, befores[i], slow_is_failure=slow_is_failure)
            if found is not None:
                findings.append(Finding(found, case, fault))
        for case, p, answer in zip(cases, plans, answers):
            if answer is None:
                tally.unanswered[name] += 1
                continue
            tally.add(name, answer.seconds)
            if answer.status == "slow":
                tally.slow[name] += 1
            elif answer.status == "unconfirmed-hang":
                tally.unconfirmed_hangs[name] += 1
            found = judge_answer(name, p, answer, slow_is_failure=slow_is_failure)
            if found is not None:
                findings.append(Finding(found, case))
    return findings


def reproduce_meta(
    case: MetaCase,
    signature: str,
    builtins: list[str],
    candidates: list,
    device: str,
    tally: Tally,
    *,
    deadline: float | None = None,
    hard_deadline: float | None = None,
    slow_is_failure: bool = False,
    confirm: bool = True,
    fault=None,
    before: list[dict] | tuple = (),
    also: tuple[str, ...] = (),
) -> Finding | None:
    """Does `case` (broken by `fault`, if given) still fail with `signature` (or one of
    `also`)? (shrinking, minimise and replay ask this)."""
    if fault is not None:
        from fuzz.meta_contract import fault_problem

        if fault_problem(case, fault) is not None:
            return None  # a smaller case this fault cannot break
    for _, w in candidates:
        w.confirm = confirm
    try:
        found = run_meta(
            [] if fault is not None else [case],
            builtins,
            candidates,
            device,
            tally,
            deadline=deadline,
            hard_deadline=hard_deadline,
            slow_is_failure=slow_is_failure,
            bad=[(case, fault)] if fault is not None else [],
            before=before,
        )
    finally:
        for _, w in candidates:
            w.confirm = True
    same = [f for f in found if f.mismatch.signature in (signature, *also)]
    return same[0] if same else None

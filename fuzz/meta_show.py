"""Python that reproduces a `metadata` corpus entry, printed by `show`: it rebuilds the
calls on one set of poisoned buffers, runs them, and prints the judge's verdict.

A bad call's entry (a `fault`) rebuilds the broken call and checks the contract's exception,
the message naming the argument, and every storage unchanged. A candidate is never imported: its call is a comment, and the shipped torch backend stands
in for it, so the script runs as printed (and passes) until you put your function there.
"""

from __future__ import annotations

from fuzz.show import before_list


def reproducer(entry, comment) -> str:
    if entry.fault is not None:
        return _bad_call(entry, comment)
    case = entry.case
    lines = [comment("signature", entry.signature)]
    if entry.cause:
        lines.append(comment("cause", entry.cause))
    builtin = entry.impl in ("triton", "torch")
    if entry.candidate:
        lines.append(comment("candidate (not imported here)", entry.candidate))
    on_cuda = str(entry.data.get("device", "cpu")).startswith("cuda")
    backend = entry.impl if builtin else "torch"
    lines += [
        "import nsa_meta",
        "import torch",
        "",
        "from fuzz.meta_case import MetaCase, poison_again",
        "from fuzz.meta_harness import storage_arrays",
        "from fuzz.meta_judge import judge_sequence, plan",
        "",
        f"case = MetaCase.from_json({case.to_json()!r})",
        'device = "cuda" if torch.cuda.is_available() else "cpu"' if on_cuda else 'device = "cpu"',
        *before_lines(entry),
        "out = case.buffers(device)  # poisoned (-777) buffers, shared by every call",
        "after = []  # every buffer's and input's storage after each call",
        "args = None",
        "for k, call in enumerate(case.calls):",
        "    args = case.call_args(k, device, args)  # refill: the previous inputs, rewritten",
        "    if case.repoison and k:  # new buffers at the same address",
        "        poison_again(out)",
    ]
    if not builtin:
        lines.append(
            "    # your_function(**call.scalars(case.width, case.page_size), **args,"
            " out=case.call_out(out, call))"
        )
    lines += [
        "    nsa_meta.metadata(",
        '        call.mode, args["seq_lens"], args["req_pool_indices"], args["req_to_token"],',
        "        topk=call.topk, width=case.call_width(k), page_size=case.call_page(k),",
        "        next_n=call.next_n,  # width, page size: the call's own, else the case's",
        f'        extend_seq_lens=args["extend_seq_lens"], backend={backend!r},',
        "        out=case.call_out(out, call),  # real_page_table None at page size 1",
        "        validate=case.validate,",
        "    )",
        "    after.append(storage_arrays(out, args))",
        "verdict = judge_sequence("
        + repr(entry.impl if builtin else backend)
        + ", plan(case), after)",
        'print("PASS" if verdict is None else f"FAIL {verdict.describe()}")',
    ]
    return "\n".join(lines)


def before_lines(entry) -> list[str]:
    """The calls an entry's case fails after ("before": a candidate that keeps state), made
    first in the same process, each on its own buffers; the candidate's call a comment."""
    if not entry.before:
        return []
    imports = ["from fuzz.case import Fault", "from fuzz.meta_contract import faulty_call"]
    return [
        *before_list(entry, "MetaCase", imports),
        "for b, bad in before:",
        "    if bad is not None:  # a bad call: it must raise",
        "        kw = faulty_call(b, bad, device)",
        "        # your_function(**kw)",
        "        continue",
        "    b_out, b_args = b.buffers(device), None",
        "    for k, call in enumerate(b.calls):",
        "        b_args = b.call_args(k, device, b_args)",
        "        # your_function(**call.scalars(b.width, b.page_size), **b_args,",
        "        #               out=b.call_out(b_out, call))",
        "",
    ]


def _bad_call(entry, comment) -> str:
    builtin = entry.impl in ("triton", "torch")
    backend = entry.impl if builtin else "torch"
    lines = [comment("signature", entry.signature)]
    if entry.cause:
        lines.append(comment("cause", entry.cause))
    if entry.candidate:
        lines.append(comment("candidate (not imported here)", entry.candidate))
    lines += [
        "import nsa_meta",
        "",
        "from fuzz.case import Fault",
        "from fuzz.meta_case import MetaCase",
        "from fuzz.meta_contract import META_FAULTS, faulty_call, tensors_of",
        "",
        f"case = MetaCase.from_json({entry.case.to_json()!r})",
        f"fault = Fault.from_json({entry.fault.to_json()!r})",
        *(['device = "cpu"', *before_lines(entry)] if entry.before else []),
        "kw = faulty_call(case, fault, 'cpu')  # the valid call, broken as the fault says",
        "before = {n: t.clone() for n, t in tensors_of(kw)}",
        "kind = META_FAULTS[fault.kind]",
        "try:",
    ]
    if not builtin:
        lines.append("    # your_function(**kw)")
    lines += [
        "    mode, args = kw.pop('mode'), [kw.pop(n) for n in "
        "('seq_lens', 'req_pool_indices', 'req_to_token')]",
        f"    nsa_meta.metadata(mode, *args, **kw, backend={backend!r}, validate=True)",
        "    verdict = f'no exception (expected {kind.error.__name__})'",
        "except Exception as exc:",
        "    verdict = None",
        "    if not isinstance(exc, kind.error):",
        "        verdict = f'raised {type(exc).__name__}, expected {kind.error.__name__}'",
        "    elif not kind.matches(str(exc)):",
        "        verdict = f'the message does not name {kind.names}: {exc}'",
        "kw['seq_lens'], kw['req_pool_indices'], kw['req_to_token'] = args",
        "for n, t in tensors_of({**kw, 'mode': mode}):",
        "    if verdict is None and not t.equal(before[n]):",
        "        verdict = f'{n} changed before raising'",
        'print("PASS" if verdict is None else f"FAIL {verdict}")',
    ]
    return "\n".join(lines)

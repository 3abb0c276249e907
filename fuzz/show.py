"""Printing corpus entries, whose every string is untrusted: escaped control characters,
and reproducers that are Python (repr of plain data, never pasted JSON) and run as printed.

Nothing here imports or runs a candidate named in an entry; it is only mentioned.
"""

from __future__ import annotations

import json

from fuzz.case import OUT_FAULTS

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\x1b": "\\x1b", "\x07": "\\x07"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """`text` safe for a terminal: every non-printable character (C0 and C1 controls, ESC,
    CR, backspace, bell, DEL, bidi and other format controls, line separators, lone
    surrogates) written as a Python-style escape. Newlines stay only if asked."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or (keep_newlines and ch == "\n") else _escape(ch) for ch in text
    )


def entry_json(entry) -> str:
    """The entry's JSON, ASCII only: JSON escapes every control and non-ASCII character."""
    return json.dumps(entry.data, indent=2, ensure_ascii=True).replace("\x7f", "\\u007f")


def describe_entry(entry) -> str:
    """One line for `list`: path, signature, size of the case, date; a seed's note."""
    case = entry.case
    size = f"bs={case.bs} total={case.total}" if hasattr(case, "total") else ""
    parts = [str(entry.path), entry.signature, size, str(entry.data.get("date", ""))]
    if entry.is_seed:
        parts.append(f"seed: {entry.note}")
    elif entry.cause:
        parts.append(entry.cause[:120])
    if not entry.is_seed and entry.note:
        parts.append(f"note: {entry.note}")
    if getattr(entry, "before", ()):
        parts.append(f"after {len(entry.before)} call(s) saved before it")
    return "  ".join(printable(p) for p in parts if p)


def _comment(label: str, text: object) -> str:
    return f"# {label}: {printable(text)}"


def reproducer(entry) -> str:
    """Python that rebuilds the entry's call (its arguments, the contract's answer or the
    error it must raise) and runs as printed with this repository on PYTHONPATH."""
    if entry.op == "metadata":
        from fuzz.meta_show import reproducer as metadata_reproducer

        return metadata_reproducer(entry, _comment)
    if entry.op != "expand":
        return f"# no Python reproducer for {printable(entry.op)} entries yet"
    case, fault = entry.case, entry.fault
    lines = [_comment("signature", entry.signature)]
    if entry.is_seed and entry.note:
        lines.append(_comment("seed", entry.note))
    elif entry.cause:
        lines.append(_comment("cause", entry.cause))
    if not entry.is_seed and entry.note:
        lines.append(_comment("note", entry.note))
    if entry.candidate:
        lines.append(_comment("candidate (not imported here)", entry.candidate))
    if fault is None and case.prior is not None:
        return "\n".join(lines + _refill_lines(entry, case))
    names = ["Case"] + (["Fault", "expected_error"] if fault else [])
    if fault:
        names.append("faulty_out" if fault.kind in OUT_FAULTS else "faulty_args")
    on_cuda = str(entry.data.get("device", "cpu")).startswith("cuda")
    lines += [
        "import torch",
        "",
        f"from fuzz.case import {', '.join(names)}",
        "",
        f"case = Case.from_json({case.to_json()!r})",
        'device = "cuda" if torch.cuda.is_available() else "cpu"' if on_cuda else 'device = "cpu"',
        *before_lines(entry),
        "extend_seq_lens, seq_lens = case.tensors(device)",
    ]
    builtin = entry.impl in ("triton", "torch")
    call = "nsa_meta.expand" if builtin else "your_function"
    extra = f", backend={entry.impl!r}" if builtin else ""
    if fault is None:
        lines += [
            "args = (extend_seq_lens, seq_lens, case.nsa_index_topk)",
            "expected = case.expected()  # [seqlens_expanded, nsa_cache_seqlens] as lists",
        ]
        if case.out_slack is not None:
            lines += [
                "capacity = case.total + case.out_slack",
                "out = tuple(torch.full((capacity,), -777, dtype=torch.int32, device=device)"
                " for _ in range(2))",
                f"# nsa_meta.expand(*args, backend={entry.impl if builtin else 'torch'!r},"
                f" out=out, validate={case.validate!r})",
                "# then out[i][:case.total] must equal expected[i], and the rest stay -777",
            ]
        else:
            lines.append(f"# got = {call}(*args{extra})  # must equal expected")
        return "\n".join(lines)
    lines.append("fault = Fault.from_json(" + repr(fault.to_json()) + ")")
    lines.append("error, words = expected_error(fault)  # the exception; words its message names")
    if fault.kind in OUT_FAULTS:
        lines += [
            "args = (extend_seq_lens, seq_lens, case.nsa_index_topk)",
            "out = faulty_out(case, fault, device)",
            f"# nsa_meta.expand(*args, backend={entry.impl if builtin else 'torch'!r}, out=out)"
            "  # must raise error",
        ]
    else:
        lines += [
            "args = faulty_args(case, fault, device)",
            f"# {call}(*args{extra})  # must raise error, naming one of words",
        ]
    return "\n".join(lines)


def before_list(entry, case_class: str, imports: list[str]) -> list[str]:
    """The calls an entry's case fails after ("before": a candidate that keeps state) as a
    list `before` of (case, fault or None), for either op's reproducer to loop over."""
    n = len(entry.before)
    return [
        f"# {n} call{'s' if n != 1 else ''} before it, in the same process: the candidate "
        "fails on the case only after them",
        *imports,
        "",
        "before = [",
        *(
            f"    ({case_class}.from_json({c.to_json()!r}), "
            + (f"Fault.from_json({f.to_json()!r})" if f is not None else "None")
            + "),"
            for c, f in entry.before
        ),
        "]",
    ]


def before_lines(entry) -> list[str]:
    """The calls before (`before_list`), made first in the same process: a loop over them,
    the candidate's call a comment."""
    if not getattr(entry, "before", ()):
        return []
    return [
        *before_list(entry, "Case", ["from fuzz.case import Case, Fault, faulty_args, refill"]),
        "for b, bad in before:  # a bad call (a fault) must raise",
        "    if bad is None and b.prior is not None:  # a refill case: its prior call first",
        "        b_ext, b_seq = b.first_call().tensors(device)",
        "        # your_function(b_ext, b_seq, b.nsa_index_topk)",
        "        refill(b, b_ext, b_seq)",
        "        b_args = (b_ext, b_seq, b.nsa_index_topk)",
        "    else:",
        "        b_args = faulty_args(b, bad, device) if bad else (*b.tensors(device), b.nsa_index_topk)",
        "    # your_function(*b_args)",
    ]


def _refill_lines(entry, case) -> list[str]:
    """A refill case: call 1 on the prior's values, the case's values written into the SAME
    tensors in place (fuzz.case.refill), call 2 judged; both calls checked, as the fuzzer did."""
    on_cuda = str(entry.data.get("device", "cpu")).startswith("cuda")
    builtin = entry.impl in ("triton", "torch")
    if builtin:
        call = f"nsa_meta.expand(*args, backend={entry.impl!r})"
        imports = ["import nsa_meta", "import torch"]
    else:
        call = "your_function(*args)"
        imports = [
            "import torch",
            "from nsa_meta import expand as your_function  # put the candidate named above here",
        ]
    if case.out_slack is not None:
        lines = [
            f"# caller buffers (out_slack {case.out_slack}) and validate={case.validate!r}: "
            f"pass out= and validate= as the fuzzer did (see the case)",
        ]
    else:
        lines = []
    return lines + [
        *imports,
        "",
        "from fuzz.case import Case, refill",
        "",
        f"case = Case.from_json({case.to_json()!r})",
        'device = "cuda" if torch.cuda.is_available() else "cpu"' if on_cuda else 'device = "cpu"',
        *before_lines(entry),
        "first = case.first_call()  # the prior call: same layouts and top-k, other values",
        "extend_seq_lens, seq_lens = first.tensors(device)",
        "args = (extend_seq_lens, seq_lens, case.nsa_index_topk)",
        "ptrs = (extend_seq_lens.data_ptr(), seq_lens.data_ptr())",
        f"got1 = [t.tolist() for t in {call}]",
        "assert got1 == list(first.expected()), ('call 1', got1)",
        "refill(case, extend_seq_lens, seq_lens)  # the case's values, written in place",
        "assert ptrs == (extend_seq_lens.data_ptr(), seq_lens.data_ptr())  # the same tensors",
        f"got2 = [t.tolist() for t in {call}]",
        "assert got2 == list(case.expected()), ('call 2, refilled in place', got2)",
    ]


def show(entry) -> str:
    """What `show` prints: the entry's JSON, then a reproducer."""
    return entry_json(entry) + "\n\n# reproduce in Python:\n" + reproducer(entry)

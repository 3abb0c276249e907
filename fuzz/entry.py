"""The corpus entry schema and its one strict decoder: a file is untrusted input.

Bounded before parsing (regular files only, a size cap, a nesting cap), typed without
coercion (msgspec), and range-checked against the contract before any tensor is built.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from fuzz.case import BAD_DTYPES, FAULTS, OUT_FAULTS, Case, Fault, Layout

FORMAT = 2  # 2 adds op, cause, output_tail, original_case, note; format 1 reads as it is
FORMATS = (1, 2)
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_BYTES = 8 * 2**20
MAX_DEPTH = 64
DEFAULT_MAX_TOTAL = 2**22
MAX_BEFORE = 80  # calls saved before a case (fuzz/book.py: its worker's first and last ones)
MAX_REPEAT = 128  # times replay may run a case again and again in one fresh worker ("repeat")
KNOWN_OPS = ("expand", "metadata")


class CorpusError(Exception):
    """A corpus file that cannot be read back; the message names the file and the reason."""

    def __init__(self, path: Path | str | None, reason: str) -> None:
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)


class OpNotDecoded(CorpusError):
    """An entry of a known operation that this build cannot decode (no decoder registered)."""


@dataclass
class Entry:
    path: Path | None
    signature: str
    impl: str
    case: Any  # a fuzz.case.Case for op "expand"
    fault: Fault | None
    data: dict
    op: str = "expand"
    original_case: Any = None
    cause: str = ""
    output_tail: str = ""
    note: str | None = None
    is_seed: bool = False
    candidate: str | None = None
    extra: dict = field(default_factory=dict)
    # (case, fault or None) per call the case fails after, in one fresh worker, in order
    before: tuple = ()
    # replay runs the case up to this many times in one fresh worker (fuzz/book.py)
    repeat: int = 1


# --- the schema -------------------------------------------------------------------------------

NonNeg32 = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_BYTES)]


class _Head(msgspec.Struct):
    """Every key of an entry; unknown top-level keys are allowed (a newer writer's extra
    metadata changes nothing that is replayed). The case is decoded by its op's decoder."""

    format: Literal[1, 2]
    signature: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    impl: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    case: msgspec.Raw
    op: str = "expand"
    candidate: str | None = None
    mismatch: dict[str, Any] | None = None
    summary: Text = ""
    cause: Text = ""
    output_tail: Text = ""
    original_case: msgspec.Raw = msgspec.Raw(b"null")
    case_summary: Text = ""
    fault: msgspec.Raw = msgspec.Raw(b"null")
    device: str = ""
    seed: int | None = None
    versions: dict[str, Any] = {}
    date: str = ""
    replay: Text = ""
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    before: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BEFORE)] | None = None
    repeat: Annotated[int, msgspec.Meta(ge=1, le=MAX_REPEAT)] | None = None


class _Item(msgspec.Struct, forbid_unknown_fields=True):
    """A call made before the case (a worker item): a case of the entry's op, a fault."""

    case: msgspec.Raw
    fault: msgspec.Raw = msgspec.Raw(b"null")


class _Layout(msgspec.Struct, forbid_unknown_fields=True):
    dtype: Literal["int32", "int64"] = "int32"
    stride: NonNeg32 = 1
    offset: NonNeg32 = 0


class _ExpandCase(msgspec.Struct, forbid_unknown_fields=True):
    extend_seq_lens: list[NonNeg32]
    seq_lens: list[NonNeg32]
    nsa_index_topk: NonNeg32
    extend_layout: _Layout = msgspec.field(default_factory=_Layout)
    seq_layout: _Layout = msgspec.field(default_factory=_Layout)
    out_slack: NonNeg32 | None = None
    validate: bool = True
    prior: tuple[list[NonNeg32], list[NonNeg32]] | None = None


class _Fault(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    value: int | str | None = None
    index: NonNeg32 = 0


def _ints(lo: int, hi: int) -> Callable[[object], bool]:
    return lambda v: type(v) is int and lo <= v <= hi


def _one_of(*words: str) -> Callable[[object], bool]:
    return lambda v: v is None or v in words


_NONE = lambda v: v is None  # noqa: E731
# kind -> which values make sense (faulty_args / faulty_out read them)
FAULT_VALUES: dict[str, Callable[[object], bool]] = {
    **{k: _NONE for k in FAULTS},
    **{k: _NONE for k in OUT_FAULTS},
    "topk_not_int": _one_of("float", "bool", "str"),
    "extend_dtype": lambda v: v in BAD_DTYPES,
    "seq_dtype": lambda v: v in BAD_DTYPES,
    "extend_not_1d": _one_of("2d", "0d"),
    "seq_not_1d": _one_of("2d", "0d"),
    "lengths_differ": lambda v: v is None or _ints(0, INT32_MAX)(v),
    "extend_negative": _ints(INT64_MIN, -1),
    "seq_negative": _ints(INT64_MIN, -1),
    "seq_too_large": _ints(INT32_MAX + 1, INT64_MAX),
    "topk_negative": _ints(INT64_MIN, -1),
    "topk_too_large": _ints(INT32_MAX + 1, INT64_MAX),
    "total_too_large": lambda v: v == "split" or _ints(INT32_MAX + 1, INT64_MAX)(v),
}
_NEEDS_A_REQUEST = {"extend_negative", "seq_negative", "seq_too_large", "total_too_large"}


# --- bounded reading --------------------------------------------------------------------------


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: Path | str, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; never blocks on a FIFO or a
    device (stat first, then open non-blocking and check again on the open file)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CorpusError(path, f"not a regular file ({_file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise CorpusError(path, f"{st.st_size} bytes, above the cap of {limit} bytes")
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
        fd = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CorpusError(path, "not a regular file (it changed while being opened)")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise CorpusError(path, f"cannot read: {exc.strerror or exc}") from None
    if size > limit:
        raise CorpusError(path, f"more than the cap of {limit} bytes")
    return b"".join(chunks)


_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def nesting_problem(text: bytes, cap: int = MAX_DEPTH) -> str | None:
    """Why JSON `text` must not reach the parser (nested deeper than `cap`), else None.

    C-speed passes, no recursion and no per-character Python loop: escapes and strings are
    dropped, then innermost bracket pairs are peeled one level a pass. Well-formed JSON
    peels to nothing; text that stalls is malformed, left to the parser when shallow."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", _ESCAPE.sub(b"", text)))
    for _ in range(cap):
        peeled = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if not peeled:
            return None
        if peeled == brackets:  # malformed: the parser names it, unless it could recurse deep
            openers = brackets.count(b"[") + brackets.count(b"{")
            return None if openers <= cap else "malformed JSON (unbalanced brackets)"
        brackets = peeled
    return f"JSON nested deeper than {cap} levels"


# --- decoding ---------------------------------------------------------------------------------


def _typed(raw: bytes, kind: type, where: str):
    """Decode `raw` as `kind`; a ValueError says where (`case.extend_layout.stride: ...`)."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, _, loc = str(exc).partition(" - at `$")
        if not isinstance(exc, msgspec.ValidationError) and not message.startswith("JSON"):
            message = f"JSON is malformed: {message}"
        location = (where + loc.rstrip("`")).lstrip(".")
        raise ValueError(f"{location}: {message}" if location else message) from None


def _check_layout(name: str, values: list[int], lay: _Layout, max_total: int) -> Layout:
    n = len(values)
    if lay.stride == 0 and n > 1 and len(set(values)) != 1:
        raise ValueError(f"{name}: stride 0 needs all values equal")
    span = lay.offset + (lay.stride * (n - 1) + 1 if n and lay.stride else 1)
    if span > max(max_total, 1):
        raise ValueError(
            f"{name}: offset {lay.offset} and stride {lay.stride} span {span} elements, "
            f"above --max-total {max_total}"
        )
    return Layout(lay.dtype, lay.stride, lay.offset)


def decode_expand_case(raw: bytes, *, max_total: int, where: str = "case") -> Case:
    c = _typed(raw, _ExpandCase, where)
    bs = len(c.extend_seq_lens)
    if len(c.seq_lens) != bs:
        raise ValueError(
            f"{where}: extend_seq_lens has {bs} values, seq_lens has {len(c.seq_lens)}"
        )
    if bs > max_total:
        raise ValueError(f"{where}: {bs} requests, above --max-total {max_total}")
    total = sum(c.extend_seq_lens)
    if total > INT32_MAX:
        raise ValueError(f"{where}: total {total} is above 2**31 - 1")
    if total > max_total:
        raise ValueError(f"{where}: total {total} is above --max-total {max_total}")
    if c.out_slack is not None and total + c.out_slack > max_total:
        raise ValueError(f"{where}: out_slack {c.out_slack} is above --max-total {max_total}")
    prior = None if c.prior is None else _check_prior(where, c, max_total)
    return Case(
        tuple(c.extend_seq_lens),
        tuple(c.seq_lens),
        c.nsa_index_topk,
        _check_layout(f"{where}.extend_layout", c.extend_seq_lens, c.extend_layout, max_total),
        _check_layout(f"{where}.seq_layout", c.seq_lens, c.seq_layout, max_total),
        c.out_slack,
        c.validate,
        prior,
    )


def _check_prior(where: str, c: _ExpandCase, max_total: int) -> tuple:
    """The prior call's values checked as the case's own are: the same bs, the total within
    limits, and each layout's limits (a stride-0 view holds one value)."""
    ext, seq = c.prior
    bs = len(c.extend_seq_lens)
    for name, values in (("extend_seq_lens", ext), ("seq_lens", seq)):
        if len(values) != bs:
            raise ValueError(
                f"{where}.prior: {name} has {len(values)} values, the case has bs {bs} "
                "(the same tensors are refilled)"
            )
    total = sum(ext)
    if total > min(INT32_MAX, max_total):
        raise ValueError(f"{where}.prior: total {total} is above --max-total {max_total}")
    _check_layout(f"{where}.prior.extend_seq_lens", ext, c.extend_layout, max_total)
    _check_layout(f"{where}.prior.seq_lens", seq, c.seq_layout, max_total)
    return tuple(ext), tuple(seq)


def decode_expand_fault(raw: bytes, case: Case) -> Fault:
    f = _typed(raw, _Fault, "fault")
    if f.kind not in FAULT_VALUES:
        raise ValueError(f"fault: unknown kind {f.kind!r}")
    if not FAULT_VALUES[f.kind](f.value):
        raise ValueError(f"fault: value {f.value!r} makes no sense for kind {f.kind!r}")
    if f.kind in _NEEDS_A_REQUEST and f.value != "split" and case.bs == 0:
        raise ValueError(f"fault: kind {f.kind!r} needs at least one request")
    if f.kind == "out_too_small" and case.total == 0:
        raise ValueError("fault: kind 'out_too_small' needs a total above 0")
    return Fault(f.kind, f.value, f.index)


@dataclass(frozen=True)
class OpDecoder:
    """How one operation's entries decode: its case, and its fault (None: no faults)."""

    case: Callable[..., Any]
    fault: Callable[[bytes, Any], Any] | None = None


DECODERS: dict[str, OpDecoder] = {"expand": OpDecoder(decode_expand_case, decode_expand_fault)}


def register_op(op: str, decoder: OpDecoder) -> None:
    """Teach the decoder another operation's entries (e.g. "metadata" for contract v2)."""
    DECODERS[op] = decoder


def _check_max_total(max_total: object) -> int:
    if type(max_total) is not int or not 1 <= max_total <= INT32_MAX:
        raise ValueError(f"max_total must be an int in [1, 2**31 - 1], got {max_total!r}")
    return max_total


def decode(text: bytes, *, path: Path | str | None = None, max_total: int = DEFAULT_MAX_TOTAL):
    """One entry from its bytes, or CorpusError naming `path` and the first reason."""
    _check_max_total(max_total)
    try:
        problem = nesting_problem(text)
        if problem:
            raise ValueError(problem)
        head = _typed(text, _Head, "")
        if head.op not in DECODERS:
            if head.op in KNOWN_OPS:
                raise OpNotDecoded(
                    path, f"a {head.op!r} entry: this build cannot decode it (needs --op {head.op})"
                )
            raise ValueError(f"op: unknown operation {head.op!r} (known: {', '.join(KNOWN_OPS)})")
        is_seed = head.impl == "seed"
        if is_seed != head.signature.startswith("seed:"):
            raise ValueError("signature: a seed has impl 'seed' and a signature 'seed:<slug>'")
        if is_seed and not (head.note or "").strip():
            raise ValueError("note: a seed needs a one-line note saying what the input broke")
        if head.op == "expand" and not is_seed and not head.signature.startswith(head.impl + ":"):
            raise ValueError(f"signature: {head.signature!r} does not start with {head.impl!r}")
        if head.op != "expand" and not head.signature.startswith(head.op + ":") and not is_seed:
            raise ValueError(f"signature: {head.signature!r} does not start with {head.op!r}")
        dec = DECODERS[head.op]
        case = dec.case(bytes(head.case), max_total=max_total)
        original = None
        if bytes(head.original_case).strip() != b"null":
            original = dec.case(
                bytes(head.original_case), max_total=max_total, where="original_case"
            )
        fault = None
        if bytes(head.fault).strip() != b"null":
            if dec.fault is None:
                raise ValueError(f"fault: {head.op!r} entries take no fault")
            fault = dec.fault(bytes(head.fault), case)
        before = _before(head.before or [], dec, max_total)
        data = msgspec.json.decode(text)
    except CorpusError:
        raise
    except UnicodeDecodeError as exc:
        raise CorpusError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, TypeError, RecursionError, MemoryError, OverflowError) as exc:
        raise CorpusError(path, str(exc) or type(exc).__name__) from None
    return Entry(
        path=None if path is None else Path(path),
        signature=head.signature,
        impl=head.impl,
        case=case,
        fault=fault,
        data=data,
        op=head.op,
        original_case=original,
        cause=head.cause,
        output_tail=head.output_tail,
        note=head.note,
        is_seed=is_seed,
        candidate=head.candidate,
        before=before,
        repeat=head.repeat or 1,
    )


def _before(raws: list, dec: OpDecoder, max_total: int) -> tuple:
    """The calls before the case, each checked as the entry's own case and fault are."""
    calls = []
    for i, raw in enumerate(raws):
        where = f"before[{i}]"
        item = _typed(bytes(raw), _Item, where)
        case = dec.case(bytes(item.case), max_total=max_total, where=f"{where}.case")
        fault = None
        if bytes(item.fault).strip() != b"null":
            if dec.fault is None:
                raise ValueError(f"{where}.fault: these entries take no fault")
            try:
                fault = dec.fault(bytes(item.fault), case)
            except ValueError as exc:
                raise ValueError(f"{where}.{exc}") from None
        calls.append((case, fault))
    return tuple(calls)


def load(path: Path | str, *, max_total: int = DEFAULT_MAX_TOTAL) -> Entry:
    """Read and decode one entry file; CorpusError names the file and the reason."""
    _check_max_total(max_total)
    return decode(read_bounded(path), path=path, max_total=max_total)

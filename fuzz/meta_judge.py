"""The parent's verdict on contract-v2 calls: every cell of every buffer's storage after
each call against what the contract says it must hold, every input's storage unchanged.

A wrong cell is named by buffer and cell: inside the region it is `values` (or `stale`,
when it still holds what the previous call left there); outside it, `outside-region`.
Signatures start with the op: `metadata:<impl>:<kind>[:<buffer>]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fuzz.answers import Answer, check_frame, cuda_error, raised_answer, raised_cause
from fuzz.compare import Mismatch
from fuzz.meta_case import FIELDS, INPUTS, POISON, MetaCase

NP = {torch.int32: np.int32, torch.int64: np.int64}


@dataclass(frozen=True)
class MetaMismatch(Mismatch):
    """A Mismatch of the metadata operation: its signature starts with `metadata:`."""

    @property
    def signature(self) -> str:
        return "metadata:" + ":".join(p for p in (self.impl, self.kind, self.output) if p)

    def describe(self) -> str:
        what = f"{self.kind}:{self.output}" if self.output else self.kind
        return f"metadata {self.impl}: {what}" + (f" ({self.cause})" if self.cause else "")


# --- what the parent builds itself ------------------------------------------------------


def _flat(t: torch.Tensor) -> np.ndarray:
    flat = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage())
    return flat.numpy().copy()


@dataclass
class Plan:
    """The buffers' geometry, the storages they start as, and each call's inputs."""

    out: tuple  # cpu Metadata (geometry only)
    start: dict[str, np.ndarray]
    inputs: list[dict[str, np.ndarray]]
    expected: list  # reference.MetadataLists per call
    widths: tuple[int, ...] = ()  # each call's width (page_table_1's region columns)
    pages: tuple[int, ...] = ()  # each call's real_page_table region columns
    repoison: bool = False  # every call starts from `start` (MetaCase.repoison)


def plan(case: MetaCase, expected: list | None = None) -> Plan:
    out = case.buffers("cpu")
    start = {n: _flat(b) for n, b in zip(FIELDS, out) if b is not None}
    inputs = []
    for c in case.calls:
        args = c.tensors("cpu")
        inputs.append({n: _flat(args[n]) for n in INPUTS if args[n] is not None})
    want = expected if expected is not None else case.expected()
    n = range(len(case.calls))
    widths = tuple(case.call_width(k) for k in n)
    pages = tuple(case.call_pages(k) for k in n)
    return Plan(out, start, inputs, want, widths, pages, case.repoison)


def after_call(p: Plan, before: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Each buffer's storage as call k must leave it: `before`, its region overwritten."""
    want = p.expected[k]
    result = {}
    for name, buf in zip(FIELDS, p.out):
        if buf is None:
            continue
        store = torch.from_numpy(before[name].copy())
        view = store.as_strided(buf.shape, buf.stride(), buf.storage_offset())
        values = getattr(want, name)
        if values:
            data = torch.tensor(values, dtype=torch.int32)
            if data.dim() == 1:
                view[: data.numel()] = data
            else:
                view[: data.shape[0], : data.shape[1]] = data
        result[name] = store.numpy()
    return result


# --- naming a cell ------------------------------------------------------------------------


def _region(p: Plan, name: str, k: int) -> tuple[int, int | None]:
    """(rows, columns or None) of buffer `name`'s region in call k."""
    rows = len(getattr(p.expected[k], name) or ())  # None: no real_page_table at page 1
    if name == "page_table_1":
        return rows, p.widths[k]
    if name == "real_page_table":
        return rows, p.pages[k]
    return rows, None


def _locator(buf: torch.Tensor):
    """storage element i -> (cell in the view or None, its name), for any strides: a map
    from every storage element the view covers to its cell, built once per buffer."""
    shape, strides, base = tuple(buf.shape), buf.stride(), buf.storage_offset()
    pos = np.full((), base, dtype=np.int64)
    for n, st in zip(shape, strides):
        pos = pos[..., None] + np.arange(n, dtype=np.int64) * st
    inverse = np.full(int(pos.max()) + 1 if pos.size else 0, -1, dtype=np.int64)
    inverse[pos.ravel()] = np.arange(pos.size)

    def where(i: int) -> tuple[tuple[int, ...] | None, str]:
        if 0 <= i < inverse.size and inverse[i] >= 0:
            cell = tuple(int(x) for x in np.unravel_index(int(inverse[i]), shape))
            return cell, "[" + ", ".join(map(str, cell)) + "]"
        return None, f" storage element {i} (outside the view)"

    return where


def _where(buf: torch.Tensor, i: int) -> tuple[tuple[int, ...] | None, str]:
    """(cell in the view or None, its name) of storage element i."""
    return _locator(buf)(i)


def _in_region(cell: tuple[int, ...] | None, rows: int, cols: int | None) -> bool:
    if cell is None:
        return False
    return cell[0] < rows and (cols is None or cell[1] < cols)


def _region_text(rows: int, cols: int | None) -> str:
    return f"[0, {rows})" + (f" x [0, {cols})" if cols is not None else "")


def judge_call(
    impl: str, p: Plan, k: int, before: dict, got: dict[str, np.ndarray]
) -> MetaMismatch | None:
    """Call k (0-based) left `got` (storages by name); the first wrong cell, named."""
    want = after_call(p, before, k)
    outside = None
    for name, buf in zip(FIELDS, p.out):
        if buf is None:
            continue
        diff = np.flatnonzero(got[name] != want[name])
        if diff.size == 0:
            continue
        rows, cols = _region(p, name, k)
        inside = []
        where = _locator(buf)
        for i in diff[:4096].tolist():
            cell, label = where(i)
            if _in_region(cell, rows, cols):
                inside.append((i, label))
                break
            if outside is None:
                outside = (name, i, label, rows, cols, diff.size)
        if not inside:
            continue
        i, label = inside[0]
        g, w, b = int(got[name][i]), int(want[name][i]), int(before[name][i])
        n = f" ({diff.size} cells differ)" if diff.size > 1 else ""
        if k > 0 and g == b and b != int(p.start[name][i]):  # an earlier call wrote it
            return MetaMismatch(
                impl, "stale", name, i, w, g,
                cause=f"{name}{label} is {g}, left from call {k}; expected {w} (call {k + 1}){n}",
            )  # fmt: skip
        never = " (poison: never written)" if g == POISON else ""
        call = f" (call {k + 1})" if len(p.expected) > 1 else ""
        return MetaMismatch(
            impl, "values", name, i, w, g,
            cause=f"{name}{label} is {g}{never}, expected {w}{call}{n}",
        )  # fmt: skip
    if outside is not None:
        name, i, label, rows, cols, count = outside
        g, b = int(got[name][i]), int(before[name][i])
        was = f"poison {b}" if b == POISON else f"{b}"
        call = f" (call {k + 1})" if len(p.expected) > 1 else ""
        n = f"; {count} cells differ" if count > 1 else ""
        return MetaMismatch(
            impl, "outside-region", name, i, b, g,
            cause=f"{name}{label} written ({was} became {g}); region is "
            f"{_region_text(rows, cols)}{call}{n}",
        )  # fmt: skip
    for name, before_input in p.inputs[k].items():
        now = got.get(name)
        if now is not None and not np.array_equal(now, before_input):
            i = int(np.flatnonzero(now != before_input)[0])
            return MetaMismatch(
                impl, "input-modified", name, i, int(before_input[i]), int(now[i]),
                cause=f"{name} storage element {i} changed from {int(before_input[i])} to "
                f"{int(now[i])} during call {k + 1}",
            )  # fmt: skip
    return None


def judge_sequence(impl: str, p: Plan, calls: list[dict[str, np.ndarray]]) -> MetaMismatch | None:
    """Storages after each call made, judged in order; the first failing call's verdict."""
    before = p.start
    for k, got in enumerate(calls):
        found = judge_call(impl, p, k, before, got)
        if found is not None:
            return found
        before = p.start if p.repoison else {n: got[n] for n in before}
    return None


# --- one missed write, seen two ways -------------------------------------------------------


def values_twin(signature: str) -> str | None:
    """The `values` signature of the buffer a `stale` signature names (None for any other):
    what a missed write is called when no earlier call left a value in the cell."""
    head, stale, name = signature.rpartition(":stale:")
    ok = stale and head.startswith("metadata:") and name in FIELDS
    return f"{head}:values:{name}" if ok else None


def _cell(case: MetaCase, m: Mismatch) -> tuple[int, ...] | None:
    """The cell of buffer `m.output` that storage element `m.index` is, in `case`'s layout
    (buffers on the meta device: geometry only, no memory)."""
    buf = dict(zip(FIELDS, case.buffers("meta"))).get(m.output)
    if buf is None or not isinstance(m.index, int):
        return None
    return _where(buf, m.index)[0]


def same_missed_write(was_case: MetaCase, was: Mismatch, case: MetaCase, now: Mismatch) -> bool:
    """Is `now` (a `values` failure of `case`) the stale failure `was` of `was_case` with no
    earlier call to leave a value behind? The same implementation, buffer and cell, and that
    cell still holds the poison (the call did not write it, as it did not rewrite it there)
    or the same wrong value (the call writes it itself: it only looked stale because the
    earlier call's value was the same, stop 22's `decode_s0_as_1`). Another wrong value, or
    another cell, may be another bug: never the same one."""
    if (was.kind, now.kind) != ("stale", "values") or now.got not in (POISON, was.got):
        return False
    if (now.impl, now.output) != (was.impl, was.output):
        return False
    cell = _cell(case, now)
    return cell is not None and cell == _cell(was_case, was)


# --- a worker's answer frame ----------------------------------------------------------------


def decode_meta_answer(header: dict, blobs: list[bytes], item: dict) -> Answer:
    """Storages per call (Answer.outputs: a list of {name: array}); ProtocolError if garbled.
    A bad call's answer (an item with a "fault"): decode_fault_answer."""
    if item.get("fault"):
        return decode_fault_answer(header, blobs, item)
    status = header.get("status")
    seconds = header.get("seconds", 0.0)
    check_frame(type(seconds) in (int, float) and seconds >= 0, "seconds")
    check_frame(status in ("ok", "raised"), f"status {str(status)[:40]!r}")
    calls = header.get("calls", [])
    check_frame(isinstance(calls, list), "calls")
    case = MetaCase.from_json(item["case"])
    p = plan(case, expected=[None] * len(case.calls))
    check_frame(len(calls) <= len(case.calls), "more calls than asked")
    sizes = {n: a.nbytes for n, a in p.start.items()}
    dtypes = {n: a.dtype for n, a in p.start.items()}
    per_call, b = [], 0
    for k, c in enumerate(calls):
        check_frame(isinstance(c, dict) and isinstance(c.get("blobs"), list), "call")
        inputs = p.inputs[k]
        names = [n for n in FIELDS if n in p.start] + [n for n in INPUTS if n in inputs]
        check_frame(c["blobs"] == names, "blob names")
        check_frame(b + len(names) <= len(blobs), "blobs missing")
        got = {}
        for n in names:
            data = blobs[b]
            b += 1
            want = sizes.get(n) if n in sizes else inputs[n].nbytes
            check_frame(len(data) == want, f"{n} storage of {len(data)} bytes, expected {want}")
            dt = dtypes.get(n) if n in dtypes else inputs[n].dtype
            got[n] = np.frombuffer(bytes(data), dtype=dt)
        per_call.append(got)
    if status == "ok":
        check_frame(len(per_call) == len(case.calls), "a call is missing")
        return Answer("ok", outputs=per_call, seconds=seconds)
    exc_type, message, mro = header.get("exc_type"), header.get("message"), header.get("exc_mro")
    check_frame(isinstance(exc_type, str) and isinstance(message, str), "exception")
    check_frame(isinstance(mro, list) and all(isinstance(c, str) for c in mro), "exc_mro")
    k = header.get("call", 0)
    check_frame(type(k) is int and 0 <= k < len(case.calls), "call index")
    fault = cuda_error(message, exc_type)
    if header.get("phase") == "read" and fault is None:
        message = f"reading the result failed: {message}"
    answer = Answer(
        "cuda-fault" if fault else "raised",
        outputs=per_call,
        exc_type=exc_type[:200],
        exc_mro=tuple(c[:200] for c in mro),
        message=message[:2000],
        seconds=seconds,
        detail=str(header.get("detail", ""))[-1500:],
        cause=fault or raised_cause(exc_type, message),
    )
    answer.call = k  # type: ignore[attr-defined]
    return answer


# --- a bad call (fuzz/meta_contract.py) --------------------------------------------------------


def fault_storages(case: MetaCase, fault) -> dict[str, tuple[np.ndarray, torch.dtype]]:
    """Every buffer's and tensor input's storage (bytes) as the bad call is built, by name."""
    from fuzz.meta_contract import faulty_call, tensors_of

    named = tensors_of(faulty_call(case, fault, "cpu"), "cpu")
    return {
        n: (torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()).numpy().copy(), t.dtype)
        for n, t in named
    }


def decode_fault_answer(header: dict, blobs: list[bytes], item: dict) -> Answer:
    """Answer.outputs: {name: uint8 array} of the storages after the bad call."""
    from fuzz.case import Fault

    status = header.get("status")
    seconds = header.get("seconds", 0.0)
    check_frame(type(seconds) in (int, float) and seconds >= 0, "seconds")
    check_frame(status in ("ok", "raised"), f"status {str(status)[:40]!r}")
    before = fault_storages(MetaCase.from_json(item["case"]), Fault.from_json(item["fault"]))
    check_frame(header.get("storages") == list(before), "storage names")
    check_frame(len(blobs) == len(before), "blobs missing")
    got = {}
    for (name, (start, _)), data in zip(before.items(), blobs):
        check_frame(len(data) == start.nbytes, f"{name} storage of {len(data)} bytes")
        got[name] = np.frombuffer(bytes(data), dtype=np.uint8)
    if status == "ok":
        return Answer("ok", outputs=got, seconds=seconds)
    return raised_answer(header, seconds, outputs=got)


def _first_change(
    name: str, before: tuple[np.ndarray, torch.dtype], now: np.ndarray
) -> tuple[int, int, int] | None:
    """(element, old, new) of the first element of `name`'s storage that changed."""
    start, dtype = before
    if np.array_equal(start, now):
        return None
    size = torch.empty(0, dtype=dtype).element_size()
    i = int(np.flatnonzero(start != now)[0]) // size
    old = torch.frombuffer(bytearray(start.tobytes()), dtype=dtype)[i].item()
    new = torch.frombuffer(bytearray(now.tobytes()), dtype=dtype)[i].item()
    return i, old, new


def judge_error(
    impl: str, fault, answer: Answer, before: dict, *, slow_is_failure: bool = False
) -> MetaMismatch | None:
    """A bad call must raise the contract's exception, with a message naming the argument,
    having written nothing: no buffer and no input storage changed."""
    from fuzz.harness import PLUGIN_FAULTS, HarnessError
    from fuzz.meta_contract import META_FAULTS

    if answer.status == "harness-error":
        raise HarnessError(f"{impl}: the worker could not build the bad call: {answer.cause}")
    k = META_FAULTS[fault.kind]
    want = k.error.__name__
    kind = f"error {fault.kind}"
    if answer.status in PLUGIN_FAULTS or (answer.status == "slow" and slow_is_failure):
        cause = answer.cause or answer.detail or answer.status
        return MetaMismatch(
            impl, f"{kind}: {answer.status}", detail=cause, cause=cause,
            output_tail=answer.output_tail,
        )  # fmt: skip
    if answer.status == "unconfirmed-hang":
        return None
    if answer.status != "raised":
        return MetaMismatch(
            impl, f"{kind}: no exception", expected=want, got="returned",
            cause=f"returned instead of raising {want} ({k.argument}: {fault.to_json()})",
        )  # fmt: skip
    if want not in answer.exc_mro:
        return MetaMismatch(
            impl, f"{kind}: wrong exception", expected=want, got=answer.exc_type,
            detail=answer.message[:200],
            cause=f"raised {answer.cause}, expected {want} ({k.argument}: {fault.to_json()})",
            output_tail=answer.output_tail,
        )  # fmt: skip
    if not k.matches(answer.message):
        names = " or ".join(k.names)
        return MetaMismatch(
            impl, f"{kind}: message", expected=names, got=answer.message[:200],
            cause=f"the message does not name {names}: {answer.cause}",
        )  # fmt: skip
    got = answer.outputs if isinstance(answer.outputs, dict) else {}
    for name, start in before.items():
        change = _first_change(name, start, got[name]) if name in got else None
        if change is None:
            continue
        i, old, new = change
        what = "wrote before raising" if name in FIELDS else "input-modified"
        return MetaMismatch(
            impl, f"{kind}: {what}", name, i, old, new,
            cause=f"{name} storage element {i} changed from {old} to {new}, then it raised "
            f"{answer.exc_type}",
        )  # fmt: skip
    return None


__all__ = [
    "same_missed_write",
    "values_twin",
    "decode_fault_answer",
    "fault_storages",
    "judge_error",
    "MetaMismatch",
    "Plan",
    "decode_meta_answer",
    "judge_call",
    "judge_sequence",
    "plan",
]

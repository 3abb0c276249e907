"""What a candidate supports, when less than the whole contract: its envelope.

Declared as `fn.envelope` (a dict) or `--envelope JSON_OR_@FILE`; the attribute wins. The
fuzzer draws, shrinks and normalises only inside it, and says what it left out. Invalid
inputs are still put to the kernel: only valid-input features outside it are avoided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from fuzz.case import Case, Fault, Layout
from fuzz.contract import ERROR_INPUTS, INT32_MAX

DTYPE_NAMES = ("int32", "int64")
MODES = ("decode", "target_verify", "draft_extend", "draft_extend_var")


class EnvelopeError(ValueError):
    """A malformed envelope: names the key and where the envelope came from."""


# key -> (kind, smallest allowed, allowed strings): "ints"/"strs" are non-empty lists.
_KEYS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "dtypes": ("strs", 0, DTYPE_NAMES),
    "contiguous": ("bool", 0, ()),
    "topk": ("ints", 0, ()),
    "bs": ("ints", 0, ()),
    "max_bs": ("int", 0, ()),
    "empty_batch": ("bool", 0, ()),
    "modes": ("strs", 0, MODES),
    "page_sizes": ("ints", 1, ()),
    "next_n": ("ints", 1, ()),
    "max_width": ("int", 1, ()),
}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(key: str, value: object, source: str) -> object:
    kind, low, names = _KEYS[key]

    def bad(why: str) -> EnvelopeError:
        return EnvelopeError(f"envelope from {source}: {key!r} {why}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if kind == "int":
        if not _is_int(value) or not low <= value <= INT32_MAX:
            raise bad(f"must be an int in [{low}, 2**31 - 1]")
        return value
    if not isinstance(value, list):
        raise bad("must be a list")
    if not value:
        raise bad("must not be empty (leave the key out to allow everything)")
    for item in value:
        if kind == "strs" and item not in names:
            raise bad(f"may hold only {', '.join(map(repr, names))}")
        if kind == "ints" and (not _is_int(item) or not low <= item <= INT32_MAX):
            raise bad(f"must hold ints in [{low}, 2**31 - 1]")
    if kind == "strs":
        return tuple(n for n in names if n in value)
    return tuple(sorted(set(value)))


@dataclass(frozen=True)
class Envelope:
    """Allowed features of a valid input; None (or True for the bools) allows everything.

    `bs` and `max_bs` both apply when both are given; `empty_batch` False forbids bs == 0.
    `modes`, `page_sizes`, `next_n`, `max_width` are kept for the v2 metadata operation.
    """

    dtypes: tuple[str, ...] | None = None
    contiguous: bool = False
    topk: tuple[int, ...] | None = None
    bs: tuple[int, ...] | None = None
    max_bs: int | None = None
    empty_batch: bool = True
    modes: tuple[str, ...] | None = None
    page_sizes: tuple[int, ...] | None = None
    next_n: tuple[int, ...] | None = None
    max_width: int | None = None

    # --- reading one ----------------------------------------------------------------------

    @classmethod
    def parse(cls, obj: object, *, source: str) -> Envelope:
        """An envelope from a dict (None: no restriction); EnvelopeError names the bad key."""
        if obj is None:
            return cls()
        if isinstance(obj, Envelope):
            return obj
        if not isinstance(obj, dict):
            raise EnvelopeError(
                f"envelope from {source}: must be a JSON object (a dict), got {type(obj).__name__}"
            )
        for key in obj:
            if key not in _KEYS:
                raise EnvelopeError(
                    f"envelope from {source}: unknown key {key!r}; known keys: {', '.join(_KEYS)}"
                )
        env = cls(**{key: _check(key, value, source) for key, value in obj.items()})
        if not env.batch_sizes(INT32_MAX, limit=1):
            key = "bs" if env.bs is not None else "max_bs"
            raise EnvelopeError(
                f"envelope from {source}: {key!r} leaves no batch size allowed "
                f"(bs={obj.get('bs')}, max_bs={obj.get('max_bs')}, "
                f"empty_batch={obj.get('empty_batch', True)})"
            )
        return env

    @classmethod
    def from_cli(cls, text: str | None) -> Envelope:
        """`--envelope`: JSON text, or `@FILE` holding it; None or "" means no restriction."""
        if not text:
            return cls()
        source = "--envelope"
        if text.startswith("@"):
            path = Path(text[1:])
            source = f"--envelope {text}"
            try:
                text = path.read_text()
            except OSError as exc:
                raise EnvelopeError(f"envelope from {source}: cannot read {path}: {exc}") from exc
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EnvelopeError(f"envelope from {source}: not JSON: {exc}") from exc
        return cls.parse(obj, source=source)

    @classmethod
    def of(cls, fn: object, fallback: Envelope | None = None) -> Envelope:
        """The candidate's own `fn.envelope` if it has one, else `fallback` (the CLI's)."""
        declared = getattr(fn, "envelope", None)
        if declared is None:
            return fallback if fallback is not None else cls()
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
        return cls.parse(declared, source=f"{name}.envelope")

    def to_json(self) -> dict:
        """The keys that restrict anything, as `parse` reads them back."""
        out: dict[str, object] = {}
        for key in _KEYS:
            value = getattr(self, key)
            if value == getattr(EVERYTHING, key):
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def restricts(self) -> bool:
        return self != EVERYTHING

    # --- what it allows ---------------------------------------------------------------------

    def allows_dtype(self, dtype: str) -> bool:
        return self.dtypes is None or dtype in self.dtypes

    def allowed_dtypes(self) -> tuple[str, ...]:
        return self.dtypes if self.dtypes is not None else DTYPE_NAMES

    def canonical_dtype(self) -> str:
        """int32 where allowed, else the first allowed dtype."""
        return "int32" if self.allows_dtype("int32") else self.allowed_dtypes()[0]

    def allows_layout(self, layout: Layout) -> bool:
        return self.allows_dtype(layout.dtype) and (not self.contiguous or layout.stride == 1)

    def allows_topk(self, topk: int) -> bool:
        return self.topk is None or topk in self.topk

    def allows_bs(self, n: int) -> bool:
        return (
            (self.bs is None or n in self.bs)
            and (self.max_bs is None or n <= self.max_bs)
            and (n != 0 or self.empty_batch)
        )

    def batch_sizes(self, upto: int, limit: int | None = None) -> list[int] | range:
        """The allowed batch sizes <= upto, ascending (a range when every one is allowed)."""
        if self.bs is None:
            top = upto if self.max_bs is None else min(upto, self.max_bs)
            return range(0 if self.empty_batch else 1, top + 1)
        sizes = [n for n in self.bs if n <= upto and self.allows_bs(n)]
        return sizes[:limit] if limit else sizes

    def violations(self, case: Case) -> set[str]:
        """The keys `case` lies outside of (empty: the envelope admits it)."""
        out = set()
        if not all(self.allows_dtype(x.dtype) for x in (case.extend_layout, case.seq_layout)):
            out.add("dtypes")
        if self.contiguous and (case.extend_layout.stride != 1 or case.seq_layout.stride != 1):
            out.add("contiguous")
        if not self.allows_topk(case.nsa_index_topk):
            out.add("topk")
        if not self.allows_bs(case.bs):
            out.add("bs")
        return out

    def admits(self, case: Case) -> bool:
        return not self.violations(case)

    def admits_fault(self, case: Case, fault: Fault) -> bool:
        """May `case` broken by `fault` be put to the candidate? The argument the fault
        replaces is exempt (an int32-only kernel still gets an int64 or float tensor there);
        every other argument, and the batch size, must lie inside."""
        if fault.kind not in ERROR_INPUTS:
            raise ValueError(f"fault.kind {fault.kind!r} is not in fuzz.contract.ERROR_INPUTS")
        argument = ERROR_INPUTS[fault.kind].argument
        if not self.allows_bs(case.bs):
            return False
        if argument != "extend_seq_lens" and not self.allows_layout(case.extend_layout):
            return False
        if argument != "seq_lens" and not self.allows_layout(case.seq_layout):
            return False
        return argument == "nsa_index_topk" or self.allows_topk(case.nsa_index_topk)

    # --- moving a case inside ---------------------------------------------------------------

    def restrict(self, case: Case) -> Case | None:
        """`case` moved inside: an allowed dtype, stride 1 (offsets kept), the nearest
        allowed top-k, the batch cut (or repeated) to an allowed size; None when the only
        way in is an empty batch that is not allowed."""
        if not self.restricts or self.admits(case):
            return case
        c = replace(
            case,
            extend_layout=self._layout(case.extend_layout),
            seq_layout=self._layout(case.seq_layout),
        )
        if not self.allows_topk(c.nsa_index_topk):
            assert self.topk is not None
            c = replace(c, nsa_index_topk=min(self.topk, key=lambda t: abs(t - c.nsa_index_topk)))
        if not self.allows_bs(c.bs):
            n = self._nearest_bs(c.bs)
            if n is None:
                return None
            c = _resize(c, n)
        return c

    def _layout(self, layout: Layout) -> Layout:
        if not self.allows_dtype(layout.dtype):
            layout = replace(layout, dtype=self.canonical_dtype())
        if self.contiguous and layout.stride != 1:
            layout = replace(layout, stride=1)
        return layout

    def _nearest_bs(self, n: int) -> int | None:
        """The largest allowed size <= n, else the smallest above it (never 0 from n > 0)."""
        below = [k for k in self.batch_sizes(n)[-1:] if k > 0 or n == 0]
        if below:
            return below[-1]
        if n == 0:
            return None  # an empty batch cannot be made non-empty without inventing requests
        above = [k for k in (self.bs or (1,)) if k > n and self.allows_bs(k)]
        return min(above) if above else None

    # --- what the report says ----------------------------------------------------------------

    def left_out(self) -> list[str]:
        """One line per restriction: what the fuzzer does not try."""
        lines = []
        if self.dtypes is not None and set(self.dtypes) != set(DTYPE_NAMES):
            missing = [d for d in DTYPE_NAMES if d not in self.dtypes]
            lines.append(
                f"dtypes: {', '.join(missing)} index tensors not tried "
                f"(only {', '.join(self.dtypes)})"
            )
        if self.contiguous:
            lines.append(
                "strides: only contiguous tensors (stride 1) tried; steps, stride-0 views not "
                "(storage offsets still are)"
            )
        if self.topk is not None:
            lines.append(
                f"topk: only {_listed(self.topk)} tried; other values (0, 2**31 - 1, values "
                "around the data) not"
            )
        if self.bs is not None:
            lines.append(f"batch sizes: only {_listed(self.bs)} tried")
        if self.max_bs is not None:
            lines.append(f"batch sizes above {self.max_bs} not tried")
        if not self.empty_batch:
            lines.append("empty batch (bs == 0) not tried")
        for key, what in (("modes", "modes"), ("page_sizes", "page sizes"), ("next_n", "next_n")):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"metadata {what}: only {_listed(value)} tried")
        if self.max_width is not None:
            lines.append(f"metadata widths above {self.max_width} not tried")
        return lines


EVERYTHING = Envelope()


def _listed(values: tuple) -> str:
    shown = ", ".join(map(str, values[:12]))
    return shown + (f", ... ({len(values)} values)" if len(values) > 12 else "")


def _resize(case: Case, n: int) -> Case:
    """The first n requests, repeated from the start when n > bs (stride-0 views stay
    uniform either way)."""
    bs = case.bs
    idx = [i % bs for i in range(n)] if bs else []
    return replace(
        case,
        extend_seq_lens=tuple(case.extend_seq_lens[i] for i in idx),
        seq_lens=tuple(case.seq_lens[i] for i in idx),
        prior=case.prior and tuple(tuple(p[i] for i in idx) for p in case.prior),
    )

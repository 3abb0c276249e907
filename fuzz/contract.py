"""The v1 contract as data, described once (PyTorch OpInfo's `ErrorInput` is the model).

Every bad-input kind with its exception, the arguments its message must name and the values
it is drawn from; one named case per input family; the documented divergences. Strategies,
bulk drawing, the harness, the shrinker and the tests read these tables; nothing restates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from fuzz.case import Case, Fault, Layout

INT32_MAX = 2**31 - 1

# Values where kernels specialise or overflow: drawn often by strategies.py and bulk.py.
TOPK_FIXED = (0, 1, 2, 16, 2048, INT32_MAX)
SPECIAL_BS = (1, 16, 32, 48, 64)  # Triton specialises ints equal to 1 or divisible by 16


@dataclass(frozen=True)
class FaultKind:
    """One way to make a call invalid and what it must raise (an OpInfo ErrorInput).

    `argument` is the argument the fault replaces; `names` the words of which the message
    must contain at least one; `choices` / `span` the values it is drawn from; `min_bs`
    and `needs_total` say which valid cases it can break.
    """

    kind: str
    error: type[Exception]
    names: tuple[str, ...]
    argument: str
    choices: tuple[object, ...] = ()
    span: tuple[int, int] | None = None
    min_bs: int = 0
    needs_total: bool = False

    @property
    def pattern(self) -> str:
        """A regex the message must match: one of the names."""
        return "|".join(re.escape(n) for n in self.names)

    def matches(self, message: str) -> bool:
        return re.search(self.pattern, message) is not None

    def applies(self, case: Case) -> bool:
        """Can this kind break `case` (some need a request, or two, or a token)?"""
        return case.bs >= self.min_bs and (case.total > 0 or not self.needs_total)


def _kind(kind: str, error: type[Exception], *names: str, **extra) -> FaultKind:
    argument = extra.pop("argument", names[0])
    return FaultKind(kind, error, names, argument, **extra)


BAD_DTYPES = {
    "float32": torch.float32,
    "int16": torch.int16,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_DTYPE_NAMES = tuple(sorted(BAD_DTYPES))
_RANKS = ("2d", "0d")

# CONTRACT.md's "Bad input" list: faults of the three contract arguments.
FAULTS: dict[str, FaultKind] = {
    k.kind: k
    for k in (
        _kind("extend_not_tensor", TypeError, "extend_seq_lens"),
        _kind("seq_not_tensor", TypeError, "seq_lens"),
        _kind("topk_not_int", TypeError, "nsa_index_topk", choices=("float", "bool", "str")),
        _kind("extend_dtype", TypeError, "extend_seq_lens", choices=_DTYPE_NAMES),
        _kind("seq_dtype", TypeError, "seq_lens", choices=_DTYPE_NAMES),
        _kind("extend_not_1d", ValueError, "extend_seq_lens", choices=_RANKS),
        _kind("seq_not_1d", ValueError, "seq_lens", choices=_RANKS),
        _kind(
            "lengths_differ",
            ValueError,
            "extend_seq_lens",
            "seq_lens",
            argument="seq_lens",
            span=(0, 9),
        ),
        _kind(
            "devices_differ",
            ValueError,
            "extend_seq_lens",
            "seq_lens",
            "device",
            argument="seq_lens",
        ),
        _kind("extend_negative", ValueError, "extend_seq_lens", span=(-(2**31), -1), min_bs=1),
        _kind("seq_negative", ValueError, "seq_lens", span=(-(2**40), -1), min_bs=1),
        _kind("seq_too_large", ValueError, "seq_lens", span=(2**31, 2**40), min_bs=1),
        _kind("topk_negative", ValueError, "nsa_index_topk", span=(-(2**40), -1)),
        _kind("topk_too_large", ValueError, "nsa_index_topk", span=(2**31, 2**40)),
        # "split": two extends that each fit int32 but whose sum does not (needs bs >= 2).
        _kind(
            "total_too_large",
            ValueError,
            "extend_seq_lens",
            "total",
            choices=("split",),
            span=(2**31, 2**40),
            min_bs=1,
        ),
    )
}
# Faults of the caller's `out` buffers: built-in backends only (plug-ins take no `out`).
OUT_FAULTS: dict[str, FaultKind] = {
    k.kind: k
    for k in (
        _kind("out_not_tensor", TypeError, "out"),
        _kind("out_dtype", TypeError, "out"),
        _kind("out_not_1d", ValueError, "out"),
        _kind("out_too_small", ValueError, "out", needs_total=True),
        _kind("out_other_device", ValueError, "out"),
    )
}
ERROR_INPUTS: dict[str, FaultKind] = {**FAULTS, **OUT_FAULTS}


def expected_error(fault: Fault | str) -> tuple[type[Exception], tuple[str, ...]]:
    """(exception type, argument names the message must mention one of) for a fault."""
    k = ERROR_INPUTS[fault if isinstance(fault, str) else fault.kind]
    return k.error, k.names


def fault_applies(fault: Fault, case: Case) -> bool:
    """Can `fault` (its kind and value) still break `case`?"""
    if not ERROR_INPUTS[fault.kind].applies(case):
        return False
    return not (fault.kind == "total_too_large" and fault.value == "split" and case.bs < 2)


# --- one named example per input family, run first and kept as documentation ---------------

NAMED_CASES: dict[str, Case] = {
    "contract example": Case((3, 0, 2), (10, 4, 1), 9),
    "empty batch": Case((), (), 2048),
    "all zero extends": Case((0, 0, 0), (5, 6, 7), 2048),
    "adjacent zero extends": Case((2, 0, 0, 1), (4, 9, 9, 3), 2048),
    "topk above all": Case((2, 3), (7, 9), INT32_MAX),
    "topk below all": Case((2, 3), (7, 9), 0),
    "topk equal to a value": Case((3, 2), (10, 6), 9),
    "topk one below a value": Case((3, 2), (10, 6), 8),
    "topk is 1": Case((3, 1), (3, 1), 1),
    "padded request (seq < extend)": Case((4, 1), (2, 5), 2048),
    "seq == extend": Case((3,), (3,), 2),
    "int32 max": Case(
        (3, 1), (INT32_MAX, INT32_MAX), INT32_MAX - 1, Layout("int64"), Layout("int64")
    ),
    "int32 max, int32 tensors": Case(
        (2,), (INT32_MAX,), INT32_MAX, Layout("int32"), Layout("int32")
    ),
    "long extend across 1024": Case((1030, 1), (2000, 5), 1024),
    # A total one past a 1024-row tile whose last row is clamped (round 5's
    # v1_total_tile1024_last was found by the bulk screen's luck only, stop 22).
    "total 1025, last row clamped": Case((1024, 1), (1100, 2000), 1000),
    "large batch": Case((1, 2, 3, 4) * 1024, (4096,) * 4096, 2048),
    "bs 16 (Triton specialisation)": Case((1,) * 16, tuple(range(100, 116)), 16),
    "int64 extends, int32 seqs": Case((2, 1), (5, 8), 7, Layout("int64"), Layout("int32")),
    "int32 extends, int64 seqs": Case((2, 1), (5, 8), 7, Layout("int32"), Layout("int64")),
    "strided views with offsets": Case(
        (2, 1, 3), (5, 8, 4), 6, Layout("int32", 3, 2), Layout("int64", 2, 1)
    ),
    "stride-0 expanded views": Case(
        (2, 2, 2), (7, 7, 7), 6, Layout("int32", 0, 1), Layout("int32", 0, 0)
    ),
    "caller buffers, validation off": Case((3, 0, 2), (10, 4, 1), 9, out_slack=5, validate=False),
}

# Documented departures from CONTRACT.md: (implementation, family) -> what happens and why.
KNOWN_DIVERGENCES: dict[tuple[str, str], str] = {
    ("legacy", "empty batch"): (
        "torch.cat of an empty list raises (RuntimeError in older torch, ValueError in 2.13)"
    ),
}

"""A case is explicit data: values, dtypes, strides, offsets, top-k; JSON both ways.

A corpus entry stores the case itself (not the strategy that drew it), so it replays
after the generators change. `Fault` turns a valid case into an invalid call. A case with
a `prior` is judged on its second call: the first call's tensors refilled in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

import reference

DTYPES = {"int32": torch.int32, "int64": torch.int64}


@dataclass(frozen=True)
class Layout:
    """How one input tensor sits in its storage. stride 0 is an `expand`ed view."""

    dtype: str = "int32"
    stride: int = 1
    offset: int = 0


@dataclass(frozen=True)
class Case:
    """One call of the contract, plus how built-ins are asked to write their output.

    `out_slack=None` lets a built-in allocate; an int gives it poisoned buffers of
    capacity `total + out_slack`. Candidates get only the three contract arguments.

    `prior=(extend_seq_lens, seq_lens)`: the values the SAME input tensors held in a call
    made just before this one (SGLang's replay refills them in place every step); the
    case's own values are then written into those tensors (`refill`) and called again.
    """

    extend_seq_lens: tuple[int, ...]
    seq_lens: tuple[int, ...]
    nsa_index_topk: int
    extend_layout: Layout = field(default_factory=Layout)
    seq_layout: Layout = field(default_factory=Layout)
    out_slack: int | None = None
    validate: bool = True
    prior: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if self.prior is not None and not (
            len(self.prior) == 2 and len(self.prior[0]) == len(self.prior[1]) == self.bs
        ):
            raise ValueError(f"prior must be two tuples of bs={self.bs} values, got {self.prior}")

    @property
    def bs(self) -> int:
        return len(self.extend_seq_lens)

    @property
    def total(self) -> int:
        return sum(self.extend_seq_lens)

    def expected(self) -> tuple[list[int], list[int]]:
        """The oracle's answer."""
        return reference.expand(self.extend_seq_lens, self.seq_lens, self.nsa_index_topk)

    def first_call(self) -> Case:
        """The prior call as a case of its own (same layouts, top-k, mode; no prior)."""
        if self.prior is None:
            raise ValueError("first_call: this case has no prior call")
        return replace(self, extend_seq_lens=self.prior[0], seq_lens=self.prior[1], prior=None)

    def tensors(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh tensors holding the case's own values (the prior plays no part)."""
        return (
            _materialise(self.extend_seq_lens, self.extend_layout, device, gap=_extend_gap),
            _materialise(self.seq_lens, self.seq_layout, device, gap=_seq_gap),
        )

    def size_key(self) -> tuple:
        """Smaller is simpler: used to keep the smallest failing case of a kind."""
        values = self.extend_seq_lens + self.seq_lens
        layouts = (self.extend_layout, self.seq_layout)
        unusual = sum((x.stride != 1) + (x.offset != 0) + (x.dtype != "int32") for x in layouts)
        return (
            self.bs,
            self.total,
            unusual,
            sum(abs(v) for v in values),
            self.nsa_index_topk,
            (self.out_slack is not None) + (not self.validate) + (self.prior is not None),
        )

    def to_json(self) -> dict:
        prior = {} if self.prior is None else {"prior": [list(v) for v in self.prior]}
        return {
            "extend_seq_lens": list(self.extend_seq_lens),
            "seq_lens": list(self.seq_lens),
            "nsa_index_topk": self.nsa_index_topk,
            "extend_layout": asdict(self.extend_layout),
            "seq_layout": asdict(self.seq_layout),
            "out_slack": self.out_slack,
            "validate": self.validate,
            **prior,
        }

    @classmethod
    def from_json(cls, data: dict) -> Case:
        return cls(
            extend_seq_lens=tuple(int(v) for v in data["extend_seq_lens"]),
            seq_lens=tuple(int(v) for v in data["seq_lens"]),
            nsa_index_topk=int(data["nsa_index_topk"]),
            extend_layout=Layout(**data.get("extend_layout", {})),
            seq_layout=Layout(**data.get("seq_layout", {})),
            out_slack=data.get("out_slack"),
            validate=bool(data.get("validate", True)),
            prior=_prior_from_json(data.get("prior")),
        )

    def describe(self) -> str:
        def short(xs: tuple[int, ...]) -> str:
            body = ", ".join(map(str, xs[:8])) + (", ..." if len(xs) > 8 else "")
            return f"[{body}]"

        def lay(layout: Layout) -> str:
            extra = (
                ""
                if (layout.stride, layout.offset) == (1, 0)
                else (f" stride={layout.stride} offset={layout.offset}")
            )
            return layout.dtype + extra

        refill = (
            ""
            if self.prior is None
            else (
                f" after a prior call on the same tensors with extend_seq_lens="
                f"{short(self.prior[0])} seq_lens={short(self.prior[1])}, refilled in place"
            )
        )
        return (
            f"bs={self.bs} total={self.total} topk={self.nsa_index_topk} "
            f"extend_seq_lens={short(self.extend_seq_lens)} ({lay(self.extend_layout)}) "
            f"seq_lens={short(self.seq_lens)} ({lay(self.seq_layout)})" + refill
        )


def _prior_from_json(raw) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    if raw is None:
        return None
    ext, seq = raw
    return tuple(int(v) for v in ext), tuple(int(v) for v in seq)


def refill_calls(case: Case, device):
    """The arguments of a refill case's two calls, on the same tensors: the prior's values
    first; once the caller has made call 1 and asks for the next, the case's values written
    into those tensors in place (`refill`)."""
    ext, seq = case.first_call().tensors(device)
    args = (ext, seq, case.nsa_index_topk)
    yield args
    refill(case, ext, seq)
    yield args


def refill(case: Case, extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor) -> None:
    """Write the case's values IN PLACE into the tensors its first call was given (same
    storages and data_ptrs, the layout honoured: an offset/stride view is written through
    itself, a stride-0 view through its one storage element)."""
    for t, values in ((extend_seq_lens, case.extend_seq_lens), (seq_lens, case.seq_lens)):
        if t.numel() != len(values):
            raise ValueError(f"refill: a tensor of {t.numel()} values for {len(values)} values")
        if not values:
            continue
        if t.stride(0) == 0:
            if len(set(values)) != 1:
                raise ValueError("refill: a stride-0 view takes all values equal")
            t.as_strided((1,), (1,), t.storage_offset()).fill_(values[0])
        else:
            t.copy_(torch.tensor(values, dtype=t.dtype))


def _extend_gap(n: int) -> torch.Tensor:
    # Plausible small extends: a kernel that ignores strides reads these and goes wrong.
    return 1 + torch.arange(n) % 3


def _seq_gap(n: int) -> torch.Tensor:
    return 1000 + 37 * torch.arange(n)


def _materialise(values, layout: Layout, device, gap) -> torch.Tensor:
    dtype = DTYPES[layout.dtype]
    n = len(values)
    if (layout.stride, layout.offset) == (1, 0):
        return torch.tensor(values, dtype=dtype, device=device)
    if layout.stride == 0 and n > 1 and len(set(values)) != 1:
        raise ValueError("a stride-0 layout needs all values equal")
    step = max(layout.stride, 1)
    size = layout.offset + (step * (n - 1) + 1 if n and layout.stride else 1)
    storage = gap(size).to(dtype)
    if n:
        if layout.stride == 0:
            storage[layout.offset] = values[0]
        else:
            storage[layout.offset :: step] = torch.tensor(values, dtype=dtype)
    storage = storage.to(device)
    return storage.as_strided((n,), (layout.stride,), layout.offset)


def with_layout(case: Case, **changes) -> Case:
    return replace(case, **changes)


# --- invalid calls, for the error contract -------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One way to break a valid case: a kind of fuzz/contract.py's FAULTS or OUT_FAULTS
    (which say what it must raise), the bad value, and the request it lands on."""

    kind: str
    value: object = None
    index: int = 0

    def to_json(self) -> dict:
        return {"kind": self.kind, "value": _jsonable(self.value), "index": self.index}

    @classmethod
    def from_json(cls, data: dict) -> Fault:
        return cls(kind=data["kind"], value=data.get("value"), index=int(data.get("index", 0)))


def _jsonable(v: object) -> object:
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


# The error contract's tables live in fuzz/contract.py (which imports this module); the old
# names stay importable from here, resolved on first use.
_FROM_CONTRACT = ("FAULTS", "OUT_FAULTS", "BAD_DTYPES", "ERROR_INPUTS", "expected_error")


def __getattr__(name: str) -> object:
    if name in _FROM_CONTRACT:
        from fuzz import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def other_device(device: torch.device) -> torch.device:
    """A device that is not `device`: the CPU for CUDA inputs, `meta` for CPU inputs."""
    return torch.device("cpu") if device.type == "cuda" else torch.device("meta")


def faulty_args(case: Case, fault: Fault, device) -> tuple[object, object, object]:
    """The three contract arguments with `fault` applied."""
    from fuzz.contract import BAD_DTYPES, fault_applies

    if not fault_applies(fault, case):
        raise ValueError(
            f"fault {fault.kind} (value {fault.value!r}) cannot break a case of bs {case.bs}"
        )
    ext, seq = case.tensors(device)
    topk: object = case.nsa_index_topk
    k, v, i = fault.kind, fault.value, fault.index
    if k == "extend_not_tensor":
        ext = list(case.extend_seq_lens)
    elif k == "seq_not_tensor":
        seq = list(case.seq_lens)
    elif k == "topk_not_int":
        topk = {"float": float(case.nsa_index_topk), "bool": True, "str": "2048"}.get(v, 2048.0)
    elif k == "extend_dtype":
        ext = ext.to(BAD_DTYPES[v])
    elif k == "seq_dtype":
        seq = seq.to(BAD_DTYPES[v])
    elif k == "extend_not_1d":
        ext = ext.reshape(1, -1) if v != "0d" else ext.new_tensor(1)
    elif k == "seq_not_1d":
        seq = seq.reshape(-1, 1) if v != "0d" else seq.new_tensor(1)
    elif k == "lengths_differ":
        seq = torch.cat([seq, seq.new_tensor([int(v or 1)])])
    elif k == "devices_differ":
        seq = seq.to(other_device(seq.device))
    elif k in ("extend_negative", "seq_negative", "seq_too_large"):
        target = ext if k == "extend_negative" else seq
        target = target.to(torch.int64).clone()
        target[i % target.numel()] = int(v)
        ext, seq = (target, seq) if k == "extend_negative" else (ext, target)
    elif k in ("topk_negative", "topk_too_large"):
        topk = int(v)
    elif k == "total_too_large" and v == "split":
        # Two extends that each fit int32 but whose sum does not: catches int32 sums.
        ext = ext.clone()
        ext[:2] = 2**30 + 1
    elif k == "total_too_large":
        ext = ext.to(torch.int64).clone()
        ext[i % ext.numel()] = int(v)
    return ext, seq, topk


def faulty_out(case: Case, fault: Fault, device) -> tuple[object, object]:
    """Out buffers broken as `fault` says (the inputs stay valid)."""
    capacity = case.total + 4

    def buf(n: int, dtype=torch.int32, dev=device) -> torch.Tensor:
        return torch.full((n,), -777, dtype=dtype, device=dev)

    k = fault.kind
    if k == "out_not_tensor":
        return ([0] * capacity, buf(capacity))
    if k == "out_dtype":
        return (buf(capacity), buf(capacity, torch.int64))
    if k == "out_not_1d":
        return (buf(capacity).reshape(1, -1), buf(capacity))
    if k == "out_too_small":
        return (buf(capacity), buf(max(case.total - 1, 0)))
    if k == "out_other_device":
        return (buf(capacity, dev=other_device(torch.device(device))), buf(capacity))
    raise ValueError(f"{k} is not an out fault")

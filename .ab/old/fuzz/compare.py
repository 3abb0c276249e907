"""One comparison for every check: a result against the oracle, first difference named.

A Mismatch's signature (implementation, kind, output) is what the campaign deduplicates
on: two failures with the same signature are one bug, whatever their values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

OUTPUTS = ("seqlens_expanded", "nsa_cache_seqlens")


@dataclass(frozen=True)
class Mismatch:
    impl: str
    kind: str
    output: str | None = None
    index: int | None = None
    expected: object = None
    got: object = None
    detail: str = ""
    cause: str = ""  # one line: why it failed (exception, signal, CUDA error, first difference)
    output_tail: str = ""  # the end of what a plug-in printed, for faults in its worker

    @property
    def signature(self) -> str:
        return ":".join(p for p in (self.impl, self.kind, self.output) if p)

    def describe(self) -> str:
        where = self.output or ""
        if self.index is not None:
            where += f"[{self.index}]"
        body = f"{where} is {self.got!r}, expected {self.expected!r}" if where else ""
        return (
            f"{self.impl}: {self.kind}"
            + (f": {body}" if body else "")
            + (f" ({self.detail})" if self.detail else "")
        )

    def to_json(self) -> dict:
        return {
            "impl": self.impl,
            "kind": self.kind,
            "output": self.output,
            "index": self.index,
            "expected": _plain(self.expected),
            "got": _plain(self.got),
            "detail": self.detail,
            "signature": self.signature,
        }


def _plain(v: object) -> object:
    return v if isinstance(v, (int, str, type(None), float, bool)) else repr(v)


def first_difference(expected: torch.Tensor, got: torch.Tensor) -> tuple[int, int, int] | None:
    """(index, expected, got) where two equal-length 1-D tensors first differ, else None."""
    if torch.equal(expected, got):
        return None
    i = int((expected != got).nonzero()[0, 0])
    return i, int(expected[i]), int(got[i])


@dataclass
class Output:
    """What a result holds, in a form that crosses a process boundary (see isolation.py)."""

    typename: str
    dtype: str | None = None
    device: str | None = None
    shape: tuple[int, ...] | None = None
    values: torch.Tensor | None = None  # on the CPU; only for 1-D int32 tensors


def summarise(result: object) -> list[Output] | str:
    """Each output of a pair described; the type name when `result` is not a pair."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return type(result).__name__
    outputs = []
    for t in result:
        if not isinstance(t, torch.Tensor):
            outputs.append(Output(type(t).__name__))
            continue
        plain = t.dtype == torch.int32 and t.dim() == 1
        outputs.append(
            Output(
                "Tensor",
                str(t.dtype),
                str(t.device),
                tuple(t.shape),
                t.detach().cpu() if plain else None,
            )
        )
    return outputs


def same_device(got: str | None, want: torch.device | str) -> bool:
    """`cuda` names the current CUDA device, as tensors created with device="cuda" do."""
    if got is None:
        return False
    g, w = torch.device(got), torch.device(want)
    if g.type != w.type:
        return False
    if g.type == "cuda":
        current = torch.cuda.current_device()
        return (g.index if g.index is not None else current) == (
            w.index if w.index is not None else current
        )
    return True


def _first_failed_check(
    impl: str,
    result: list[Output] | str,
    expected: tuple[torch.Tensor, torch.Tensor],
    device: torch.device | str,
) -> Mismatch | None:
    if isinstance(result, str):
        return Mismatch(impl, "not-a-pair", got=result, expected="tuple of 2 tensors")
    for name, got, want in zip(OUTPUTS, result, expected):
        if got.typename != "Tensor":
            return Mismatch(impl, "type", name, got=got.typename, expected="Tensor")
        if got.dtype != "torch.int32":
            return Mismatch(impl, "dtype", name, got=got.dtype, expected="torch.int32")
        if not same_device(got.device, device):
            return Mismatch(impl, "device", name, got=got.device, expected=str(device))
        if got.shape is None or len(got.shape) != 1:
            return Mismatch(impl, "shape", name, got=got.shape, expected=(want.numel(),))
        if got.shape[0] != want.numel():
            return Mismatch(impl, "length", name, got=got.shape[0], expected=want.numel())
        diff = first_difference(want, got.values)
        if diff is not None:
            i, w, g = diff
            return Mismatch(impl, "values", name, i, w, g)
    return None


def check_outputs(
    impl: str,
    result: list[Output] | str,
    expected: tuple[torch.Tensor, torch.Tensor],
    device: torch.device | str,
) -> Mismatch | None:
    """Pair, tensor, dtype, device, rank, length, values: the first that fails, in that order;
    its `cause` says what differs in one line."""
    found = _first_failed_check(impl, result, expected, device)
    if found is None:
        return None
    if found.kind == "values":
        what = f"{found.output}[{found.index}]"
    elif found.output:
        what = f"{found.output} {found.kind}"
    else:
        what = "the result"
    return replace(found, cause=f"{what} is {found.got!r}, expected {found.expected!r}")


def expected_tensors(values: tuple[list[int], list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(values[0], dtype=torch.int32),
        torch.tensor(values[1], dtype=torch.int32),
    )

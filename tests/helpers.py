"""The one assertion helper every test compares with, and builders for awkward tensors.

Strided builders fill the storage gaps with values that are not in the view, so a kernel
that ignores strides or storage offsets reads wrong numbers instead of passing by luck.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# The Triton backend needs CUDA tensors on a GPU and CPU tensors under the interpreter.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# What an untouched slot of a caller's out buffer holds.
SENTINEL = -777

OUTPUT_NAMES = ("seqlens_expanded", "nsa_cache_seqlens")


def _first_difference(got: list[int], expected: list[int]) -> int | None:
    for i, (g, e) in enumerate(zip(got, expected, strict=False)):
        if g != e:
            return i
    if len(got) != len(expected):
        return min(len(got), len(expected))
    return None


def assert_same_expansion(
    got_pair: object,
    expected_lists: tuple[Sequence[int], Sequence[int]],
    *,
    name: str,
    device: torch.device | str | None = None,
) -> None:
    """Check a `(seqlens_expanded, nsa_cache_seqlens)` result against two lists of ints.

    Each output must be an int32, 1-D tensor (on `device`, the inputs' device, if given)
    of the expected length and values; on a mismatch the message says which output
    first differs, at which index, and both values there.
    """
    assert isinstance(got_pair, (tuple, list)) and len(got_pair) == 2, (
        f"{name}: expected a pair (seqlens_expanded, nsa_cache_seqlens), "
        f"got {type(got_pair).__name__}"
    )
    for output, got, expected in zip(OUTPUT_NAMES, got_pair, expected_lists, strict=True):
        where = f"{name}: {output}"
        assert isinstance(got, torch.Tensor), f"{where} is {type(got).__name__}, not a tensor"
        assert got.dtype == torch.int32, f"{where} has dtype {got.dtype}, expected torch.int32"
        assert got.dim() == 1, f"{where} has shape {tuple(got.shape)}, expected 1-D"
        if device is not None:
            assert got.device == torch.device(device), (
                f"{where} is on {got.device}, expected {device}"
            )
        values, expected = got.cpu().tolist(), list(expected)
        i = _first_difference(values, expected)
        if i is None:
            continue
        got_i = values[i] if i < len(values) else "<end>"
        expected_i = expected[i] if i < len(expected) else "<end>"
        raise AssertionError(
            f"{where} first differs at index {i}: got {got_i}, expected {expected_i} "
            f"(lengths: got {len(values)}, expected {len(expected)})"
        )


def _dtype_bounds(dtype: torch.dtype) -> tuple[int, int]:
    info = torch.iinfo(dtype)
    return info.min, info.max


def _gap_value(values: Sequence[int], dtype: torch.dtype) -> int:
    """A value not in `values` and close to them: wrong if read, but never huge."""
    low, high = _dtype_bounds(dtype)
    top = max(values, default=0) + 1
    return top if top <= high else max(min(values) - 1, low)


def strided_tensor(
    values: Sequence[int],
    dtype: torch.dtype,
    *,
    step: int = 1,
    offset: int = 0,
    device: torch.device | str = DEVICE,
) -> torch.Tensor:
    """A 1-D view holding `values` at `storage_offset + i * step` of a larger storage.

    `step=0` gives an `expand()`ed view (stride 0), which needs all values equal. Every
    other slot of the storage, one past the end included, holds a value not in `values`.
    """
    values = list(values)
    if step < 0:
        raise ValueError(f"step is {step}; torch views have strides >= 0")
    if step == 0 and len(set(values)) > 1:
        raise ValueError(f"step=0 (expand) needs equal values, got {values}")
    n = len(values)
    span = 1 if step == 0 else max((n - 1) * step + 1, 0)
    storage = torch.full((offset + span + 1,), _gap_value(values, dtype), dtype=dtype)
    if n:
        storage[offset : offset + span : max(step, 1)] = torch.tensor(values[: n if step else 1])
    storage = storage.to(device)
    if step == 0:
        view = storage[offset : offset + 1].expand(n)
    else:
        view = storage[offset : offset + span : step]
    assert view.cpu().tolist() == values and view.storage_offset() == offset
    return view


def whole_storage(t: torch.Tensor) -> torch.Tensor:
    """A 1-D tensor over all of `t`'s storage, gaps and elements outside the view included."""
    flat = torch.empty(0, dtype=t.dtype, device=t.device)
    return flat.set_(t.untyped_storage())


def snapshot(t: torch.Tensor) -> torch.Tensor:
    """A copy of `t`'s whole storage, to prove later that nothing in it changed."""
    return whole_storage(t).clone()


def assert_storage_unchanged(t: torch.Tensor, before: torch.Tensor, *, name: str) -> None:
    after = whole_storage(t)
    assert after.numel() == before.numel(), f"{name}: storage was resized"
    changed = (after != before).nonzero()
    if changed.numel():
        i = int(changed[0, 0])
        raise AssertionError(
            f"{name}: storage element {i} changed from {int(before[i])} to {int(after[i])}"
        )


def poisoned_buffer(
    capacity: int, *, step: int = 1, device: torch.device | str = DEVICE
) -> torch.Tensor:
    """An int32 out buffer of `capacity` slots, every slot of its storage set to SENTINEL.

    With `step > 1` it is a strided view of a bigger buffer, whose gaps must stay SENTINEL.
    """
    base = torch.full((max(capacity * step, 1) + 1,), SENTINEL, dtype=torch.int32, device=device)
    return base.as_strided((capacity,), (step,), 0)

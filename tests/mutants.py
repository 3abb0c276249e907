"""Planted-bug candidates, one per input family of CONTRACT.md, for measuring the fuzzer.

Each has the contract's candidate signature and is wrong ONLY on its family (tests/
test_mutants.py proves both halves); `correct` is right everywhere. Self-contained: the
fuzzer loads this file by path in a worker (`--candidate tests/mutants.py:NAME`).
"""

from __future__ import annotations

import os
import time

import torch

INT32_MAX = 2**31 - 1


def _expand(extends: list[int], seqs: list[int], topk: int, device) -> tuple:
    """The contract on plain lists: the correct core every mutant bends in one place."""
    values = [v for qo, kv in zip(extends, seqs) for v in range(kv - qo + 1, kv + 1)]
    expanded = torch.tensor(values, dtype=torch.int32, device=device)
    return expanded, expanded.clamp(max=topk)


def _wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def correct(extend_seq_lens, seq_lens, nsa_index_topk):
    """No bug: a campaign against it must report nothing."""
    return _expand(extend_seq_lens.tolist(), seq_lens.tolist(), nsa_index_topk, seq_lens.device)


# --- batch shape ------------------------------------------------------------------------


def empty_batch_raises(extend_seq_lens, seq_lens, nsa_index_topk):
    """empty batch: raises like the original loop's torch.cat of an empty list."""
    if extend_seq_lens.numel() == 0:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    return correct(extend_seq_lens, seq_lens, nsa_index_topk)


def all_zero_extends_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """zero extends: a non-empty batch of all-zero extends gives one token, not none."""
    extends = extend_seq_lens.tolist()
    if extends and not any(extends):
        extends[0] = 1
    return _expand(extends, seq_lens.tolist(), nsa_index_topk, seq_lens.device)


def adjacent_zero_extends(extend_seq_lens, seq_lens, nsa_index_topk):
    """zero extends: the second of two adjacent zero extends is taken as 1."""
    extends = extend_seq_lens.tolist()
    bent = [1 if i and qo == 0 and extends[i - 1] == 0 else qo for i, qo in enumerate(extends)]
    return _expand(bent, seq_lens.tolist(), nsa_index_topk, seq_lens.device)


def long_extends_truncated(extend_seq_lens, seq_lens, nsa_index_topk):
    """long extends: a request's tokens past the first 1024 are dropped (one block only)."""
    extends = [min(qo, 1024) for qo in extend_seq_lens.tolist()]
    seqs = [kv - qo + e for qo, kv, e in zip(extend_seq_lens.tolist(), seq_lens.tolist(), extends)]
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


def large_batch_drops_last(extend_seq_lens, seq_lens, nsa_index_topk):
    """large batches: with bs >= 1024 the last request is lost."""
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    if len(extends) >= 1024:
        extends, seqs = extends[:-1], seqs[:-1]
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


def large_batch_floor_grid(extend_seq_lens, seq_lens, nsa_index_topk):
    """large batches: the bs >= 1024 path launches bs // 1024 blocks, losing a partial one."""
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    if len(extends) >= 1024:
        kept = len(extends) // 1024 * 1024
        extends, seqs = extends[:kept], seqs[:kept]
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


def large_total_positions_wrap(extend_seq_lens, seq_lens, nsa_index_topk):
    """large totals: output positions wrap at 2**16, so total > 65536 overwrites the front."""
    expanded, clamped = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    total = expanded.numel()
    if total <= 2**16:
        return expanded, clamped
    wrapped_e, wrapped_c = torch.zeros_like(expanded), torch.zeros_like(clamped)
    for start in range(0, total, 2**16):
        n = min(2**16, total - start)
        wrapped_e[:n] = expanded[start : start + n]
        wrapped_c[:n] = clamped[start : start + n]
    return wrapped_e, wrapped_c


def bs_one_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """specialisations: a single request (bs == 1, Triton's int specialisation) starts one low."""
    if extend_seq_lens.numel() != 1:
        return correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return _expand(
        extend_seq_lens.tolist(), [seq_lens.tolist()[0] - 1], nsa_index_topk, seq_lens.device
    )


def bs_multiple_of_16_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """specialisations: when bs is a multiple of 16, the last request starts one low."""
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    if extends and len(extends) % 16 == 0:
        seqs[-1] -= 1
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


# --- values -------------------------------------------------------------------------------


def topk_zero_not_clamped(extend_seq_lens, seq_lens, nsa_index_topk):
    """topk: nsa_index_topk == 0 is taken as "no limit" (a falsy check)."""
    expanded, clamped = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return (expanded, expanded.clone()) if nsa_index_topk == 0 else (expanded, clamped)


def topk_equal_off_by_one(extend_seq_lens, seq_lens, nsa_index_topk):
    """topk: a value equal to nsa_index_topk comes out as topk - 1 (`<` for `<=`)."""
    expanded, clamped = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    below = torch.full_like(clamped, nsa_index_topk - 1 if nsa_index_topk else 0)
    return expanded, torch.where(expanded == nsa_index_topk, below, clamped)


def topk_max_overflows(extend_seq_lens, seq_lens, nsa_index_topk):
    """topk: `topk + 1` in int32 wraps at 2**31 - 1, so every value clamps to topk."""
    expanded, _ = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    bound = torch.tensor(nsa_index_topk, dtype=torch.int32) + 1  # wraps for INT32_MAX
    topk = torch.full_like(expanded, nsa_index_topk)
    return expanded, torch.where(expanded < bound, expanded, topk)


def topk_one_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """specialisations: nsa_index_topk == 1 (a Triton specialised int) clamps to 0."""
    expanded, clamped = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return (expanded, expanded.clamp(max=0)) if nsa_index_topk == 1 else (expanded, clamped)


def topk_multiple_of_16_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """specialisations: a top-k divisible by 16 clamps one lower."""
    expanded, clamped = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    if nsa_index_topk and nsa_index_topk % 16 == 0:
        clamped = expanded.clamp(max=nsa_index_topk - 1)
    return expanded, clamped


def padded_clamped_from_below(extend_seq_lens, seq_lens, nsa_index_topk):
    """padded requests: values <= 0 (seq < extend) are raised to 1 before the top-k clamp."""
    expanded, _ = correct(extend_seq_lens, seq_lens, nsa_index_topk)
    return expanded, expanded.clamp(min=1).clamp(max=nsa_index_topk)


def seq_equal_extend_wrong(extend_seq_lens, seq_lens, nsa_index_topk):
    """padded requests: a request with seq == extend starts at 0 instead of 1."""
    values = []
    for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        values += range(0, qo) if kv == qo else range(kv - qo + 1, kv + 1)
    expanded = torch.tensor(values, dtype=torch.int32, device=seq_lens.device)
    return expanded, expanded.clamp(max=nsa_index_topk)


def int32_end_wraps(extend_seq_lens, seq_lens, nsa_index_topk):
    """int32 extremes: arange's end `seq + 1` in int32 wraps at seq == 2**31 - 1: no tokens."""
    values = []
    for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        values += range(kv - qo + 1, _wrap32(kv + 1))
    expanded = torch.tensor(values, dtype=torch.int32, device=seq_lens.device)
    return expanded, expanded.clamp(max=nsa_index_topk)


def int32_sum_saturates(extend_seq_lens, seq_lens, nsa_index_topk):
    """int32 extremes: `seq + extend` saturates at 2**31 - 1, so requests near it start low."""
    values = []
    for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        high = min(kv + qo, INT32_MAX)
        values += range(high - 2 * qo + 1, high - qo + 1)
    expanded = torch.tensor(values, dtype=torch.int32, device=seq_lens.device)
    return expanded, expanded.clamp(max=nsa_index_topk)


# --- layouts --------------------------------------------------------------------------------


def _elements(t: torch.Tensor, n: int, offset: int, stride: int) -> list[int]:
    """What a kernel reads at `base + offset + i * stride`, i < n, in t's own element type."""
    return t.as_strided((n,), (stride,), offset).tolist()


def int64_seq_read_as_int32(extend_seq_lens, seq_lens, nsa_index_topk):
    """dtypes: with int32 extends and int64 seqs, seq_lens is loaded through an int32 pointer."""
    if not (extend_seq_lens.dtype == torch.int32 and seq_lens.dtype == torch.int64):
        return correct(extend_seq_lens, seq_lens, nsa_index_topk)
    words = torch.empty(0, dtype=torch.int32).set_(seq_lens.untyped_storage())
    seqs = _elements(words, seq_lens.numel(), seq_lens.storage_offset(), seq_lens.stride(0))
    return _expand(extend_seq_lens.tolist(), seqs, nsa_index_topk, seq_lens.device)


def strides_ignored(extend_seq_lens, seq_lens, nsa_index_topk):
    """strides: both tensors are read as if contiguous from their storage offsets."""
    extends = _elements(
        extend_seq_lens, extend_seq_lens.numel(), extend_seq_lens.storage_offset(), 1
    )
    seqs = _elements(seq_lens, seq_lens.numel(), seq_lens.storage_offset(), 1)
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


def storage_offset_ignored(extend_seq_lens, seq_lens, nsa_index_topk):
    """strides: both tensors are read from the start of their storage (offset dropped)."""
    extends = _elements(extend_seq_lens, extend_seq_lens.numel(), 0, extend_seq_lens.stride(0))
    seqs = _elements(seq_lens, seq_lens.numel(), 0, seq_lens.stride(0))
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


def stride_zero_mishandled(extend_seq_lens, seq_lens, nsa_index_topk):
    """strides: a batch with an expand()ed view (stride 0) is taken as its first request."""
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    if extend_seq_lens.stride(0) == 0 or seq_lens.stride(0) == 0:
        extends, seqs = extends[:1], seqs[:1]
    return _expand(extends, seqs, nsa_index_topk, seq_lens.device)


# --- misbehaving processes, for the CLI tests -------------------------------------------------


def hangs_on_all_zero_extends(extend_seq_lens, seq_lens, nsa_index_topk):
    """zero extends: never returns for a non-empty batch of all-zero extends."""
    extends = extend_seq_lens.tolist()
    while extends and not any(extends):
        time.sleep(0.05)
    return correct(extend_seq_lens, seq_lens, nsa_index_topk)


def aborts_on_padded_request(extend_seq_lens, seq_lens, nsa_index_topk):
    """padded requests: kills its process (SIGABRT) when some seq < extend."""
    if any(kv < qo for qo, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist())):
        os.abort()
    return correct(extend_seq_lens, seq_lens, nsa_index_topk)


# The one-bug-per-family set that `benchmarks/hunt.py tests/mutants.py` measures the fuzzer with.
FAMILY_MUTANTS = (
    "empty_batch_raises",
    "all_zero_extends_wrong",
    "adjacent_zero_extends",
    "topk_zero_not_clamped",
    "topk_equal_off_by_one",
    "topk_max_overflows",
    "padded_clamped_from_below",
    "seq_equal_extend_wrong",
    "int32_end_wraps",
    "int32_sum_saturates",
    "long_extends_truncated",
    "large_batch_drops_last",
    "large_batch_floor_grid",
    "large_total_positions_wrap",
    "int64_seq_read_as_int32",
    "strides_ignored",
    "storage_offset_ignored",
    "stride_zero_mishandled",
    "bs_one_wrong",
    "bs_multiple_of_16_wrong",
    "topk_one_wrong",
    "topk_multiple_of_16_wrong",
)

HUNT = [(n, "expand", globals()[n].__doc__.split("\n")[0]) for n in ("correct", *FAMILY_MUTANTS)]

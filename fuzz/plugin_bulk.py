"""Bulk screening of a plug-in: thousands of numpy-drawn cases in one round trip.

The parent packs a batch (fuzz/bulk.py) as two storages and per-case view parameters; the
worker builds every case as a view of one device tensor (one upload per batch), calls the
candidate back to back, and ships back what came out: each output's dtype, device and
shape, every int32 1-D output's values in one download, and both storages after the calls.
The parent judges the whole batch in one vectorised pass against the numpy oracle; a case
flagged there is only a suspect: the harness confirms it, alone, against the pure-Python
reference, before anything is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fuzz import bulk

# --- the parent's side: pack ------------------------------------------------------------------


def pack(b: bulk.Batch) -> tuple[dict, list[bytes]]:
    """(header, blobs) for the worker: storages as raw int64, views as start/stride/bs."""
    stores, starts = [], []
    for values, stride, offset in (
        (b.ext, b.stride_e, b.offset_e),
        (b.seq, b.stride_s, b.offset_s),
    ):
        store, base = _storage(values, b.bs, stride, offset)
        stores.append(store)
        starts.append(base + offset)
    header = {
        "cmd": "bulk",
        "n": int(b.bs.size),
        "dtypes": list(b.dtypes),
    }
    blobs = [
        stores[0].astype(np.int64).tobytes(),
        stores[1].astype(np.int64).tobytes(),
        np.stack([b.bs, starts[0], b.stride_e, starts[1], b.stride_s, b.topk])
        .astype(np.int64)
        .tobytes(),
    ]
    return header, blobs


def _storage(values: np.ndarray, bs: np.ndarray, stride: np.ndarray, offset: np.ndarray):
    store, base, _ = bulk.layout_storage(values, bs, stride, offset)
    return store, base


# --- the worker's side: run -------------------------------------------------------------------


def run_batch(fn, header: dict, blobs: list[bytes], device: str) -> tuple[dict, list[bytes]]:
    """Every case of the batch through `fn`, back to back; what came out, as plain data."""
    import torch

    dt = {"int32": torch.int32, "int64": torch.int64}
    n = int(header["n"])
    ext_store = torch.from_numpy(np.frombuffer(blobs[0], np.int64).copy())
    seq_store = torch.from_numpy(np.frombuffer(blobs[1], np.int64).copy())
    ext_store = ext_store.to(device=device, dtype=dt[header["dtypes"][0]])
    seq_store = seq_store.to(device=device, dtype=dt[header["dtypes"][1]])
    params = np.frombuffer(blobs[2], np.int64).reshape(6, n).tolist()
    bss, e_start, e_stride, s_start, s_stride, topks = params
    facts: list[list] = []  # per case: [status, message, [dtype, device, shape] x outputs]
    values = []
    for i in range(n):
        ext = ext_store.as_strided((bss[i],), (e_stride[i],), e_start[i])
        seq = seq_store.as_strided((bss[i],), (s_stride[i],), s_start[i])
        try:
            result = fn(ext, seq, topks[i])
        except Exception as exc:
            facts.append(["raised", f"{type(exc).__name__}: {str(exc)[:300]}", []])
            continue
        outs = []
        if isinstance(result, (tuple, list)) and len(result) == 2:
            for t in result:
                if isinstance(t, torch.Tensor):
                    outs.append([str(t.dtype), str(t.device), list(t.shape)])
                    if t.dtype == torch.int32 and t.dim() == 1 and t.device.type != "meta":
                        values.append(t.detach().to(ext_store.device))
                else:
                    outs.append([type(t).__name__, "", []])
            facts.append(["ok", "", outs])
        else:
            facts.append(["not-a-pair", type(result).__name__, []])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    flat = torch.cat(values).cpu().numpy() if values else np.zeros(0, np.int32)
    reply = {"facts": facts}
    return reply, [
        flat.astype(np.int32).tobytes(),
        ext_store.to(torch.int64).cpu().numpy().tobytes(),
        seq_store.to(torch.int64).cpu().numpy().tobytes(),
    ]


# --- the parent's side: judge -------------------------------------------------------------------


@dataclass
class Verdict:
    suspects: list[int]  # case indices to confirm, first ones first
    inputs_modified: bool


def judge(b: bulk.Batch, header: dict, blobs: list[bytes], device: str) -> Verdict:
    """One vectorised pass: every case's outputs against the oracle; the suspects."""
    facts = header.get("facts")
    n = int(b.bs.size)
    if not isinstance(facts, list) or len(facts) != n:
        raise ValueError("the worker's reply does not describe every case")
    totals = np.zeros(n, dtype=np.int64)
    np.add.at(totals, np.repeat(np.arange(n), b.bs), b.ext)
    suspects = []
    plain = np.zeros(n, dtype=bool)
    for i, f in enumerate(facts):
        ok = (
            isinstance(f, list)
            and len(f) == 3
            and f[0] == "ok"
            and len(f[2]) == 2
            and all(_plain_output(o, device, int(totals[i])) for o in f[2])
        )
        plain[i] = ok
        if not ok:
            suspects.append(i)
    # Values: the int32 1-D outputs of plain cases, in order, two per case.
    got = np.frombuffer(blobs[0], np.int32)
    want_e, want_c = bulk.oracle(b)
    starts = np.concatenate([[0], np.cumsum(totals)[:-1]]) if n else np.zeros(0, np.int64)
    expected = []
    for i in np.flatnonzero(plain):
        lo, hi = int(starts[i]), int(starts[i] + totals[i])
        expected += [want_e[lo:hi], want_c[lo:hi]]
    # Outputs of non-plain cases may also be in `got` (an int32 1-D output of a case whose
    # other output was wrong): those cases are suspects already, so rebuild positions.
    flat_expected = np.concatenate(expected) if expected else np.zeros(0, np.int64)
    if got.size != _shipped_size(facts, totals):
        raise ValueError("the worker shipped a different number of values than it described")
    mask = _plain_positions(facts, totals, plain)
    if not np.array_equal(got[mask], flat_expected.astype(np.int32)):
        diff = np.flatnonzero(got[mask] != flat_expected.astype(np.int32))
        suspects.append(_case_of_value(diff[0], plain, totals))
    ext_after = np.frombuffer(blobs[1], np.int64)
    seq_after = np.frombuffer(blobs[2], np.int64)
    ext_before, _ = _storage(b.ext, b.bs, b.stride_e, b.offset_e)
    seq_before, _ = _storage(b.seq, b.bs, b.stride_s, b.offset_s)
    modified = not (np.array_equal(ext_after, ext_before) and np.array_equal(seq_after, seq_before))
    return Verdict(sorted(set(suspects)), modified)


def _plain_output(o, device: str, total: int) -> bool:
    from fuzz.compare import same_device

    return (
        isinstance(o, list)
        and len(o) == 3
        and o[0] == "torch.int32"
        and same_device(o[1] or None, device)
        and o[2] == [total]
    )


def _shipped(o) -> int | None:
    """How many values the worker shipped for one output (int32 1-D tensors only)."""
    if isinstance(o, list) and len(o) == 3 and o[0] == "torch.int32" and len(o[2]) == 1:
        if o[1] != "meta" and not str(o[1]).startswith("meta"):
            return int(o[2][0])
    return None


def _shipped_size(facts, totals) -> int:
    size = 0
    for f in facts:
        if isinstance(f, list) and len(f) == 3 and f[0] == "ok":
            size += sum(_shipped(o) or 0 for o in f[2])
    return size


def _plain_positions(facts, totals, plain) -> np.ndarray:
    mask = []
    for i, f in enumerate(facts):
        if not (isinstance(f, list) and len(f) == 3 and f[0] == "ok"):
            continue
        for o in f[2]:
            k = _shipped(o)
            if k is not None:
                mask.append(np.full(k, bool(plain[i])))
    return np.concatenate(mask) if mask else np.zeros(0, dtype=bool)


def _case_of_value(position: int, plain: np.ndarray, totals: np.ndarray) -> int:
    """The plain case that holds the position-th compared value (two outputs per case)."""
    sizes = np.where(plain, 2 * totals, 0)
    return int(np.searchsorted(np.cumsum(sizes), position, side="right"))

"""Bulk screening of a plug-in: thousands of numpy-drawn cases in one round trip.

The parent packs a batch (fuzz/bulk.py) as two storages and per-case view parameters; the
worker builds every case as a view of one device tensor (one upload per batch), calls the
candidate back to back, and ships back what came out as a compact reply: per case a status
code, per output int codes for dtype, device, rank and length (numpy blobs), every int32
1-D output's values in one download, and both storages after the calls; anything unusual
(a raised message, an exotic dtype, a 2-D output) also goes in a short list of notes.
The parent checks every code and size, then judges the whole batch in one vectorised pass
against the numpy oracle; a flagged case is only a suspect: the harness confirms it, alone,
against the pure-Python reference, before anything is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fuzz import bulk

# Per case: what the call came to.
OK, RAISED, NOT_A_PAIR = 0, 1, 2
# Per output (two per case, case after case): dtype, where, rank (ndim) and length.
NO_TENSOR, INT32, INT64, OTHER_DTYPE = 0, 1, 2, 3  # dtype; NO_TENSOR: absent or not a tensor
SAME_DEVICE, OTHER_DEVICE = 0, 1  # where: the batch's device, or any other (meta included)
NOTES_CAP, NOTE_CHARS = 16, 300  # the notes: a few, short; codes carry every case
REPLY_BLOBS = ("status", "dtype", "where", "ndim", "length", "values", "ext", "seq")

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


class CandidateFault(Exception):
    """Reading the batch's results failed after the candidate ran (an asynchronous device
    fault surfaces there): the batch's, to re-run case by case; not the harness's own."""


def run_batch(
    fn, header: dict, blobs: list[bytes], device: str, progress=None
) -> tuple[dict, list[bytes]]:
    """Every case of the batch through `fn`, back to back; what came out, as codes and bytes.
    Raises CandidateFault when reading the results fails once the candidate has run.
    `progress` (two int64s shared with the parent): the batch, and the case last started,
    so that a crash or a hang in bulk names its case."""
    import torch

    dt = {"int32": torch.int32, "int64": torch.int64}
    n = int(header["n"])
    ext_store = torch.from_numpy(np.frombuffer(blobs[0], np.int64).copy())
    seq_store = torch.from_numpy(np.frombuffer(blobs[1], np.int64).copy())
    ext_store = ext_store.to(device=device, dtype=dt[header["dtypes"][0]])
    seq_store = seq_store.to(device=device, dtype=dt[header["dtypes"][1]])
    params = np.frombuffer(blobs[2], np.int64).reshape(6, n).tolist()
    dev = ext_store.device
    if progress is not None:
        progress[1] = -1
        progress[0] = int(header.get("batch") or -1)
    inputs = {ext_store.untyped_storage().data_ptr(), seq_store.untyped_storage().data_ptr()}
    run = (fn, ext_store, seq_store, params, dev, progress, inputs)
    try:
        status, length, odd, notes, firsts, seconds = _outputs(*run, clone=False)
    except _Reused:
        # A call wrote over an earlier call's outputs (a kernel whose results live in
        # static memory, as a CUDA graph's do): judged after the batch, they would all hold
        # the last call's values. The batch runs again, each output copied as it returns.
        status, length, odd, notes, firsts, seconds = _outputs(*run, clone=True)
    try:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        values = firsts + seconds
        flat = torch.cat(values).cpu().numpy() if values else np.zeros(0, np.int32)
        after = [s.to(torch.int64).cpu().numpy().tobytes() for s in (ext_store, seq_store)]
    except Exception as exc:
        raise CandidateFault(f"{type(exc).__name__}: {str(exc)[:2000]}") from exc
    codes = _codes(n, status, length, odd)
    reply = {"n": n, "notes": notes}
    return reply, [*codes, flat.astype(np.int32).tobytes(), *after]


class _Reused(Exception):
    """An output shares memory with an earlier case's output (see run_batch)."""


def _outputs(fn, ext_store, seq_store, params, dev, progress, inputs: set, *, clone: bool):
    """Call `fn` on each case; (status, length, odd, notes, firsts, seconds). Without
    `clone`, raises _Reused as soon as an output's storage is an earlier case's (the
    inputs' own storages aside: their values do not change); with it, keeps copies."""
    import torch

    bss, e_start, e_stride, s_start, s_stride, topks = params
    n = len(bss)
    i32, tensor = torch.int32, torch.Tensor
    view_e, view_s = ext_store.as_strided, seq_store.as_strided
    status = bytearray(n)  # OK unless set
    length = [0] * (2 * n)  # plain outputs (int32, 1-D, on `dev`) only need their length
    odd: list[tuple] = []  # (position, dtype, where, ndim, length) of any other output
    notes: list[list] = []
    firsts: list = []  # shipped outputs: all first ones, then all second ones
    seconds: list = []
    owner: dict[int, int] = {}  # storage address -> the first case whose output it holds
    case = [0]

    def keeper(kept: list):
        def keep(t) -> None:
            if clone:
                kept.append(t.clone())
                return
            address = t.untyped_storage().data_ptr()
            if address and address not in inputs and owner.setdefault(address, case[0]) != case[0]:
                raise _Reused
            kept.append(t)

        return keep

    keep_a, keep_c = keeper(firsts), keeper(seconds)
    for i in range(n):
        case[0] = i
        if progress is not None:
            progress[1] = i
        try:
            result = fn(
                view_e((bss[i],), (e_stride[i],), e_start[i]),
                view_s((bss[i],), (s_stride[i],), s_start[i]),
                topks[i],
            )
        except Exception as exc:
            status[i] = RAISED
            if len(notes) < NOTES_CAP:
                notes.append([i, f"{type(exc).__name__}: {str(exc)[:NOTE_CHARS]}"])
            continue
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            status[i] = NOT_A_PAIR
            if len(notes) < NOTES_CAP:
                notes.append([i, f"returned {type(result).__name__}"[:NOTE_CHARS]])
            continue
        a, c = result
        if type(a) is tensor and a.dtype is i32 and a.device == dev and a.dim() == 1:
            length[2 * i] = a.numel()
            keep_a(a)
        else:
            odd.append(_odd(2 * i, a, dev, keep_a, notes))
        if type(c) is tensor and c.dtype is i32 and c.device == dev and c.dim() == 1:
            length[2 * i + 1] = c.numel()
            keep_c(c)
        else:
            odd.append(_odd(2 * i + 1, c, dev, keep_c, notes))
    return status, length, odd, notes, firsts, seconds


def _odd(position: int, t, dev, keep, notes: list) -> tuple:
    """The codes of an output that is not a plain int32 1-D tensor on the batch's device
    (or is a Tensor subclass); an int32 1-D one on that device is shipped all the same."""
    import torch

    if not isinstance(t, torch.Tensor):
        _note(notes, position, f"output {position % 2} is a {type(t).__name__}")
        return position, NO_TENSOR, SAME_DEVICE, -1, -1
    dtype = {torch.int32: INT32, torch.int64: INT64}.get(t.dtype, OTHER_DTYPE)
    where = SAME_DEVICE if t.device == dev else OTHER_DEVICE
    ndim = min(t.dim(), 127)
    size = int(t.shape[0]) if ndim == 1 else -1
    if dtype == INT32 and where == SAME_DEVICE and ndim == 1:
        keep(t)
    elif dtype == OTHER_DTYPE or ndim != 1:
        _note(notes, position, f"output {position % 2}: {t.dtype} of shape {list(t.shape)}")
    return position, dtype, where, ndim, size


def _note(notes: list, position: int, text: str) -> None:
    if len(notes) < NOTES_CAP:
        notes.append([position // 2, text[:NOTE_CHARS]])


def _codes(n: int, status: bytearray, length: list, odd: list) -> list[bytes]:
    """The per-case and per-output code arrays, as bytes (see REPLY_BLOBS)."""
    dtype = np.full(2 * n, INT32, np.int8)
    where = np.full(2 * n, SAME_DEVICE, np.int8)
    ndim = np.ones(2 * n, np.int8)
    size = np.array(length, np.int64)
    if odd:
        pos, d, w, k, s = (np.array(col, np.int64) for col in zip(*odd))
        dtype[pos], where[pos], ndim[pos], size[pos] = d, w, k, s
    absent = np.repeat(np.frombuffer(bytes(status), np.uint8) != OK, 2)
    dtype[absent], where[absent], ndim[absent], size[absent] = NO_TENSOR, SAME_DEVICE, -1, -1
    return [bytes(status), dtype.tobytes(), where.tobytes(), ndim.tobytes(), size.tobytes()]


# --- the parent's side: judge -------------------------------------------------------------------


@dataclass
class Verdict:
    suspects: list[int]  # case indices to confirm, first ones first
    inputs_modified: bool
    notes: dict[int, str] = field(default_factory=dict)  # case -> what was unusual (a hint)


def judge(b: bulk.Batch, reply: dict, blobs: list[bytes], sent: list[bytes] | None = None):
    """One vectorised pass: every case's outputs against the oracle; the suspects.
    `sent`: the blobs `pack` made (the storages as sent), to spare building them again.
    ValueError if the reply does not add up (wrong sizes, codes out of range)."""
    n = int(b.bs.size)
    if not isinstance(reply, dict) or type(reply.get("n")) is not int or reply["n"] != n:
        raise ValueError("the worker's reply does not describe every case")
    if not isinstance(blobs, list) or len(blobs) != len(REPLY_BLOBS):
        raise ValueError(f"the worker's reply has {len(blobs)} blobs, not {len(REPLY_BLOBS)}")
    notes = _notes(reply.get("notes"), n)
    status = _array(blobs[0], np.uint8, n, "status")
    dtype, where, ndim = (_array(blobs[k], np.int8, 2 * n, REPLY_BLOBS[k]) for k in (1, 2, 3))
    size = _array(blobs[4], np.int64, 2 * n, "length")
    got = _array(blobs[5], np.int32, None, "values")
    _check_codes(status, dtype, where, ndim, size, got.size)
    ship = (dtype == INT32) & (where == SAME_DEVICE) & (ndim == 1)
    shipped = np.where(ship, size, 0)
    if int(shipped.sum()) != got.size:
        raise ValueError("the worker shipped a different number of values than it described")

    first_req = np.cumsum(b.bs) - b.bs
    ends = np.concatenate([[0], np.cumsum(b.ext)])
    tok_start = ends[first_req]
    totals = ends[first_req + b.bs] - tok_start
    fits = ship & (size == np.repeat(totals, 2))
    plain = (status == OK) & fits[0::2] & fits[1::2]
    suspects = np.flatnonzero(~plain)

    # Values: all first outputs, then all second ones; a plain case's sit where its tokens do
    # in the oracle's arrays when every case shipped as many as it has tokens (the norm).
    bad: list[np.ndarray] = []
    at = 0
    for j, want in enumerate(bulk.oracle(b)):
        count = shipped[j::2]
        part = got[at : at + int(count.sum())]
        at += part.size
        want = want.astype(np.int32)
        if np.array_equal(count, totals):
            bad.append(np.flatnonzero(part != want))
            continue
        case_of = np.repeat(np.arange(n), totals)
        token = np.flatnonzero(plain[case_of])
        case_of = case_of[token]
        where_in = (np.cumsum(count) - count)[case_of] + token - tok_start[case_of]
        bad.append(token[part[where_in] != want[token]])
    tokens = np.concatenate(bad)
    if tokens.size:
        cases = np.searchsorted(tok_start + totals, tokens, side="right")
        suspects = np.union1d(suspects, cases)
    modified = _inputs_modified(b, blobs[6], blobs[7], sent)
    return Verdict([int(i) for i in suspects], modified, notes)


def _array(blob, dtype, count: int | None, name: str) -> np.ndarray:
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ValueError(f"the worker's {name} blob is not bytes")
    width = np.dtype(dtype).itemsize
    if len(blob) % width or (count is not None and len(blob) != count * width):
        raise ValueError(f"the worker's {name} blob has {len(blob)} bytes")
    return np.frombuffer(blob, dtype)


def _check_codes(status, dtype, where, ndim, size, values: int) -> None:
    """Every code in range and consistent with the others (a hostile worker sends bytes)."""
    if status.size and int(status.max()) > NOT_A_PAIR:
        raise ValueError("a case status code out of range")
    tensor = dtype != NO_TENSOR
    wrong = (
        (dtype < NO_TENSOR)
        | (dtype > OTHER_DTYPE)
        | ((where != SAME_DEVICE) & (where != OTHER_DEVICE))
        | (ndim < -1)
        | (size < -1)
        | ((dtype == INT32) & (where == SAME_DEVICE) & (ndim == 1) & (size > values))
        | (tensor != (ndim >= 0))
        | (~tensor & ((where != SAME_DEVICE) | (size != -1)))
        | (tensor & ((ndim == 1) != (size >= 0)))
        | (np.repeat(status != OK, 2) & tensor)
    )
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise ValueError(
            f"output codes of case {k // 2} do not add up: dtype {dtype[k]}, where "
            f"{where[k]}, ndim {ndim[k]}, length {size[k]}, status {status[k // 2]}"
        )


def _notes(notes, n: int) -> dict[int, str]:
    if not isinstance(notes, list) or len(notes) > NOTES_CAP:
        raise ValueError("the worker's notes are not a short list")
    out: dict[int, str] = {}
    for note in notes:
        if not (
            isinstance(note, list)
            and len(note) == 2
            and type(note[0]) is int
            and 0 <= note[0] < n
            and isinstance(note[1], str)
            and len(note[1]) <= 2 * NOTE_CHARS
        ):
            raise ValueError(f"a note of the worker's is garbled: {str(note)[:80]}")
        out.setdefault(note[0], note[1])
    return out


def _inputs_modified(b: bulk.Batch, ext_after, seq_after, sent) -> bool:
    if sent is not None:
        before = [bytes(sent[0]), bytes(sent[1])]
    else:
        before = [
            _storage(v, b.bs, st, off)[0].astype(np.int64).tobytes()
            for v, st, off in ((b.ext, b.stride_e, b.offset_e), (b.seq, b.stride_s, b.offset_s))
        ]
    for name, want, got in (("ext", before[0], ext_after), ("seq", before[1], seq_after)):
        if not isinstance(got, (bytes, bytearray)) or len(got) != len(want):
            raise ValueError(f"the worker's {name} storage has the wrong size")
    return not (ext_after == before[0] and seq_after == before[1])

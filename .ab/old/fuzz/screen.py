"""Screening an example's cases in bulk: a numpy oracle for all of them in one pass, and
one batched pass of a built-in backend (one upload, calls back to back, one download).

The screen only points. A case it flags is re-run and judged alone against the
pure-Python reference (fuzz/harness.py), and a cross-check on a sample of cases keeps the
numpy oracle and the reference in agreement: a disagreement is the suite's own bug.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import torch

from fuzz.bulk import Batch, oracle
from fuzz.case import Case, Layout
from fuzz.compare import OUTPUTS, Output, same_device

CROSS_CHECK_EVERY = 16  # every 16th case of an example, and every case of bs <= 8
CROSS_CHECK_BS = 8
ALIGN = 16  # elements: each case's input storage starts at a multiple of this
Want = tuple[np.ndarray, np.ndarray]


class OracleDisagreement(Exception):
    """The numpy oracle and the pure-Python reference gave different answers: our bug."""


def numpy_oracle(cases: list[Case]) -> list[Want]:
    """Each case's (seqlens_expanded, nsa_cache_seqlens) as int64 arrays, in one pass."""
    n = len(cases)
    bs = np.fromiter((c.bs for c in cases), np.int64, n)
    m = int(bs.sum())
    ext = np.fromiter(chain.from_iterable(c.extend_seq_lens for c in cases), np.int64, m)
    seq = np.fromiter(chain.from_iterable(c.seq_lens for c in cases), np.int64, m)
    topk = np.fromiter((c.nsa_index_topk for c in cases), np.int64, n)
    none = np.zeros(n, dtype=np.int64)  # layouts do not change the answer
    expanded, clamped = oracle(Batch(ext, seq, bs, topk, none, none, none, none, ("", "")))
    tokens = np.concatenate([[0], np.cumsum(ext)])[np.concatenate([[0], np.cumsum(bs)])]
    cut = tokens[1:-1]
    return list(zip(np.split(expanded, cut), np.split(clamped, cut)))


def sampled(cases: list[Case]) -> list[int]:
    """The cases the cross-check runs through the reference: deterministic, cheap ones."""
    return [i for i, c in enumerate(cases) if i % CROSS_CHECK_EVERY == 0 or c.bs <= CROSS_CHECK_BS]


def cross_check(cases: list[Case], wants: list[Want]) -> dict[int, tuple[list, list]]:
    """Run the reference on `sampled(cases)` and compare with the numpy oracle; returns the
    reference's answers by case index. OracleDisagreement names the case and both values."""
    answers = {}
    for i in sampled(cases):
        ref = cases[i].expected()
        mine = (wants[i][0].tolist(), wants[i][1].tolist())
        if mine[0] != ref[0] or mine[1] != ref[1]:
            raise OracleDisagreement(disagreement(cases[i], mine, ref))
        answers[i] = ref
    return answers


def disagreement(case: Case, numpy_pair, reference_pair) -> str:
    """One line: where the numpy oracle's answer and the reference's first differ."""
    for name, mine, ref in zip(OUTPUTS, numpy_pair, reference_pair):
        mine, ref = list(mine), list(ref)
        if len(mine) != len(ref):
            where = f"{name} has {len(mine)} values by numpy, {len(ref)} by the reference"
            break
        if mine != ref:
            j = next(j for j, (a, b) in enumerate(zip(mine, ref)) if a != b)
            where = f"{name}[{j}] is {mine[j]} by numpy, {ref[j]} by the reference"
            break
    else:
        where = "they agree"
    return f"the numpy oracle disagrees with the reference on {case.describe()}: {where}"


def outputs_match(outputs: list[Output] | str | None, want: Want, device) -> bool:
    """True exactly when fuzz.compare.check_outputs would find nothing (against `want`)."""
    if not isinstance(outputs, list) or len(outputs) != 2:
        return False
    for o, w in zip(outputs, want):
        if o.typename != "Tensor" or o.dtype != "torch.int32" or o.values is None:
            return False
        if o.shape is None or tuple(o.shape) != (w.size,) or not same_device(o.device, device):
            return False
        if not np.array_equal(o.values.numpy(), w):
            return False
    return True


# --- one batched pass of a built-in backend -------------------------------------------------


def _gap(which: str, size: int) -> np.ndarray:
    # What fuzz.case._materialise leaves between a view's elements (tests hold them equal).
    i = np.arange(size, dtype=np.int64)
    return 1 + i % 3 if which == "extend" else 1000 + 37 * i


def host_storage(values: tuple[int, ...], layout: Layout, which: str) -> np.ndarray | None:
    """The storage `Case.tensors` builds for one input, as int64; None when it would raise."""
    n = len(values)
    if (layout.stride, layout.offset) == (1, 0):
        return np.array(values, dtype=np.int64)
    if layout.stride == 0 and n > 1 and len(set(values)) != 1:
        return None
    step = max(layout.stride, 1)
    size = layout.offset + (step * (n - 1) + 1 if n and layout.stride else 1)
    store = _gap(which, size)
    if n:
        if layout.stride == 0:
            store[layout.offset] = values[0]
        else:
            store[layout.offset :: step] = values
    return store


@dataclass
class Inputs:
    """All cases' input storages, one buffer per dtype on the device, and their views."""

    buffers: dict[str, torch.Tensor]
    views: list[tuple[torch.Tensor, torch.Tensor] | None]  # None: Case.tensors would raise
    bases: list[tuple[int, int] | None]  # where each case's two storages start

    def request_index(self, cases: list[Case], idx: list[int], which: int) -> np.ndarray:
        """Element index, into its dtype's buffer, of each request of cases `idx` (in
        order) for input `which` (0 extend, 1 seq): the batched kernel's read table."""
        bs = np.fromiter((cases[i].bs for i in idx), np.int64, len(idx))
        lays = [(cases[i].extend_layout, cases[i].seq_layout)[which] for i in idx]
        start = np.fromiter(
            (self.bases[i][which] + lay.offset for i, lay in zip(idx, lays)), np.int64, len(idx)
        )
        stride = np.fromiter((lay.stride for lay in lays), np.int64, len(idx))
        first = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64)
        case_of = np.repeat(np.arange(len(idx)), bs)
        return start[case_of] + (np.arange(int(bs.sum())) - first[case_of]) * stride[case_of]


def upload(cases: list[Case], device) -> Inputs:
    """One host buffer per dtype holding every case's storages (each at a multiple of
    ALIGN), copied to the device once; each case's two views into it."""
    sizes = {"int32": 0, "int64": 0}
    stores, places = [], []
    for c in cases:
        place = []
        for values, layout, which in (
            (c.extend_seq_lens, c.extend_layout, "extend"),
            (c.seq_lens, c.seq_layout, "seq"),
        ):
            store = host_storage(values, layout, which)
            if store is None:
                place = None
                break
            base = sizes[layout.dtype]
            sizes[layout.dtype] += -(-store.size // ALIGN) * ALIGN
            stores.append((layout.dtype, base, store))
            place.append((layout, base))
        places.append(place)
    host = {dt: np.zeros(n, dtype=dt) for dt, n in sizes.items()}
    for dt, base, store in stores:
        host[dt][base : base + store.size] = store
    buffers = {dt: torch.from_numpy(h).to(device) for dt, h in host.items()}
    views: list = []
    for c, place in zip(cases, places):
        if place is None:
            views.append(None)
            continue
        views.append(
            tuple(
                buffers[lay.dtype].as_strided((c.bs,), (lay.stride,), base + lay.offset)
                for lay, base in place
            )
        )
    return Inputs(buffers, views, [p and (p[0][1], p[1][1]) for p in places])


@dataclass
class BackendScreen:
    """What one batched pass saw: the cases to re-run alone, and for those whose values
    differed, the values the screen got (to tell our oracle's fault from the backend's)."""

    suspects: list[int]
    seen: dict[int, Want] = field(default_factory=dict)
    seconds: float = 0.0


def _resolved(device) -> torch.device:
    """`device` as tensors made on it report theirs ("cuda" names the current device)."""
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return d


def _plain(t: object, n: int, device: torch.device) -> bool:
    """A 1-D int32 tensor of n elements on `device` (resolved): what check_outputs passes."""
    return (
        isinstance(t, torch.Tensor)
        and t.dtype == torch.int32
        and t.dim() == 1
        and t.shape[0] == n
        and t.device == device
    )


def screen_backend(
    call, cases: list[Case], wants: list[Want], device, poison: int, guard: int
) -> BackendScreen:
    """Every case through `call(ext, seq, topk, out, validate)` (a built-in's public entry)
    with its own out/validate mode, back to back; one download; compared with `wants`.

    Caller-buffer cases write into one poisoned store (each with `guard` slots past its
    capacity); what lies past `total` must still hold `poison`. Modified inputs, or any
    error at the final gather, make every case a suspect."""
    start = time.perf_counter()
    inputs, device = upload(cases, device), _resolved(device)
    snaps = {dt: b.clone() for dt, b in inputs.buffers.items()}
    regions, at = {}, 0
    for i, c in enumerate(cases):
        if c.out_slack is not None:
            regions[i] = (at, c.total + c.out_slack)
            at += c.total + c.out_slack + guard
    store = torch.full((2, at), poison, dtype=torch.int32, device=device)
    suspects: set[int] = set()
    gathered, where, size = [], {}, 0
    for i, c in enumerate(cases):
        if inputs.views[i] is None:
            suspects.add(i)
            continue
        ext, seq = inputs.views[i]
        try:
            if i in regions:
                lo, capacity = regions[i]
                out = (store[0, lo : lo + capacity], store[1, lo : lo + capacity])
                call(ext, seq, c.nsa_index_topk, out, c.validate)
                continue
            result = call(ext, seq, c.nsa_index_topk, None, c.validate)
        except Exception:
            suspects.add(i)
            continue
        n = c.total
        ok = isinstance(result, (tuple, list)) and len(result) == 2
        if not (ok and all(_plain(t, n, device) for t in result)):
            suspects.add(i)
            continue
        gathered += [result[0], result[1]]
        where[i] = size
        size += 2 * n
    try:
        flags = [(inputs.buffers[dt] != snaps[dt]).any() for dt in inputs.buffers]
        gathered += [store.reshape(-1), torch.stack(flags).to(torch.int32)]
        flat = torch.cat(gathered).cpu().numpy()  # the one download
    except Exception:
        return BackendScreen(list(range(len(cases))), {}, time.perf_counter() - start)
    if flat[-len(flags) :].any():  # an input changed: re-run them all, alone
        return BackendScreen(list(range(len(cases))), {}, time.perf_counter() - start)
    seen = _differing(flat, where, cases, wants)
    suspects |= seen.keys()
    stores = flat[size : size + 2 * at].reshape(2, at) if at else np.zeros((2, 0), np.int32)
    for i, (lo, capacity) in regions.items():
        if i in suspects:
            continue
        n = cases[i].total
        got = (stores[0, lo : lo + n], stores[1, lo : lo + n])
        tails = stores[:, lo + n : lo + capacity + guard]
        if not all(np.array_equal(g, w) for g, w in zip(got, wants[i])):
            suspects.add(i)
            seen[i] = got
        elif (tails != poison).any():
            suspects.add(i)
    return BackendScreen(sorted(suspects), seen, time.perf_counter() - start)


def screen_results(
    results: dict[int, tuple[torch.Tensor, torch.Tensor]], cases: list[Case], wants, device
) -> BackendScreen:
    """Outputs already computed (the batched Triton launch), fetched in one download and
    compared with `wants`; a suspect is any case not exactly right."""
    start, device = time.perf_counter(), _resolved(device)
    suspects, gathered, where, size = set(), [], {}, 0
    for i, result in results.items():
        n = cases[i].total
        if not all(_plain(t, n, device) for t in result):
            suspects.add(i)
            continue
        gathered += list(result)
        where[i] = size
        size += 2 * n
    flat = torch.cat(gathered).cpu().numpy() if gathered else np.zeros(0, np.int32)
    seen = _differing(flat, where, cases, wants)
    return BackendScreen(sorted(suspects | seen.keys()), seen, time.perf_counter() - start)


def _differing(flat: np.ndarray, where: dict[int, int], cases: list[Case], wants) -> dict:
    """The cases whose two outputs, packed in `flat` from `where[i]`, differ from `wants`:
    what the screen got for each."""
    seen = {}
    for i, lo in where.items():
        n = cases[i].total
        got = (flat[lo : lo + n], flat[lo + n : lo + 2 * n])
        if not all(np.array_equal(g, w) for g, w in zip(got, wants[i])):
            seen[i] = got
    return seen

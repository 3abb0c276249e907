"""The worker's side of a contract-v2 item: build the calls and the poisoned buffers, call
the candidate once per call, and ship back every buffer's and input's whole storage after
each call, as bytes. It judges nothing (the parent does, fuzz/meta_judge.py).
"""

from __future__ import annotations

from functools import partial

from fuzz.meta_case import FIELDS, INPUTS, MetaCase, poison_again
from fuzz.pinned import ours


def storages(out, args: dict) -> tuple[list[str], list]:
    """(names, flat uint8 views) of every buffer's and input's storage: buffers first."""
    import torch

    names, flats = [], []
    pairs = list(zip(FIELDS, out)) + [(n, args[n]) for n in INPUTS]
    for name, t in pairs:
        if isinstance(t, torch.Tensor):
            flat = torch.empty(0, dtype=torch.uint8, device=t.device)
            names.append(name)
            flats.append(flat.set_(t.untyped_storage()))
    return names, flats


def call_candidate(fn, case: MetaCase, call, args: dict, out) -> None:
    """One call of the v2 signature: the case's scalars, the call's tensors, the buffers
    (real_page_table None in a call of page size 1)."""
    fn(
        **call.scalars(case.width, case.page_size),
        seq_lens=args["seq_lens"],
        extend_seq_lens=args["extend_seq_lens"],
        req_pool_indices=args["req_pool_indices"],
        req_to_token=args["req_to_token"],
        out=case.call_out(out, call),
    )


def run_item(runner, item: dict) -> tuple[dict, list]:
    """One item {"op": "metadata", "case": ...} through `runner.fn`; (header, blobs).

    header: status ("ok" or "raised"), seconds, calls (one per call made: its seconds and
    the names of its blobs, in order), call (the index of the call that raised). An item
    with a "fault" is one bad call: see run_fault_item."""
    if item.get("fault"):
        return run_fault_item(runner, item)
    try:
        with ours():
            case = MetaCase.from_json(item["case"])
            out = case.buffers(runner.device)
            inputs = [c.tensors(runner.device) for c in case.calls]
    except Exception as exc:  # ours, not the candidate's: the parent must not judge it
        return {"status": "harness-error", "message": f"building the case: {exc!r}"}, []
    calls: list[dict] = []
    blobs: list = []
    header: dict = {"status": "ok"}
    total = 0.0
    args = None
    for k, (call, built) in enumerate(zip(case.calls, inputs)):
        try:
            with ours():
                args = case.call_args(k, runner.device, args, built)
                if case.repoison and k:
                    poison_again(out)
        except Exception as exc:  # ours: the parent must not judge it
            return {"status": "harness-error", "message": f"refilling inputs: {exc!r}"}, []
        _, raised, seconds = runner.call(partial(call_candidate, runner.fn, case, call, args, out))
        if raised is not None:
            header = {**raised, "call": k}
        total += seconds
        try:
            with ours():
                names, flats = storages(out, args)
                blobs += [f.clone() for f in flats]  # the next call writes the same storages
        except Exception as exc:
            return {**runner.raised(exc, "read"), "call": k, "seconds": total}, []
        calls.append({"seconds": seconds, "blobs": names})
        if header["status"] != "ok":
            break
    header["seconds"] = total
    header["calls"] = calls
    size = sum(t.numel() for t in blobs)
    if size > runner.cap:
        return {"status": "oversize", "bytes": size, "seconds": total}, []
    try:
        with ours():
            return header, [runner.raw(t) for t in blobs]
    except Exception as exc:
        return {**runner.raised(exc, "read"), "seconds": total}, []


def run_fault_item(runner, item: dict) -> tuple[dict, list]:
    """One bad call (fuzz/meta_contract.py), built here from the item's plain data; header:
    status, seconds, storages (the names of the storages shipped after the call, in order)."""
    from fuzz.case import Fault
    from fuzz.meta_contract import faulty_call, tensors_of

    try:
        with ours():
            case = MetaCase.from_json(item["case"])
            kw = faulty_call(case, Fault.from_json(item["fault"]), runner.device)
            named = tensors_of(kw, runner.device)
    except Exception as exc:  # ours, not the candidate's: the parent must not judge it
        return {"status": "harness-error", "message": f"building the bad call: {exc!r}"}, []
    _, raised, seconds = runner.call(lambda: runner.fn(**kw))
    header = raised or {"status": "ok"}
    header["seconds"] = seconds
    header["storages"] = [n for n, _ in named]
    try:
        with ours():
            flats = [_flat(runner.torch, t) for _, t in named]
            size = sum(f.numel() for f in flats)
            if size > runner.cap:
                return {"status": "oversize", "bytes": size, "seconds": seconds}, []
            return header, [runner.raw(f) for f in flats]
    except Exception as exc:
        return {**runner.raised(exc, "read"), "seconds": seconds}, []


def _flat(torch, t):
    flat = torch.empty(0, dtype=torch.uint8, device=t.device)
    return flat.set_(t.untyped_storage())

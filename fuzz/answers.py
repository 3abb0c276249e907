"""What one call of an implementation came to (Answer), and the parent's reading of a
worker's answer frames: outputs, "inputs modified" and causes, decided here from plain
data, never by the worker. Built-ins are called in-process through `call_checked`.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import torch

from fuzz import wire
from fuzz.case import Case, Fault, faulty_args
from fuzz.compare import Output, summarise
from fuzz.supervise import WorkerGone

CUDA_MARKERS = ("CUDA error", "illegal memory access", "device-side assert", "cudaError")
STATUSES = (
    "ok",
    "raised",
    "slow",
    "hang",
    "unconfirmed-hang",
    "crash",
    "cuda-fault",
    "protocol",
    "oversize",
    "harness-error",
)


@dataclass
class Answer:
    """What one call came to; `status` is one of STATUSES, `cause` says why in one line."""

    status: str
    outputs: list[Output] | str | None = None
    modified: bool = False
    exc_type: str = ""
    exc_mro: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0
    detail: str = ""
    cause: str = ""
    output_tail: str = ""
    first: Answer | None = None  # a refill case's call 1 (fuzz/case.py `prior`); self is call 2


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def cuda_error(*texts: str) -> str | None:
    """The first line naming a CUDA error in `texts`, if any."""
    for text in texts:
        for line in str(text).splitlines():
            if any(m in line for m in CUDA_MARKERS):
                return one_line(line)
    return None


def raised_cause(exc_type: str, message: str) -> str:
    return one_line(f"{exc_type}: {message}" if message else exc_type)


# --- built-ins, in this process ----------------------------------------------------------


def _storages(tensors) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())
            out.append((flat, flat.clone()))
    return out


def call_checked(fn, args, device) -> Answer:
    """Call `fn(*args)` here, noting what it returned or raised and whether it wrote its inputs."""
    snaps = _storages(args)
    start = time.perf_counter()
    try:
        result = fn(*args)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()  # an asynchronous fault belongs to this item
        answer = Answer("ok", outputs=summarise(result))
    except Exception as exc:
        message = str(exc)[:2000]
        answer = Answer(
            "raised",
            exc_type=type(exc).__name__,
            exc_mro=tuple(c.__name__ for c in type(exc).__mro__),
            message=message,
            detail=traceback.format_exc(limit=3)[-800:],
            cause=raised_cause(type(exc).__name__, message),
        )
    answer.seconds = time.perf_counter() - start
    answer.modified = any(not torch.equal(now, before) for now, before in snaps)
    return answer


# --- judging what a worker sent, in the parent ---------------------------------------------


def input_storages(item: dict) -> dict[int, bytes]:
    """Each tensor argument's storage as the parent builds it: what the call must leave."""
    case = Case.from_json(item["case"])
    if item.get("fault"):
        args = faulty_args(case, Fault.from_json(item["fault"]), "cpu")
    else:
        args = (*case.tensors("cpu"), case.nsa_index_topk)
    return {
        i: torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()).numpy().tobytes()
        for i, t in enumerate(args)
        if isinstance(t, torch.Tensor) and t.device.type != "meta"
    }


def check_frame(ok: bool, what: str) -> None:
    if not ok:
        raise wire.ProtocolError(f"bad answer: {what}")


def decode_outputs(raw: object, blobs: list[bytes]) -> list[Output] | str:
    if isinstance(raw, str):
        return raw[:200]
    check_frame(isinstance(raw, list) and len(raw) == 2, "outputs")
    outputs = []
    for o in raw:
        check_frame(isinstance(o, dict) and isinstance(o.get("typename"), str), "output")
        if o["typename"] != "Tensor":
            outputs.append(Output(o["typename"][:200]))
            continue
        dtype, device, shape, blob = o.get("dtype"), o.get("device"), o.get("shape"), o.get("blob")
        check_frame(isinstance(dtype, str) and isinstance(device, str), "dtype or device")
        check_frame(
            isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape), "shape"
        )
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise wire.ProtocolError(f"bad answer: device {device[:80]!r}") from None
        plain = dtype == "torch.int32" and len(shape) == 1
        values = None
        if blob is not None:
            check_frame(plain and type(blob) is int and 0 <= blob < len(blobs), "values blob")
            data = blobs[blob]
            check_frame(len(data) == 4 * shape[0], "values length")
            values = torch.frombuffer(bytearray(data), dtype=torch.int32) if data else None
            values = values if values is not None else torch.empty(0, dtype=torch.int32)
        else:
            check_frame(not plain or device == "meta", "values missing")
        outputs.append(Output("Tensor", dtype, device, tuple(shape), values))
    return outputs


def decode_modified(raw: object, blobs: list[bytes], item: dict) -> bool:
    check_frame(isinstance(raw, list), "inputs")
    got = {}
    for x in raw:
        check_frame(isinstance(x, dict) and type(x.get("arg")) is int, "input")
        blob = x.get("blob")
        check_frame(type(blob) is int and 0 <= blob < len(blobs), "input blob")
        got[x["arg"]] = blobs[blob]
    before = input_storages(item)
    check_frame(all(i in got for i in before), "an input's storage is missing")
    return any(got[i] != b for i, b in before.items())


def decode_answer(header: dict, blobs: list[bytes], item: dict, cap: int) -> Answer:
    """The parent's verdict on one answer frame; ProtocolError if it does not parse."""
    status = header.get("status")
    seconds = header.get("seconds", 0.0)
    check_frame(type(seconds) in (int, float) and seconds >= 0, "seconds")
    if status == "harness-error":
        message = str(header.get("message", ""))[:2000]
        return Answer(status, message=message, cause=one_line(message), seconds=seconds)
    if status == "oversize":
        size = header.get("bytes")
        check_frame(type(size) is int, "bytes")
        cause = f"a result of {size:,} bytes (cap {cap:,} bytes)"
        return Answer(status, seconds=seconds, cause=cause)
    if item.get("op") == "metadata":  # contract v2: storages after each call
        from fuzz.meta_judge import decode_meta_answer

        return decode_meta_answer(header, blobs, item)
    if item["case"].get("prior") is not None and not item.get("fault"):
        return decode_refill(header, blobs, item, cap)
    modified = decode_modified(header.get("inputs"), blobs, item)
    if status == "ok":
        outputs = decode_outputs(header.get("outputs"), blobs)
        return Answer("ok", outputs=outputs, modified=modified, seconds=seconds)
    check_frame(status == "raised", f"status {str(status)[:40]!r}")
    return raised_answer(header, seconds, modified=modified)


def decode_refill(header: dict, blobs: list[bytes], item: dict, cap: int) -> Answer:
    """A refill case's frame (fuzz/worker.py `run_refill`): call 2's answer, call 1's (read
    against the prior's values) under `first`. A frame without call 1 is a protocol fault:
    the prior is never dropped silently."""
    first = header.get("first")
    check_frame(isinstance(first, dict), "a refill case's first call is missing")
    first_item = {"case": Case.from_json(item["case"]).first_call().to_json()}
    answer = decode_answer(first, blobs, first_item, cap)
    rest = {k: v for k, v in header.items() if k != "first"}
    second = decode_answer(rest, blobs, {**item, "case": {**item["case"], "prior": None}}, cap)
    second.first = answer
    return second


def raised_answer(header: dict, seconds: float, **extra) -> Answer:
    """A "raised" frame (v1 or v2): the exception checked field by field; a CUDA error
    string, whichever call reported it, makes it a `cuda-fault`."""
    exc_type, message, mro = header.get("exc_type"), header.get("message"), header.get("exc_mro")
    check_frame(isinstance(exc_type, str) and isinstance(message, str), "exception")
    check_frame(isinstance(mro, list) and all(isinstance(c, str) for c in mro), "exc_mro")
    fault = cuda_error(message, exc_type)
    if header.get("phase") == "read" and fault is None:
        message = f"reading the result failed: {message}"
    return Answer(
        "cuda-fault" if fault else "raised",
        exc_type=exc_type[:200],
        exc_mro=tuple(c[:200] for c in mro),
        message=message[:2000],
        seconds=seconds,
        detail=str(header.get("detail", ""))[-1500:],
        cause=fault or raised_cause(exc_type, message),
        **extra,
    )


def fault_answer(exc: Exception, tail: str) -> Answer:
    """A worker that died, or sent a frame the parent could not take."""
    if isinstance(exc, WorkerGone):
        fault = cuda_error(tail)
        if fault:
            return Answer("cuda-fault", cause=fault, output_tail=tail)
        return Answer("crash", cause=str(exc), detail=str(exc), output_tail=tail)
    status = "oversize" if isinstance(exc, wire.OversizeError) else "protocol"
    return Answer(status, cause=one_line(str(exc)), output_tail=tail)

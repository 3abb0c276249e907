"""Load a plug-in implementation from `path/file.py:function` or `package.module:function`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path


class CandidateError(Exception):
    """A --candidate SPEC that cannot be loaded: a usage error (exit 2)."""


def parse_spec(spec: str) -> tuple[str, str]:
    """(module or path, function name), checked for shape only."""
    target, sep, func = spec.rpartition(":")
    if not sep or not target or not func or not func.isidentifier():
        raise CandidateError(
            f"--candidate {spec!r}: expected path/to/file.py:function or package.module:function"
        )
    if target.endswith(".py") and not Path(target).is_file():
        raise CandidateError(f"--candidate {spec!r}: no such file {target!r}")
    return target, func


def candidate_name(spec: str) -> str:
    """A short, stable name for reports and corpus files: `stem:function`."""
    target, func = parse_spec(spec)
    stem = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
    return f"{stem}:{func}"


def load_candidate(spec: str) -> Callable:
    """Import the module (or file) and return the named callable."""
    target, func = parse_spec(spec)
    try:
        if target.endswith(".py"):
            path = Path(target).resolve()
            name = f"_nsa_candidate_{path.stem}_{abs(hash(str(path)))}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except Exception as exc:
        raise CandidateError(f"--candidate {spec!r}: importing {target!r} failed: {exc!r}") from exc
    fn = getattr(module, func, None)
    if fn is None:
        raise CandidateError(f"--candidate {spec!r}: {target!r} has no attribute {func!r}")
    if not callable(fn):
        raise CandidateError(f"--candidate {spec!r}: {func!r} is not callable")
    return fn


# The keyword arguments of a v2 candidate (CONTRACT_V2.md, "Plugging in an implementation").
V2_KEYWORDS = ("mode", "seq_lens", "extend_seq_lens", "req_pool_indices", "req_to_token", "topk",
               "next_n", "page_size", "width", "out")  # fmt: skip
_OPS = {"expand": "contract v1's three positional arguments (extend_seq_lens, seq_lens, topk)",
        "metadata": "contract v2's keyword arguments (mode, seq_lens, ..., out)"}  # fmt: skip
_FLAG = {"expand": "without --op (or with --op expand)", "metadata": "with --op metadata"}


def callable_as(fn) -> dict | None:
    """{"ops": the operations whose call `fn` accepts, "signature": its text}, read from
    its signature without calling it; None where Python cannot tell (a builtin, say)."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    ops = []
    for op, bind in (("expand", lambda: sig.bind(0, 0, 0)),
                     ("metadata", lambda: sig.bind(**dict.fromkeys(V2_KEYWORDS)))):  # fmt: skip
        try:
            bind()
            ops.append(op)
        except TypeError:
            pass
    return {"ops": ops, "signature": str(sig)[:300]}


def check_callable_as(spec: str, found, op: str) -> None:
    """CandidateError (a usage error) where the candidate's signature cannot take `op`'s
    call: every case would raise TypeError, a failure of the candidate on the report for
    what is the command line's mistake (a v2 kernel run without --op metadata)."""
    if not isinstance(found, dict) or not isinstance(found.get("ops"), list):
        return
    ops = found["ops"]
    if op in ops:
        return
    head = f"--candidate {spec!r}: its signature {found.get('signature')} cannot take {_OPS[op]}"
    other = [o for o in ops if o != op]
    if other:
        raise CandidateError(f"{head}; it takes {_OPS[other[0]]}: run it {_FLAG[other[0]]}")
    raise CandidateError(f"{head} (CONTRACT_V2.md, 'Plugging in an implementation')")

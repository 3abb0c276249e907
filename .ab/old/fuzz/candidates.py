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

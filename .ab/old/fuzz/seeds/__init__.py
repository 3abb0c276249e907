"""Regression seeds shipped with the package: inputs that broke kernels written outside
this project (v1, op expand) and one small case per contract-v2 family (op metadata),
replayed against every candidate of their op (campaigns, `replay`, the pytest plugin)."""

from __future__ import annotations

from pathlib import Path


def seeds_dir() -> Path:
    """The folder of seed entries inside the installed package."""
    return Path(__file__).resolve().parent


def shipped(op: str) -> tuple[list, list]:
    """(entries, errors): the shipped seeds of `op` ("expand" or "metadata"), never those of
    the other op; errors name each seed file that cannot be read."""
    import fuzz.meta_entry  # noqa: F401  (the decoder of "metadata" entries)
    from fuzz import corpus

    entries, errors = corpus.load_all([seeds_dir()])
    return [e for e in entries if e.op == op], errors

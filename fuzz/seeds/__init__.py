"""Regression seeds shipped with the package: inputs that broke kernels written outside
this project, replayed against every candidate (campaigns, `replay`, the pytest plugin)."""

from __future__ import annotations

from pathlib import Path


def seeds_dir() -> Path:
    """The folder of seed entries inside the installed package."""
    return Path(__file__).resolve().parent

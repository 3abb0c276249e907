"""A stand-in for the campaign a Book reads (options, deadline, workers): tests of the book's
decisions (the prefix search, the fold) run without a worker."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace


def campaign_double(*, shrink_seconds: float = 5.0, fault_shrink_seconds: float = 5.0):
    """One plug-in, `cand:fn`, never out of time, a minute left, a corpus nowhere."""
    options = SimpleNamespace(
        fault_shrink_seconds=fault_shrink_seconds,
        shrink_seconds=shrink_seconds,
        corpus_dir=Path("/nonexistent"),
    )
    return SimpleNamespace(
        o=options, deadline=time.monotonic() + 60, done=lambda: False, interrupted=False,
        out_of_time=lambda: False, workers=[("cand:fn", SimpleNamespace(fresh=lambda: None))],
        hard_deadline=None,
    )  # fmt: skip

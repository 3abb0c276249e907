"""The worker's own work (building a case, refilling inputs, reading back what the candidate
wrote) under pinned global state: a correct candidate may leave the default device set to
another device or a device context entered, the default dtype changed, or every warning made
an error, and none of that may turn our building or reading into a verdict on it.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager

RECURSION_FLOOR = 1000  # our building and reading nest a few dozen frames deep, at most


@contextmanager
def ours():
    """Torch function modes off (a default device, a `torch.device` context: our factories
    build where we say), default dtype float32, warnings ignored, numpy errors ignored, a
    recursion limit of at least RECURSION_FLOOR; everything as it was on leaving."""
    import numpy as np
    import torch

    dtype = torch.get_default_dtype()
    limit = sys.getrecursionlimit()
    with torch._C.DisableTorchFunction(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if dtype is not torch.float32:
            torch.set_default_dtype(torch.float32)
        if limit < RECURSION_FLOOR:
            sys.setrecursionlimit(RECURSION_FLOOR)
        try:
            yield
        finally:
            if dtype is not torch.float32:
                torch.set_default_dtype(dtype)
            if limit < RECURSION_FLOOR:
                sys.setrecursionlimit(limit)


class SavedFd:
    """A private duplicate of one of our fds, made before the candidate is loaded: what we
    write there reaches our pipe whatever the candidate does with the original number (closed
    and taken by a file of its own, or dup2'd to /dev/null)."""

    def __init__(self, fd: int, private: bool = True):
        self.fd = fd
        if private:
            try:
                self.fd = os.dup(fd)  # not inherited by what the candidate starts (PEP 446)
            except OSError:
                pass

    def write(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
        except OSError:
            pass

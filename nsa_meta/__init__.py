"""Implementations under test: one checked entry, `expand`, over a Triton and a torch backend.

Triton is imported only when its backend runs, so TRITON_INTERPRET can be set first. What the
fuzzer compares (the registry, the oracle) lives in fuzz/registry.py, not here.
"""

from nsa_meta.api import BACKENDS, expand

__all__ = ["BACKENDS", "expand"]

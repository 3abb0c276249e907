"""Implementations under test: one checked entry, `expand`, over a Triton and a torch backend
(contract v1); `prepare`, a plan that builds v1's launch once for the CUDA-graph replay path;
and `metadata`, the whole replay metadata (contract v2), over the same two backends.

Triton is imported only when its backend runs, so TRITON_INTERPRET can be set first. What the
fuzzer compares (the registry, the oracle) lives in fuzz/registry.py, not here.
"""

from nsa_meta.api import BACKENDS, expand
from nsa_meta.metadata import Metadata, allocate_metadata, metadata
from nsa_meta.prepare import Plan, prepare

__all__ = [
    "BACKENDS",
    "Metadata",
    "Plan",
    "allocate_metadata",
    "expand",
    "metadata",
    "prepare",
]

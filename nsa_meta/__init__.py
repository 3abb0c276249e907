"""Implementations under test: one checked entry, `expand`, over a Triton and a torch backend,
and `prepare`, a plan that builds the launch once for the CUDA-graph replay path.

Triton is imported only when its backend runs, so TRITON_INTERPRET can be set first. What the
fuzzer compares (the registry, the oracle) lives in fuzz/registry.py, not here.
"""

from nsa_meta.api import BACKENDS, expand
from nsa_meta.prepare import Plan, prepare

__all__ = ["BACKENDS", "Plan", "expand", "prepare"]

"""Implementations under test: one checked entry, `expand`, over a Triton and a torch backend.

Triton is imported only when its backend runs, so TRITON_INTERPRET can be set first.
"""

from nsa_meta.api import BACKENDS, expand
from nsa_meta.prepare import Plan, prepare
from nsa_meta.registry import IMPLEMENTATIONS, KNOWN_DIVERGENCES

__all__ = ["BACKENDS", "IMPLEMENTATIONS", "KNOWN_DIVERGENCES", "Plan", "expand", "prepare"]

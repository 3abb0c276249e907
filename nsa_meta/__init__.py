"""Implementations under test: one checked entry, `expand`, over a Triton and a torch backend
(contract v1), and `metadata`, the whole replay metadata (contract v2), over the same two.

Triton is imported only when its backend runs, so TRITON_INTERPRET can be set first.
"""

from nsa_meta.api import BACKENDS, expand
from nsa_meta.metadata import Metadata, allocate_metadata, metadata
from nsa_meta.registry import IMPLEMENTATIONS, KNOWN_DIVERGENCES

__all__ = [
    "BACKENDS",
    "IMPLEMENTATIONS",
    "KNOWN_DIVERGENCES",
    "Metadata",
    "allocate_metadata",
    "expand",
    "metadata",
]

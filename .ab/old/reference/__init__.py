"""The oracles: the original draft-extend loop (v1) and the whole replay metadata (v2), in
pure Python.

Neither imports anything of ours nor torch, so neither can share a bug with what it judges.
The legacy torch loop lives in `reference.legacy` and is imported only on demand.
"""

from reference.loop import INT32_MAX, expand
from reference.metadata import MODES, MetadataLists, metadata

__all__ = ["INT32_MAX", "MODES", "MetadataLists", "expand", "metadata"]

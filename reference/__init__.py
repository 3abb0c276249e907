"""The oracle: the original draft-extend loop, in pure Python.

`expand` imports nothing (no torch), so it cannot share a bug with what it judges.
The legacy torch loop lives in `reference.legacy` and is imported only on demand.
"""

from reference.loop import INT32_MAX, expand

__all__ = ["INT32_MAX", "expand"]

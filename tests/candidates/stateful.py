"""A plug-in whose crash needs the calls before it: it aborts on the 50th call of its
process, whatever the input. A lone re-run in a fresh worker never crashes.

Loaded by path in a worker: `--candidate tests/candidates/stateful.py:aborts_on_call_50`.
"""

from __future__ import annotations

import os

import nsa_meta

_calls = [0]


def aborts_on_call_50(extend_seq_lens, seq_lens, nsa_index_topk):
    _calls[0] += 1
    if _calls[0] == 50:
        os.abort()
    return nsa_meta.expand(
        extend_seq_lens, seq_lens, nsa_index_topk, backend="torch", validate=False
    )

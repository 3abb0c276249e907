"""Plug-ins that misbehave on one marked input only: top-k POISON, which the pipelined bulk
tests (tests/test_plugin_pipeline.py) plant in a chosen batch. Correct on everything else.

Loaded by path in a worker: `--candidate tests/candidates/bulk_poison.py:NAME`.
"""

from __future__ import annotations

import os
import sys
import time

import nsa_meta

POISON = 1_234_567  # a top-k the numpy draw practically never makes (1 in 2**31 a case)


def _correct(extend_seq_lens, seq_lens, nsa_index_topk):
    return nsa_meta.expand(
        extend_seq_lens, seq_lens, nsa_index_topk, backend="torch", validate=False
    )


def correct(extend_seq_lens, seq_lens, nsa_index_topk):
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def wrong_on_poison(extend_seq_lens, seq_lens, nsa_index_topk):
    """A planted bug: the clamped output is off by one wherever top-k is POISON."""
    expanded, clamped = _correct(extend_seq_lens, seq_lens, nsa_index_topk)
    if nsa_index_topk == POISON:
        clamped = clamped + 1
    return expanded, clamped


def aborts_on_poison(extend_seq_lens, seq_lens, nsa_index_topk):
    if nsa_index_topk == POISON:
        os.abort()
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def hangs_on_poison(extend_seq_lens, seq_lens, nsa_index_topk):
    if nsa_index_topk == POISON:
        time.sleep(3600)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def aborts_in_bulk(extend_seq_lens, seq_lens, nsa_index_topk):
    """Dies whenever the bulk loop (plugin_bulk._outputs) calls it (a fault that needs its context: the calls
    before it, a shared storage), never on a lone call: no re-run alone can show it."""
    if sys._getframe(1).f_code.co_name == "_outputs":  # plugin_bulk's loop
        os.abort()
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def slow_calls(extend_seq_lens, seq_lens, nsa_index_topk):
    """Right, 0.2 s a call: a batch of dozens runs past a short limit, moving on."""
    time.sleep(0.2)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def hangs_in_bulk(extend_seq_lens, seq_lens, nsa_index_topk):
    """Never returns on the poisoned case when the bulk loop calls it (stuck behind the
    calls before it), right on every lone call: a hang that needs those calls."""
    if nsa_index_topk == POISON and sys._getframe(1).f_code.co_name == "_outputs":
        time.sleep(3600)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def wrong_in_bulk(extend_seq_lens, seq_lens, nsa_index_topk):
    """Off by one whenever the bulk loop calls it, right on every lone call."""
    expanded, clamped = _correct(extend_seq_lens, seq_lens, nsa_index_topk)
    if sys._getframe(1).f_code.co_name == "_outputs":  # plugin_bulk's loop
        clamped = clamped + 1
    return expanded, clamped

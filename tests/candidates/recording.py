"""Correct candidates (nsa_meta's torch backend, both contracts) that append one line per
call to the file named by $NSA_RECORD: the process's role (its parent's argv says whether it
is a campaign's worker or a compile-ahead helper) and a digest of the call's inputs.

Loaded by path: `--candidate tests/candidates/recording.py:metadata` (or `:expand`).
"""

from __future__ import annotations

import hashlib
import os
import sys

import nsa_meta

ROLE = "helper" if any("compile_ahead" in a for a in sys.argv) else "worker"


def _record(*tensors, **scalars) -> None:
    h = hashlib.sha256(repr(sorted(scalars.items())).encode())
    for t in tensors:
        if t is not None:
            h.update(repr((t.dtype, tuple(t.shape), t.stride(), t.tolist())).encode())
    with open(os.environ["NSA_RECORD"], "a") as f:
        f.write(f"{ROLE} {h.hexdigest()[:16]}\n")


def metadata(*, mode, seq_lens, req_pool_indices, req_to_token, topk, width, page_size=1,
             next_n=1, extend_seq_lens=None, out):  # fmt: skip
    _record(seq_lens, req_pool_indices, req_to_token, extend_seq_lens, mode=mode, topk=topk,
            width=width, page_size=page_size, next_n=next_n)  # fmt: skip
    return nsa_meta.metadata(
        mode, seq_lens, req_pool_indices, req_to_token, topk=topk, width=width,
        page_size=page_size, next_n=next_n, extend_seq_lens=extend_seq_lens, backend="torch",
        out=out, validate=False,
    )  # fmt: skip


def expand(extend_seq_lens, seq_lens, nsa_index_topk):
    _record(extend_seq_lens, seq_lens, topk=nsa_index_topk)
    return nsa_meta.expand(
        extend_seq_lens, seq_lens, nsa_index_topk, backend="torch", validate=False
    )


def spins(extend_seq_lens, seq_lens, nsa_index_topk):
    """Never returns (a hung kernel, as far as a helper can tell)."""
    _record(extend_seq_lens, seq_lens, topk=nsa_index_topk)
    while True:
        pass

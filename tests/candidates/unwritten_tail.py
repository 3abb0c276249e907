"""Contract-v2 plug-ins that leave cache_seqlens unwritten on a batch of 3 or more (a tail
mask gone wrong, as benchmarks/redteam_mutants.py:bs_16384_tail at a small size): after an
earlier call the cells are stale, on fresh buffers they hold the poison.

Loaded by path in a worker: `--candidate tests/candidates/unwritten_tail.py:skips_bs3`.
"""

from __future__ import annotations

import nsa_meta


def skips_bs3(*, mode, seq_lens, req_pool_indices, req_to_token, out, **kw):
    """The shipped torch backend, then cache_seqlens put back as it was when bs >= 3."""
    kept = out.cache_seqlens.clone()
    nsa_meta.metadata(
        mode, seq_lens, req_pool_indices, req_to_token, backend="torch", out=out,
        validate=False, **kw,
    )  # fmt: skip
    if seq_lens.shape[0] >= 3:
        out.cache_seqlens.copy_(kept)


def skips_bs3_wrong_value(*, mode, seq_lens, req_pool_indices, req_to_token, out, **kw):
    """As skips_bs3 after an earlier call; on fresh buffers it writes 12345 instead: a
    wrong value, not a missed write, so its stale failure is not that one."""
    fresh = bool((out.cache_seqlens == -777).all())
    skips_bs3(mode=mode, seq_lens=seq_lens, req_pool_indices=req_pool_indices,
              req_to_token=req_to_token, out=out, **kw)  # fmt: skip
    if fresh and seq_lens.shape[0] >= 3:
        out.cache_seqlens.fill_(12345)

"""Plug-in kernels for the throughput benchmark: what a user points `--candidate` at.

`no_extra_sync`: the shipped Triton kernel through its public entry, checks off (its only
host sync sizes the output). `sync_per_call`: the same after one explicit host read per
call, as kernels that read `total` with `.item()` do. `torch_backend`: the shipped torch
backend (no Triton), so that a CPU run measures the fuzzer's own cost per case, not the
Triton interpreter's.
"""

import nsa_meta


def no_extra_sync(extend_seq_lens, seq_lens, nsa_index_topk):
    return nsa_meta.expand(extend_seq_lens, seq_lens, nsa_index_topk, validate=False)


def sync_per_call(extend_seq_lens, seq_lens, nsa_index_topk):
    int(extend_seq_lens.sum())  # a host sync, as `.item()` of the total
    return nsa_meta.expand(extend_seq_lens, seq_lens, nsa_index_topk, validate=False)


def torch_backend(extend_seq_lens, seq_lens, nsa_index_topk):
    return nsa_meta.expand(
        extend_seq_lens, seq_lens, nsa_index_topk, backend="torch", validate=False
    )

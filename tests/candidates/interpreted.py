"""Correct v1 plug-ins whose Triton kernel is slow under the interpreter (tests/test_isolation.py):
a large case keeps the interpreter stepping for seconds. `slow_kernel` only steps;
`steps_then_stalls` steps, then spins in Python without a step (a hang).

Loaded by path in a worker with TRITON_INTERPRET=1 (the test session sets it on the CPU).
"""

from __future__ import annotations

import time

import torch
import triton
import triton.language as tl

STEPS_A_ROW = 40  # interpreted loads a row of the case: ~1.5 ms a row


@triton.jit
def _spin(x_ptr, n):
    acc = tl.load(x_ptr)
    for _ in range(n):
        acc += tl.load(x_ptr)
    tl.store(x_ptr + 1, acc)


def _correct(extend_seq_lens, seq_lens, nsa_index_topk):
    extends, seqs = extend_seq_lens.tolist(), seq_lens.tolist()
    values = [v for qo, kv in zip(extends, seqs) for v in range(kv - qo + 1, kv + 1)]
    expanded = torch.tensor(values, dtype=torch.int32, device=seq_lens.device)
    return expanded, expanded.clamp(max=nsa_index_topk)


def _steps(extend_seq_lens) -> None:
    scratch = torch.zeros(2, dtype=torch.int32)
    _spin[(1,)](scratch, int(extend_seq_lens.sum()) * STEPS_A_ROW)


def slow_kernel(extend_seq_lens, seq_lens, nsa_index_topk):
    _steps(extend_seq_lens)
    return _correct(extend_seq_lens, seq_lens, nsa_index_topk)


def steps_then_stalls(extend_seq_lens, seq_lens, nsa_index_topk):
    scratch = torch.zeros(2, dtype=torch.int32)
    _spin[(1,)](scratch, 2000)
    while True:
        time.sleep(0.05)

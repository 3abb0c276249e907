"""Stop 24: where red-team 12's `correct` stops on cuda (the hunt's confirmed hang on a
draft_extend_var bs 6 case, width 100, page size 64): the case built as the fuzzer builds it,
one call, with the stacks dumped every 15 s (compiling, or waiting on the kernel)."""

import faulthandler
import sys
import time

sys.path.insert(0, ".")
faulthandler.dump_traceback_later(15, repeat=True)

import torch  # noqa: E402

from fuzz.meta_strategies import named_meta_cases  # noqa: E402
from tests.meta_fuzz_helpers import benchmark_module  # noqa: E402

m = benchmark_module("redteam12_mutants")
case = next(
    c
    for c in named_meta_cases().values()
    if len(c.calls) == 1
    and c.calls[0].mode == "draft_extend_var"
    and c.width == 100
    and c.page_size == 64
    and c.calls[0].bs == 6
)
print(case.describe(), flush=True)
import nsa_meta  # noqa: E402

call = case.calls[0]
t = call.tensors("cuda")
out = nsa_meta.allocate_metadata(8, 32, case.width, case.page_size, "cuda")
start = time.monotonic()
m.correct(
    mode=call.mode,
    seq_lens=t["seq_lens"],
    extend_seq_lens=t["extend_seq_lens"],
    req_pool_indices=t["req_pool_indices"],
    req_to_token=t["req_to_token"],
    topk=call.topk,
    next_n=call.next_n,
    page_size=case.page_size,
    width=case.width,
    out=out,
)
print(f"returned after {time.monotonic() - start:.1f} s", flush=True)
torch.cuda.synchronize()
print(f"synchronized after {time.monotonic() - start:.1f} s", flush=True)

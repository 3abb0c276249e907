"""Compile the contract-v2 Triton kernel for an H100 (sm90) on a machine without a GPU.

Triton's GPU pipeline (TTIR -> TTGIR -> PTX -> cubin) runs on the CPU; only launching
needs the device. A compiler failure of one Triton version (Triton 3.6's layout pass broke
on a shared compare in the scalar programs; 3.9 compiled it) is found here in seconds
instead of in a GPU session. Run it against the GPU image's Triton:

    pip install --target /tmp/t36 --no-deps triton==3.6.0
    PYTHONPATH=/tmp/t36 python benchmarks/compile_check.py

Each variant is the one `launch_args` picks for a representative call (every mode, small
and large bs, page sizes 1, 64 and 3, int32 and int64 index arithmetic, both warp counts).
Exit 1 if any variant fails to compile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # the GPU pipeline, not the interpreter
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

import nsa_meta  # noqa: E402
import nsa_meta.metadata_triton as kernel  # noqa: E402

_TYPES = {torch.int32: "*i32", torch.int64: "*i64"}
_INTS = {0: "i32", 1: "i64", 2: "u64"}


def variant(mode: str, bs: int, page_size: int, *, narrow: bool, ext_dtype=torch.int64):
    """(signature, constexprs, num_warps) of the launch for one representative call."""
    width, next_n = 2048, 4
    rows = bs * next_n
    seq = torch.zeros(bs, dtype=torch.int32)
    pool = torch.zeros(bs, dtype=torch.int64)
    table = torch.zeros(4, width, dtype=torch.int32)
    ext = torch.zeros(bs, dtype=ext_dtype) if mode == "draft_extend_var" else None
    out = nsa_meta.allocate_metadata(bs, rows, width, page_size, "cpu")
    saved = kernel.NARROW_LIMIT
    kernel.NARROW_LIMIT = saved if narrow else 0
    try:
        _, args, constexprs = kernel.launch_args(
            mode, seq, pool, table, ext, topk=2048, width=width, page_size=page_size,
            next_n=next_n, out=out, rows=None, interpreted=False,
        )  # fmt: skip
    finally:
        kernel.NARROW_LIMIT = saved
    names = [n for n in kernel._ARG_NAMES if n not in kernel._CONSTEXPRS]
    signature = {}
    for name, value in zip(names, args, strict=True):
        if isinstance(value, torch.Tensor):
            signature[name] = _TYPES[value.dtype]
        else:
            signature[name] = _INTS[kernel._int_kind(value)]
    signature.update({n: "constexpr" for n in kernel._CONSTEXPRS})
    return signature, constexprs, kernel.num_warps(bs, mode == "draft_extend_var")


def main() -> int:
    target = GPUTarget("cuda", 90, 32)
    failed = 0
    seen = set()
    for mode in ("decode", "target_verify", "draft_extend", "draft_extend_var"):
        for bs in (1, 48, 512, 4096):
            for page_size in (1, 64, 3):
                for narrow in (True, False):
                    sig, cx, warps = variant(mode, bs, page_size, narrow=narrow)
                    key = (tuple(sig.values()), tuple(cx.values()), warps)
                    if key in seen:
                        continue
                    seen.add(key)
                    label = f"{mode} bs {bs} P {page_size} narrow {narrow} warps {warps}"
                    try:
                        triton.compile(
                            ASTSource(kernel._metadata_kernel, sig, cx),
                            target=target,
                            options={"num_warps": warps},
                        )
                    except Exception as exc:  # noqa: BLE001 - report every variant
                        failed += 1
                        print(f"FAIL {label}: {type(exc).__name__}: {str(exc)[:300]}")
    print(f"triton {triton.__version__}: {len(seen) - failed} of {len(seen)} variants compiled")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

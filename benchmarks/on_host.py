"""Running a v2 mutant written for the CPU on CUDA tensors: the red-team files' torch code
makes CPU tensors, so on a GPU each call runs on host copies of every input's and buffer's
storage, and every buffer storage is written back whole (a write outside a view's region
still shows). Imported by the mutant files, which a worker loads by path (the project root
is on its path).
"""

from __future__ import annotations

import torch


def on_host(fill, kw: dict):
    """fill(**kw), on host copies when any argument is a CUDA tensor."""
    if not any(isinstance(v, torch.Tensor) and v.is_cuda for v in kw.values()):
        return fill(**kw)
    copies = {}  # one host copy per storage: buffers may share one

    def host(t):
        if not (isinstance(t, torch.Tensor) and t.is_cuda):
            return t
        key = t.untyped_storage().data_ptr()
        if key not in copies:
            copies[key] = (t.untyped_storage(), t.untyped_storage().cpu())
        cpu = torch.empty(0, dtype=t.dtype)
        return cpu.set_(copies[key][1], t.storage_offset(), t.size(), t.stride())

    moved = {k: host(v) for k, v in kw.items() if k != "out"}
    moved["out"] = type(kw["out"])(*(host(b) for b in kw["out"]))
    try:
        return fill(**moved)
    finally:
        for device, cpu in copies.values():
            device.copy_(cpu)

"""Test session setup: the Triton CPU interpreter when there is no GPU, and the `gpu` marker.

TRITON_INTERPRET must be set before anything imports triton: triton reads it at import
time. Importing torch to ask about CUDA is safe; nsa_meta imports triton only on first use.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

# Hypothesis profiles (ci, dev, nightly) are registered here, in one place, by the lead.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(
        reason="needs CUDA (marked gpu); torch.cuda.is_available() is False"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)

"""Test session setup: the Triton CPU interpreter when there is no GPU, the `gpu` marker,
and the Hypothesis profiles (fuzz/profiles.py).

TRITON_INTERPRET must be set before anything imports triton: triton reads it at import
time. Importing torch to ask about CUDA is safe; nsa_meta imports triton only on first use.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from fuzz.profiles import chosen_profile, register_profiles  # noqa: E402

register_profiles()
try:
    settings.load_profile(chosen_profile())
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(
        reason="needs CUDA (marked gpu); torch.cuda.is_available() is False"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)

"""Test session setup: the Triton CPU interpreter when there is no GPU, the `gpu` marker,
and the Hypothesis profiles.

TRITON_INTERPRET must be set before anything imports triton: triton reads it at import
time. Importing torch to ask about CUDA is safe; nsa_meta imports triton only on first use.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

PROFILE_ENV = "NSA_HYPOTHESIS_PROFILE"


def register_profiles() -> None:
    """The project's Hypothesis profiles, in one place; `ci` unless told otherwise.

    ci: few examples, derandomized, no database (xdist workers share nothing, reruns draw
    the same cases). dev: more examples, the default database. nightly: many examples,
    failures remembered in .hypothesis/ and tried first next time. Choose one with
    NSA_HYPOTHESIS_PROFILE=dev or pytest's --hypothesis-profile=dev (the option wins).
    """
    slow_is_fine = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=slow_is_fine,
        print_blob=True,
    )
    settings.register_profile(
        "dev", max_examples=200, deadline=None, suppress_health_check=slow_is_fine
    )
    settings.register_profile(
        "nightly",
        max_examples=20_000,
        deadline=None,
        suppress_health_check=slow_is_fine,
        database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
        print_blob=True,
    )
    chosen = os.environ.get(PROFILE_ENV, "ci")
    if chosen not in ("ci", "dev", "nightly"):
        raise pytest.UsageError(f"{PROFILE_ENV}={chosen!r}: expected ci, dev or nightly")
    settings.load_profile(chosen)


register_profiles()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(
        reason="needs CUDA (marked gpu); torch.cuda.is_available() is False"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)

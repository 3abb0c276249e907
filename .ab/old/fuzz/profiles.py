"""The project's Hypothesis profiles, in one place, shipped in the package so that the
pytest plugin has them in a user's CI too: `ci` unless told otherwise.

ci: few examples, derandomized, no database (xdist workers share nothing, reruns draw
the same cases). dev: more examples, the default database. nightly: many examples,
failures remembered in .hypothesis/ and tried first next time. Choose one with
NSA_HYPOTHESIS_PROFILE=dev or pytest's --hypothesis-profile=dev (the option wins).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE_ENV = "NSA_HYPOTHESIS_PROFILE"
PROFILES = ("ci", "dev", "nightly")


def register_profiles() -> None:
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


def chosen_profile() -> str:
    """The profile NSA_HYPOTHESIS_PROFILE names (default ci); ValueError naming it if unknown."""
    chosen = os.environ.get(PROFILE_ENV, "ci")
    if chosen not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={chosen!r}: expected one of {', '.join(PROFILES)}")
    return chosen

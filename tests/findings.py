"""Turn harness findings into a test failure that says how to reproduce and keep the case.

With NSA_SAVE_FAILURES_TO=DIR set, the minimal failing case is written there as a corpus
entry (only Hypothesis's final, shrunk example, not every step of the shrink).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fuzz import corpus
from fuzz.harness import Finding, smallest_per_signature

SAVE_ENV = "NSA_SAVE_FAILURES_TO"


def _final_example() -> bool:
    """True outside Hypothesis, and on the example Hypothesis reports (the shrunk one)."""
    try:
        from hypothesis.control import current_build_context

        return current_build_context().is_final
    except Exception:
        return True


def explain(f: Finding, device: str) -> str:
    """One finding: what differs, the case, and the two ways back to it."""
    lines = [
        f"FAIL {f.mismatch.describe()}",
        f"     case: {f.case.describe()}",
        f"     Case.from_json({json.dumps(f.case.to_json())})",
    ]
    if f.fault is not None:
        lines.append(f"     fault: Fault.from_json({json.dumps(f.fault.to_json())})")
    target = os.environ.get(SAVE_ENV)
    if target and _final_example():
        path = corpus.save(Path(target), f.mismatch, f.case, f.fault, device=device, seed=None)
        lines.append(f"     saved: {path}\n     replay: python -m fuzz replay {path}")
    else:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        lines.append(
            f"     keep it as a corpus entry: {SAVE_ENV}=corpus python -m pytest '{test}'"
            " and then: python -m fuzz replay corpus/"
        )
    return "\n".join(lines)


def assert_no_findings(findings: list[Finding], *, device: str = "cpu") -> None:
    if findings:
        raise AssertionError(
            "\n".join(explain(f, device) for f in smallest_per_signature(findings))
        )

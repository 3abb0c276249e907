"""A campaign's report: one typed object that workers fill, the pool merges and the CLI writes.

The exit code is decided here, from the report alone, so every command uses one table:
2 usage (decided before any work), 3 the suite could not do all its work, 1 failures, 0.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


@dataclass
class Report:
    """Counts keep engines apart (`hypothesis_cases`, `bulk_cases`, `shipped_path_cases`)
    and implementations apart (`implementations`). `errors` are the suite's own troubles
    (harness errors, dead workers, unreadable entries, unsaved failures): any one makes the
    exit code 3, whatever else was found."""

    cases: int = 0
    opening_cases: int = 0  # named cases and shipped seeds, run before any round
    opening_left: int = 0  # ... that --seconds ended before they were sent
    hypothesis_cases: int = 0
    bulk_cases: int = 0  # numpy-drawn, through the built-in Triton kernel
    plugin_bulk_cases: int = 0  # numpy-drawn, through each plug-in, one round trip a batch
    bulk_seconds: float = 0.0
    shipped_path_cases: int = 0
    examples: int = 0
    rounds: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    slow: list[dict] = field(default_factory=list)
    unconfirmed_hangs: list[dict] = field(default_factory=list)
    not_judged: dict[str, int] = field(default_factory=dict)  # cases a candidate never answered
    unreproduced_faults: list[dict] = field(default_factory=list)  # bulk batches, see campaign
    implementations: dict[str, dict] = field(default_factory=dict)
    known_divergences: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    envelope: dict | None = None
    left_out: list[str] = field(default_factory=list)
    seed: int | None = None
    unit: str = "0/1"
    device: str | None = None
    cases_digest: str = ""
    interrupted: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    workers: list[dict] = field(default_factory=list)

    @property
    def cases_per_second(self) -> float:
        return round(self.cases / self.seconds, 1) if self.seconds else 0.0

    def exit_code(self) -> int:
        if self.errors:
            return EXIT_INCOMPLETE
        return EXIT_FAILURES if self.failures else EXIT_OK

    def to_json(self) -> dict:
        data = asdict(self)
        data["cases_per_second"] = self.cases_per_second
        data["exit_code"] = self.exit_code()
        data["seconds"] = round(self.seconds, 3)
        data["bulk_seconds"] = round(self.bulk_seconds, 3)
        return _finite(data)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def merge(cls, reports: list[Report]) -> Report:
        """Add the workers' counts; keep one failure per signature (the first found)."""
        merged = cls()
        for r in reports:
            merged.cases += r.cases
            merged.opening_cases += r.opening_cases
            merged.opening_left += r.opening_left
            merged.hypothesis_cases += r.hypothesis_cases
            merged.bulk_cases += r.bulk_cases
            merged.plugin_bulk_cases += r.plugin_bulk_cases
            merged.bulk_seconds += r.bulk_seconds
            merged.shipped_path_cases += r.shipped_path_cases
            merged.examples += r.examples
            merged.rounds += r.rounds
            merged.seconds = max(merged.seconds, r.seconds)
            merged.errors += r.errors
            merged.slow += r.slow
            merged.unconfirmed_hangs += r.unconfirmed_hangs
            merged.unreproduced_faults += r.unreproduced_faults
            merged.interrupted |= r.interrupted
            for name, t in r.implementations.items():
                m = merged.implementations.setdefault(name, {"calls": 0, "seconds": 0.0})
                m["calls"] += t["calls"]
                m["seconds"] = round(m["seconds"] + t["seconds"], 3)
            for k, v in r.known_divergences.items():
                merged.known_divergences[k] = merged.known_divergences.get(k, 0) + v
            for k, v in r.not_judged.items():
                merged.not_judged[k] = merged.not_judged.get(k, 0) + v
            for k, v in r.restarts.items():
                merged.restarts[k] = merged.restarts.get(k, 0) + v
            for f in r.failures:
                if all(f["signature"] != g["signature"] for g in merged.failures):
                    merged.failures.append(f)
            merged.workers.append(r.to_json())
        if reports:
            first = reports[0]
            merged.seed, merged.device, merged.versions = first.seed, first.device, first.versions
            merged.envelope, merged.left_out = first.envelope, first.left_out
        digests = sorted(r.cases_digest for r in reports)
        merged.cases_digest = hashlib.sha256("".join(digests).encode()).hexdigest()
        return merged

    @classmethod
    def from_json(cls, data: dict) -> Report:
        """A report sent back by a worker process (our own data, not an untrusted file)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def _finite(value):
    """JSON has no NaN or infinity: a report must stay readable by strict parsers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value

"""The corpus: one JSON file per distinct failure, named by its content, written atomically.

Two workers or two machines that find the same shrunk failure write the same file name;
different failures never share one. A corrupt file is reported by name and skipped.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fuzz.case import Case, Fault
from fuzz.compare import Mismatch

FORMAT = 1


class CorpusError(Exception):
    """A corpus file that cannot be read back; the message names the file."""


@dataclass
class Entry:
    path: Path | None
    signature: str
    impl: str
    case: Case
    fault: Fault | None
    data: dict


def versions() -> dict[str, str]:
    import hypothesis
    import torch

    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hypothesis": hypothesis.__version__,
    }
    try:
        from importlib.metadata import version

        found["triton"] = version("triton")
    except Exception:
        found["triton"] = "not installed"
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]


def entry_name(signature: str, case: Case, fault: Fault | None) -> str:
    body = json.dumps(
        {"signature": signature, "case": case.to_json(), "fault": fault and fault.to_json()},
        sort_keys=True,
    )
    return f"{_slug(signature)}-{hashlib.sha256(body.encode()).hexdigest()[:12]}.json"


def save(
    directory: Path,
    mismatch: Mismatch,
    case: Case,
    fault: Fault | None,
    *,
    device: str,
    seed: int | None,
    spec: str | None = None,
) -> Path:
    """Write one entry (temp file + rename); return its path. Same content, same name."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / entry_name(mismatch.signature, case, fault)
    replay = f"python -m fuzz replay {path}" + (f" --candidate {spec}" if spec else "")
    data = {
        "format": FORMAT,
        "signature": mismatch.signature,
        "impl": mismatch.impl,
        "candidate": spec,
        "mismatch": mismatch.to_json(),
        "summary": mismatch.describe(),
        "case": case.to_json(),
        "case_summary": case.describe(),
        "fault": fault and fault.to_json(),
        "device": device,
        "seed": seed,
        "versions": versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "replay": replay,
    }
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path) -> Entry:
    try:
        data = json.loads(Path(path).read_text())
        return Entry(
            path=Path(path),
            signature=data["signature"],
            impl=data["impl"],
            case=Case.from_json(data["case"]),
            fault=Fault.from_json(data["fault"]) if data.get("fault") else None,
            data=data,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path}: not a readable corpus entry ({exc!r})") from exc


def is_foreign(path: Path) -> bool:
    """A JSON object that is plainly no corpus entry (a campaign report kept beside the
    entries, say): it has neither an entry's "format" nor its "signature"."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "format" not in data and "signature" not in data


def entry_files(targets: list[Path]) -> list[Path]:
    """Files named, and the entry files of directories named, in a stable order."""
    files: list[Path] = []
    for t in targets:
        t = Path(t)
        files += [f for f in sorted(t.glob("*.json")) if not is_foreign(f)] if t.is_dir() else [t]
    return files


def load_all(targets: list[Path]) -> tuple[list[Entry], list[CorpusError]]:
    """Every readable entry, and an error for each file that is not one."""
    entries, errors = [], []
    for f in entry_files(targets):
        try:
            entries.append(load(f))
        except CorpusError as exc:
            errors.append(exc)
    return entries, errors

"""The corpus on disk: one JSON file per failure signature, written durably and invisibly.

Temp files never match `*.json` and are fsynced before the rename; entries are 0644 under
the umask; a smaller case replaces a larger one of its signature; `merge` joins corpora.
Reading (fuzz/entry.py) changes nothing; only commands that write sweep stale temp files.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shlex
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.entry import (
    DEFAULT_MAX_TOTAL,
    FORMAT,
    INT32_MAX,
    CorpusError,
    Entry,
    OpNotDecoded,
    load,
    read_bounded,
)

__all__ = [
    "DEFAULT_MAX_TOTAL",
    "FORMAT",
    "CorpusError",
    "CorpusWriteError",
    "Entry",
    "MergeResult",
    "OpNotDecoded",
    "check_report_path",
    "check_writable",
    "entry_data",
    "entry_files",
    "entry_name",
    "load",
    "load_all",
    "merge",
    "save",
    "scan",
    "sweep_stale",
    "write_atomic",
]

STALE_SECONDS = 600.0
OUTPUT_TAIL_BYTES = 4096


class CorpusWriteError(Exception):
    """A corpus entry (or report) that cannot be written; names the path and the OS reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        self.entry: dict | None = None  # set by `save`: the entry that was not written
        super().__init__(f"cannot write {path}: {reason}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


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


# --- names: entries and temp files --------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]


def entry_name(signature: str) -> str:
    """The one file name of a signature: readable slug + hash (two slugs may collide)."""
    digest = hashlib.sha256(signature.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{_slug(signature) or 'entry'}-{digest}.json"


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# .<final name>.part-<host>-<pid>-<random>: hidden, and never ends in .json
_TEMP = re.compile(r"^\..*\.part-([0-9a-f]{8})-(\d+)-[0-9a-f]{8}$", re.S)
_LEGACY_TEMP = re.compile(r"^\.tmp-[A-Za-z0-9_]{8}\.json$")  # tempfile.mkstemp, format 1


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.part-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


def is_temp_name(name: str) -> bool:
    return bool(_TEMP.match(name) or _LEGACY_TEMP.match(name))


# --- durable writes ----------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path | str, data: str | bytes) -> Path:
    """Write `path` whole or not at all: a hidden temp file (mode 0666 less the umask),
    fsync, rename over `path`, fsync the directory. CorpusWriteError on any OS error."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = _temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise CorpusWriteError(path, _reason(exc)) from None
    try:
        try:
            _write_all(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CorpusWriteError(path, _reason(exc)) from None
        raise
    _fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the directory itself (no lock file to leave behind), so two
    writers of one signature compare and replace one at a time."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_writable(directory: Path | str) -> Path:
    """Make sure entries can be written in `directory` before any work: create it (and its
    parents) if missing, then create, write, fsync and remove a probe temp file."""
    d = Path(directory)
    try:
        if os.path.lexists(d) and not d.is_dir():
            raise CorpusWriteError(d, "it exists and is not a directory")
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusWriteError(d, f"cannot create the directory: {_reason(exc)}") from None
    probe = _temp_path(d / "write-probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            _write_all(fd, b"{}\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(probe)
        raise CorpusWriteError(d, f"cannot write in the directory: {_reason(exc)}") from None
    return d


def check_report_path(path: Path | str) -> Path:
    """Make sure a report can be written at `path` before any work (same probe as
    `check_writable` in its directory; an existing report must be writable, not a dir)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise CorpusWriteError(p, "it is a directory")
    except OSError as exc:
        raise CorpusWriteError(p, _reason(exc)) from None
    try:
        check_writable(p.parent)
    except CorpusWriteError as exc:
        raise CorpusWriteError(p, exc.reason) from None
    if p.exists():
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC))
        except OSError as exc:
            raise CorpusWriteError(p, _reason(exc)) from None
    return p


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def sweep_stale(directory: Path | str, *, max_age: float = STALE_SECONDS) -> list[Path]:
    """Remove temp files left by killed writers: those of a process of this host that is
    gone, and any older than `max_age` seconds. Entries and live writers' files stay.
    Only commands that write call this; returns what was removed."""
    d = Path(directory)
    removed: list[Path] = []
    try:
        names = os.listdir(d)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = _TEMP.match(name)
        if not m and not _LEGACY_TEMP.match(name):
            continue
        p = d / name
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        old = now - st.st_mtime > max_age
        gone = bool(m) and m.group(1) == _HOST and not _pid_alive(int(m.group(2)))
        if old or gone:
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


# --- entries -----------------------------------------------------------------------------------


def _replay_command(path: Path, spec: str | None, op: str = "expand") -> str:
    cmd = f"python -m fuzz replay {shlex.quote(str(path))}"
    if op != "expand":
        cmd += f" --op {shlex.quote(op)}"
    return cmd + (f" --candidate {shlex.quote(spec)}" if spec else "")


def _size(case) -> tuple:
    return case.size_key()


def _existing(path: Path) -> Entry | None:
    """The entry already at `path`, read with the widest caps; None if absent or unreadable
    (an unreadable file at an entry's own name is replaced)."""
    try:
        return load(path, max_total=INT32_MAX)
    except CorpusError:
        return None
    except Exception:
        return None


def _put(
    directory: Path,
    signature: str,
    case,
    render: Callable[[Path], str],
    replace_same: bool = False,
    replace_any: bool = False,
) -> tuple[Path, str]:
    """Write the entry of `signature` unless one with a case as small is there already
    (`replace_same`: an entry of this very case is rewritten, to add what was learnt).
    Returns (path, "added" | "replaced" | "kept")."""
    path = directory / entry_name(signature)
    with locked(directory):
        old = _existing(path) if os.path.lexists(path) else None
        same = replace_same and old is not None and old.case == case
        if (
            old is not None
            and not replace_any
            and old.signature == signature
            and _size(case) >= _size(old.case)
            and not same
        ):
            return path, "kept"
        existed = os.path.lexists(path)
        write_atomic(path, render(path))
    return path, "replaced" if existed else "added"


def entry_data(
    mismatch,
    case,
    fault,
    *,
    device: str,
    seed: int | None,
    spec: str | None = None,
    original_case=None,
    op: str = "expand",
    note: str | None = None,
    path: Path | None = None,
    before: list[dict] | None = None,
    repeat: int = 1,
) -> dict:
    """The JSON object `save` writes (also what to print when it cannot be written)."""
    data = {
        "format": FORMAT,
        "op": op,
        "signature": mismatch.signature,
        "impl": mismatch.impl,
        "candidate": spec,
        "mismatch": mismatch.to_json(),
        "summary": mismatch.describe(),
        "cause": str(getattr(mismatch, "cause", "") or "") or mismatch.describe(),
        "output_tail": str(getattr(mismatch, "output_tail", "") or "")[-OUTPUT_TAIL_BYTES:],
        "case": case.to_json(),
        "case_summary": case.describe(),
        "fault": fault and fault.to_json(),
        "device": device,
        "seed": seed,
        "versions": versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "replay": _replay_command(path, spec, op) if path is not None else "",
    }
    if original_case is not None and original_case != case:
        data["original_case"] = original_case.to_json()
    if note is not None:
        data["note"] = note
    if before:  # the calls the case fails after, in one fresh worker (the worker's items)
        data["before"] = [_plain_item(it) for it in before]
    if repeat > 1:  # replay runs the case up to this many times in one fresh worker
        data["repeat"] = repeat
    return data


def before_items(entry: Entry) -> list[dict]:
    """The worker items of the calls an entry's case fails after ("before"), in order."""
    head = {"op": "metadata"} if entry.op == "metadata" else {}
    return [
        {**head, "case": c.to_json(), **({"fault": f.to_json()} if f is not None else {})}
        for c, f in entry.before
    ]


def _plain_item(item: dict) -> dict:
    """A worker item as an entry keeps it: its case and its fault (op is the entry's)."""
    return {k: item[k] for k in ("case", "fault") if item.get(k) is not None}


def save(
    directory: Path | str,
    mismatch,
    case,
    fault,
    *,
    device: str,
    seed: int | None,
    spec: str | None = None,
    original_case=None,
    op: str = "expand",
    note: str | None = None,
    replace_same: bool = False,
    before: list[dict] | None = None,
    replace_any: bool = False,
    repeat: int = 1,
) -> Path:
    """Write the entry of `mismatch.signature` in `directory` (one file per signature; an
    existing entry is replaced only by a smaller case, or by the same case with
    `replace_same`, or by any with `replace_any`: the campaign's own first entry of a failure
    whose case now holds the calls it needs) and return its path. `before`: the worker items the case fails after
    (a candidate that keeps state), saved as the entry's "before". Raises
    CorpusWriteError (path and OS reason; its `entry` holds the unsaved JSON object)."""
    directory = Path(directory)
    data = entry_data(
        mismatch,
        case,
        fault,
        device=device,
        seed=seed,
        spec=spec,
        original_case=original_case,
        op=op,
        note=note,
        path=directory / entry_name(mismatch.signature),
        before=before,
        repeat=repeat,
    )

    def render(path: Path) -> str:
        return json.dumps({**data, "replay": _replay_command(path, spec, op)}, indent=2) + "\n"

    try:
        directory.mkdir(parents=True, exist_ok=True)
        path, _ = _put(directory, mismatch.signature, case, render, replace_same, replace_any)
    except OSError as exc:
        err = CorpusWriteError(directory, _reason(exc))
        err.entry = data
        raise err from None
    except CorpusWriteError as exc:
        exc.entry = data
        raise
    return path


# --- reading many ------------------------------------------------------------------------------


def is_foreign(path: Path | str) -> bool:
    """A JSON object that is plainly no corpus entry (a campaign report kept beside the
    entries, say): neither an entry's "format" nor its "signature". Bounded and never
    blocking; anything doubtful is not foreign (the decoder then names it)."""
    try:
        from fuzz.entry import nesting_problem

        text = read_bounded(path)
        if nesting_problem(text):
            return False
        import msgspec

        data = msgspec.json.decode(text)
    except Exception:
        return False
    return isinstance(data, dict) and "format" not in data and "signature" not in data


def _dir_entries(directory: Path) -> list[Path]:
    names = sorted(n for n in os.listdir(directory) if n.endswith(".json") and n[:1] != ".")
    return [directory / n for n in names if not is_foreign(directory / n)]


def entry_files(targets: list[Path]) -> list[Path]:
    """Files named, and the entry files of directories named (`*.json`, not hidden, not a
    report), in a stable order. Opens nothing but regular files."""
    files: list[Path] = []
    for t in map(Path, targets):
        files += _dir_entries(t) if t.is_dir() else [t]
    return files


def scan(
    targets: list[Path], *, max_total: int = DEFAULT_MAX_TOTAL
) -> Iterator[tuple[Path, Entry | CorpusError]]:
    """(path, entry or the reason it cannot be read) for every entry file; never raises
    for one file (RecursionError and MemoryError included)."""
    for t in map(Path, targets):
        try:
            files = _dir_entries(t) if t.is_dir() else [t]
        except Exception as exc:
            yield t, CorpusError(t, f"cannot list the directory: {exc}")
            continue
        for f in files:
            try:
                yield f, load(f, max_total=max_total)
            except CorpusError as exc:
                yield f, exc
            except Exception as exc:
                yield f, CorpusError(f, f"{type(exc).__name__}: {exc}")


def load_all(
    targets: list[Path], *, max_total: int = DEFAULT_MAX_TOTAL
) -> tuple[list[Entry], list[CorpusError]]:
    """Every readable entry, and a CorpusError naming each file that is not one."""
    entries: list[Entry] = []
    errors: list[CorpusError] = []
    for _, got in scan(targets, max_total=max_total):
        (errors if isinstance(got, CorpusError) else entries).append(got)
    return entries, errors


# --- merge -------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    """What `merge` did: entries added for new signatures, entries replaced by a smaller
    case, entries kept (already as small), and the files it could not read."""

    added: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    errors: list[CorpusError] = field(default_factory=list)
    duplicates: int = 0  # source entries beaten by a smaller one of the same signature

    def summary(self) -> str:
        return (
            f"merge: {len(self.added)} added, {len(self.replaced)} replaced by a smaller case, "
            f"{len(self.kept)} kept, {self.duplicates} duplicate(s) dropped, "
            f"{len(self.errors)} unreadable"
        )


def merge(
    sources: list[Path], into: Path | str, *, max_total: int = DEFAULT_MAX_TOTAL
) -> MergeResult:
    """One entry per signature in `into`, the smallest case kept; sources are only read
    (libFuzzer's -merge=1). Bad entries are named in `errors` and skipped. Raises
    CorpusWriteError if `into` cannot be written."""
    into = check_writable(into)
    sweep_stale(into)
    result = MergeResult()
    have, into_errors = load_all([into], max_total=max_total)
    result.errors += into_errors
    in_into: dict[str, list[Entry]] = {}
    for e in have:
        in_into.setdefault(e.signature, []).append(e)

    best: dict[str, Entry] = {}
    src_entries, src_errors = load_all(list(sources), max_total=max_total)
    result.errors += src_errors
    for e in src_entries:
        held = best.get(e.signature)
        if held is None or _size(e.case) < _size(held.case):
            result.duplicates += held is not None
            best[e.signature] = e
        else:
            result.duplicates += 1

    for sig in sorted(best):
        e = best[sig]
        olds = in_into.get(sig, [])
        smallest = min(olds, key=lambda o: _size(o.case), default=None)
        if smallest is not None and _size(smallest.case) <= _size(e.case):
            result.kept.append(smallest.path)
            continue

        def render(path: Path, e: Entry = e) -> str:
            data = dict(e.data)
            data["replay"] = _replay_command(path, e.candidate, e.op)
            return json.dumps(data, indent=2) + "\n"

        path, outcome = _put(into, sig, e.case, render)
        if outcome == "kept":  # a concurrent writer got there with a case as small
            result.kept.append(path)
            continue
        for o in olds:  # older names of the same signature (format 1 named by content)
            if o.path is not None and o.path.resolve() != path.resolve():
                with contextlib.suppress(OSError):
                    o.path.unlink()
        (result.replaced if olds or outcome == "replaced" else result.added).append(path)
    return result

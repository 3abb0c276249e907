"""Finding and killing every process a plug-in's worker left behind, through /proc.

A worker leads its own session and process group; whatever the candidate forks inherits
both, unless it calls setsid itself. Scanning /proc for either id finds those strays.
"""

from __future__ import annotations

import os
import signal
import time


def _ids(pid: str) -> tuple[int, int] | None:
    """(process group, session) of a /proc entry, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # the command name may hold spaces
    try:
        return int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def members(leader: int) -> list[int]:
    """Live processes whose process group or session is `leader`'s (zombies included)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            ids = _ids(name)
            if ids is not None and leader in ids:
                found.append(int(name))
    return found


def kill_members(leader: int, keep: tuple[int, ...] = (), seconds: float = 1.0) -> int:
    """SIGKILL every member of `leader`'s group or session but `keep`, scanning again until
    none is left running (one may fork between a scan and its kill); how many were sent."""
    sent = 0
    end = time.monotonic() + seconds
    while True:
        running = [p for p in members(leader) if p not in keep and alive(p)]
        if not running or time.monotonic() > end:
            return sent
        for pid in running:
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.001)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"

"""Finding and killing every process a plug-in's worker left behind, through /proc.

A worker leads its own session and process group; whatever the candidate forks inherits
both, unless it calls setsid itself. It is also a child subreaper (fuzz/lifetime.py), so a
daemon that double-forks out of the session stays its descendant while it lives: scanning
/proc for either id and for the worker's descendants finds every stray.
"""

from __future__ import annotations

import os
import signal
import time


def _ids(pid: str) -> tuple[int, int, int] | None:
    """(parent, process group, session) of a /proc entry, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # the command name may hold spaces
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def members(leader: int, descendants: bool = True) -> list[int]:
    """Live processes in `leader`'s process group or session, and (with `descendants`)
    every descendant of `leader` or of those, whatever its session (zombies included)."""
    children: dict[int, list[int]] = {}
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            ids = _ids(name)
            if ids is not None:
                children.setdefault(ids[0], []).append(int(name))
                if leader in ids[1:]:
                    found.append(int(name))
    seen = set(found)
    todo = found + [leader] if descendants else []
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                found.append(child)
                todo.append(child)
    return found


def kill_members(
    leader: int, keep: tuple[int, ...] = (), seconds: float = 1.0, descendants: bool = True
) -> int:
    """SIGKILL every member of `leader`'s group or session (and its descendants) but `keep`,
    scanning again until none is left running (one may fork between a scan and its kill);
    how many were sent."""
    sent = 0
    end = time.monotonic() + seconds
    while True:
        running = [p for p in members(leader, descendants) if p not in keep and alive(p)]
        if not running or time.monotonic() > end:
            return sent
        for pid in running:
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.001)


def kill_tree(leader: int, keep: tuple[int, ...] = ()) -> None:
    """SIGKILL `leader` and everything in its group or session or below it but `keep`. It is
    frozen first and goes last: alive it adopts (a subreaper) what dies below it, dead it
    would hand those to init, out of our sight (a daemon that left the session)."""
    try:
        os.kill(leader, signal.SIGSTOP)
    except ProcessLookupError:
        return
    kill_members(leader, keep=(leader, *keep))
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill_members(leader, keep=keep)  # the leader, if it leads no group of its own


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"

"""Lock files: two runs on one records folder compute a cell once (the executor locks each cell).

A lock is a file created atomically (O_CREAT | O_EXCL: of several creators exactly one
succeeds) that holds its holder's pid, host, start time and cell timeout. A lock is
stale when its holder is gone: it ran on this host and its pid is no longer alive, or
the lock is older than the holder's own timeout plus a grace (by then the holder killed
its cell process and released). Nothing can tell whether a process on another host
lives, so a lock from another host without a timeout is waited on until it is released.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

GRACE_S = 60.0  # after a cell's timeout its executor writes the crash record and releases in well under this
UNWRITTEN_S = 10.0  # a lock file still empty (or a takeover guard still there) this long lost its process


def this_host() -> str:
    return socket.gethostname()


def process_gone(host: str, pid: int) -> bool:
    """True only when it can be told: the process ran on this host and its pid is not alive."""
    if host != this_host():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    except (OverflowError, TypeError, ValueError):
        return True  # not a pid any process can have
    return False


def acquire(path: str | Path, timeout: float | None = None) -> bool:
    """Claim `path`; True when this process now holds it (it was free, or its holder is gone).

    `timeout` is this holder's cell timeout: past it (plus the grace) others may take the lock over.
    """
    path = Path(path)
    mine = json.dumps({"pid": os.getpid(), "host": this_host(), "started": time.time(), "timeout": timeout})
    if _create(path, mine):
        return True
    held = _read(path)
    if held is None:  # released between our attempt and the read
        return _create(path, mine)
    if not is_stale(path, held):
        return False
    return _take_over(path, held, mine)


def release(path: str | Path) -> None:
    """Remove the lock if this process holds it; another holder's lock is left alone."""
    path = Path(path)
    holder = _holder(_read(path))
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == this_host():
        path.unlink(missing_ok=True)


def is_stale(path: Path, text: str) -> bool:
    holder = _holder(text)
    if holder is None:  # created and not yet written, or its writer died in between
        return _age(path) > UNWRITTEN_S
    if process_gone(holder.get("host"), holder.get("pid")):
        return True
    timeout = holder.get("timeout")
    return timeout is not None and time.time() - float(holder.get("started", 0)) > timeout + GRACE_S


def _take_over(path: Path, stale: str, mine: str) -> bool:
    """Replace a stale lock so that exactly one of several takers wins.

    Removing the stale file and creating ours are two steps; a guard file (itself created
    with O_EXCL) makes the check "still the stale lock I judged" and the removal one step
    for each taker, so no taker can remove a lock another taker has just created.
    """
    guard = path.with_name(path.name + ".takeover")
    if not _create(guard, mine):
        if _age(guard) > UNWRITTEN_S:  # its taker died within the few microseconds it holds the guard
            guard.unlink(missing_ok=True)
        return False  # another process is taking it over: ask again later
    try:
        current = _read(path)
        if current is not None and current != stale:
            return False  # already replaced by another taker
        path.unlink(missing_ok=True)
    finally:
        guard.unlink(missing_ok=True)
    return _create(path, mine)  # a plain acquirer may still come first: then it is theirs


def _create(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _holder(text: str | None) -> dict | None:
    try:
        holder = json.loads(text) if text else None
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0

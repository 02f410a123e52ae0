"""One writer per source: an OS file lock under the workspace home.

Two ``vigil index`` runs on the same source would decode, embed and write the
same frames twice over (the catalog keeps each frame once, but the work is
wasted and their thumbnail writes race). The lock is an advisory ``flock``
taken through ``filelock``, so the kernel drops it when its holder dies: a
killed run never leaves a stale lock behind. Beside the lock, the holder writes
who it is (pid, host, start time), so the one that waits or gives up can say
which process holds the source.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from vigil.errors import SourceBusyError

LOCK_FOLDER = "locks"


def lock_paths(home: Path, source_id: int) -> tuple[Path, Path]:
    """The lock file and the holder's description beside it."""
    folder = Path(home) / LOCK_FOLDER
    return folder / f"source-{source_id}.lock", folder / f"source-{source_id}.holder.json"


def lock_holder(home: Path, source_id: int) -> str:
    """Who holds the source's lock, in words (best effort: the holder may be just leaving)."""
    _, holder_path = lock_paths(home, source_id)
    try:
        holder = json.loads(holder_path.read_text())
        return f"pid {holder['pid']} on {holder['host']} (since {holder['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def source_writer_lock(home: Path, source_id: int, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold source ``source_id``'s writer lock; wait up to ``wait_s`` seconds for it.

    Raises ``SourceBusyError`` naming the holder when it is still held after ``wait_s``.
    """
    lock_path, holder_path = lock_paths(home, source_id)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=max(0.0, wait_s), thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise SourceBusyError(
            f"source {source_id} is being written by {lock_holder(home, source_id)}; "
            "wait for it to finish, or pass --wait SECONDS"
        ) from None
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        temporary = holder_path.with_name(f".{holder_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(holder))
        os.replace(temporary, holder_path)
        yield
    finally:
        holder_path.unlink(missing_ok=True)
        lock.release()


__all__ = ["lock_holder", "lock_paths", "source_writer_lock"]

"""A per-run lock, so two processes never train or analyse one run folder at the same time.

The lock is ``fcntl.flock`` on ``RUN/.lock`` (the file holds the owner's pid, for messages). The kernel
releases it when its process ends, ``kill -9`` included, so a stale lock file never blocks anyone. Taking
it never waits: the second process is told at once (:class:`RunBusy`) and skips the run (a sweep; rerun it
later to analyse that run) or stops with one line (``train``). Where the file system has no ``flock``, no
lock is taken. :func:`merge_lock` (``RUN/.results.lock``) serialises the short merges into ``results.json``
of analyses run by hand beside a sweep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from hessianlab.atomic import file_mode
from hessianlab.errors import StoreError

LOCK = ".lock"


class RunBusy(StoreError):
    """Another process holds the run folder's lock."""


@contextlib.contextmanager
def merge_lock(file: Path) -> Iterator[None]:
    """Hold ``flock`` on ``file`` (created if needed) for a short read-modify-write, waiting for other holders
    (two processes adding results to one ``results.json`` never lose each other's)."""
    fd = os.open(file, os.O_RDWR | os.O_CREAT, file_mode(file))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the lock of the run folder ``folder`` (created if needed); :class:`RunBusy` if another process has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / LOCK
    fd = os.open(file, os.O_RDWR | os.O_CREAT, file_mode(file))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunBusy(f"{folder} is in use by another hessianlab process (pid {owner}); wait for it to end "
                          "and rerun, or choose another --out") from None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)

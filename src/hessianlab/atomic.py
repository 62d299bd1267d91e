"""Atomic file writes and safe checkpoint loading.

Every file the project writes goes through a temporary file in the same directory, ``fsync`` and
``os.replace``, so a reader (or a resumed run after ``kill -9``) sees either the old or the new content,
never a torn file. A new file gets the mode of the process umask (``0o666 & ~umask``, like any Unix tool, so a
lab group can read a shared run folder under umask 022); a replaced file keeps its mode. An ``OSError``
while writing (disk full, permission denied) names the file. Checkpoints are serialised in memory first, so
a full disk is an ``OSError`` (ENOSPC), never a torn zip; they are loaded with
``torch.load(weights_only=True)``: they hold only tensors and plain containers and can never execute code.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from hessianlab.errors import StoreError


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting and restoring it
    os.umask(mask)
    return mask


def file_mode(path: Path) -> int:
    """Permission bits for writing ``path``: its current mode if it exists, else ``0o666`` under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, file_mode(path))
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, tmp):  # name the file it was for, not the temp
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    _atomic(path, lambda h: h.write(text), "w")


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def jsonl_text(records: Iterable[Any]) -> str:
    """The exact text of a JSONL file holding ``records`` (one sorted-key object per line)."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    """Atomically replace ``path`` with one JSON object per line (keys sorted)."""
    write_text(path, jsonl_text(records))


def save_tensors(path: Path, obj: Any) -> None:
    """Atomically ``torch.save`` a structure of tensors and plain containers (serialised in memory first)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic(path, lambda h: h.write(buffer.getbuffer()), "wb")


def load_tensors(path: Path) -> Any:
    """Load a checkpoint with ``weights_only=True``; a corrupt file is a :class:`StoreError`."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StoreError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise StoreError(f"{path}: cannot load checkpoint safely ({type(exc).__name__}); delete it and rerun") from None


def read_json(path: Path) -> Any:
    """Read JSON; a missing or corrupt file is a :class:`StoreError` naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise StoreError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: corrupt JSON ({exc.msg if hasattr(exc, 'msg') else exc}); delete it and rerun") from None

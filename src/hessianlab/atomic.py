"""Atomic file writes and safe checkpoint loading.

Every file the project writes goes through a temporary file in the same directory, ``fsync`` and
``os.replace``, so a reader (or a resumed run after ``kill -9``) sees either the old or the new content,
never a torn file. Checkpoints are loaded with ``torch.load(weights_only=True)``: they hold only tensors
and plain containers and can never execute code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from hessianlab.errors import StoreError


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    _atomic(path, lambda h: h.write(text), "w")


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: Path, records: Iterable[Any]) -> None:
    """Atomically replace ``path`` with one JSON object per line (keys sorted)."""
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def save_tensors(path: Path, obj: Any) -> None:
    """Atomically ``torch.save`` a structure of tensors and plain containers."""
    _atomic(path, lambda h: torch.save(obj, h), "wb")


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

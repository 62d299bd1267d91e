"""Reader for the official CIFAR-10 / CIFAR-100 "python version" (pickled batches).

Accepted sources: the tarball (``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``, read member by
member without extracting anything) or its extracted folder (``cifar-10-batches-py`` /
``cifar-100-python``). Each batch is a pickled dict with ``b"data"`` (uint8 ``(N, 3072)``, channel-major
32x32 planes) and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100, the labels used here).

The batches are pickles, so they are opened with :class:`SafeUnpickler`, which resolves only the numpy
array reconstruction helpers; any other global in the stream is a :class:`~hessianlab.errors.DataError`.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hessianlab.data.download import describe, redownload_hint
from hessianlab.errors import DataError

__all__ = ["CIFAR_LAYOUTS", "CifarLayout", "SafeUnpickler", "find_cifar_source", "read_cifar_split", "safe_loads"]


@dataclass(frozen=True)
class CifarLayout:
    """File names of one CIFAR variant."""

    archive: str
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    label_key: bytes
    names_key: bytes
    num_classes: int


CIFAR_LAYOUTS: dict[str, CifarLayout] = {
    "cifar10": CifarLayout("cifar-10-python.tar.gz", "cifar-10-batches-py",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "batches.meta",
                           b"labels", b"label_names", 10),
    "cifar100": CifarLayout("cifar-100-python.tar.gz", "cifar-100-python", ("train",), ("test",), "meta",
                            b"fine_labels", b"fine_label_names", 100),
}


def _allowed_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
    for module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "ndarray")] = np.ndarray
        allowed[(module, "dtype")] = np.dtype
    return allowed


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only resolves ``_reconstruct``, ``ndarray`` and ``dtype`` of numpy."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a dataset pickle") from None


def safe_loads(payload: bytes) -> Any:
    """Unpickle ``payload`` (python-2 pickles: ``encoding="bytes"``) with :class:`SafeUnpickler`."""
    return SafeUnpickler(io.BytesIO(payload), encoding="bytes").load()


def find_cifar_source(folder: Path, name: str) -> Path | None:
    """The extracted folder (if complete) or the tarball of ``name`` inside ``folder``; also accepts
    ``folder`` being the extracted folder itself."""
    layout = CIFAR_LAYOUTS[name]
    needed = (*layout.train, *layout.test, layout.meta)
    for candidate in (folder / layout.folder, folder):
        if candidate.is_dir() and all((candidate / f).is_file() for f in needed):
            return candidate
    archive = folder / layout.archive
    return archive if archive.is_file() else None


def _read_members(source: Path, layout: CifarLayout, names: tuple[str, ...], dataset: str) -> dict[str, bytes]:
    """Raw bytes of the batch files ``names`` from a folder or a tarball."""
    if source.is_dir():
        out: dict[str, bytes] = {}
        for name in names:
            path = source / name
            try:
                out[name] = path.read_bytes()
            except OSError as exc:
                raise DataError(f"{dataset}: cannot read {path} ({describe(exc)}); {redownload_hint(dataset)}") from exc
        return out
    wanted = {f"{layout.folder}/{n}": n for n in names}
    out = {}
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                key = wanted.get(member.name.lstrip("./"))
                if key is None or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                out[key] = handle.read()
                if len(out) == len(wanted):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{dataset}: {source} is truncated or not a valid tar.gz ({describe(exc)}); "
                        f"{redownload_hint(dataset)}") from exc
    missing = [m for m, n in wanted.items() if n not in out]
    if missing:
        raise DataError(f"{dataset}: {source} lacks {missing[0]}; {redownload_hint(dataset)}")
    return out


def _unpickle_dict(payload: bytes, where: str, dataset: str) -> dict[bytes, Any]:
    try:
        obj = safe_loads(payload)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError) as exc:
        raise DataError(f"{dataset}: {where} is not a valid CIFAR batch pickle ({describe(exc)}); "
                        f"{redownload_hint(dataset)}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{dataset}: {where} holds a {type(obj).__name__}, expected a dict; "
                        f"{redownload_hint(dataset)}")
    return obj


def _class_names(raw: dict[bytes, Any], layout: CifarLayout, where: str, dataset: str) -> tuple[str, ...]:
    names = raw.get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise DataError(f"{dataset}: {where} lacks a list of {layout.num_classes} {layout.names_key.decode()}; "
                        f"{redownload_hint(dataset)}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_cifar_split(source: Path, split: str, *, dataset: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read one split of CIFAR-10/100.

    Args:
        source: extracted folder or tarball (see :func:`find_cifar_source`).
        split: ``"train"`` or ``"test"``.
        dataset: ``"cifar10"`` or ``"cifar100"``.

    Returns:
        ``(images, labels, classes)``: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)``, class names.
    """
    layout = CIFAR_LAYOUTS[dataset]
    batches = layout.train if split == "train" else layout.test
    raw = _read_members(source, layout, (*batches, layout.meta), dataset)
    where = lambda n: f"{source}/{n}" if source.is_dir() else f"{source}:{layout.folder}/{n}"  # noqa: E731
    classes = _class_names(_unpickle_dict(raw[layout.meta], where(layout.meta), dataset), layout,
                           where(layout.meta), dataset)
    images, labels = [], []
    for name in batches:
        batch = _unpickle_dict(raw[name], where(name), dataset)
        for key in (b"data", layout.label_key):
            if key not in batch:
                raise DataError(f"{dataset}: {where(name)} lacks the key {key!r}; {redownload_hint(dataset)}")
        data = batch[b"data"]
        try:
            y = np.asarray(batch[layout.label_key], dtype=np.int64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{dataset}: {where(name)} has unreadable labels ({describe(exc)}); "
                            f"{redownload_hint(dataset)}") from exc
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            shape = getattr(data, "shape", None)
            raise DataError(f"{dataset}: {where(name)} has b'data' of shape {shape}, expected uint8 (N, 3072); "
                            f"{redownload_hint(dataset)}")
        if data.shape[0] != y.shape[0]:
            raise DataError(f"{dataset}: {where(name)} holds {data.shape[0]} images but {y.shape[0]} labels; "
                            f"{redownload_hint(dataset)}")
        if y.size and (y.min() < 0 or y.max() >= layout.num_classes):
            raise DataError(f"{dataset}: {where(name)} holds labels outside [0, {layout.num_classes}); "
                            f"{redownload_hint(dataset)}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels), classes

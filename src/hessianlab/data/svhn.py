"""Reader for the official SVHN "cropped digits" files ``train_32x32.mat`` / ``test_32x32.mat``.

Each file is a MATLAB v5 file with ``X`` uint8 ``(32, 32, 3, N)`` (H, W, C, N) and ``y`` ``(N, 1)`` with
labels 1..10, where 10 stands for the digit 0. Read with :func:`scipy.io.loadmat`; returned as NCHW with
label 10 mapped to 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessianlab.data.download import describe, redownload_hint
from hessianlab.errors import DataError

__all__ = ["SVHN_FILES", "missing_svhn_files", "read_svhn_split"]

SVHN_FILES: dict[str, str] = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def missing_svhn_files(folder: Path) -> list[str]:
    """Names of the SVHN files (both splits) absent from ``folder``."""
    return [name for name in SVHN_FILES.values() if not (folder / name).is_file()]


def read_svhn_split(folder: Path, split: str, *, dataset: str = "svhn") -> tuple[np.ndarray, np.ndarray, str]:
    """Read one split.

    Returns:
        ``(images, labels, source)``: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)`` in [0, 10)
        (file label 10 -> 0), and the file path.
    """
    import scipy.io

    path = Path(folder) / SVHN_FILES[split]
    if not path.is_file():
        raise DataError(f"{dataset}: {path} is missing; put the official file there or run "
                        f"`hessianlab datasets --download {dataset}`")
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except Exception as exc:  # scipy raises ValueError, OSError, TypeError, MatReadError, zlib.error, ...
        raise DataError(f"{dataset}: {path} is truncated or not a MATLAB v5 file ({describe(exc)}); "
                        f"{redownload_hint(dataset)}") from exc
    for key in ("X", "y"):
        if key not in mat:
            raise DataError(f"{dataset}: {path} lacks the variable {key!r}; {redownload_hint(dataset)}")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{dataset}: {path} has X of shape {x.shape}, expected (32, 32, 3, N); "
                        f"{redownload_hint(dataset)}")
    if x.dtype != np.uint8:
        raise DataError(f"{dataset}: {path} has X of dtype {x.dtype}, expected uint8; {redownload_hint(dataset)}")
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if y.shape[0] != x.shape[3]:
        raise DataError(f"{dataset}: {path} holds {x.shape[3]} images but {y.shape[0]} labels; "
                        f"{redownload_hint(dataset)}")
    y = np.where(y == 10, 0, y)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{dataset}: {path} holds labels outside 1..10; {redownload_hint(dataset)}")
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))
    return images, y, str(path)

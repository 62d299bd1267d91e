"""Reader for the IDX format of MNIST and Fashion-MNIST (gzip'ed or plain).

File layout (big endian): magic ``0x0000TTDD`` (TT = 0x08 unsigned byte, DD = number of dimensions), then
DD uint32 sizes, then the payload. Images use magic 2051 (3 dimensions N, H, W), labels 2049 (1 dimension
N). Everything is checked: magic, header length, payload length (neither short nor long), label range and
image/label counts. Every failure is a one-line :class:`~hessianlab.errors.DataError` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hessianlab.data.download import describe, redownload_hint
from hessianlab.errors import DataError

__all__ = ["IDX_FILES", "IMAGES_MAGIC", "LABELS_MAGIC", "find_idx_file", "missing_idx_files",
           "read_idx", "read_idx_split"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

#: split -> (images file stem, labels file stem); each may end in ``.gz`` or not.
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` if it exists, else ``folder/stem``, else None."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def missing_idx_files(folder: Path) -> list[str]:
    """Names (``*.gz``) of the four IDX files absent from ``folder`` (both splits)."""
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    return [f"{stem}.gz" for stem in stems if find_idx_file(folder, stem) is None]


def _read_bytes(path: Path, dataset: str) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{dataset}: {path} is truncated or not valid gzip ({describe(exc)}); "
                        f"{redownload_hint(dataset)}") from exc


def read_idx(path: Path, *, expected_magic: int, dataset: str) -> np.ndarray:
    """Read one IDX file of unsigned bytes.

    Args:
        path: ``*.gz`` (gzip) or plain IDX file.
        expected_magic: :data:`IMAGES_MAGIC` (2051) or :data:`LABELS_MAGIC` (2049).
        dataset: registry name, used in error messages.

    Returns:
        uint8 array shaped by the header, e.g. ``(N, 28, 28)`` for images, ``(N,)`` for labels.
    """
    path = Path(path)
    data = _read_bytes(path, dataset)
    kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
    if len(data) < 4:
        raise DataError(f"{dataset}: {path} is truncated ({len(data)} bytes, no IDX header); "
                        f"{redownload_hint(dataset)}")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DataError(f"{dataset}: {path} has IDX magic number {magic}, expected {expected_magic} "
                        f"({kind}); the file is corrupt or swapped with another; {redownload_hint(dataset)}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{dataset}: {path} is truncated inside the IDX header; {redownload_hint(dataset)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header
    if got < expected:
        raise DataError(f"{dataset}: {path} is truncated (expected {expected} bytes of {kind}, got {got}); "
                        f"{redownload_hint(dataset)}")
    if got > expected:
        raise DataError(f"{dataset}: {path} has {got - expected} unexpected trailing bytes after "
                        f"{expected} bytes of {kind}; {redownload_hint(dataset)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx_split(folder: Path, split: str, *, dataset: str,
                   num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
    """Read the images and labels of one split from ``folder``.

    Returns:
        ``(images, labels, source)``: images uint8 ``(N, 1, H, W)``, labels int64 ``(N,)`` in
        ``[0, num_classes)``, and the images file path as a string.
    """
    image_stem, label_stem = IDX_FILES[split]
    image_path = find_idx_file(folder, image_stem)
    label_path = find_idx_file(folder, label_stem)
    for stem, found in ((image_stem, image_path), (label_stem, label_path)):
        if found is None:
            raise DataError(f"{dataset}: {folder / (stem + '.gz')} is missing; put the official file "
                            f"there or run `hessianlab datasets --download {dataset}`")
    assert image_path is not None and label_path is not None
    images = read_idx(image_path, expected_magic=IMAGES_MAGIC, dataset=dataset)
    labels = read_idx(label_path, expected_magic=LABELS_MAGIC, dataset=dataset)
    if images.ndim != 3:
        raise DataError(f"{dataset}: {image_path} has {images.ndim} dimensions, expected 3 (N, H, W); "
                        f"{redownload_hint(dataset)}")
    if labels.ndim != 1:
        raise DataError(f"{dataset}: {label_path} has {labels.ndim} dimensions, expected 1 (N,); "
                        f"{redownload_hint(dataset)}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{dataset}: {image_path} holds {images.shape[0]} images but {label_path} holds "
                        f"{labels.shape[0]} labels; {redownload_hint(dataset)}")
    if labels.size and int(labels.max()) >= num_classes:
        raise DataError(f"{dataset}: {label_path} holds label {int(labels.max())}, expected labels in "
                        f"[0, {num_classes}); {redownload_hint(dataset)}")
    return images[:, None, :, :], labels.astype(np.int64), str(image_path)

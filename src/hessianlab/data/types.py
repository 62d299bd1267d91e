"""Value types of the data layer: :class:`Dataset`, :class:`DatasetMeta`, :class:`DatasetInfo`.

All three are frozen dataclasses. A :class:`Dataset` holds in-memory tensors only; there is no lazy
loading and no per-sample Python object, so indexing with an index tensor is the way to batch it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Dataset", "DatasetInfo", "DatasetMeta", "channel_stats"]


@dataclass(frozen=True)
class DatasetMeta:
    """What a dataset is and where it came from.

    Attributes:
        name: registry name, e.g. ``"fashion-mnist"`` (for ``synthetic`` the full name with options).
        split: ``"train"`` or ``"test"``.
        classes: class names, index = label.
        shape: ``(C, H, W)`` of one sample.
        mean: per-channel mean of the pixels of the *full training split* (pixels in [0, 1]),
            independent of ``split`` and of any subset.
        std: per-channel population standard deviation, same population as ``mean``.
        source: file or folder the data was read from, or ``"generated:<how>"``.
    """

    name: str
    split: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(classes)``)."""
        return len(self.classes)


@dataclass(frozen=True)
class Dataset:
    """In-memory images and labels.

    Attributes:
        images: ``(N, C, H, W)`` float32, pixels in [0, 1].
        labels: ``(N,)`` int64 in ``[0, meta.num_classes)``.
        meta: description, see :class:`DatasetMeta`.
    """

    images: torch.Tensor
    labels: torch.Tensor
    meta: DatasetMeta

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class DatasetInfo:
    """One line of ``hessianlab datasets``.

    Attributes:
        name: registry name.
        available: True when :func:`load_dataset` would find (or generate) the data without download.
        where: folder/file it would be read from, or ``"generated:<how>"``; ``""`` when not found.
        note: one line for the user (how to get it when missing, the format found otherwise).
    """

    name: str
    available: bool
    where: str
    note: str


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of ``images`` shaped ``(N, C, H, W)``, pixels in [0, 1].

    ``uint8`` input is interpreted as ``value / 255`` and reduced exactly through a 256-bin histogram
    per channel (no float copy of the data); float input is reduced in float64.
    """
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {images.shape}")
    means: list[float] = []
    stds: list[float] = []
    levels = np.arange(256, dtype=np.float64) / 255.0
    for c in range(images.shape[1]):
        channel = images[:, c]
        if images.dtype == np.uint8:
            counts = np.bincount(channel.reshape(-1), minlength=256).astype(np.float64)
            total = counts.sum()
            mean = float((counts * levels).sum() / total)
            var = float((counts * (levels - mean) ** 2).sum() / total)
        else:
            flat = channel.reshape(-1).astype(np.float64)
            mean = float(flat.mean())
            var = float(flat.var())
        means.append(mean)
        stds.append(var**0.5)
    return tuple(means), tuple(stds)

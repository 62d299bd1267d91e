"""Counting SGD updates from a per-epoch batch-size trajectory.

An epoch is one pass over ``dataset_size`` samples in batches of its batch size; the last batch is smaller
unless ``drop_last`` (the trainer of this package keeps it, as does a PyTorch ``DataLoader`` by default).
ImageNet's 1,281,167 training images at batch 256 give ``ceil(1281167 / 256) = 5005`` updates per epoch
and 450,450 in 90 epochs: the count behind ABSA Table 3's 16666 s for BL (450,450 · 0.037 s).
"""

from __future__ import annotations

from collections.abc import Sequence

from hessianlab.errors import ConfigError

__all__ = ["count_updates", "step_schedule", "updates_per_epoch"]


def _positive(what: str, value: int) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")


def updates_per_epoch(dataset_size: int, batch_size: int, *, drop_last: bool = False) -> int:
    """Updates in one pass over ``dataset_size`` samples at ``batch_size``."""
    _positive("dataset size", dataset_size)
    _positive("batch size", batch_size)
    full, rest = divmod(dataset_size, batch_size)
    return full + (1 if rest and not drop_last else 0)


def count_updates(dataset_size: int, batch_sizes: Sequence[int], *, drop_last: bool = False) -> int:
    """Total updates of a run whose epoch ``e`` uses ``batch_sizes[e]``."""
    return sum(updates_per_epoch(dataset_size, b, drop_last=drop_last) for b in batch_sizes)


def step_schedule(base: int, epochs: int, milestones: Sequence[int] = (), factor: int = 1) -> list[int]:
    """Per-epoch batch sizes: ``base``, multiplied by ``factor`` at each 0-based epoch in ``milestones``.

    Example: GG of ABSA (×10 at epochs 30, 60, 80 of 90) is ``step_schedule(256, 90, (30, 60, 80), 10)``.
    """
    _positive("base batch size", base)
    _positive("epochs", epochs)
    _positive("factor", factor)
    if any(not (isinstance(m, int) and 0 < m < epochs) for m in milestones):
        raise ConfigError(f"milestones must be epochs in (0, {epochs}), got {list(milestones)}")
    return [base * factor ** sum(1 for m in milestones if e >= m) for e in range(epochs)]

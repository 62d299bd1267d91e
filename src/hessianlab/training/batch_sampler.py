"""A DataLoader ``batch_sampler`` whose batch size follows an adaptive rule (ABS / ABSA) batch by batch.

``DataLoader(dataset, batch_sampler=AdaptiveBatchSampler(abs_, len(dataset), seed=0))`` serves batches of
``abs_.batch_size`` samples, read again before every batch, so a decision taken after an update applies
from the next batch on, mid-epoch included. Each epoch is one pass over a permutation of ``range(N)``:
with ``shuffle=True`` exactly the permutation :class:`hessianlab.data.BatchIterator` draws for the same
``(seed, epoch)`` (the trainer's order), so a plain loop and hessianlab's trainer see the same batches.
Call :meth:`AdaptiveBatchSampler.set_epoch` before each epoch, as with ``DistributedSampler``; without it
every pass uses the current epoch's order.

DataLoader workers fetch ahead: with ``num_workers > 0`` the batches already requested keep the size they
had when requested (``prefetch_factor`` batches per worker). With the default ``num_workers=0`` every batch
has the size decided before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

from hessianlab.data import BatchIterator
from hessianlab.errors import ConfigError

__all__ = ["AdaptiveBatchSampler"]


class AdaptiveBatchSampler(Sampler[list[int]]):
    """Batches of indices sized by ``source.batch_size`` at each batch (see the module docstring).

    Args:
        source: anything with an int ``batch_size`` attribute, e.g.
            :class:`~hessianlab.training.adaptive_batch.AdaptiveBatchSize`.
        num_samples: ``N``, the dataset length.
        shuffle: a seeded permutation per epoch (else ``0..N-1``).
        seed: seed of the permutations (the trainer's ``seed`` gives the trainer's order).
        drop_last: end an epoch when fewer than the current batch size samples remain.
    """

    def __init__(self, source: Any, num_samples: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"AdaptiveBatchSampler: num_samples must be a positive int, got {num_samples!r}")
        if not isinstance(getattr(source, "batch_size", None), int):
            raise ConfigError("AdaptiveBatchSampler: source needs an int batch_size attribute "
                              "(pass an AdaptiveBatchSize)")
        self.source, self.num_samples, self.drop_last = source, num_samples, drop_last
        self.epoch = 0
        index = torch.arange(num_samples)
        self._order = BatchIterator((index, index), batch_size=1, shuffle=shuffle, seed=seed)

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` (0-based) for the next pass."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order.permutation(self.epoch).tolist()
        position = 0
        while position < self.num_samples:
            size = int(self.source.batch_size)
            if self.drop_last and self.num_samples - position < size:
                return
            yield order[position:position + size]
            position += size

    def __len__(self) -> int:
        """Batches left in a pass at the *current* batch size (an estimate when the size changes)."""
        size = int(self.source.batch_size)
        return self.num_samples // size if self.drop_last else -(-self.num_samples // size)

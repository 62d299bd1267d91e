"""Mini-batches over in-memory tensors, with a batch size that may change at any batch.

Semantics (the contract a trainer relies on):

* ``it = BatchIterator(data, batch_size=B, shuffle=True, seed=s)``; ``ep = it.epoch(e)`` is one pass over a
  permutation of ``range(N)``. With ``shuffle=True`` the permutation is ``torch.randperm(N)`` drawn from a
  ``torch.Generator`` seeded by a hash of ``(s, e)``: the same ``(s, e)`` always gives the same order, and
  different epochs give different orders. With ``shuffle=False`` it is ``0..N-1``.
* Iterating ``ep`` yields ``(x, y)``: ``x = images[perm[p:p+b]]`` (augmented if asked), ``y = labels[...]``
  where ``p = ep.position`` (samples already consumed in this epoch) and ``b = min(ep.batch_size, N - p)``.
  After the batch, ``ep.position == p + b``.
* ``ep.batch_size`` may be assigned at any time (or passed to ``ep.next_batch(size)``); it applies from the
  next batch on. Every sample appears exactly once per epoch whatever the sequence of batch sizes; the last
  batch is shorter unless ``drop_last=True``, in which case an epoch stops as soon as fewer than
  ``ep.batch_size`` samples remain (those samples are skipped this epoch).
* Resume: ``it.epoch(e, start=p)`` continues epoch ``e`` after its first ``p`` samples; with the same batch
  sizes it yields exactly the batches the uninterrupted epoch would have yielded from there on, including
  the augmentation, whose generator for a batch is seeded by a hash of ``(s, e, p)`` (the batch's start).
* ``augment`` is a callable ``augment(x, generator=g) -> x'`` (e.g. :func:`hessianlab.data.augment`);
  the data tensors are never modified. Batches live on the device of the data.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator

import torch

from hessianlab.data.types import Dataset
from hessianlab.errors import ConfigError

__all__ = ["BatchIterator", "Epoch", "derive_seed"]

Augment = Callable[..., torch.Tensor]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers, stable across processes and platforms (BLAKE2b of the int64s)."""
    payload = struct.pack(f"<{len(parts)}q", *(int(p) for p in parts))
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little") >> 1


class Epoch:
    """One pass over a permutation; an iterator of ``(x, y)`` batches. Build it with :meth:`BatchIterator.epoch`.

    Attributes:
        epoch: epoch index.
        batch_size: size of the next batch (settable).
        position: samples of this epoch consumed so far (``start`` included).
        permutation: ``(N,)`` int64 order of the samples.
    """

    _SALT_AUG = 0xA5

    def __init__(self, owner: BatchIterator, epoch: int, permutation: torch.Tensor, start: int, batch_size: int):
        self._owner = owner
        self.epoch = epoch
        self.permutation = permutation
        self.position = start
        self.batch_size = batch_size

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ConfigError(f"batch size must be a positive integer, got {value!r}")
        self._batch_size = int(value)

    @property
    def num_samples(self) -> int:
        """N, the size of the dataset."""
        return int(self.permutation.shape[0])

    @property
    def remaining(self) -> int:
        """Samples not yet consumed in this epoch."""
        return self.num_samples - self.position

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        remaining = self.remaining
        if remaining <= 0 or (self._owner.drop_last and remaining < self._batch_size):
            raise StopIteration
        start = self.position
        size = min(self._batch_size, remaining)
        index = self.permutation[start: start + size]
        self.position = start + size
        owner = self._owner
        x, y = owner.images[index], owner.labels[index]
        if owner.augment is not None:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(derive_seed(owner.seed, self.epoch, start, self._SALT_AUG))
            x = owner.augment(x, generator=gen)
        return x, y

    def next_batch(self, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Set the batch size (if given) and return the next batch; StopIteration at the end of the epoch."""
        if size is not None:
            self.batch_size = size
        return next(self)


class BatchIterator:
    """Seeded mini-batches over in-memory ``(images, labels)``; see the module docstring for the contract.

    Args:
        data: a :class:`Dataset` or a pair ``(inputs (N, ...), targets (N, ...))``.
        batch_size: default batch size of a new epoch.
        shuffle: draw a permutation per epoch (else sequential order).
        seed: seed of the permutations and of the augmentation.
        augment: optional ``augment(x, generator=g) -> x'``.
        drop_last: stop an epoch when fewer than ``batch_size`` samples remain.
    """

    _SALT_PERM = 0x5E

    def __init__(self, data: Dataset | tuple[torch.Tensor, torch.Tensor], *, batch_size: int, shuffle: bool = True,
                 seed: int = 0, augment: Augment | None = None, drop_last: bool = False):
        images, labels = (data.images, data.labels) if isinstance(data, Dataset) else data
        if images.shape[0] != labels.shape[0]:
            raise ConfigError(f"BatchIterator: {images.shape[0]} inputs but {labels.shape[0]} targets")
        if images.shape[0] < 1:
            raise ConfigError("BatchIterator: the data is empty")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")
        self.images, self.labels = images, labels
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.augment = augment
        self.drop_last = drop_last

    def __len__(self) -> int:
        """N, the number of samples."""
        return int(self.labels.shape[0])

    def batches_per_epoch(self, batch_size: int | None = None) -> int:
        """Batches in an epoch at a constant ``batch_size`` (default: this iterator's)."""
        b = batch_size or self.batch_size
        return len(self) // b if self.drop_last else -(-len(self) // b)

    def permutation(self, epoch: int) -> torch.Tensor:
        """``(N,)`` int64 sample order of ``epoch``, on the data's device."""
        n = len(self)
        if not self.shuffle:
            return torch.arange(n, device=self.images.device)
        gen = torch.Generator().manual_seed(derive_seed(self.seed, epoch, self._SALT_PERM))
        return torch.randperm(n, generator=gen).to(self.images.device)

    def epoch(self, epoch: int, *, start: int = 0, batch_size: int | None = None) -> Epoch:
        """An :class:`Epoch` iterator for ``epoch``, skipping its first ``start`` samples.

        Args:
            epoch: epoch index (``>= 0``), selects the permutation.
            start: samples already consumed (a checkpoint's ``Epoch.position``), ``0 <= start <= N``.
            batch_size: batch size of the first batch (default: this iterator's ``batch_size``).
        """
        if not 0 <= start <= len(self):
            raise ConfigError(f"resume offset {start} is outside 0..{len(self)}")
        return Epoch(self, int(epoch), self.permutation(epoch), int(start), batch_size or self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shorthand for ``iter(self.epoch(0))``."""
        return self.epoch(0)

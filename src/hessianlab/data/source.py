"""One data notion for every analysis: in-memory tensors, a Dataset, or any re-iterable of batches.

:func:`as_batches` turns what a user has into a :class:`BatchSource`, a re-iterable of
``(batch, weight)`` pairs with exact weights ``n_b / N``, so that ``Σ_b weight_b · mean_loss(batch_b)`` is
the mean loss over exactly the ``N`` chosen samples, whatever the batch sizes (the last batch included).

Accepted ``data``:

* ``(x, y)``: two tensors with the same first dimension ``N`` (a tuple or a list of exactly two tensors),
  or an object with ``.images`` / ``.labels`` (a :class:`hessianlab.data.Dataset`). Sub-sampling
  (``samples=int`` seeded, or explicit indices) and ``chunk_size`` apply; batches are slices.
* A re-iterable of batches: a ``torch.utils.data.DataLoader``, a list of batches, any object whose
  ``iter()`` returns a fresh iterator each time, or a zero-argument callable returning a fresh iterator
  (e.g. ``lambda: make_batches(...)``). ``N`` is counted in one pass at construction. Batches are
  ``(x, y)`` tensor pairs (a DataLoader's ``[x, y]`` lists included); with ``structured=True`` (a closure
  loss, :class:`hessianlab.curvature.BatchLoss`) any nesting of tuples, lists and dicts whose first tensor
  leaf has the batch dimension (its length is ``n_b``). ``chunk_size`` splits each ``(x, y)`` batch further.
  ``samples`` must be ``'all'``: sub-sample by passing a loader over the subset
  (``torch.utils.data.Subset``), so that the chosen samples never depend on the loader's order.

Refused with one :class:`ConfigError` line: a one-shot iterator or generator object (it cannot be
iterated twice), a loader with no samples, non-tensor batches without ``structured=True``, a map-style
``torch.utils.data.Dataset`` (wrap it in a DataLoader), and randomness, see
:mod:`hessianlab.data.determinism`: random transforms found on the loader's dataset and samplers drawing
with replacement are refused at construction, and every later pass must see exactly the samples of the
first one (shuffled order and other batch sizes allowed), else the pass raises.

Batches are moved to ``device`` one at a time; floating tensors are cast to ``dtype`` (integer targets keep
their type). Peak memory is one batch (plus what the caller computes on it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

from hessianlab.data.determinism import Fingerprint, check_loader_static, leading_size, tensor_leaves
from hessianlab.errors import ConfigError

__all__ = ["BatchSource", "Samples", "as_batches", "move_batch", "resolve_data", "select_samples"]

Samples = str | int | Sequence[int] | torch.Tensor


def resolve_data(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a pair of tensors or from an object with ``.images`` / ``.labels``; checks ``N``."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise ConfigError("data must be (x, y) tensors or a Dataset with .images and .labels")
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or x.shape[0] != y.shape[0]:
        raise ConfigError("data x and y must be tensors with the same first dimension N")
    if x.shape[0] == 0:
        raise ConfigError("data is empty; pass at least one sample")
    return x, y


def select_samples(n_total: int, samples: Samples, seed: int) -> torch.Tensor | None:
    """Sorted sample indices, or ``None`` for all ``n_total`` samples.

    ``int``: a random subset of that size without replacement, drawn from ``torch.Generator`` seeded
    with ``seed``; a sequence/tensor: explicit distinct indices in ``[0, n_total)``.
    """
    if isinstance(samples, str):
        if samples != "all":
            raise ConfigError(f"samples must be 'all', an int or indices, got {samples!r}")
        return None
    if isinstance(samples, int) and not isinstance(samples, bool):
        if not 1 <= samples <= n_total:
            raise ConfigError(f"samples={samples} must be in [1, {n_total}] (the dataset size)")
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randperm(n_total, generator=gen)[:samples].sort().values
    idx = torch.as_tensor(samples, dtype=torch.long).reshape(-1)
    if idx.numel() == 0 or idx.min() < 0 or idx.max() >= n_total:
        raise ConfigError(f"sample indices must be non-empty and within [0, {n_total})")
    if idx.unique().numel() != idx.numel():
        raise ConfigError("sample indices contain duplicates; pass distinct indices")
    return idx


def move_batch(batch: Any, device: torch.device, dtype: torch.dtype | None) -> Any:
    """``batch`` with every tensor on ``device`` and floating tensors cast to ``dtype`` (``None``: kept);
    tuples, lists and dicts are rebuilt, other leaves returned as they are."""
    if isinstance(batch, torch.Tensor):
        if dtype is not None and batch.is_floating_point():
            return batch.to(device, dtype)
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_batch(v, device, dtype) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_batch(v, device, dtype) for v in batch)
    return batch


def _is_tensor_pair(data: Any) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)


class BatchSource:
    """A re-iterable of ``(batch, n_b / N)``; build it with :func:`as_batches`.

    Attributes:
        kind: ``'tensors'`` or ``'loader'``.
        num_samples: ``N``, the number of chosen samples (the denominator of every weight).
        dataset_size: samples in the data before sub-sampling (``N`` for a loader).
        sample_indices: sorted chosen indices ``(N,)`` into in-memory data, or ``None`` (all, or a loader).
        num_batches: batches per pass (after ``chunk_size`` splitting).
        structured: batches may be any nesting (closure losses); else ``(x, y)`` pairs.
    """

    def __init__(self, *, kind: str, num_samples: int, dataset_size: int, num_batches: int,
                 sample_indices: torch.Tensor | None, structured: bool, chunk_size: int | None,
                 device: torch.device, dtype: torch.dtype | None, passes: Callable[[], Iterator[Any]],
                 fingerprint: Fingerprint | None) -> None:
        self.kind = kind
        self.num_samples = num_samples
        self.dataset_size = dataset_size
        self.num_batches = num_batches
        self.sample_indices = sample_indices
        self.structured = structured
        self.chunk_size = chunk_size
        self.device = device
        self.dtype = dtype
        self._passes = passes
        self._fingerprint = fingerprint

    @property
    def settings(self) -> dict[str, Any]:
        """What defines the data (JSON-serialisable)."""
        return {"data": self.kind, "N": self.dataset_size, "samples": self.num_samples, "batches": self.num_batches}

    def raw_batches(self) -> Iterator[Any]:
        """One pass of batches as the data holds them (not moved, not cast), after chunk splitting."""
        for batch in self._passes():
            yield from _split(batch, self.chunk_size, self.structured)

    def __iter__(self) -> Iterator[tuple[Any, float]]:
        """One pass: ``(batch, n_b / N)`` with the batch on ``device`` in ``dtype``. For a loader the pass
        raises :class:`ConfigError` at its end when it did not see exactly the first pass's samples."""
        check = self._fingerprint.start() if self._fingerprint is not None else None
        for batch in self.raw_batches():
            n = leading_size(batch)
            if n == 0:
                continue
            if check is not None:
                check.add(batch)
            yield move_batch(batch, self.device, self.dtype), n / self.num_samples
        if check is not None:
            check.finish()


def _split(batch: Any, chunk_size: int | None, structured: bool) -> Iterator[Any]:
    if chunk_size is None or structured:
        yield batch
        return
    x, y = batch
    for start in range(0, x.shape[0], chunk_size):
        yield x[start:start + chunk_size], y[start:start + chunk_size]


def as_batches(
    data: Any,
    *,
    samples: Samples = "all",
    seed: int = 0,
    chunk_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    structured: bool = False,
) -> BatchSource:
    """The :class:`BatchSource` of ``data`` (see the module docstring for what is accepted and refused).

    Args:
        samples: ``'all'``, a seeded random number of samples, or explicit indices (in-memory data only).
        seed: seed of ``samples=int``.
        chunk_size: at most this many samples per batch (``None``: in-memory data is one batch, a loader's
            batches are kept).
        device: where batches go.
        dtype: the floating dtype floating tensors of a batch get (``None``: unchanged).
        structured: accept any batch structure (for closure losses ``loss_fn(model, batch)``).
    """
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1):
        raise ConfigError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    device = torch.device(device)
    if _is_tensor_pair(data) or (hasattr(data, "images") and hasattr(data, "labels")):
        return _tensor_source(data, samples, seed, chunk_size, device, dtype, structured)
    passes = _pass_factory(data)
    if not (isinstance(samples, str) and samples == "all"):
        raise ConfigError("samples= selects from in-memory tensors; for a loader pass samples='all' and a loader "
                          "over the subset (torch.utils.data.Subset)")
    check_loader_static(data)
    fingerprint = Fingerprint()
    check = fingerprint.start()
    count = batches = 0
    for raw in passes():
        _check_batch(raw, structured)
        for batch in _split(raw, chunk_size, structured):
            n = leading_size(batch)
            if n:
                check.add(batch)
                count += n
                batches += 1
    if count == 0:
        raise ConfigError("the loader yielded no samples; pass a loader over a non-empty dataset")
    fingerprint.reference = check.values()
    return BatchSource(kind="loader", num_samples=count, dataset_size=count, num_batches=batches,
                       sample_indices=None, structured=structured, chunk_size=chunk_size, device=device,
                       dtype=dtype, passes=passes, fingerprint=fingerprint)


def _tensor_source(data: Any, samples: Samples, seed: int, chunk_size: int | None, device: torch.device,
                   dtype: torch.dtype | None, structured: bool) -> BatchSource:
    x, y = resolve_data(data)
    idx = select_samples(x.shape[0], samples, seed)
    n = x.shape[0] if idx is None else int(idx.numel())
    step = n if chunk_size is None else min(chunk_size, n)

    def passes() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, n, step):
            if idx is None:
                yield x[start:start + step], y[start:start + step]
            else:
                sel = idx[start:start + step]
                yield x[sel], y[sel]

    return BatchSource(kind="tensors", num_samples=n, dataset_size=int(x.shape[0]), num_batches=-(-n // step),
                       sample_indices=idx, structured=structured, chunk_size=None, device=device, dtype=dtype,
                       passes=passes, fingerprint=None)


def _pass_factory(data: Any) -> Callable[[], Iterator[Any]]:
    """A function starting a fresh pass over ``data``; refuses what cannot be iterated twice."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        raise ConfigError("a map-style torch Dataset yields samples, not batches; wrap it: "
                          "DataLoader(dataset, batch_size=...)")
    if isinstance(data, Iterator):
        raise ConfigError(f"data is a one-shot {type(data).__name__} (it can be iterated only once); pass a "
                          "DataLoader, a list of batches or a function returning a fresh iterator")
    if isinstance(data, Iterable):
        return lambda: iter(data)
    if callable(data):
        def fresh() -> Iterator[Any]:
            it = data()
            if not isinstance(it, Iterable):
                raise ConfigError(f"the data function returned a {type(it).__name__}, not an iterator of batches")
            return iter(it)
        return fresh
    raise ConfigError(f"data of type {type(data).__name__} is not supported; pass (x, y) tensors, a Dataset, a "
                      "DataLoader or a function returning an iterator of (x, y) batches")


def _check_batch(batch: Any, structured: bool) -> None:
    if structured:
        if not tensor_leaves(batch):
            raise ConfigError(f"a batch of type {type(batch).__name__} holds no tensor; the loss closure needs "
                              "tensors whose first dimension is the batch")
        return
    if not (_is_tensor_pair(batch) and batch[0].shape[0] == batch[1].shape[0]):
        raise ConfigError(f"the loader yielded a {type(batch).__name__}, not an (x, y) pair of tensors with the same "
                          "first dimension; fix the loader, or pass loss_fn=BatchLoss(fn) with fn(model, batch)")

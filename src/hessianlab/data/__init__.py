"""Datasets as in-memory tensors with pixels in [0, 1], subsets, augmentation and mini-batches.

Public API::

    load_dataset(name, split, *, subset=None, seed=0, root=None, download=False) -> Dataset
    available_datasets(root=None) -> list[DatasetInfo]
    resolve_default_dataset(root=None) -> tuple[str, str | None]
    stratified_subset(labels, n, seed) -> LongTensor (sorted indices)
    augment(images, *, crop_padding=4, flip=True, generator) -> Tensor
    BatchIterator(data, *, batch_size, shuffle=True, seed=0, augment=None, drop_last=False)
    make_synthetic(n, shape=(1, 8, 8), num_classes=10, seed=0, *, noise=0.2, centers_seed=None)
    download_dataset(name, root=None, *, sources=None) -> Path
    as_batches(data, *, samples, seed, chunk_size, device, dtype, structured) -> BatchSource
        one data notion for analyses: tensors, a Dataset or a re-iterable of batches (DataLoader),
        yielding (batch, n_b / N) one batch at a time (see hessianlab.data.source / .determinism)

See :mod:`hessianlab.data.registry` for where files are looked up and :mod:`hessianlab.data.loader` for
the batching contract.
"""

from hessianlab.data.augment import augment, translate
from hessianlab.data.download import SOURCES, RemoteFile, default_root, download_dataset
from hessianlab.data.generated import make_synthetic
from hessianlab.data.loader import BatchIterator, Epoch
from hessianlab.data.registry import (
    DATASET_NAMES,
    DEFAULT_DATASET,
    FALLBACK_DATASET,
    available_datasets,
    load_dataset,
    locate,
    resolve_default_dataset,
)
from hessianlab.data.source import BatchSource, as_batches
from hessianlab.data.subset import stratified_subset
from hessianlab.data.types import Dataset, DatasetInfo, DatasetMeta

__all__ = [
    "DATASET_NAMES", "DEFAULT_DATASET", "FALLBACK_DATASET", "SOURCES", "BatchIterator", "BatchSource", "Dataset", "DatasetInfo",
    "DatasetMeta", "Epoch", "RemoteFile", "as_batches", "augment", "available_datasets", "default_root", "download_dataset",
    "load_dataset", "locate", "make_synthetic", "resolve_default_dataset", "stratified_subset", "translate",
]

"""What :func:`hessianlab.data.as_batches` checks so that an operator over a loader is not random.

A curvature operator is a fixed matrix only if every pass over the data sees the same samples. Two checks:

1. **At construction** (:func:`check_loader_static`), on a ``torch.utils.data.DataLoader``: its dataset
   (followed through ``Subset`` / ``ConcatDataset`` wrappers) must not carry a random transform in
   ``transform`` / ``transforms`` / ``target_transform`` (recursively into ``Compose``-like ``.transforms``
   lists): a transform whose class name starts with ``Random`` or is one of :data:`RANDOM_TRANSFORMS`
   (torchvision's random augmentations) is refused. Its sampler must not draw with replacement
   (``replacement=True``), and ``drop_last=True`` together with a random sampler is refused (each pass
   would drop other samples).
2. **On every pass** (:class:`Fingerprint`): an order-independent fingerprint of the multiset of samples,
   ``Σ_i (cos(W x_i), sin(W x_i))`` over all samples ``i`` in float64, where ``x_i`` concatenates every
   tensor leaf of sample ``i`` (targets included) and ``W`` is a fixed random ``(4, D)`` projection. It does
   not depend on the order or the batch sizes, so shuffling passes, and it changes when any sample changes
   (a random crop, flip or noise), so random augmentation the static check cannot see is caught at the end
   of the first pass that differs from the construction pass, which raises :class:`ConfigError`. Samples
   count as equal to ``1e-9 · N`` (summation-order rounding is far below that).
"""

from __future__ import annotations

from typing import Any

import torch

from hessianlab.errors import ConfigError

__all__ = ["RANDOM_TRANSFORMS", "Fingerprint", "check_loader_static", "leading_size", "tensor_leaves"]

RANDOM_TRANSFORMS = frozenset({
    "ColorJitter", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "GaussianBlur",
    "ElasticTransform", "ScaleJitter",
})


def tensor_leaves(batch: Any) -> list[torch.Tensor]:
    """Tensors of a nested tuple / list / dict batch, depth first in order (dict insertion order)."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        return [t for v in batch.values() for t in tensor_leaves(v)]
    if isinstance(batch, (tuple, list)):
        return [t for v in batch for t in tensor_leaves(v)]
    return []


def leading_size(batch: Any) -> int:
    """``n_b``: the first dimension of the batch's first tensor leaf."""
    leaves = tensor_leaves(batch)
    if not leaves or leaves[0].dim() == 0:
        raise ConfigError("a batch must hold a tensor whose first dimension is the batch size")
    return int(leaves[0].shape[0])


def _random_transform(transform: Any, depth: int = 0) -> str | None:
    if transform is None or depth > 8:
        return None
    name = type(transform).__name__
    if name.startswith("Random") or name in RANDOM_TRANSFORMS:
        return name
    inner = getattr(transform, "transforms", None)
    if isinstance(inner, (list, tuple)):
        for t in inner:
            found = _random_transform(t, depth + 1)
            if found:
                return found
    return None


def _datasets(dataset: Any, depth: int = 0) -> list[Any]:
    """The dataset and the ones it wraps (``Subset.dataset``, ``ConcatDataset.datasets``)."""
    if dataset is None or depth > 8:
        return []
    out = [dataset]
    out += _datasets(getattr(dataset, "dataset", None), depth + 1)
    for inner in getattr(dataset, "datasets", None) or []:
        out += _datasets(inner, depth + 1)
    return out


def check_loader_static(loader: Any) -> None:
    """Refuse a DataLoader whose dataset has a random transform or whose sampler is random in content."""
    if not isinstance(loader, torch.utils.data.DataLoader):
        return
    for ds in _datasets(loader.dataset):
        for attr in ("transform", "transforms", "target_transform"):
            found = _random_transform(getattr(ds, attr, None))
            if found:
                raise ConfigError(f"the loader's dataset applies the random transform {found}, so every curvature "
                                  "product would see other data; build the loader without augmentation")
    sampler = loader.batch_sampler.sampler if loader.batch_sampler is not None else loader.sampler
    if getattr(sampler, "replacement", False):
        raise ConfigError("the loader's sampler draws with replacement, so each pass sees other samples; use a "
                          "sampler without replacement (e.g. shuffle=True or a SequentialSampler)")
    if loader.drop_last and isinstance(sampler, torch.utils.data.RandomSampler):
        raise ConfigError("drop_last=True with shuffle=True drops other samples on each pass; use drop_last=False")


class Fingerprint:
    """Order-independent fingerprint of the samples of a pass (see the module docstring).

    ``start()`` returns a :class:`_Pass` that accumulates batches; ``reference`` is the first pass's
    ``(8,)`` value, against which :meth:`_Pass.finish` checks every later pass.
    """

    def __init__(self, width: int = 4, seed: int = 0x5EED) -> None:
        self.width = width
        self.seed = seed
        self.reference: torch.Tensor | None = None
        self._proj: dict[tuple[int, str], torch.Tensor] = {}

    def projection(self, dim: int, device: torch.device) -> torch.Tensor:
        """The fixed ``(dim, width)`` float64 projection for samples of ``dim`` features, on ``device``."""
        key = (dim, str(device))
        if key not in self._proj:
            gen = torch.Generator().manual_seed(self.seed + dim)
            w = torch.randn(dim, self.width, generator=gen, dtype=torch.float64) / max(dim, 1) ** 0.5
            self._proj[key] = w.to(device)
        return self._proj[key]

    def start(self) -> "_Pass":
        return _Pass(self)


class _Pass:
    def __init__(self, owner: Fingerprint) -> None:
        self.owner = owner
        self.total = torch.zeros(2 * owner.width, dtype=torch.float64)
        self.count = 0

    def add(self, batch: Any) -> None:
        """Accumulate one batch (``n_b`` samples: every leaf with that first dimension is part of them)."""
        n = leading_size(batch)
        leaves = [t for t in tensor_leaves(batch) if t.dim() > 0 and t.shape[0] == n]
        device = leaves[0].device
        flat = torch.cat([t.detach().reshape(n, -1).to(device, torch.float64) for t in leaves], dim=1)
        z = flat @ self.owner.projection(flat.shape[1], device)
        self.total += torch.cat([z.cos().sum(0), z.sin().sum(0)]).cpu()
        self.count += n

    def values(self) -> torch.Tensor:
        return torch.cat([self.total, torch.tensor([float(self.count)], dtype=torch.float64)])

    def finish(self) -> None:
        """Raise :class:`ConfigError` when this pass saw other samples than the reference pass."""
        ref = self.owner.reference
        if ref is None:
            return
        now = self.values()
        if now[-1] != ref[-1] or (now - ref).abs().max() > 1e-9 * float(ref[-1]):
            raise ConfigError("the loader yielded other samples than on its first pass (random augmentation, "
                              "random sampling or changing data), so curvature products would be random; "
                              "use a deterministic loader without augmentation")

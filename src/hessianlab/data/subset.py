"""Seeded stratified subsets.

:func:`stratified_subset` picks ``n`` of ``N`` indices so that each class keeps its share of the data:
class ``k`` with ``c_k`` samples gets ``floor(n * c_k / N)`` indices plus one for the classes with the
largest fractional remainders (ties: smaller class label first) until the total is ``n``. Within a class
the indices are drawn uniformly without replacement by ``torch.randperm`` from a ``torch.Generator``
seeded with ``seed``, classes visited in increasing label order. Same labels, ``n`` and ``seed`` give the
same indices on every platform.
"""

from __future__ import annotations

import torch

from hessianlab.errors import ConfigError

__all__ = ["class_quotas", "stratified_subset"]


def class_quotas(counts: torch.Tensor, n: int) -> torch.Tensor:
    """Largest-remainder allocation of ``n`` over classes of sizes ``counts`` (int64, one per class)."""
    counts = counts.to(torch.int64)
    total = int(counts.sum())
    # integer arithmetic for the floors and remainders, so no float rounding decides a tie
    floors = (counts * n) // total
    remainders = (counts * n) - floors * total
    short = n - int(floors.sum())
    if short > 0:
        # stable sort by remainder descending: ties go to the smaller label
        order = torch.sort(-remainders, stable=True).indices
        floors[order[:short]] += 1
    return floors


def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a stratified random subset of size ``n``.

    Args:
        labels: ``(N,)`` integer class labels (any non-negative values).
        n: subset size, ``1 <= n <= N``.
        seed: seed of the draw.

    Returns:
        ``(n,)`` int64 indices into ``labels``, sorted increasingly.

    Raises:
        ConfigError: when ``n`` is not in ``[1, N]``.
    """
    labels = torch.as_tensor(labels).reshape(-1).to("cpu", torch.int64)
    total = int(labels.shape[0])
    if isinstance(n, bool) or int(n) != n or not 1 <= n <= total:
        raise ConfigError(f"subset size {n} is impossible for a split of {total} samples; "
                          f"choose 1 <= subset <= {total}")
    n = int(n)
    if n == total:
        return torch.arange(total, dtype=torch.int64)
    values, inverse, counts = torch.unique(labels, sorted=True, return_inverse=True, return_counts=True)
    quotas = class_quotas(counts, n)
    order = torch.argsort(inverse, stable=True)  # indices grouped by class, increasing within a class
    starts = torch.cumsum(counts, 0) - counts
    generator = torch.Generator().manual_seed(int(seed))
    picked = []
    for k in range(values.shape[0]):
        members = order[int(starts[k]): int(starts[k]) + int(counts[k])]
        perm = torch.randperm(int(counts[k]), generator=generator)
        picked.append(members[perm[: int(quotas[k])]])
    return torch.sort(torch.cat(picked)).values

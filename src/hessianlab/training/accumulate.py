"""Gradient accumulation: the gradient of one logical batch computed in micro-batches.

For a logical batch of ``n`` samples split into micro-batches of ``n_i <= max_physical`` samples (in order),
:func:`accumulate_gradients` back-propagates ``(n_i / n) * mean-loss_i`` of each, so the accumulated ``.grad``
is the gradient of the mean loss over the whole batch, ``(1/n) Σ_j ∇ loss_j``, up to floating-point rounding
— *for models without BatchNorm*. With BatchNorm in train mode each micro-batch is normalised with its own
statistics (and updates the running statistics once per micro-batch), so the result is the gradient of a
different function; Dropout draws its masks per micro-batch (still seeded, still exact in distribution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def micro_batches(n: int, max_physical: int | None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in order with at most ``max_physical`` samples each
    (one slice when ``max_physical`` is ``None`` or ``>= n``)."""
    step = n if max_physical is None else max_physical
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def accumulate_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, max_physical: int | None) -> float:
    """Add the gradient of the mean cross-entropy over ``(x, y)`` (``(n, ...)``, ``(n,)``) to the parameters'
    ``.grad``, in micro-batches of at most ``max_physical`` samples; returns the mean loss (a float, possibly
    non-finite: the caller decides whether to step)."""
    n = x.shape[0]
    slices = micro_batches(n, max_physical)
    if len(slices) == 1:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return float(loss.detach())
    total = 0.0
    for start, stop in slices:
        part = F.cross_entropy(model(x[start:stop]), y[start:stop]) * ((stop - start) / n)
        part.backward()
        total += float(part.detach())
    return total

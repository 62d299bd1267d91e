"""The loss contract of every curvature operator: an output/target loss or a closure over whole batches.

Two kinds of loss, chosen explicitly by type:

* ``loss_fn(output, target) -> scalar``, e.g. ``torch.nn.functional.cross_entropy`` (the default) or
  ``mse_loss`` with float targets, with ``reduction='mean'``: the mean loss over the ``n_b`` samples of a
  batch ``(x, target)``; ``output = model(x)``.
* :class:`BatchLoss` wrapping ``fn(model, batch) -> scalar``: the mean loss over the samples of ``batch``,
  for batches that are not ``(x, y)`` (dicts, several inputs); ``fn`` calls ``model`` itself. The batch
  size ``n_b`` is the first dimension of the batch's first tensor leaf (see
  :func:`hessianlab.data.source.as_batches`).

Either way, operators weight each batch by ``n_b / N``, so the operator is the Hessian of the mean loss over
all ``N`` samples. A loss that returns anything but a 0-dim tensor is refused (:func:`check_scalar`); a sum
over the batch (``reduction='sum'``) cannot be detected and gives ``n_b`` times the intended operator.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from hessianlab.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class BatchLoss:
    """A closure loss ``fn(model, batch) -> scalar mean loss over the batch`` (see the module docstring)."""

    def __init__(self, fn: Callable[[nn.Module, Any], torch.Tensor]) -> None:
        if not callable(fn):
            raise ConfigError(f"BatchLoss needs a callable fn(model, batch), got {type(fn).__name__}")
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self.fn(model, batch)

    def __repr__(self) -> str:
        return f"BatchLoss({self.__name__})"


def check_scalar(value: Any) -> torch.Tensor:
    """``value`` if it is a 0-dim tensor, else :class:`ConfigError` naming the fix."""
    if not isinstance(value, torch.Tensor):
        raise ConfigError(f"the loss returned a {type(value).__name__}, not a tensor; return the mean loss as a "
                          "0-dim tensor")
    if value.dim() != 0:
        raise ConfigError(f"the loss returned a tensor of shape {tuple(value.shape)}, not a scalar; use "
                          "reduction='mean' (the mean over the batch)")
    return value


def loss_name(loss_fn: Any) -> str:
    """A short name of a loss for operator settings."""
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)

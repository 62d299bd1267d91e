"""Full-pass evaluation of loss and accuracy, in eval mode, without touching the caller's state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hessianlab.curvature.modes import model_mode


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy over all samples, in eval mode.

    ``images``: (N, C, H, W) pixels in [0, 1]; ``labels``: (N,) int64. Returns ``(loss, accuracy)`` with the
    loss averaged exactly over the N samples (batches weighted by their size) and accuracy in [0, 1].
    """
    total_loss = torch.zeros((), dtype=torch.float64)
    correct = 0
    with model_mode(model, "eval"):
        for start in range(0, images.shape[0], batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").double()
            correct += int((logits.argmax(dim=1) == y).sum())
    n = images.shape[0]
    return float(total_loss / n), correct / n

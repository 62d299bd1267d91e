"""Full-pass evaluation of loss and accuracy, in eval mode, without touching the caller's state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hessianlab.curvature.modes import model_mode


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy over all samples, in eval mode.

    ``images``: (N, C, H, W) pixels in [0, 1]; ``labels``: (N,) int64, on any device: each batch is moved to
    the model's device. Returns ``(loss, accuracy)`` with the loss averaged exactly over the N samples (batches
    weighted by their size, summed in float64) and accuracy in [0, 1].
    """
    device = next(model.parameters()).device
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with model_mode(model, "eval"):
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device)
            y = labels[start:start + batch_size].to(device)
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").double()
            correct += (logits.argmax(dim=1) == y).sum()
    n = images.shape[0]
    return float(total_loss / n), int(correct) / n

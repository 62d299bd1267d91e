"""Robust accuracy of a model under an attack, for several radii in one call (Yao Tables 1–4, Kamath).

Adversarial examples are generated against ``source_model`` (default: the evaluated model itself,
a white-box attack) and scored on ``model``; a different source gives the transfer setting of Yao et al.
Tables 3–4 (``D_attack`` built on the original model ``M_ORI``, evaluated on each robust model).
Predictions are the argmax of the logits in eval mode (mode restored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from hessianlab.attacks.base import Attack, check_batch
from hessianlab.curvature.modes import model_mode
from hessianlab.data.source import as_batches
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result

__all__ = ["RobustResult", "robust_accuracy"]


class LabelledImages(Protocol):
    """Anything with ``images`` ``(N, *in_shape)`` and ``labels`` ``(N,)`` (e.g. ``hessianlab.data.Dataset``)."""

    images: torch.Tensor
    labels: torch.Tensor


@friendly_result
@dataclass(frozen=True)
class RobustResult:
    """Accuracy under attack for each radius.

    Attributes:
        eps: the radii, pixel units (in the attack's norm).
        accuracy: fraction in ``[0, 1]`` of correctly classified adversarial examples, one per radius.
        clean_accuracy: fraction correct on the unperturbed inputs.
        attack: ``attack.describe()`` (with the first radius; ``eps`` lists them all).
        num_samples: number of evaluated samples.
        transfer: examples were generated on another model than the evaluated one.
        examples: adversarial examples ``(N, *in_shape)`` per radius, if requested.
    """

    eps: tuple[float, ...]
    accuracy: tuple[float, ...]
    clean_accuracy: float
    attack: dict[str, Any]
    num_samples: int
    transfer: bool
    examples: tuple[torch.Tensor, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (without the examples), for ``RunDir.write_result``."""
        return {"eps": list(self.eps), "accuracy": list(self.accuracy), "clean_accuracy": self.clean_accuracy,
                "attack": self.attack, "num_samples": self.num_samples, "transfer": self.transfer}


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)


def _batches(x: Any, y: torch.Tensor | None, batch_size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x_b, y_b)`` on ``device``: slices of in-memory data, or the batches of a loader (split to at most
    ``batch_size``) through :func:`hessianlab.data.source.as_batches`."""
    if y is not None or (hasattr(x, "images") and hasattr(x, "labels")):
        if y is None:
            x, y = x.images, x.labels
        check_batch(x, y)
        for start in range(0, x.shape[0], batch_size):
            yield x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        return
    for (xb, yb), _ in as_batches(x, chunk_size=batch_size, device=device):
        check_batch(xb, yb)
        yield xb, yb


def robust_accuracy(
    model: nn.Module,
    x: torch.Tensor | LabelledImages | Iterable[Any],
    y: torch.Tensor | None,
    attack: Attack,
    eps: Sequence[float] | None = None,
    *,
    batch_size: int = 256,
    source_model: nn.Module | None = None,
    return_examples: bool = False,
) -> RobustResult:
    """Accuracy of ``model`` on ``attack``'s examples for every radius in ``eps`` (default: ``attack.eps``).

    ``x`` is ``(N, *in_shape)`` pixels in ``[0, 1]`` with labels ``y`` ``(N,)``, or (with ``y=None``) a
    dataset-like object with ``.images`` / ``.labels`` or any re-iterable of ``(x, y)`` batches such as a
    DataLoader (shuffled or not; batches larger than ``batch_size`` are split; each goes to the model's device
    in turn). Runs in batches of at most ``batch_size``; each radius uses ``dataclasses.replace(attack, eps=e)``.
    Attacks act per sample, so the accuracies do not depend on the batching, except for attacks that draw
    random starts per batch (``PGD(random_start=True)``). ``examples`` come in the order the batches came.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    radii = (attack.eps,) if eps is None else tuple(float(e) for e in eps)
    attacks = [dataclasses.replace(attack, eps=e) for e in radii]
    source = model if source_model is None else source_model
    correct = [0] * len(radii)
    clean = 0
    examples: list[list[torch.Tensor]] = [[] for _ in radii]
    n = 0
    device = next(model.parameters()).device
    with model_mode(model, "eval"):
        for xb, yb in _batches(x, y, batch_size, device):
            n += xb.shape[0]
            clean += int((_predict(model, xb) == yb).sum())
            for j, adv_attack in enumerate(attacks):
                x_adv = adv_attack(source, xb, yb)
                correct[j] += int((_predict(model, x_adv) == yb).sum())
                if return_examples:
                    examples[j].append(x_adv)
    return RobustResult(
        eps=radii,
        accuracy=tuple(c / max(n, 1) for c in correct),
        clean_accuracy=clean / max(n, 1),
        attack=attacks[0].describe() if attacks else attack.describe(),
        num_samples=n,
        transfer=source is not model,
        examples=tuple(torch.cat(e) for e in examples) if return_examples else None,
    )

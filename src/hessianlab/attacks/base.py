"""The semantics every attack shares, in one place.

* **Pixels.** Inputs ``x`` are ``(N, *in_shape)`` floats in ``[0, 1]``; every output is clipped to
  ``[0, 1]``. The model normalises its own input (``hessianlab.models``), so ``eps`` is in pixel units.
* **Budget.** ``eps`` is the radius of the ball around each sample: L∞ (max over all input entries) or
  L2 (Euclidean norm over *all* input entries of one sample, ``C·H·W`` of them).
* **Loss.** ``L = CrossEntropy(model(x), labels, reduction='sum')``. The *sum* makes the input gradient
  of sample ``i`` equal ``∇_{x_i} ℓ_i``, not ``∇_{x_i} ℓ_i / N``, so L2 steps and Newton directions do
  not depend on the batch size. Sign-based attacks (FGSM, I-FGSM, L∞ PGD, FHSM) are unaffected by any
  positive scaling, so they match libraries that use ``reduction='mean'`` (torchattacks).
* **Labels.** ``y`` are the true labels and the attack *ascends* ``L(y)``. With ``target=`` (targeted
  mode) the attack *descends* ``L(target)`` instead; ``y`` is then only used to score restarts.
* **Model mode.** ``attack(model, x, y)`` runs the model in eval mode and restores every submodule's
  ``.training`` flag afterwards (:func:`hessianlab.curvature.modes.model_mode`). ``attack.perturb`` is
  the same algorithm in whatever mode the caller set (adversarial mixing uses it for BatchNorm in
  train mode).
* **No side effects.** Gradients are taken w.r.t. the input only (``torch.autograd.grad`` /
  ``torch.func``), so parameter ``.grad`` is never touched; inputs are never modified in place;
  everything is batched (no per-sample Python loop).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hessianlab.curvature.modes import model_mode
from hessianlab.errors import ConfigError, DataError

__all__ = ["Attack", "SEMANTICS", "input_gradient", "loss_sum", "loss_sign", "check_batch"]

#: recorded in every ``describe()``: what the numbers in a result mean
SEMANTICS: dict[str, Any] = {
    "pixel_range": [0.0, 1.0],
    "eps_units": "pixels",
    "loss": "cross_entropy",
    "loss_reduction": "sum",
    "model_mode": "eval (restored after)",
}


def loss_sum(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Summed cross-entropy of ``logits`` ``(N, K)`` against ``target`` if given, else ``y``; a scalar."""
    return F.cross_entropy(logits, y if target is None else target, reduction="sum")


def loss_sign(target: torch.Tensor | None) -> float:
    """``+1`` (ascend the loss of the true label) or ``-1`` (descend the loss of the target label)."""
    return 1.0 if target is None else -1.0


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Ascent direction ``±∇_x L`` ``(N, *in_shape)`` of the summed loss, one sample per row.

    Uses ``torch.autograd.grad`` w.r.t. ``x`` only, so parameter ``.grad`` stays untouched.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_sum(model(x), y, target), x)
    return grad if target is None else grad.neg_()


def check_batch(x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> None:
    """Raise :class:`DataError` unless ``x`` is a float batch in ``[0, 1]`` with matching ``(N,)`` labels."""
    if not torch.is_floating_point(x) or x.dim() < 2:
        raise DataError(f"attack inputs must be a float tensor (N, *in_shape), got {x.dtype} of shape {tuple(x.shape)}")
    for name, labels in (("y", y), ("target", target)):
        if labels is not None and (labels.shape != (x.shape[0],) or labels.dtype != torch.int64):
            raise DataError(f"{name} must be int64 of shape ({x.shape[0]},), got {labels.dtype} {tuple(labels.shape)}")
    if x.numel():
        lo, hi = torch.aminmax(x)
        if lo < 0 or hi > 1:
            raise DataError(f"attack inputs must be pixels in [0, 1], got [{lo:.4g}, {hi:.4g}]; pass un-normalised images")


def check_number(owner: str, field: str, value: object, *, low: float, low_open: bool = False, high: float = math.inf) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite real in ``[low, high]`` (``(low, high]`` if open)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high  # type: ignore[operator]
    if not ok:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{owner}.{field} must be a finite number in {bracket}{low}, {high}], got {value!r}")


def check_int(owner: str, field: str, value: object, *, low: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an ``int >= low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{owner}.{field} must be an integer >= {low}, got {value!r}")


def check_choice(owner: str, field: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{owner}.{field} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclass(frozen=True)
class Attack:
    """Base of all attacks: a frozen set of parameters, callable as ``attack(model, x, y) -> x_adv``.

    Attributes:
        eps: radius of the perturbation ball in pixel units (L∞ or L2, see :attr:`norm`), ``>= 0``.
    """

    eps: float
    name: ClassVar[str] = "attack"
    norm: ClassVar[str] = "linf"

    def __post_init__(self) -> None:
        check_number(self.name, "eps", self.eps, low=0.0)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        """The algorithm itself, in the model's current mode; ``x`` ``(N, *in_shape)`` -> same shape."""
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial examples ``(N, *in_shape)`` in ``[0, 1]`` within ``eps`` of ``x`` (eval mode, restored)."""
        check_batch(x, y, target)
        with model_mode(model, "eval"):
            return self.perturb(model, x.detach(), y, target=target)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable parameters and semantics, stored with every result."""
        return {"attack": self.name, "norm": self.norm, **asdict(self), **SEMANTICS}

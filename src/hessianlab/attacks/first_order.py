"""First-order attacks: FGSM, I-FGSM (the paper's FGSM-10), PGD (L∞ / L2), L2GRAD — one loop.

All are instances of projected gradient ascent on the summed cross-entropy (semantics in
:mod:`hessianlab.attacks.base`)::

    x_0     = Π(x + δ_0)                        δ_0 = 0, or a uniform draw from the ball (PGD)
    x_{k+1} = Π(x_k + α · direction(∇_x L(x_k)))   k = 0 .. steps-1

with ``direction`` / ``Π`` / the random start taken from the norm's hooks (:mod:`.norms`), ``Π`` the
projection onto the ``eps``-ball around ``x`` intersected with ``[0, 1]``.

* FGSM (Goodfellow et al. 2015): L∞, one step, ``α = eps``: ``x + eps·sign(∇_x L)``.
* L2GRAD (Yao et al. 2018 §3.1): L2, one step, ``α = eps``: ``x + eps·∇_x L / |∇_x L|_2``.
* I-FGSM / FGSM-10 (Kurakin et al. 2017): L∞, ``steps`` steps of ``α = eps/steps`` by default (the total
  step length equals the budget), no random start.
* PGD (Madry et al. 2018): random start, ``α = 2.5·eps/steps`` by default (the rule of Madry et al.'s
  ``robustness`` library), ``restarts`` independent runs keeping, per sample, the worst case: a
  misclassified (targeted: target-hitting) result beats a correct one, ties go to the higher loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hessianlab.attacks.base import Attack, check_choice, check_int, check_number, input_gradient, loss_sign
from hessianlab.attacks.norms import GEOMETRIES, L2, LINF, Geometry, Projector
from hessianlab.errors import ConfigError

__all__ = ["FGSM", "IFGSM", "PGD", "L2Grad", "ascend"]


def ascend(
    model: nn.Module,
    x_start: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor | None,
    geometry: Geometry,
    project: Projector,
    alpha: float,
    steps: int,
) -> torch.Tensor:
    """Run ``steps`` projected ascent steps of size ``alpha`` from ``x_start`` ``(N, *in_shape)``."""
    x_adv = x_start
    for _ in range(steps):
        step = geometry.direction(input_gradient(model, x_adv, y, target))
        x_adv = project(step.mul_(alpha).add_(x_adv))
    return x_adv


@dataclass(frozen=True)
class FGSM(Attack):
    """Fast Gradient Sign Method: ``clip(x + eps·sign(∇_x L))``; ``eps`` is an L∞ radius."""

    name = "fgsm"

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        return ascend(model, x, y, target, LINF, LINF.projector(x, self.eps), self.eps, 1)


@dataclass(frozen=True)
class L2Grad(Attack):
    """One normalised gradient step: ``clip(x + eps·∇_x L / |∇_x L|_2)``; ``eps`` is an L2 radius."""

    name = "l2grad"
    norm = "l2"

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        return ascend(model, x, y, target, L2, L2.projector(x, self.eps), self.eps, 1)


@dataclass(frozen=True)
class IFGSM(Attack):
    """Iterative FGSM (FGSM-10 with ``steps=10``): ``steps`` sign steps of ``alpha`` (default ``eps/steps``)."""

    steps: int = 10
    alpha: float | None = None
    name = "ifgsm"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.name, "steps", self.steps, low=1)
        if self.alpha is not None:
            check_number(self.name, "alpha", self.alpha, low=0.0, low_open=True)

    @property
    def step_size(self) -> float:
        """The step ``α`` actually used (pixels)."""
        return self.eps / self.steps if self.alpha is None else self.alpha

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        return ascend(model, x, y, target, LINF, LINF.projector(x, self.eps), self.step_size, self.steps)

    def describe(self) -> dict:
        return {**super().describe(), "step_size": self.step_size}


@dataclass(frozen=True)
class PGD(Attack):
    """Projected gradient descent (Madry et al. 2018) in the L∞ or L2 ball, seeded, with restarts.

    Attributes:
        norm: ``'linf'`` or ``'l2'``.
        steps: ascent steps per restart.
        alpha: step size in pixels; ``None`` means ``2.5·eps/steps``.
        random_start: start from a uniform draw in the ball (else from ``x``).
        restarts: independent random starts; the worst case per sample is kept (needs ``random_start``).
        seed: seeds the ``torch.Generator`` of the random starts; the same call gives the same result.
    """

    norm: str = "linf"
    steps: int = 10
    alpha: float | None = None
    random_start: bool = True
    restarts: int = 1
    seed: int = 0
    name = "pgd"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.name, "norm", self.norm, tuple(GEOMETRIES))
        check_int(self.name, "steps", self.steps, low=1)
        check_int(self.name, "restarts", self.restarts, low=1)
        check_int(self.name, "seed", self.seed, low=0)
        if self.alpha is not None:
            check_number(self.name, "alpha", self.alpha, low=0.0, low_open=True)
        if not isinstance(self.random_start, bool):
            raise ConfigError(f"pgd.random_start must be True or False, got {self.random_start!r}")
        if self.restarts > 1 and not self.random_start:
            raise ConfigError(f"pgd.restarts={self.restarts} needs pgd.random_start=True (restarts would be identical)")

    @property
    def step_size(self) -> float:
        """The step ``α`` actually used (pixels)."""
        return 2.5 * self.eps / self.steps if self.alpha is None else self.alpha

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        geometry = GEOMETRIES[self.norm]
        project = geometry.projector(x, self.eps)
        generator = torch.Generator(device=x.device).manual_seed(self.seed)
        best, best_score = x, None
        for _ in range(self.restarts):
            start = project(x + geometry.random_start(x, self.eps, generator)) if self.random_start else x
            x_adv = ascend(model, start, y, target, geometry, project, self.step_size, self.steps)
            if self.restarts == 1:
                return x_adv
            score = _worst_case_score(model, x_adv, y, target)
            if best_score is None:
                best, best_score = x_adv, score
                continue
            better = (score[0] & ~best_score[0]) | ((score[0] == best_score[0]) & (score[1] > best_score[1]))
            best = torch.where(better.view((-1,) + (1,) * (x.dim() - 1)), x_adv, best)
            best_score = (best_score[0] | score[0], torch.where(better, score[1], best_score[1]))
        return best

    def describe(self) -> dict:
        return {**super().describe(), "step_size": self.step_size}


def _worst_case_score(
    model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(success (N,) bool, objective (N,))`` used to rank restarts."""
    with torch.no_grad():
        logits = model(x_adv)
        labels = y if target is None else target
        objective = loss_sign(target) * torch.nn.functional.cross_entropy(logits, labels, reduction="none")
        predicted = logits.argmax(dim=1)
        success = predicted != y if target is None else predicted == target
    return success, objective

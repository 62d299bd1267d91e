"""Adversarial mixing for training: replace a fraction γ of each batch by adversarial examples.

Yao et al. (2018, "Hessian-based analysis ...") train robustly on fully adversarial batches (γ = 1);
ABSA (Yao et al. 2018, "Large batch size training ... adversarial training and second-order
information", Alg. 1 line 5: ``x[:Bγ] = adversarial(x[:Bγ])``) perturbs the first ``Bγ`` samples of
each batch with FGSM (ε_adv = 0.005, γ = 20 %). Here the replaced samples are the first ``round(γB)``
of a seeded permutation (batches are already shuffled, so this only decouples the choice from the
loader order), with ``round`` = round half up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from hessianlab.attacks.base import Attack, check_batch, check_int, check_number
from hessianlab.curvature.modes import model_mode
from hessianlab.errors import ConfigError

__all__ = ["AdvRatioSchedule", "mix_adversarial", "num_adversarial"]

BN_MODES = ("eval", "train")


def num_adversarial(batch_size: int, ratio: float) -> int:
    """``round(ratio · batch_size)``, halves rounded up."""
    return min(batch_size, math.floor(ratio * batch_size + 0.5))


@contextmanager
def _generation_mode(model: nn.Module, bn_mode: str) -> Iterator[None]:
    """Eval mode (Dropout off); BatchNorm in ``bn_mode``. Flags and BatchNorm running stats are restored.

    With ``bn_mode='train'`` BatchNorm normalises with the statistics of the batch being attacked and
    would update its running statistics on every forward pass; they are saved and put back, so
    generating examples leaves no trace in the model.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in norms] if bn_mode == "train" else []
    with model_mode(model, "eval"):
        if bn_mode == "train":
            for m in norms:
                m.train()
        try:
            yield
        finally:
            for m, buffers in zip(norms, saved):
                for k, v in buffers.items():
                    getattr(m, k).copy_(v)


def mix_adversarial(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack,
    ratio: float,
    *,
    generator: torch.Generator,
    bn_mode: str = "eval",
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A copy of ``x`` ``(B, *in_shape)`` whose ``round(ratio·B)`` seeded samples are adversarial.

    The examples are computed by ``attack`` against the current ``model`` with Dropout off and BatchNorm
    in ``bn_mode`` (``'eval'``: running statistics; ``'train'``: statistics of the attacked sub-batch);
    every flag and buffer is restored. Returns ``(x_mixed, y, n_adv)``; labels are unchanged (true labels).
    ``generator`` (CPU, or ``x``'s device) draws the permutation.
    """
    check_number("mix_adversarial", "ratio", ratio, low=0.0, high=1.0)
    if bn_mode not in BN_MODES:
        raise ConfigError(f"mix_adversarial.bn_mode must be one of 'eval', 'train', got {bn_mode!r}")
    check_batch(x, y)
    n_adv = num_adversarial(x.shape[0], ratio)
    x_mixed = x.detach().clone()
    if n_adv == 0:
        return x_mixed, y, 0
    index = torch.randperm(x.shape[0], generator=generator, device=generator.device)[:n_adv].to(x.device)
    with _generation_mode(model, bn_mode):
        x_mixed[index] = attack.perturb(model, x_mixed[index], y[index])
    return x_mixed, y, n_adv


@dataclass(frozen=True)
class AdvRatioSchedule:
    """The adversarial ratio γ over training, ABSA Alg. 1 (Yao et al. 2018b).

    ABSA's rule (Alg. 1 inputs: "perturbation ratio γ (γ_max), decay ratio ω, vanishing step τ"):
    γ starts at γ_max; each time the Hessian eigenvalue has dropped below half its reference (line 10,
    the event that also grows the batch size) γ is divided by the decay ratio (line 12 writes γ = γ/2;
    ω = 2 in all experiments, Appendix B); at step τ it becomes 0 (lines 21–22) and stays 0. ::

        γ(t, n) = 0                                  if tau is not None and t >= tau
                = gamma0 / omega ** (n + floor(t / decay_every))   otherwise

    where ``n`` is the number of eigenvalue events so far (the trainer's curvature schedule counts them)
    and ``decay_every`` (optional, not in ABSA) adds a periodic decay every ``decay_every`` units of ``t``.
    ``t`` is whatever counter the trainer uses for ``tau`` (ABSA counts SGD steps; epochs work the same).
    :meth:`constant` gives a fixed γ (Yao's robust training: γ = 1).

    Attributes:
        gamma0: initial ratio γ_max in ``[0, 1]``.
        omega: decay ratio ω >= 1.
        tau: vanishing step τ (None: never).
        decay_every: period of the optional time-based decay (None: events only).
    """

    gamma0: float
    omega: float = 2.0
    tau: int | None = None
    decay_every: int | None = None

    def __post_init__(self) -> None:
        check_number("adv_ratio", "gamma0", self.gamma0, low=0.0, high=1.0)
        check_number("adv_ratio", "omega", self.omega, low=1.0)
        if self.tau is not None:
            check_int("adv_ratio", "tau", self.tau, low=0)
        if self.decay_every is not None:
            check_int("adv_ratio", "decay_every", self.decay_every, low=1)

    @classmethod
    def constant(cls, gamma: float) -> AdvRatioSchedule:
        """γ fixed at ``gamma`` for the whole run."""
        return cls(gamma, omega=1.0)

    def ratio(self, t: int, num_decays: int = 0) -> float:
        """γ at counter ``t`` after ``num_decays`` eigenvalue-triggered decays."""
        if self.tau is not None and t >= self.tau:
            return 0.0
        periodic = 0 if self.decay_every is None else t // self.decay_every
        return self.gamma0 / self.omega ** (num_decays + periodic)

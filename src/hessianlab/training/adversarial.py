"""Adversarial training inside the trainer: the batch transform that mixes adversarial examples in."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hessianlab.training.config import TrainConfig

BatchTransform = Callable[[nn.Module, torch.Tensor, torch.Tensor, int, int], torch.Tensor]

_ADV_SALT = 0xAD


def adversarial_transform(config: TrainConfig, gamma: Callable[[], float]) -> BatchTransform | None:
    """The batch transform of adversarial training per ``config`` (``None`` without ``adversarial``).

    A fraction ``gamma()`` of each batch (queried per batch: the trainer passes ``adv_ratio``, or ABSA's γ
    that decays with the eigenvalue events and vanishes at ``adv_tau``) is replaced by examples of
    ``make_attack(adversarial, eps=adv_eps)`` against the current model; which samples is drawn from a
    generator seeded by (seed, epoch, position).
    """
    if config.adversarial is None:
        return None
    from hessianlab.attacks import make_attack, mix_adversarial
    from hessianlab.data.loader import derive_seed

    attack = make_attack(config.adversarial, eps=config.adv_eps)

    def transform(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int, position: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(derive_seed(config.seed, epoch, position, _ADV_SALT))
        x_mixed, _, _ = mix_adversarial(model, x, y, attack, gamma(), generator=gen, bn_mode=config.adv_bn_mode)
        return x_mixed

    return transform

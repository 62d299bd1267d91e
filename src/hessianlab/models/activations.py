"""The one activation factory of the model zoo.

ReLU is the papers' choice; ``softplus`` (large ``beta`` approximates ReLU) and ``elu`` are the
twice-differentiable alternatives asked for by the NeurIPS reviewers of Yao et al. (2018), so the
Hessian is not zero almost everywhere in the hidden layers. All modules are out-of-place
(``inplace=False``) so forward-mode AD (``torch.func.jvp``) and ``vmap`` work through them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from torch import nn

from hessianlab.errors import ConfigError

__all__ = ["ACTIVATIONS", "make_activation", "activation_factory"]

ACTIVATIONS: tuple[str, ...] = ("relu", "softplus", "elu")


def _check(activation: str, softplus_beta: float, elu_alpha: float) -> None:
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation: unknown {activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
    for field, value in (("softplus_beta", softplus_beta), ("elu_alpha", elu_alpha)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{field}: expected a positive number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{field}: expected a finite number > 0, got {value!r}")


def make_activation(activation: str = "relu", softplus_beta: float = 20.0, elu_alpha: float = 1.0) -> nn.Module:
    """A fresh activation module.

    Args:
        activation: ``"relu"``, ``"softplus"`` (``log(1 + exp(beta x)) / beta``) or ``"elu"``.
        softplus_beta: sharpness of softplus (> 0); only used by ``"softplus"``.
        elu_alpha: negative saturation of ELU (> 0); only used by ``"elu"``.

    Raises:
        ConfigError: unknown name or non-positive parameter.
    """
    _check(activation, softplus_beta, elu_alpha)
    if activation == "relu":
        return nn.ReLU(inplace=False)
    if activation == "softplus":
        return nn.Softplus(beta=float(softplus_beta))
    return nn.ELU(alpha=float(elu_alpha), inplace=False)


def activation_factory(
    activation: str = "relu", softplus_beta: float = 20.0, elu_alpha: float = 1.0
) -> Callable[[], nn.Module]:
    """Validate once and return a zero-argument callable producing fresh activation modules."""
    _check(activation, softplus_beta, elu_alpha)
    return partial(make_activation, activation, softplus_beta, elu_alpha)

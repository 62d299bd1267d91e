"""Evaluate loss and accuracy on lines, planes and interpolation paths in parameter space.

Every point is evaluated by :func:`hessianlab.training.evaluate.evaluate` itself (mean cross-entropy over
all samples, batches of ``batch_size`` weighted by their size, eval mode), applied to the model through
``torch.func.functional_call`` with a perturbed parameter dict. Hence:

* the caller's model is never modified (parameters, buffers, gradients, each module's mode) and never
  copied; per grid point only the perturbed parameter tensors are allocated;
* at a coefficient of exactly 0 the parameters are ``θ + 0·d = θ``, so the centre value equals
  ``evaluate(model, images, labels, batch_size)`` bitwise.

BatchNorm-buffer policy (``bn_policy``), explicit because it changes the landscape:

* ``'eval'`` (the default and the only policy implemented): every point runs in eval mode, so BatchNorm
  normalises with the running statistics of the centre model (its buffers, unchanged along the
  direction) and Dropout is off. For :func:`interpolate` the floating-point buffers (running means and
  variances, input normalisation) are interpolated like the parameters, ``(1 - α) b_A + α b_B``; integer
  buffers (``num_batches_tracked``) are model A's. Recomputing BatchNorm statistics at each point is
  not supported and refused, as is any other value.

Inputs are cast per batch to the model's dtype and device; labels are moved to the device once.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call

from hessianlab.curvature.param_hessian import resolve_data
from hessianlab.errors import ConfigError
from hessianlab.landscape.directions import check_direction, check_same_tensors
from hessianlab.landscape.results import Line, Plane
from hessianlab.training.evaluate import evaluate

BN_POLICIES = ("eval",)
DIRECTION_KINDS = ("eigen", "random", "interpolation", "custom")
Coefficients = Sequence[float] | torch.Tensor
TensorDict = Mapping[str, torch.Tensor]


class _AtState(nn.Module):
    """``model`` evaluated with ``state`` (names -> tensors) in place of its own parameters/buffers.

    A view for :func:`evaluate`: ``model`` is registered as the only child so that eval mode reaches every
    submodule (and is restored afterwards); ``state`` is a plain attribute, never registered.
    """

    def __init__(self, model: nn.Module, state: TensorDict, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.state = state
        self.dtype = dtype
        self.device = device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, dict(self.state), (x.to(self.device, self.dtype),))


def line(
    model: nn.Module,
    data: Any,
    direction: TensorDict,
    alphas: Coefficients,
    *,
    batch_size: int = 1024,
    bn_policy: str = "eval",
    kind: str = "custom",
) -> Line:
    """Loss and accuracy at ``θ + α d`` for each ``α`` in ``alphas`` (``(T,)``).

    ``data``: a :class:`hessianlab.data.Dataset` or ``(images, labels)``; ``direction``: dict over (a subset
    of) the parameter names, each tensor shaped like its parameter; ``kind`` labels the direction
    (one of ``'eigen'``, ``'random'``, ``'interpolation'``, ``'custom'``). See the module docstring for
    the BatchNorm policy and the centre's exactness.
    """
    _check_common(bn_policy, batch_size)
    _check_kind(kind)
    check_direction(model, direction)
    a = _coefficients(alphas, "alphas")
    x, y, dtype, device = _prepared(model, data)
    theta = _parameters(model)
    d = _cast(direction, theta)
    values = [_evaluate_at(model, _shift(theta, d, alpha), x, y, batch_size, dtype, device) for alpha in a.tolist()]
    loss, acc = _split(values)
    settings = _settings(x, batch_size, bn_policy, dtype, direction_params=[n for n in theta if n in direction])
    return Line(a, loss, acc, kind, settings)


def plane(
    model: nn.Module,
    data: Any,
    d1: TensorDict,
    d2: TensorDict,
    alphas: Coefficients,
    betas: Coefficients,
    *,
    batch_size: int = 1024,
    bn_policy: str = "eval",
    kinds: tuple[str, str] = ("custom", "custom"),
) -> Plane:
    """Loss and accuracy at ``(θ + α d1) + β d2`` on the grid ``alphas`` (``(A,)``) x ``betas`` (``(B,)``).

    Returns a :class:`Plane` with ``(A, B)`` arrays. The row ``loss[i, :]`` at a ``β`` of exactly 0 equals
    :func:`line` along ``d1`` at ``alphas[i]`` bitwise. Costs ``A * B`` full evaluations of ``data``.
    """
    _check_common(bn_policy, batch_size)
    for kind in kinds:
        _check_kind(kind)
    check_direction(model, d1)
    check_direction(model, d2)
    a, b = _coefficients(alphas, "alphas"), _coefficients(betas, "betas")
    x, y, dtype, device = _prepared(model, data)
    theta = _parameters(model)
    e1, e2 = _cast(d1, theta), _cast(d2, theta)
    values = []
    for alpha in a.tolist():
        row = _shift(theta, e1, alpha)
        values.extend(
            _evaluate_at(model, _shift(row, e2, beta), x, y, batch_size, dtype, device) for beta in b.tolist()
        )
    loss, acc = _split(values)
    settings = _settings(x, batch_size, bn_policy, dtype,
                         d1_params=[n for n in theta if n in d1], d2_params=[n for n in theta if n in d2],
                         direction_kinds=list(kinds))
    return Plane(a, b, loss.reshape(len(a), len(b)), acc.reshape(len(a), len(b)), settings)


def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    data: Any,
    alphas: Coefficients,
    *,
    batch_size: int = 1024,
    bn_policy: str = "eval",
) -> Line:
    """Loss and accuracy at ``θ(α) = (1 - α) θ_A + α θ_B`` (floating buffers likewise), ``α`` in ``alphas``.

    ``α`` may lie outside ``[0, 1]`` (extrapolation). Both models must share one architecture (same
    parameter and buffer names, shapes and dtypes); the forward pass is ``model_a``'s. At ``α = 0`` and
    ``α = 1`` the values equal ``evaluate`` of ``model_a`` and ``model_b`` exactly.
    """
    _check_common(bn_policy, batch_size)
    a = _coefficients(alphas, "alphas")
    theta_a, theta_b = _parameters(model_a), _parameters(model_b)
    check_same_tensors(theta_a, theta_b, "parameters")
    buf_a, buf_b = dict(model_a.named_buffers()), dict(model_b.named_buffers())
    check_same_tensors(buf_a, buf_b, "buffers")
    ends_a = {**theta_a, **{n: t.detach() for n, t in buf_a.items() if t.is_floating_point()}}
    ends_b = {n: (theta_b[n] if n in theta_b else buf_b[n].detach()) for n in ends_a}
    x, y, dtype, device = _prepared(model_a, data)
    values = []
    for alpha in a.tolist():
        state = {n: (1.0 - alpha) * ends_a[n] + alpha * ends_b[n] for n in ends_a}
        values.append(_evaluate_at(model_a, state, x, y, batch_size, dtype, device))
    loss, acc = _split(values)
    settings = _settings(x, batch_size, bn_policy, dtype, direction_params=list(theta_a),
                         buffers="interpolated (floating), model A's (integer)")
    return Line(a, loss, acc, "interpolation", settings)


def _evaluate_at(
    model: nn.Module, state: TensorDict, x: torch.Tensor, y: torch.Tensor, batch_size: int,
    dtype: torch.dtype, device: torch.device,
) -> tuple[float, float]:
    return evaluate(_AtState(model, state, dtype, device), x, y, batch_size)


def _shift(base: TensorDict, d: TensorDict, coef: float) -> dict[str, torch.Tensor]:
    """``base`` with ``base[n] + coef * d[n]`` for every name of ``d`` (new tensors; inputs untouched)."""
    return {**base, **{n: base[n] + coef * t for n, t in d.items()}}


def _parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters()}


def _cast(direction: TensorDict, theta: TensorDict) -> dict[str, torch.Tensor]:
    """The direction in each parameter's dtype and device."""
    return {n: t.detach().to(device=theta[n].device, dtype=theta[n].dtype) for n, t in direction.items()}


def _prepared(model: nn.Module, data: Any) -> tuple[torch.Tensor, torch.Tensor, torch.dtype, torch.device]:
    x, y = resolve_data(data)
    p = next(model.parameters())
    return x, y.to(p.device), p.dtype, p.device


def _coefficients(values: Coefficients, name: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if t.dim() != 1 or t.numel() == 0 or not all(math.isfinite(v) for v in t.tolist()):
        raise ConfigError(f"{name} must be a non-empty 1-D sequence of finite numbers; use symmetric_grid(r, n)")
    return t


def _check_common(bn_policy: str, batch_size: int) -> None:
    if bn_policy not in BN_POLICIES:
        raise ConfigError(f"bn_policy must be 'eval' (running statistics of the centre model), got {bn_policy!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")


def _check_kind(kind: str) -> None:
    if kind not in DIRECTION_KINDS:
        raise ConfigError(f"direction kind must be one of {DIRECTION_KINDS}, got {kind!r}")


def _split(values: list[tuple[float, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    loss = torch.tensor([v[0] for v in values], dtype=torch.float64)
    return loss, torch.tensor([v[1] for v in values], dtype=torch.float64)


def _settings(x: torch.Tensor, batch_size: int, bn_policy: str, dtype: torch.dtype, **extra: Any) -> dict[str, Any]:
    return {"loss": "cross_entropy", "mode": "eval", "num_samples": int(x.shape[0]), "batch_size": batch_size,
            "bn_policy": bn_policy, "dtype": str(dtype).removeprefix("torch."), **extra}

"""Dense Hessians: exact oracles for tests and tiny problems.

They share no code path with the matrix-free products (no forward-over-reverse HVPs, no chunking), so
they can check them. The parameter Hessian is reverse-over-reverse
(``torch.autograd.functional.hessian``): in torch 2.13 ``torch.func.hessian``/``jacrev`` return a wrong,
non-symmetric Hessian for BatchNorm in train mode (the BN affine entries), while plain autograd and
``jvp``-of-``grad`` agree with finite differences. The input Hessian (eval mode) uses ``torch.func.hessian``.
Sizes are refused above a limit rather than exhausting memory.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, hessian

from hessianlab.curvature.hvp import LossFn, drop_running_stats
from hessianlab.curvature.modes import check_mode, model_mode
from hessianlab.curvature.param_hessian import Samples, check_train_mode, resolve_data, select_samples
from hessianlab.curvature.params import ParamSelection, functional_state, param_spec
from hessianlab.errors import ConfigError

MAX_DENSE_PARAMS = 5000


def dense_hessian(
    model: nn.Module,
    loss_fn: LossFn | None,
    data: Any,
    *,
    samples: Samples = "all",
    seed: int = 0,
    params: ParamSelection = None,
    mode: str = "eval",
    dtype: torch.dtype = torch.float64,
    max_size: int = MAX_DENSE_PARAMS,
) -> torch.Tensor:
    """Hessian ``(P, P)`` of the mean loss over the chosen samples w.r.t. the selected parameters.

    Same data, sample, parameter and mode semantics as :class:`ParamHessian` (one pass, no chunks;
    BatchNorm running statistics are not updated). Raises :class:`ConfigError` if ``P > max_size``.
    """
    check_mode(mode)
    check_train_mode(model, mode, chunked=False)
    x, y = resolve_data(data)
    idx = select_samples(x.shape[0], samples, seed)
    if idx is not None:
        x, y = x[idx], y[idx]
    spec = param_spec(model, params)
    if spec.size > max_size:
        raise ConfigError(
            f"dense Hessian of {spec.size} parameters exceeds max_size={max_size}; select a block with "
            "params=... or use the matrix-free ParamHessian"
        )
    all_params, buffers = functional_state(model, dtype)
    if mode == "train":  # batch statistics only: drop running stats so nothing is accumulated
        buffers = drop_running_stats(model, buffers)
    point = spec.flatten(all_params)
    frozen = {n: t for n, t in all_params.items() if n not in spec.names}
    device = point.device
    x = x.to(device, dtype)
    y = y.to(device, dtype) if y.is_floating_point() else y.to(device)
    fn = loss_fn or F.cross_entropy

    def loss_of_flat(flat: torch.Tensor) -> torch.Tensor:
        return fn(functional_call(model, (frozen, spec.unflatten(flat), buffers), (x,)), y)

    with model_mode(model, mode):
        return torch.autograd.functional.hessian(loss_of_flat, point, vectorize=True)


def dense_input_hessian(
    model: nn.Module,
    loss_fn: LossFn | None,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    dtype: torch.dtype = torch.float64,
    max_dim: int = 4096,
) -> torch.Tensor:
    """Per-sample input Hessians ``(N, D, D)``, each sample run alone (batch of one) in eval mode.

    A deliberate per-sample loop: it is the oracle for the batched :class:`InputHessian`.
    """
    D = int(torch.Size(x.shape[1:]).numel())
    if D > max_dim:
        raise ConfigError(f"dense input Hessian of dimension {D} exceeds max_dim={max_dim}; use InputHessian")
    params, buffers = functional_state(model, dtype)
    device = next(iter(params.values())).device
    fn = loss_fn or F.cross_entropy
    out = []
    with model_mode(model, "eval"):
        ys = y.to(device, dtype) if y.is_floating_point() else y.to(device)
        for xi, yi in zip(x.to(device, dtype), ys):
            def loss_of_input(v: torch.Tensor, yi: torch.Tensor = yi) -> torch.Tensor:
                return fn(functional_call(model, (params, buffers), (v.view(1, *x.shape[1:]),)), yi[None])

            out.append(hessian(loss_of_input)(xi.reshape(-1)))
    return torch.stack(out)

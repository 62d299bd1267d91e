"""Generalized Gauss-Newton ``G = Jᵀ H_ℓ J`` and the residual curvature ``H - G``.

``J`` is the Jacobian of the logits w.r.t. the selected parameters and ``H_ℓ`` the Hessian of the mean
loss w.r.t. the logits (for cross-entropy, ``(diag(p) - p pᵀ) / n`` per sample). Products are
``vjp(H_ℓ · jvp(v))``, with ``H_ℓ`` applied by a reverse-over-reverse HVP of ``loss_fn`` in logit space, so any
mean-reduced loss works. Data semantics are those of :class:`ParamHessian`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn as nn
from torch.func import grad, jvp, vjp, vmap

from hessianlab.curvature.hvp import TensorDict
from hessianlab.curvature.losses import BatchLoss, LossFn, check_scalar
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.param_hessian import DatasetCurvatureOperator, ParamHessian
from hessianlab.errors import ConfigError


class GGN(DatasetCurvatureOperator):
    """Gauss-Newton ``(P, P)`` of the mean loss over the chosen samples; PSD for convex losses.

    Same constructor and data semantics as :class:`ParamHessian` (without ``hvp_method``); the loss must be
    ``loss_fn(output, target)`` (a :class:`~hessianlab.curvature.losses.BatchLoss` has no output to split
    at). A block product is ``vmap`` over the ``k`` tangents: one pass, one forward per batch.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn | BatchLoss | None, data: Any, **kw: Any) -> None:
        if isinstance(loss_fn, BatchLoss):
            raise ConfigError("GGN needs loss_fn(output, target) to split the loss at the model output; a "
                              "BatchLoss closure has no such split (use ParamHessian)")
        super().__init__(model, loss_fn, data, **kw)

    def _ggn_fn(self, batch: Any):
        obj = self.objective
        x, y = batch

        def logits(p: TensorDict) -> torch.Tensor:
            return obj.logits(p, x)

        z, pullback = vjp(logits, obj.point)
        # H_ℓ applied as reverse-over-reverse in output space (symmetric, so vjp = Hessian product); torch
        # 2.13's forward-over-reverse of mse_loss raises "ZeroTensors are immutable"
        _, loss_hvp = vjp(grad(lambda out: check_scalar(self.loss_fn(out, y))), z.detach())

        def product(v: TensorDict) -> TensorDict:
            jv = jvp(logits, (obj.point,), (v,))[1]
            return pullback(loss_hvp(jv)[0])[0]

        return product

    def _batch_product(self, batch: Any, v: TensorDict) -> TensorDict:
        return self._ggn_fn(batch)(v)

    def _batch_block(self, batch: Any, V: TensorDict) -> TensorDict:
        return vmap(self._ggn_fn(batch))(V)


class ResidualCurvature(LinearOperator):
    """``H - G``: the part of the Hessian that the Gauss-Newton misses (second derivatives of the net)."""

    def __init__(self, hessian: ParamHessian, ggn: GGN) -> None:
        keys = ("data", "N", "samples", "sample_selection", "seed", "mode", "params", "chunk_size", "dtype")
        if hessian.spec != ggn.spec or any(hessian.settings[k] != ggn.settings[k] for k in keys):
            raise ConfigError("ResidualCurvature needs a Hessian and a GGN built with the same data settings")
        if hessian.sample_indices is not None and not torch.equal(hessian.sample_indices, ggn.sample_indices):
            raise ConfigError("ResidualCurvature needs a Hessian and a GGN over the same samples")
        super().__init__(hessian.size, hessian.dtype, hessian.device)
        self.hessian, self.ggn = hessian, ggn

    @property
    def settings(self) -> Mapping[str, Any]:
        return {**self.hessian.settings, "operator": type(self).__name__}

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.hessian.matvec(v) - self.ggn.matvec(v)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        self.num_matvecs += V.shape[1]
        self.num_passes += 2
        return self.hessian.matmat(V) - self.ggn.matmat(V)


@dataclass(frozen=True)
class CurvaturePair:
    """The Hessian, the GGN and their difference over identical data settings (solve them yourself,
    e.g. ``top_eigenpairs(pair.hessian, k=1)`` and ``top_eigenpairs(pair.ggn, k=1)``)."""

    hessian: ParamHessian
    ggn: GGN
    residual: ResidualCurvature


def hessian_and_ggn(
    model: nn.Module, loss_fn: LossFn | BatchLoss | None, data: Any, *, hvp_method: str = "auto", **kw: Any
) -> CurvaturePair:
    """Build ``ParamHessian``, ``GGN`` and ``ResidualCurvature`` with the same keyword arguments."""
    hessian = ParamHessian(model, loss_fn, data, hvp_method=hvp_method, **kw)
    ggn = GGN(model, loss_fn, data, **kw)
    return CurvaturePair(hessian, ggn, ResidualCurvature(hessian, ggn))

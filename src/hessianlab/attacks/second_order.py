"""Second-order attacks of Yao et al. (2018) §3.1: FHSM and L2HESS.

Both precondition the input gradient with the per-sample input Hessian ``H_i = ∇²_{x_i} ℓ_i``::

    d_i = s · (H_i + μI)⁻¹ ∇_{x_i} ℓ_i        (s = +1, or -1 in targeted mode: ℓ is then the target's loss)
    FHSM:   clip(x + eps · sign(d))           (L∞ radius eps)
    L2HESS: clip(x + eps · d / |d|_2)         (L2 radius eps; d = 0 gives no perturbation)

The paper's appendix (its Table 5 "details") is not available, so this is *our* definition, recorded in
``describe()``. ``d`` is found by batched CG (:mod:`.cg`) on input-Hessian-vector products; ``H_i`` is
PSD for ReLU networks (Yao et al. Theorem 1) and of rank at most ``K - 1`` (Proposition 2, ``K``
classes), and the gradient lies in its range, so exact CG needs at most ``K - 1`` iterations.

Defaults and why:

* ``damping μ = 1e-2`` (absolute, loss/pixel² units). Yao et al. Table 1 reports dominant input-Hessian
  eigenvalues ``λ_1^x`` of 1.4–12 on training points and 100–700 on test points, so μ is at most 1% of
  ``λ_1^x`` there: it only regularises the near-null directions. Where the curvature is negligible
  (``λ << μ``, very confident samples) ``d → ∇ℓ/μ``, i.e. the attack degrades gracefully to its
  first-order counterpart (FGSM / L2GRAD). ``μ = 0`` is allowed (pseudo-inverse on the Krylov space).
* ``cg_iters = 20``: at least twice the rank bound ``K - 1 = 9`` of 10-class problems, margin for
  float32 round-off; ``cg_tol = 1e-3`` relative residual ``|r|/|∇ℓ|``.
* Non-PSD ``H_i`` (softplus/ELU): CG stops that sample at ``pᵀ(H + μI)p <= 0`` and keeps its iterate
  (the gradient if it happens at the first iteration); :attr:`NewtonDirection.negative_curvature` says which.

Input HVPs are reverse-over-reverse: ``torch.func.vjp`` of ``torch.func.grad`` of the summed loss, with
detached copies of parameters and buffers (``functional_call``), linearised once and reused by every CG
iteration (about 2x cheaper per product than ``jvp`` of ``grad`` on C1, CPU), and rebuilt on the
unconverged samples alone when they are at most half of the batch. In eval mode the Hessian of the summed
loss w.r.t. the batch is block diagonal, so one batched product gives all per-sample products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vjp

from hessianlab.attacks.base import Attack, check_batch, check_int, check_number, loss_sign, loss_sum
from hessianlab.attacks.cg import CGResult, MaskedMatvec, batched_cg
from hessianlab.attacks.norms import L2, LINF
from hessianlab.curvature.modes import model_mode

__all__ = ["FHSM", "L2Hess", "NewtonDirection"]


def _linearize(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]]:
    """``(∇_x L, pullback)`` of the summed cross-entropy ``L`` at ``x``; ``pullback(V)[0] = H V``."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def total_loss(inputs: torch.Tensor) -> torch.Tensor:
        return loss_sum(functional_call(model, (params, buffers), (inputs,)), labels, None)

    with torch.enable_grad():
        return vjp(grad(total_loss), x.detach())


def _input_hvp(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, MaskedMatvec, dict[str, int]]:
    """``(∇_x L, hvp, cost)`` with ``hvp(V, active)`` the per-sample input-Hessian products ``(N, *in_shape)``.

    Rows outside ``active`` may be anything (CG ignores them). In eval mode (samples independent), once
    the active samples are at most half of the currently linearised ones, the linearisation is rebuilt on
    them alone (one forward and backward pass on the subset), so the cost follows the number of
    unconverged samples rather than the slowest one. A model with a module in train mode (BatchNorm with
    batch statistics couples the samples) keeps the full-batch linearisation. Parameters and buffers
    enter as detached tensors: nothing of the model is differentiated or changed. ``cost`` counts the
    per-sample products (``hvp_rows``) and gradient evaluations (``gradient_rows``) actually computed.
    """
    gradient, pullback = _linearize(model, x, labels)
    state = {"index": torch.arange(x.shape[0], device=x.device), "pullback": pullback}
    cost = {"hvp_rows": 0, "gradient_rows": x.shape[0]}
    independent = not any(m.training for m in model.modules())

    def hvp(v: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        if independent and 2 * int(active.sum()) <= len(state["index"]):
            index = active.nonzero().flatten()
            state["index"], state["pullback"] = index, _linearize(model, x[index], labels[index])[1]
            cost["gradient_rows"] += len(index)
        out = torch.zeros_like(v)
        with torch.enable_grad():
            out[state["index"]] = state["pullback"](v[state["index"]])[0]
        cost["hvp_rows"] += len(state["index"])
        return out

    return gradient, hvp, cost


@dataclass(frozen=True)
class NewtonDirection:
    """The preconditioned direction and how CG got it.

    Attributes:
        direction: ``(N, *in_shape)`` ``d = s·(H + μI)⁻¹ ∇ℓ``.
        gradient: ``(N, *in_shape)`` ``s·∇ℓ`` (the first-order ascent direction).
        cg: the solver's per-sample report (iterations, converged, residuals, negative curvature).
        hvps_per_sample: input-Hessian-vector products computed, averaged over the samples.
        gradients_per_sample: input-gradient evaluations (linearisations), averaged over the samples.
    """

    direction: torch.Tensor
    gradient: torch.Tensor
    cg: CGResult
    hvps_per_sample: float
    gradients_per_sample: float

    @property
    def num_negative_curvature(self) -> int:
        """Samples whose CG stopped on non-positive curvature."""
        return int(self.cg.negative_curvature.sum())


@dataclass(frozen=True)
class _SecondOrder(Attack):
    """Shared parameters and the Newton direction of FHSM and L2HESS."""

    damping: float = 1e-2
    cg_iters: int = 20
    cg_tol: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self.name, "damping", self.damping, low=0.0)
        check_int(self.name, "cg_iters", self.cg_iters, low=1)
        check_number(self.name, "cg_tol", self.cg_tol, low=0.0, low_open=True, high=1.0)

    def _direction(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> NewtonDirection:
        gradient, hvp, cost = _input_hvp(model, x, y if target is None else target)
        cg = batched_cg(hvp, gradient, shift=self.damping, max_iters=self.cg_iters, tol=self.cg_tol)
        sign = loss_sign(target)
        n = max(x.shape[0], 1)
        return NewtonDirection(sign * cg.solution, sign * gradient, cg, cost["hvp_rows"] / n, cost["gradient_rows"] / n)

    def direction(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None
    ) -> NewtonDirection:
        """The Newton direction with CG diagnostics (eval mode, restored), for cost and quality reports."""
        check_batch(x, y, target)
        with model_mode(model, "eval"):
            return self._direction(model, x.detach(), y, target)

    def describe(self) -> dict:
        return {**super().describe(), "direction": "(H_x + damping*I)^-1 grad_x", "solver": "batched CG",
                "cg_tol_kind": "relative residual", "hvp": "reverse-over-reverse (torch.func vjp of grad)"}


@dataclass(frozen=True)
class FHSM(_SecondOrder):
    """Fast Hessian Sign Method: ``clip(x + eps·sign((H + μI)⁻¹ ∇ℓ))``; ``eps`` is an L∞ radius."""

    name = "fhsm"

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        d = self._direction(model, x, y, target).direction
        return LINF.projector(x, self.eps)(LINF.direction(d).mul_(self.eps).add_(x))


@dataclass(frozen=True)
class L2Hess(_SecondOrder):
    """L2HESS: ``clip(x + eps·d/|d|_2)`` with ``d = (H + μI)⁻¹ ∇ℓ``; ``eps`` is an L2 radius."""

    name = "l2hess"
    norm = "l2"

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None) -> torch.Tensor:
        d = self._direction(model, x, y, target).direction
        return L2.projector(x, self.eps)(L2.direction(d).mul_(self.eps).add_(x))

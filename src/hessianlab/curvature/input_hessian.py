"""Per-sample Hessians and gradients of the loss w.r.t. the *input*, for a whole batch at once.

With the model in eval mode (no BatchNorm batch coupling) the summed loss ``S(x) = Σ_i ℓ(f(x_i), y_i)``
has a block-diagonal input Hessian ``diag(H_1, ..., H_N)``, ``H_i = ∇²_{x_i} ℓ_i`` of size ``(D, D)``,
``D = prod(input_shape)``. One forward-over-reverse product of ``S`` therefore gives all ``N`` per-sample
products. ``loss_fn`` is mean-reduced (default cross-entropy), so ``S = N · loss_fn(f(x), y)``.
Inputs are in the model's own units (pixels in [0, 1] for :func:`hessianlab.models.build_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp, vjp, vmap

from hessianlab.curvature.hvp import LossFn
from hessianlab.curvature.modes import model_mode
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.params import functional_state
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result


class InputHessian(LinearOperator):
    """Block-diagonal operator ``diag(H_1, ..., H_N)`` of size ``N·D`` on flattened input batches.

    ``x`` is ``(N, *input_shape)``, ``y`` ``(N,)``; ``dtype=None`` keeps ``x.dtype``. Parameters and
    buffers are dtype-cast copies taken at construction; the model runs in eval mode (restored after).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn | None,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        dtype: torch.dtype | None = None,
    ) -> None:
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ConfigError("x and y must be non-empty with the same first dimension N")
        dtype = dtype or (x.dtype if x.is_floating_point() else torch.float32)
        device = next(model.parameters()).device
        self.x = x.to(device, dtype)
        self.y = y.to(device, dtype) if y.is_floating_point() else y.to(device)
        self.input_shape = tuple(x.shape[1:])
        self.num_samples = int(x.shape[0])
        self.dim = int(torch.Size(self.input_shape).numel())
        super().__init__(self.num_samples * self.dim, dtype, device)
        self.model = model
        self.loss_fn: LossFn = loss_fn or F.cross_entropy
        self._params, self._buffers = functional_state(model, dtype)

    @property
    def settings(self) -> Mapping[str, Any]:
        return {
            **super().settings,
            "loss": getattr(self.loss_fn, "__name__", type(self.loss_fn).__name__),
            "N": self.num_samples,
            "input_shape": list(self.input_shape),
            "mode": "eval",
        }

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Model output ``(N, C)`` for inputs ``(N, *input_shape)`` (call inside eval mode)."""
        return functional_call(self.model, (self._params, self._buffers), (x,))

    def summed_loss(self, x: torch.Tensor) -> torch.Tensor:
        """``S(x) = Σ_i ℓ_i``, a 0-dim tensor."""
        return self.loss_fn(self.logits(x), self.y) * x.shape[0]

    def gradient(self) -> torch.Tensor:
        """Per-sample input gradients ``∇_{x_i} ℓ_i``, shape ``(N, *input_shape)``."""
        with model_mode(self.model, "eval"):
            return grad(self.summed_loss)(self.x)

    def hvp_batch(self, V: torch.Tensor) -> torch.Tensor:
        """Per-sample products ``H_i V_i`` for ``V`` of shape ``(N, *input_shape)`` (same shape out)."""
        with model_mode(self.model, "eval"):
            return jvp(grad(self.summed_loss), (self.x,), (V.to(self.dtype).reshape(self.x.shape),))[1]

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.hvp_batch(v).reshape(-1)

    def dense(self, block: int = 64) -> torch.Tensor:
        """All per-sample Hessians ``(N, D, D)`` from ``D`` batched products, ``block`` at a time."""
        N, D = self.num_samples, self.dim
        H = torch.empty(N, D, D, dtype=self.dtype, device=self.device)
        eye = torch.eye(D, dtype=self.dtype, device=self.device)
        for start in range(0, D, block):
            E = eye[start : start + block]  # (b, D)
            basis = E[:, None, :].expand(E.shape[0], N, D).reshape(E.shape[0], *self.x.shape)
            cols = vmap(self.hvp_batch)(basis).reshape(E.shape[0], N, D)
            H[:, :, start : start + E.shape[0]] = cols.permute(1, 2, 0)
        self.num_matvecs += D
        self.num_passes += -(-D // block)
        return H


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss_fn: LossFn | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Per-sample input gradients ``(N, *input_shape)`` of the loss (eval mode, batched)."""
    return InputHessian(model, loss_fn, x, y, dtype=dtype).gradient()


def input_ggn(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss_fn: LossFn | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Per-sample input-space Gauss-Newton ``J_iᵀ H_ℓ,i J_i``, shape ``(N, D, D)``.

    ``J_i`` ``(C, D)`` is the Jacobian of the logits w.r.t. ``x_i`` and ``H_ℓ,i`` ``(C, C)`` the Hessian of
    ``ℓ_i`` w.r.t. the logits (``diag(p) - p pᵀ`` for cross-entropy). For piecewise-linear networks
    (ReLU, max-pool) this equals the input Hessian; with smooth activations it does not.
    """
    op = InputHessian(model, loss_fn, x, y, dtype=dtype)
    N = op.num_samples
    z, J = logit_jacobian(model, op)
    C = z.shape[1]
    basis = torch.eye(C, dtype=op.dtype, device=op.device)[:, None, :].expand(C, N, C)
    with model_mode(model, "eval"):
        loss_of_logits = lambda out: op.loss_fn(out, op.y) * N  # noqa: E731
        Hl = vmap(lambda e: jvp(grad(loss_of_logits), (z,), (e,))[1])(basis)  # (C, N, C)
    Hl = Hl.permute(1, 2, 0)  # (N, C, C): column c of each per-sample logit Hessian
    return torch.einsum("ncd,nce,nef->ndf", J, Hl, J)


def logit_jacobian(model: nn.Module, op: InputHessian) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``z`` ``(N, C)`` (detached) and per-sample Jacobians ``J`` ``(N, C, D)`` of the logits w.r.t.
    the inputs of ``op`` (eval mode, ``op``'s dtype), by ``C`` batched vector-Jacobian products."""
    N, D = op.num_samples, op.dim
    with model_mode(model, "eval"):
        z, pullback = vjp(op.logits, op.x)
        C = z.shape[1]
        basis = torch.eye(C, dtype=op.dtype, device=op.device)[:, None, :].expand(C, N, C)
        J = vmap(lambda e: pullback(e)[0])(basis).reshape(C, N, D).permute(1, 0, 2)
    return z.detach(), J


@dataclass(frozen=True)
class BatchedRitz:
    """Result of :func:`batched_lanczos` for ``N`` independent symmetric ``(D, D)`` problems.

    ``values`` ``(N, m)`` are ascending Ritz values, ``NaN`` where a sample's Krylov space had fewer than
    ``m`` dimensions; ``top_vectors`` ``(N, D)`` the unit Ritz vectors of the largest ones;
    ``krylov_dim`` ``(N,)``; ``invariant`` ``(N,)`` is True where the Krylov space became invariant
    (breakdown), so that sample's Ritz values are exact eigenvalues; ``residual_bounds`` ``(N,)`` the
    Lanczos estimate ``|β_m s_m|`` of ``||H y - θ y||`` for the top pair.
    """

    values: torch.Tensor
    top_vectors: torch.Tensor
    krylov_dim: torch.Tensor
    invariant: torch.Tensor
    residual_bounds: torch.Tensor
    steps: int


def _ritz(alpha: torch.Tensor, beta: torch.Tensor, dims: torch.Tensor, scale: torch.Tensor):
    """Eigen-decompose the ``(N, m, m)`` tridiagonals; rows beyond ``dims`` get a sentinel diagonal below
    every genuine eigenvalue (Gershgorin: genuine ones are >= -3·scale), so they sort first."""
    N, m = alpha.shape
    pad = torch.arange(m, device=alpha.device)[None, :] >= dims[:, None]
    a = torch.where(pad, (-4 * scale - 1)[:, None], alpha)
    b = torch.where(pad[:, 1:], torch.zeros_like(beta[:, : m - 1]), beta[:, : m - 1])
    T = torch.diag_embed(a) + torch.diag_embed(b, 1) + torch.diag_embed(b, -1)
    values, vectors = torch.linalg.eigh(T)
    valid = torch.arange(m, device=alpha.device)[None, :] >= (m - dims)[:, None]
    return values, vectors, valid


def batched_lanczos(
    apply: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, steps: int, tol: float
) -> BatchedRitz:
    """Lanczos with full reorthogonalisation on ``N`` problems at once; ``apply`` maps ``(N, D)`` to the
    per-sample products ``(N, D)``. Stops after ``steps`` or when every top Ritz pair has residual bound
    ``<= tol·|θ|`` or an invariant Krylov space."""
    N, D = v0.shape
    m = min(steps, D)
    eps_break = 1e3 * torch.finfo(v0.dtype).eps
    Q = v0.new_zeros(N, m, D)
    alpha, beta = v0.new_zeros(N, m), v0.new_zeros(N, m)
    dims = torch.full((N,), m, dtype=torch.long, device=v0.device)
    active = torch.ones(N, dtype=torch.bool, device=v0.device)
    scale = v0.new_zeros(N)
    q = v0 / v0.norm(dim=1, keepdim=True)
    for j in range(m):
        Q[:, j] = q
        w = apply(q)
        alpha[:, j] = (w * q).sum(1)
        for _ in range(2):  # "twice is enough"
            w = w - torch.einsum("nk,nkd->nd", torch.einsum("nkd,nd->nk", Q[:, : j + 1], w), Q[:, : j + 1])
        b = w.norm(dim=1)
        scale = torch.maximum(scale, torch.maximum(alpha[:, j].abs(), b))
        broke = active & (b <= eps_break * scale)
        dims[broke] = j + 1
        active &= ~broke
        beta[:, j] = torch.where(active, b, torch.zeros_like(b))
        q = torch.where(active[:, None], w / b.clamp_min(torch.finfo(b.dtype).tiny)[:, None], torch.zeros_like(w))
        done_dims = torch.where(active, torch.full_like(dims, j + 1), dims)
        values, vectors, valid = _ritz(alpha[:, : j + 1], beta[:, : j + 1], done_dims, scale)
        bounds = (beta[:, j] * vectors[:, -1, -1]).abs()
        if j + 1 == m or bool(((bounds <= tol * values[:, -1].abs()) | ~active).all()):
            break
    top = torch.einsum("nk,nkd->nd", vectors[:, :, -1], Q[:, : j + 1])
    values = torch.where(valid, values, torch.full_like(values, float("nan")))
    return BatchedRitz(values, top, done_dims, ~active, bounds, j + 1)


@friendly_result
@dataclass(frozen=True)
class InputEigenResult:
    """Largest (algebraic) eigenvalue of each per-sample input Hessian.

    ``eigenvalues`` ``(N,)``; ``eigenvectors`` ``(N, *input_shape)`` unit norm; ``residual_norms`` ``(N,)``
    the exact ``||H_i v_i - λ_i v_i||`` from one extra product; ``converged`` ``(N,)``
    ``residual <= tol·|λ|``; ``num_steps`` Lanczos steps; ``num_hvps`` batched products used.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    converged: torch.Tensor
    num_steps: int
    num_hvps: int
    settings: Mapping[str, Any]


def input_top_eigenvalue(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: LossFn | None = None,
    iters: int = 20,
    tol: float = 1e-4,
    seed: int = 0,
    dtype: torch.dtype | None = None,
) -> InputEigenResult:
    """λ1 of every per-sample input Hessian by batched Lanczos (``iters`` steps at most, seeded start)."""
    if iters < 1 or tol <= 0:
        raise ConfigError(f"iters must be >= 1 and tol > 0, got iters={iters}, tol={tol}")
    op = InputHessian(model, loss_fn, x, y, dtype=dtype)
    N, D = op.num_samples, op.dim
    gen = torch.Generator().manual_seed(int(seed))
    v0 = torch.randn(N, D, generator=gen, dtype=op.dtype).to(op.device)
    apply = lambda v: op.hvp_batch(v).reshape(N, D)  # noqa: E731
    ritz = batched_lanczos(apply, v0, iters, tol)
    lam = ritz.values[:, -1]
    residual = (apply(ritz.top_vectors) - lam[:, None] * ritz.top_vectors).norm(dim=1)
    settings = {**op.settings, "iters": iters, "tol": tol, "seed": seed}
    return InputEigenResult(
        lam, ritz.top_vectors.reshape(N, *op.input_shape), residual, residual <= tol * lam.abs(),
        ritz.steps, ritz.steps + 1, settings,
    )

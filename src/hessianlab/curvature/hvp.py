"""Functional loss, gradient and Hessian-vector products over ``torch.func.functional_call``.

:class:`Objective` freezes a model at its current parameters (detached, dtype-cast copies; the model is
never cast or mutated) and exposes the loss of one batch as a function of a name-keyed dict of the
*selected* parameters (see :mod:`hessianlab.curvature.losses` for the loss contract). Products per batch:

* ``'double_backward'``: :class:`GradientGraph` builds the gradient graph once (``create_graph=True`` on
  private leaf copies, never into ``.grad``); each product is then one backward pass through it, so a
  block of ``k`` products costs one forward, one first backward and ``k`` second backward passes.
* ``'fwd_rev'``: forward-over-reverse (``jvp`` of ``grad``); a block is ``vmap`` over the tangents, and
  a single product is a block of one (measured about 2x faster than a plain ``jvp`` on CPU convolutions,
  bench/bench_hvp_block.py), so the forward and backward pass of a batch are shared by all ``k`` tangents.

Callers set the model mode around every call (see :mod:`hessianlab.curvature.modes`).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad, jvp, vmap

from hessianlab.curvature.losses import BatchLoss, LossFn, check_scalar
from hessianlab.curvature.params import ParamSpec, functional_state
from hessianlab.errors import ConfigError

TensorDict = dict[str, torch.Tensor]
HVPMethod = Literal["auto", "cached", "fwd_rev", "double_backward"]
HVP_METHODS: tuple[str, ...] = ("auto", "cached", "fwd_rev", "double_backward")
__all__ = ["GradientGraph", "HVP_METHODS", "LossFn", "Objective", "TensorDict", "check_hvp_method", "hvp_fwd_rev"]


def check_hvp_method(method: str) -> HVPMethod:
    """Return ``method`` if valid, else raise :class:`ConfigError`."""
    if method not in HVP_METHODS:
        raise ConfigError(f"hvp_method must be one of {HVP_METHODS}, got {method!r}")
    return method  # type: ignore[return-value]


def drop_running_stats(model: nn.Module, buffers: TensorDict) -> dict[str, torch.Tensor | None]:
    """Replace BatchNorm running statistics by ``None``: in train mode BN normalises with batch
    statistics only, and the in-place running-average update would fail under ``torch.func``."""
    out: dict[str, torch.Tensor | None] = dict(buffers)
    for prefix, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                key = f"{prefix}.{name}" if prefix else name
                if key in out:
                    out[key] = None
    return out


class _ClosureModule(nn.Module):
    """``fn(model, batch)`` as a module, so ``functional_call`` can swap the model's parameters in."""

    def __init__(self, model: nn.Module, fn: BatchLoss) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self.fn(self.model, batch)


class Objective:
    """The mean loss of one batch as a function of the selected parameters θ (a name-keyed dict).

    ``point`` holds the selected parameters at which derivatives are taken, ``(P,)`` in total; all other
    parameters and the buffers are constants. ``train_mode=True`` drops BatchNorm running statistics
    (batch statistics are used; nothing is accumulated). ``loss_fn`` is ``loss(output, target)`` with
    batches ``(x, target)``, or a :class:`~hessianlab.curvature.losses.BatchLoss` with any batch.
    """

    def __init__(
        self, model: nn.Module, loss_fn: LossFn | BatchLoss, spec: ParamSpec, dtype: torch.dtype, *, train_mode: bool
    ) -> None:
        params, buffers = functional_state(model, dtype)
        self.model = model
        self.loss_fn = loss_fn
        self.spec = spec
        self.point: TensorDict = {n: params.pop(n) for n in spec.names}
        self.frozen: TensorDict = params
        self.buffers = drop_running_stats(model, buffers) if train_mode else buffers
        self._closure_module = _ClosureModule(model, loss_fn) if isinstance(loss_fn, BatchLoss) else None

    def logits(self, params: TensorDict, x: torch.Tensor) -> torch.Tensor:
        """Model output ``(n, C)`` for inputs ``x`` ``(n, ...)`` at parameters ``params``."""
        return functional_call(self.model, (self.frozen, params, self.buffers), (x,))

    def closure(self, batch: Any) -> Callable[[TensorDict], torch.Tensor]:
        """The scalar mean loss of ``batch`` as a function of the selected parameters."""
        module = self._closure_module
        if module is None:
            x, y = batch
            return lambda params: check_scalar(self.loss_fn(self.logits(params, x), y))

        def value(params: TensorDict) -> torch.Tensor:
            state = [{f"model.{k}": t for k, t in d.items()} for d in (self.frozen, params, self.buffers)]
            return check_scalar(functional_call(module, tuple(state), (batch,)))

        return value

    def loss_and_grad(self, batch: Any) -> tuple[torch.Tensor, TensorDict]:
        """``(loss, ∇θ loss)`` on one batch by plain reverse mode on private leaf copies (works for every
        model, including ones ``torch.func`` cannot transform); the loss is a detached 0-dim tensor."""
        names = list(self.point)
        leaves = [self.point[n].detach().requires_grad_(True) for n in names]
        with torch.enable_grad():
            value = self.closure(batch)(dict(zip(names, leaves)))
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        g = {n: torch.zeros_like(self.point[n]) if t is None else t for n, t in zip(names, grads)}
        return value.detach(), g

    def hvp(self, batch: Any, v: TensorDict, method: str) -> TensorDict:
        """``∇²θ loss · v`` on one batch by ``'fwd_rev'`` or ``'double_backward'``."""
        if method == "fwd_rev":  # a block of one: vmap's batched tangent kernels beat a plain jvp on CPU
            return {n: t[0] for n, t in self.hvp_block(batch, {n: t[None] for n, t in v.items()}, method).items()}
        return GradientGraph(self, batch).hvp(v)

    def hvp_block(self, batch: Any, V: TensorDict, method: str) -> TensorDict:
        """``k`` products on one batch in one forward pass: ``V`` and the result hold ``(k, *shape)``
        tensors. ``'fwd_rev'``: ``vmap`` over forward-over-reverse; ``'double_backward'``: one gradient graph,
        ``k`` backward passes through it."""
        if method == "fwd_rev":
            f = self.closure(batch)
            return vmap(lambda t: hvp_fwd_rev(f, self.point, t))(V)
        return GradientGraph(self, batch).hvp_block(V)


def hvp_fwd_rev(f: Callable[[TensorDict], torch.Tensor], point: TensorDict, v: TensorDict) -> TensorDict:
    """Forward-over-reverse HVP: ``jvp(grad(f), (point,), (v,))``."""
    return jvp(grad(f), (point,), (v,))[1]


class GradientGraph:
    """``g = ∇θ loss`` on one batch, built once with ``create_graph=True`` and kept for many products.

    The graph lives on private leaf copies of ``objective.point`` (no ``.grad`` is written, nothing is
    accumulated); each product ``H v = ∂(g · v)/∂θ`` is one ``torch.autograd.grad`` call with
    ``grad_outputs=v`` and ``retain_graph=True``. Memory: the batch's forward activations plus the first
    backward pass, held until the object is dropped. Build it with the model in the operator's mode.
    """

    def __init__(self, objective: Objective, batch: Any) -> None:
        self.point = objective.point
        self.leaves = [t.detach().requires_grad_(True) for t in self.point.values()]
        with torch.enable_grad():
            value = objective.closure(batch)(dict(zip(self.point, self.leaves)))
            grads = torch.autograd.grad(value, self.leaves, create_graph=True, allow_unused=True)
        # entries of g that are constant in θ (unused or linear parameters) contribute nothing to H v
        self.live = [(n, g) for n, g in zip(self.point, grads) if g is not None and g.requires_grad]

    def hvp(self, v: TensorDict) -> TensorDict:
        """``∇²θ loss · v``: one backward pass through the retained graph; ``v`` and the result hold
        parameter-shaped tensors."""
        hv: Sequence[torch.Tensor | None] = [None] * len(self.leaves)
        if self.live:
            hv = torch.autograd.grad(
                [g for _, g in self.live], self.leaves, grad_outputs=[v[n] for n, _ in self.live],
                retain_graph=True, allow_unused=True,
            )
        return {n: torch.zeros_like(t) if h is None else h for (n, t), h in zip(self.point.items(), hv)}

    def hvp_block(self, V: TensorDict) -> TensorDict:
        """``k`` products, one backward pass each: ``V`` and the result hold ``(k, *shape)`` tensors."""
        k = next(iter(V.values())).shape[0]
        cols = [self.hvp({n: t[j] for n, t in V.items()}) for j in range(k)]
        return {n: torch.stack([c[n] for c in cols]) for n in self.point}

"""Functional loss, gradient and Hessian-vector products over ``torch.func.functional_call``.

:class:`Objective` freezes a model at its current parameters (detached, dtype-cast copies; the model is
never cast or mutated) and exposes the loss as a function of a name-keyed dict of the *selected*
parameters. Hessian-vector products are forward-over-reverse (``jvp`` of ``grad``) with a
double-backward fallback (``torch.autograd.grad(create_graph=True)`` on private copies, never into
``.grad``). :class:`GradientGraph` keeps one chunk's gradient graph alive so that every further product
costs a single backward pass (the ``'cached'`` method). Callers set the model mode around every call
(see :mod:`hessianlab.curvature.modes`).
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad, jvp, vmap

from hessianlab.curvature.params import ParamSpec, functional_state
from hessianlab.errors import ConfigError

TensorDict = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HVPMethod = Literal["auto", "cached", "fwd_rev", "double_backward"]
HVP_METHODS: tuple[str, ...] = ("auto", "cached", "fwd_rev", "double_backward")


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


class Objective:
    """``loss_fn(model(x; θ), y)`` as a function of the selected parameters θ (a name-keyed dict).

    ``point`` holds the selected parameters at which derivatives are taken, ``(P,)`` in total; all other
    parameters and the buffers are constants. ``train_mode=True`` drops BatchNorm running statistics
    (batch statistics are used; nothing is accumulated).
    """

    def __init__(
        self, model: nn.Module, loss_fn: LossFn, spec: ParamSpec, dtype: torch.dtype, *, train_mode: bool
    ) -> None:
        params, buffers = functional_state(model, dtype)
        self.model = model
        self.loss_fn = loss_fn
        self.spec = spec
        self.point: TensorDict = {n: params.pop(n) for n in spec.names}
        self.frozen: TensorDict = params
        self.buffers = drop_running_stats(model, buffers) if train_mode else buffers

    def logits(self, params: TensorDict, x: torch.Tensor) -> torch.Tensor:
        """Model output ``(n, C)`` for inputs ``x`` ``(n, ...)`` at parameters ``params``."""
        return functional_call(self.model, (self.frozen, params, self.buffers), (x,))

    def closure(self, x: torch.Tensor, y: torch.Tensor) -> Callable[[TensorDict], torch.Tensor]:
        """The scalar loss on ``(x, y)`` as a function of the selected parameters."""
        return lambda params: self.loss_fn(self.logits(params, x), y)

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, TensorDict]:
        """``(loss, ∇θ loss)`` on one chunk by plain reverse mode on private leaf copies (works for every
        model, including ones ``torch.func`` cannot transform); the loss is a detached 0-dim tensor."""
        names = list(self.point)
        leaves = [self.point[n].detach().requires_grad_(True) for n in names]
        with torch.enable_grad():
            value = self.closure(x, y)(dict(zip(names, leaves)))
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        g = {n: torch.zeros_like(self.point[n]) if t is None else t for n, t in zip(names, grads)}
        return value.detach(), g

    def hvp(self, x: torch.Tensor, y: torch.Tensor, v: TensorDict, method: str) -> TensorDict:
        """``∇²θ loss · v`` on one chunk by ``'fwd_rev'`` or ``'double_backward'``."""
        f = self.closure(x, y)
        if method == "fwd_rev":
            return hvp_fwd_rev(f, self.point, v)
        return hvp_double_backward(f, self.point, v)

    def hvp_batched(self, x: torch.Tensor, y: torch.Tensor, V: TensorDict) -> TensorDict:
        """``k`` products at once: ``V`` holds ``(k, *shape)`` tensors; ``vmap`` over forward-over-reverse."""
        f = self.closure(x, y)
        return vmap(lambda t: hvp_fwd_rev(f, self.point, t))(V)


def hvp_fwd_rev(f: Callable[[TensorDict], torch.Tensor], point: TensorDict, v: TensorDict) -> TensorDict:
    """Forward-over-reverse HVP: ``jvp(grad(f), (point,), (v,))``."""
    return jvp(grad(f), (point,), (v,))[1]


def hvp_double_backward(
    f: Callable[[TensorDict], torch.Tensor], point: TensorDict, v: TensorDict
) -> TensorDict:
    """Reverse-over-reverse HVP on private leaf copies of ``point`` (no ``.grad`` is written)."""
    names = list(point)
    leaves = [point[n].detach().requires_grad_(True) for n in names]
    with torch.enable_grad():
        loss = f(dict(zip(names, leaves)))
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        dot = sum((g * v[n]).sum() for g, n in zip(grads, names) if g is not None)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            return {n: torch.zeros_like(point[n]) for n in names}
        hv = torch.autograd.grad(dot, leaves, allow_unused=True)
    return {n: torch.zeros_like(point[n]) if h is None else h for n, h in zip(names, hv)}


class GradientGraph:
    """``g = ∇θ loss`` on one chunk, built once with ``create_graph=True`` and kept for many products.

    The graph lives on private leaf copies of ``objective.point`` (no ``.grad`` is written, nothing is
    accumulated); each product ``H v = ∂(g · v)/∂θ`` is one ``torch.autograd.grad`` call with
    ``grad_outputs=v`` and ``retain_graph=True``. Memory: the chunk's forward activations plus the first
    backward pass, held until the object is dropped. Build it with the model in the operator's mode.
    """

    def __init__(self, objective: Objective, x: torch.Tensor, y: torch.Tensor) -> None:
        self.point = objective.point
        self.leaves = [t.detach().requires_grad_(True) for t in self.point.values()]
        with torch.enable_grad():
            value = objective.closure(x, y)(dict(zip(self.point, self.leaves)))
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

"""Parameter selection and flat <-> name-keyed conversions.

A curvature operator acts on a flat vector that concatenates the selected parameters in the model's
``named_parameters()`` order, each flattened row-major. :class:`ParamSpec` is that layout; a block Hessian
is just a smaller selection. :func:`functional_state` makes detached, dtype-cast *copies* of a model's
parameters and buffers for ``torch.func.functional_call``, so the caller's tensors are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn as nn

from hessianlab.errors import ConfigError

ParamSelection = None | str | Sequence[str]


@dataclass(frozen=True)
class ParamSpec:
    """Layout of a flat parameter vector: names in model order and the shape of each tensor."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def numels(self) -> tuple[int, ...]:
        """Number of entries of each tensor."""
        return tuple(int(torch.Size(s).numel()) for s in self.shapes)

    @property
    def size(self) -> int:
        """Length ``P`` of the flat vector."""
        return sum(self.numels)

    def flatten(self, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate ``tensors[name]`` for every name of the spec into one flat ``(P,)`` tensor."""
        missing = [n for n in self.names if n not in tensors]
        if missing:
            raise ConfigError(f"flatten: missing parameters {missing}; pass a dict with every selected name")
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat ``(P,)`` tensor into a name-keyed dict of views shaped like the parameters."""
        if v.shape != (self.size,):
            raise ValueError(f"unflatten expects shape ({self.size},), got {tuple(v.shape)}")
        parts = torch.split(v, list(self.numels))
        return {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}

    def unflatten_batch(self, V: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``(k, P)`` into a dict of ``(k, *shape)`` tensors (leading batch dimension kept)."""
        parts = torch.split(V, list(self.numels), dim=1)
        return {n: p.reshape(V.shape[0], *s) for n, p, s in zip(self.names, parts, self.shapes)}

    def flatten_batch(self, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`unflatten_batch`: dict of ``(k, *shape)`` -> ``(k, P)``."""
        return torch.cat([tensors[n].reshape(tensors[n].shape[0], -1) for n in self.names], dim=1)


def select_param_names(model: nn.Module, params: ParamSelection = None) -> tuple[str, ...]:
    """Names of the selected parameters, in ``model.named_parameters()`` order.

    ``params`` is ``None`` (every parameter with ``requires_grad=True``), a list of exact names, or a
    regular expression string matched with ``re.search`` against each name (e.g. ``r"^fc2\\."`` or
    ``"bias"``); names and regexes may select frozen parameters explicitly.
    """
    all_names = [n for n, _ in model.named_parameters()]
    if params is None:
        chosen = [n for n, p in model.named_parameters() if p.requires_grad]
        if not chosen:
            raise ConfigError("the model has no parameter with requires_grad=True; unfreeze some "
                              "(p.requires_grad_(True)) or select them with params=...")
    elif isinstance(params, str):
        try:
            pattern = re.compile(params)
        except re.error as exc:
            raise ConfigError(f"params regex {params!r} is invalid ({exc}); fix the pattern") from None
        chosen = [n for n in all_names if pattern.search(n)]
    else:
        wanted = list(params)
        unknown = [n for n in wanted if n not in all_names]
        if unknown:
            raise ConfigError(f"unknown parameter names {unknown}; choose from {all_names}")
        chosen = [n for n in all_names if n in set(wanted)]
    if not chosen:
        raise ConfigError(f"params={params!r} selects no parameter; choose from {all_names}")
    return tuple(chosen)


def param_spec(model: nn.Module, params: ParamSelection = None) -> ParamSpec:
    """The :class:`ParamSpec` of the parameters selected by ``params`` (see :func:`select_param_names`)."""
    names = select_param_names(model, params)
    shapes = dict(model.named_parameters())
    return ParamSpec(names, tuple(tuple(shapes[n].shape) for n in names))


def functional_state(
    model: nn.Module, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Detached copies of all parameters and buffers; floating tensors cast to ``dtype``.

    Returns ``(params, buffers)`` for ``torch.func.functional_call``. The model is not modified.
    """
    params = {n: p.detach().to(dtype=dtype, copy=True) for n, p in model.named_parameters()}
    buffers = {
        n: b.detach().to(dtype=dtype, copy=True) if b.is_floating_point() else b.detach().clone()
        for n, b in model.named_buffers()
    }
    return params, buffers

"""Directions in parameter space for loss landscapes.

A *direction* is a name-keyed dict of tensors over (a subset of) the names of ``model.named_parameters()``,
each shaped like its parameter; a missing name means a zero component. Three kinds:

* :func:`eigen_directions`: top-``k`` eigenvectors of the parameter Hessian of the mean loss (Yao et al.
  2018, Figs. 2 and 3), unit norm over the selected parameters. Their sign is arbitrary (the solver's).
* :func:`random_direction`: a Gaussian direction, filter-normalised as in Li et al. 2018.
* :func:`interpolation_direction`: ``θ_B - θ_A`` between two models of one architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
import torch.nn as nn

from hessianlab.curvature.eigs import top_eigenpairs
from hessianlab.curvature.hvp import LossFn
from hessianlab.curvature.param_hessian import ParamHessian, Samples
from hessianlab.curvature.params import ParamSelection, select_param_names
from hessianlab.curvature.results import EigenResult
from hessianlab.errors import ConfigError

Direction = dict[str, torch.Tensor]
IGNORE = ("biasbn", None)


@dataclass(frozen=True)
class EigenDirections:
    """Top-``k`` Hessian eigenvectors as directions, with the solver's evidence.

    Behaves as the sequence of its directions (``d1, d2 = eigen_directions(...)``).

    Attributes:
        directions: ``k`` directions, the ``i``-th the unit eigenvector of ``eigenvalues[i]``.
        eigenvalues: ``(k,)`` float64, largest first (loss units per squared parameter unit).
        result: the full :class:`EigenResult` (residuals, convergence, operator settings).
    """

    directions: tuple[Direction, ...]
    eigenvalues: torch.Tensor
    result: EigenResult

    def __len__(self) -> int:
        return len(self.directions)

    def __getitem__(self, i: int) -> Direction:
        return self.directions[i]

    def __iter__(self) -> Iterator[Direction]:
        return iter(self.directions)


def eigen_directions(
    model: nn.Module,
    data: Any,
    k: int = 2,
    *,
    loss_fn: LossFn | None = None,
    samples: Samples = "all",
    seed: int = 0,
    chunk_size: int | None = None,
    params: ParamSelection = None,
    mode: str = "eval",
    dtype: torch.dtype | None = None,
    **solver_kw: Any,
) -> EigenDirections:
    """Top-``k`` (largest algebraic) eigenpairs of the Hessian of the mean loss over ``data``.

    The operator is :class:`ParamHessian` with the given data semantics (``mode='eval'`` matches the
    landscape's ``bn_policy='eval'``); ``dtype`` defaults to the model's parameter dtype. ``solver_kw`` go
    to :func:`top_eigenpairs` (``method``, ``tol``, ``seed``, ...). The model is not modified.
    """
    if dtype is None:
        dtype = next(model.parameters()).dtype
    op = ParamHessian(model, loss_fn, data, samples=samples, seed=seed, chunk_size=chunk_size,
                      params=params, mode=mode, dtype=dtype)
    solver_kw.setdefault("which", "LA")
    result = top_eigenpairs(op, k, **solver_kw)
    directions = tuple(
        {n: t.detach().clone() for n, t in op.unflatten(result.eigenvectors[:, i]).items()} for i in range(result.k)
    )
    return EigenDirections(directions, result.eigenvalues, result)


def random_direction(
    model: nn.Module,
    *,
    seed: int,
    filter_normalize: bool = True,
    ignore: str | None = "biasbn",
    params: ParamSelection = None,
) -> Direction:
    """A seeded Gaussian direction, filter-normalised as in Li et al. 2018 ("Visualizing the loss landscape").

    Entries are drawn i.i.d. N(0, 1) in float64 from a CPU generator seeded with ``seed`` (one draw per
    selected parameter, in model order), so the direction depends neither on the model's dtype nor device;
    it is then cast to each parameter's dtype and device.

    * Parameters with at least 2 dimensions (weights): with ``filter_normalize`` every filter ``d[i]``
      (slice along dim 0: a conv filter or a linear row) is rescaled to ``||θ[i]||``, the norm of the same
      filter of the model.
    * Parameters with at most 1 dimension (biases, BatchNorm weights and biases): ``ignore='biasbn'``
      (Li et al.'s default) sets them to 0; ``ignore=None`` keeps them, as Li et al. do, as a copy of
      ``θ`` when ``filter_normalize`` (one "filter" per scalar) and as the Gaussian draw otherwise.

    ``params`` selects a subset (names or regex, see :func:`select_param_names`); others are absent (= 0).
    """
    if ignore not in IGNORE:
        raise ConfigError(f"ignore must be 'biasbn' or None, got {ignore!r}")
    gen = torch.Generator().manual_seed(int(seed))
    theta = dict(model.named_parameters())
    out: Direction = {}
    for name in select_param_names(model, params):
        w = theta[name].detach()
        d = torch.randn(w.shape, generator=gen, dtype=torch.float64)
        if w.dim() <= 1:
            if ignore == "biasbn":
                d = torch.zeros_like(d)
            elif filter_normalize:
                d = w.to("cpu", torch.float64).clone()
        elif filter_normalize:
            d = _filter_normalize(d, w.to("cpu", torch.float64))
        out[name] = d.to(device=w.device, dtype=w.dtype)
    return out


def _filter_normalize(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Rescale each filter ``d[i]`` (slice along dim 0) to the norm of ``w[i]``; shapes ``(F, ...)``."""
    dims = tuple(range(1, d.dim()))
    d_norm = torch.linalg.vector_norm(d, dim=dims, keepdim=True)
    w_norm = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
    return d * (w_norm / d_norm.clamp_min(torch.finfo(d.dtype).tiny))


def interpolation_direction(model_a: nn.Module, model_b: nn.Module) -> Direction:
    """``θ_B - θ_A`` over every parameter; both models must have the same parameter names and shapes."""
    theta_a, theta_b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    check_same_tensors(theta_a, theta_b, "parameters")
    return {n: (theta_b[n].detach() - theta_a[n].detach()) for n in theta_a}


def check_same_tensors(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise :class:`ConfigError` unless ``a`` and ``b`` have the same names, shapes and dtypes."""
    if list(a) != list(b):
        diff = sorted(set(a) ^ set(b))
        raise ConfigError(f"models differ in {what} names ({diff}); use two models of one architecture")
    bad = [n for n in a if a[n].shape != b[n].shape or a[n].dtype != b[n].dtype]
    if bad:
        raise ConfigError(f"models differ in the shape or dtype of {what} {bad}; use two models of one architecture")


def check_direction(model: nn.Module, direction: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`ConfigError` unless every key is a parameter name and every tensor has its shape."""
    theta = dict(model.named_parameters())
    unknown = [n for n in direction if n not in theta]
    if unknown:
        raise ConfigError(f"direction has names {unknown} that are not parameters of the model; drop them")
    bad = [n for n, t in direction.items() if tuple(t.shape) != tuple(theta[n].shape)]
    if bad:
        raise ConfigError(f"direction tensors {bad} do not match the parameter shapes; build it from this model")

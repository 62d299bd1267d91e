"""Per-norm hooks of the attack loop: step direction, projection, random start (as Foolbox splits them).

Every hook works on a batch ``(N, *in_shape)``; norms are per sample over all input entries.

* :data:`LINF` — direction ``sign(g)``; projection onto ``{|x' - x|_∞ <= eps} ∩ [0, 1]^d`` (a box, so
  one clamp is the exact projection); random start uniform in the cube ``[-eps, eps]^d``.
* :data:`L2` — direction ``g / |g|_2`` (zero where ``g = 0``); projection: radial rescale onto the
  ball, then clip to ``[0, 1]`` (clipping toward ``x ∈ [0, 1]`` only shrinks the perturbation, so the
  result stays in the ball); random start uniform in the ball: Gaussian direction normalised, radius
  ``eps · U^(1/d)`` with ``d`` the number of input entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Geometry", "LINF", "L2", "GEOMETRIES", "per_sample_norm"]

Projector = Callable[[torch.Tensor], torch.Tensor]


def per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each sample of ``t`` ``(N, ...)`` as shape ``(N, 1, ..., 1)`` (broadcastable)."""
    return torch.linalg.vector_norm(t.flatten(1), dim=1).view((-1,) + (1,) * (t.dim() - 1))


def _safe_divide(t: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """``t / norm`` per sample, with zero where ``norm == 0`` (no NaN from zero gradients)."""
    return t / norm.clamp_min(torch.finfo(t.dtype).tiny)


@dataclass(frozen=True)
class Geometry:
    """The three norm-specific pieces of the loop (see module docstring)."""

    name: str
    direction: Callable[[torch.Tensor], torch.Tensor]
    projector: Callable[[torch.Tensor, float], Projector]
    random_start: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


def _linf_direction(g: torch.Tensor) -> torch.Tensor:
    return g.sign()


def _linf_projector(x: torch.Tensor, eps: float) -> Projector:
    lo = (x - eps).clamp_(min=0.0)
    hi = (x + eps).clamp_(max=1.0)
    return lambda x_new: torch.clamp(x_new, min=lo, max=hi)


def _linf_random_start(x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return u.mul_(2.0).sub_(1.0).mul_(eps)


def _l2_direction(g: torch.Tensor) -> torch.Tensor:
    return _safe_divide(g, per_sample_norm(g))


def _l2_projector(x: torch.Tensor, eps: float) -> Projector:
    def project(x_new: torch.Tensor) -> torch.Tensor:
        delta = x_new - x
        scale = (eps / per_sample_norm(delta).clamp_min(torch.finfo(x.dtype).tiny)).clamp_(max=1.0)
        return (x + delta * scale).clamp_(0.0, 1.0)

    return project


def _l2_random_start(x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    n, d = x.shape[0], x[0].numel()
    gauss = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    u = torch.rand((n,), generator=generator, dtype=x.dtype, device=x.device)
    radius = (eps * u.pow(1.0 / d)).view((-1,) + (1,) * (x.dim() - 1))
    return _safe_divide(gauss, per_sample_norm(gauss)) * radius


LINF = Geometry("linf", _linf_direction, _linf_projector, _linf_random_start)
L2 = Geometry("l2", _l2_direction, _l2_projector, _l2_random_start)
GEOMETRIES: dict[str, Geometry] = {"linf": LINF, "l2": L2}

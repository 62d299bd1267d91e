"""Symmetric 1-D grids of step sizes that contain the centre exactly.

A landscape is read relative to its centre (the trained model), so every grid point must be mirrored
(``g[n-1-i] == -g[i]`` bitwise) and the middle point must be exactly ``0.0``: then the centre value is
the model's own loss, not an interpolation between two neighbours.
"""

from __future__ import annotations

import math

import torch

from hessianlab.errors import ConfigError


def symmetric_grid(radius: float, num_points: int) -> torch.Tensor:
    """``linspace(-radius, radius, num_points)`` as a float64 ``(num_points,)`` tensor, exactly symmetric.

    ``num_points`` must be odd (the centre is a grid point); the middle value is exactly ``0.0`` and the
    ends are exactly ``±radius``. Units: those of the direction's coefficient (for a unit eigenvector,
    Euclidean distance in parameter space; for a filter-normalised direction, a fraction of each filter's norm).
    """
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
        raise ConfigError(f"num_points must be a positive odd int, got {num_points!r}")
    if num_points % 2 == 0:
        raise ConfigError(
            f"num_points={num_points} is even, so the grid would miss the centre; use {num_points + 1}"
        )
    radius = float(radius)
    if not math.isfinite(radius) or radius <= 0:
        raise ConfigError(f"radius must be a finite positive number, got {radius!r}")
    half = (num_points - 1) // 2
    positive = radius * (torch.arange(1, half + 1, dtype=torch.float64) / max(half, 1))
    return torch.cat([-positive.flip(0), torch.zeros(1, dtype=torch.float64), positive])

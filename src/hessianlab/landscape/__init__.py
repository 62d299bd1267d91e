"""Loss landscapes: directions, symmetric grids, line / plane / interpolation evaluation, saving, figures.

Directions are name-keyed dicts of parameter-shaped tensors (a subset of the parameters; missing = 0)::

    eigen_directions(model, data, k=2, **solver_kw) -> EigenDirections   top-k Hessian eigenvectors (+ evidence)
    random_direction(model, *, seed, filter_normalize=True, ignore='biasbn')   Li et al. 2018
    interpolation_direction(model_a, model_b)                             θ_B - θ_A

Grids and evaluation (the caller's model is never modified; BatchNorm policy ``bn_policy='eval'``)::

    symmetric_grid(radius, num_points)                         odd num_points, centre exactly 0.0
    line(model, data, d, alphas, *, batch_size, bn_policy, kind) -> Line
    plane(model, data, d1, d2, alphas, betas, ...)              -> Plane  (loss[i, j] at alphas[i], betas[j])
    interpolate(model_a, model_b, data, alphas, ...)            -> Line   ((1 - α) θ_A + α θ_B)

Saving and figures::

    save_landscape(path.json, result, {'d1': d1, ...}), load_landscape(path.json) -> (result, directions)
    plot_line({'train': l1, 'test': l2}), plot_plane(plane), plot_interpolation(line)   -> Figure
"""

from hessianlab.landscape.directions import (
    Direction, EigenDirections, eigen_directions, interpolation_direction, random_direction,
)
from hessianlab.landscape.evaluate import BN_POLICIES, interpolate, line, plane
from hessianlab.landscape.grid import symmetric_grid
from hessianlab.landscape.io import load_landscape, save_landscape
from hessianlab.landscape.plot import plot_interpolation, plot_line, plot_plane
from hessianlab.landscape.results import Line, Plane

__all__ = [
    "BN_POLICIES", "Direction", "EigenDirections", "Line", "Plane", "eigen_directions", "interpolate",
    "interpolation_direction", "line", "load_landscape", "plane", "plot_interpolation", "plot_line", "plot_plane",
    "random_direction", "save_landscape", "symmetric_grid",
]

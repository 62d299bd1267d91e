"""Plot results directly: spectra, spectral densities, landscapes and tracker records.

Every function takes result objects (or a mapping ``label -> result`` to overlay several) and returns a
:class:`matplotlib.figure.Figure` on an Agg canvas (no window, no pyplot state); save it with
``fig.savefig("spectrum.png")`` or show it in a notebook by leaving it as a cell's value. ::

    plot_spectrum(eigen_result)                       eigenvalue index -> λ_i, certified pairs filled
    plot_density(density_result)                      smoothed SLQ density, log scale
    plot_landscape(line_or_plane)                     loss (and accuracy) along a line, or a plane's contours
    plot_records(tracker.records, "lambda1")          a tracked measure against the step
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hessianlab.curvature.density import DensityResult
from hessianlab.curvature.results import EigenResult
from hessianlab.errors import ConfigError
from hessianlab.landscape.plot import plot_line, plot_plane
from hessianlab.landscape.results import Line, Plane

__all__ = ["plot_density", "plot_landscape", "plot_records", "plot_spectrum"]

R = TypeVar("R")


def _labelled(results: R | Mapping[str, R], kind: type, what: str) -> dict[str, R]:
    """``{label: result}`` from one result or a mapping; a wrong type is a :class:`ConfigError`."""
    items = dict(results) if isinstance(results, Mapping) else {"": results}
    if not items:
        raise ConfigError(f"nothing to plot: pass {what} or a non-empty mapping of them")
    for label, result in items.items():
        if not isinstance(result, kind):
            raise ConfigError(f"{label or 'the result'} is a {type(result).__name__}, expected {what}")
    return items


def _axes(width: float = 5.5) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _finish(fig: Figure, ax: Any, xlabel: str, ylabel: str, title: str | None, *, yscale: str | None = None) -> Figure:
    if yscale is not None:
        ax.set_yscale(yscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def plot_spectrum(results: EigenResult | Mapping[str, EigenResult], *, log: bool = False,
                  title: str | None = None) -> Figure:
    """Eigenvalues against their index (1 = first in the result's order), one series per result.

    Pairs that meet the solver's tolerance are filled markers, the others hollow, so an uncertified value
    is visible at a glance. ``log`` uses a symmetric-log y axis (spectra spanning decades, negative values
    included). Returns a Figure with one axes.
    """
    fig, ax = _axes()
    for label, result in _labelled(results, EigenResult, "an EigenResult").items():
        index = list(range(1, result.k + 1))
        values = result.eigenvalues.tolist()
        ok = result.pair_converged.tolist()
        line, = ax.plot(index, values, marker="o", linestyle="-", label=label or f"top-{result.k} ({result.which})")
        bad = [(i, v) for i, v, c in zip(index, values, ok) if not c]
        if bad:
            ax.plot(*zip(*bad), marker="o", linestyle="none", markerfacecolor="white", color=line.get_color(),
                    label="not converged")
    return _finish(fig, ax, "index i", "eigenvalue λ_i", title, yscale="symlog" if log else None)


def plot_density(results: DensityResult | Mapping[str, DensityResult], *, log: bool = True,
                 title: str | None = None) -> Figure:
    """The smoothed spectral density (SLQ) of each result on its grid; ``log`` y axis by default (densities
    span many decades, as in Ghorbani et al. and PyHessian's figures). Returns a Figure with one axes."""
    fig, ax = _axes()
    for label, result in _labelled(results, DensityResult, "a DensityResult").items():
        ax.plot(result.grid.tolist(), result.density.tolist(),
                label=label or f"{result.num_probes} probes x {result.num_steps} steps")
    return _finish(fig, ax, "eigenvalue", "density", title, yscale="log" if log else None)


def plot_landscape(result: Line | Plane | Mapping[str, Line], *, metric: str = "loss",
                   title: str | None = None) -> Figure:
    """A :class:`Line` (or a mapping of them, e.g. train and test) as loss and accuracy curves, or a
    :class:`Plane` as contour and surface plots of ``metric`` (see :mod:`hessianlab.landscape.plot`)."""
    if isinstance(result, Plane):
        return plot_plane(result, metric=metric, title=title)
    lines = {"loss": result} if isinstance(result, Line) else _labelled(result, Line, "a Line or a Plane")
    return plot_line(lines, title=title)


def plot_records(records: Sequence[Mapping[str, Any]], measure: str = "lambda1", *, x: str = "step",
                 title: str | None = None) -> Figure:
    """The field ``measure`` of tracker records (:class:`hessianlab.Tracker`) against the field ``x``
    (``"step"`` or ``"epoch"``); records without the field are skipped. Returns a Figure with one axes."""
    points = [(r[x], r[measure]) for r in records if r.get(measure) is not None and r.get(x) is not None]
    if not points:
        raise ConfigError(f"no record has both {x!r} and {measure!r}; pick a measure the tracker recorded")
    fig, ax = _axes()
    ax.plot(*zip(*points), marker=".", label=measure)
    return _finish(fig, ax, x, measure, title)

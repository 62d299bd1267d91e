"""Figures of landscapes (Yao et al. 2018 Figs. 2, 3, 5 style); every function returns a Figure.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through ``pyplot``: no
window opens, no global figure registry grows, and the caller saves with ``fig.savefig(path)``.
"""

from __future__ import annotations

from typing import Mapping

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hessianlab.errors import ConfigError
from hessianlab.landscape.results import Line, Plane

METRICS = ("loss", "accuracy")


def plot_line(
    lines: Mapping[str, Line], *, accuracy: bool = True, log_loss: bool = False, title: str | None = None
) -> Figure:
    """Loss (and, with ``accuracy``, accuracy in a second panel) against ``α``, one curve per label.

    ``lines`` maps a label (``'train'``, ``'test'``, ``'B=64'``, ...) to a :class:`Line`. The centre
    ``α = 0`` is marked. Returns a Figure with 1 axes, or 2 with ``accuracy``.
    """
    return _line_figure(lines, accuracy, log_loss, title, marks={0.0: "centre"}, xlabel="α")


def plot_interpolation(
    lines: Line | Mapping[str, Line],
    *,
    endpoints: tuple[str, str] = ("A", "B"),
    accuracy: bool = True,
    log_loss: bool = False,
    title: str | None = None,
) -> Figure:
    """Loss (and accuracy) along ``(1 - α) θ_A + α θ_B``, with ``α = 0`` and ``α = 1`` marked by ``endpoints``.

    ``lines``: one :class:`Line` from :func:`interpolate` or a mapping label -> Line (e.g. train and test).
    Returns a Figure with 1 axes, or 2 with ``accuracy``.
    """
    if isinstance(lines, Line):
        lines = {"loss": lines}
    return _line_figure(lines, accuracy, log_loss, title, marks={0.0: endpoints[0], 1.0: endpoints[1]},
                        xlabel="α  (θ = (1 - α) θ_A + α θ_B)")


def plot_plane(plane: Plane, *, metric: str = "loss", levels: int = 20, title: str | None = None) -> Figure:
    """Contour plot (left) and 3-D surface (right) of ``metric`` over ``(α, β)``; the centre is marked.

    Returns a Figure with 2 axes (a 2-D one and a 3-D one).
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
    z = (plane.loss if metric == "loss" else plane.accuracy).double().numpy()
    a, b = torch.meshgrid(plane.alphas.double(), plane.betas.double(), indexing="ij")
    fig = _figure(width=11.0)
    ax = fig.add_subplot(1, 2, 1)
    contours = ax.contour(a.numpy(), b.numpy(), z, levels=levels)
    ax.clabel(contours, inline=True, fontsize=7)
    ax.plot([0.0], [0.0], marker="+", color="black")
    ax.set_xlabel("α (d1)")
    ax.set_ylabel("β (d2)")
    ax.set_title(metric)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(a.numpy(), b.numpy(), z, cmap="viridis", linewidth=0)
    ax3.set_xlabel("α (d1)")
    ax3.set_ylabel("β (d2)")
    ax3.set_zlabel(metric)
    if title:
        fig.suptitle(title)
    return fig


def _line_figure(
    lines: Mapping[str, Line], accuracy: bool, log_loss: bool, title: str | None,
    marks: Mapping[float, str], xlabel: str,
) -> Figure:
    if not lines:
        raise ConfigError("nothing to plot: pass at least one Line")
    panels = ("loss", "accuracy") if accuracy else ("loss",)
    fig = _figure(width=5.5 * len(panels))
    for col, metric in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), col)
        for label, result in lines.items():
            values = result.loss if metric == "loss" else result.accuracy
            ax.plot(result.alphas.numpy(), values.numpy(), marker=".", label=label)
        for x, text in marks.items():
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
            ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=8)
        if metric == "loss" and log_loss:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _figure(width: float) -> Figure:
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    return fig

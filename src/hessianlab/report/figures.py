"""Report figures from batch-size studies; each builder returns only the figures its data supports.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, never ``pyplot``: nothing global is
touched. Repeated seeds are averaged (mean; error bars are the sample std). Where the batch size is on an
axis the axis is log2. Groups that did not reach the target loss carry a † in their legend label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hessianlab.report import metrics as M
from hessianlab.report.aggregate import POOLED, Group, group_runs, group_stat, varying_axes
from hessianlab.report.runs import RunRecord
from hessianlab.report.tables import ATTACK, DAGGER, final_value, setting_label

SCHEDULE_AXES = ("lr_schedule", "momentum")


@dataclass(frozen=True)
class ReportFigure:
    """A figure to save as ``<name>.png`` and ``<name>.pdf``, with its caption."""

    name: str
    caption: str
    figure: Figure


def new_figure(panels: int, *, width: float = 4.6, height: float = 3.8) -> Figure:
    """A constrained-layout Figure on its own Agg canvas, ``panels`` axes wide (axes not yet added)."""
    fig = Figure(figsize=(width * panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def finish_axes(ax: Any, xlabel: str, ylabel: str, *, legend_size: int) -> None:
    """Log y-axis when every plotted value is positive, integer x ticks, axis labels and a legend."""
    if all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=legend_size)


def group_label(group: Group, axes: Sequence[str]) -> str:
    """``'B=128 (lr_schedule=constant)'`` plus † when the group did not reach the target loss."""
    extra = setting_label(group.config, axes)
    label = f"B={group.config.get('batch_size')}" + (f" ({extra})" if extra else "")
    return label + ("" if group.reached_target else f" {DAGGER}")


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    length = min(len(c) for c in curves)
    return np.nanmean(np.array([c[:length] for c in curves], dtype=float), axis=0)


def spectrum_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Top eigenvalues of the full training-set Hessian, one line per batch size (Yao et al. Fig. 1)."""
    axes_names = varying_axes(runs, ignore=(*POOLED, "batch_size"))
    fig, ax, drawn = new_figure(1, width=6.0), None, False
    groups = sorted(group_runs(runs), key=lambda g: (setting_label(g.config, axes_names), g.config.get("batch_size", 0)))
    for g in groups:
        curves = [s for r in g.runs if (s := M.spectrum(r, "train"))]
        if not curves:
            continue
        ax = ax or fig.add_subplot(1, 1, 1)
        values = _mean_curve(curves)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=group_label(g, axes_names))
        drawn = True
    if not drawn:
        return []
    finish_axes(ax, "eigenvalue index", "eigenvalue of the training-loss Hessian", legend_size=7)
    return [ReportFigure("top_eigenvalues", "Top eigenvalues of the Hessian w.r.t. the parameters on the whole "
                         "training set, per batch size (Yao et al. Fig. 1 style; mean over seeds).", fig)]


def training_curves_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """λ1 and the full-batch gradient norm after every epoch (Yao et al. Fig. 4), when tracked."""
    axes_names = varying_axes(runs, ignore=(*POOLED, "batch_size"))
    fields = [f for f in ("lambda1", "grad_norm") if any(f in m for r in runs for m in r.metrics)]
    if not fields:
        return []
    fig = new_figure(len(fields))
    groups = sorted(group_runs(runs), key=lambda g: (setting_label(g.config, axes_names), g.config.get("batch_size", 0)))
    for col, name in enumerate(fields, start=1):
        ax = fig.add_subplot(1, len(fields), col)
        for g in groups:
            curves = [[m.get(name, np.nan) for m in r.metrics] for r in g.runs if any(name in m for m in r.metrics)]
            if curves:
                values = _mean_curve(curves)
                ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=group_label(g, axes_names))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel({"lambda1": "λ1 (Hessian w.r.t. θ)", "grad_norm": "‖∇θ L‖ (full batch)"}[name])
        ax.legend(fontsize=7)
    return [ReportFigure("lambda1_per_epoch", "Dominant Hessian eigenvalue and full-batch gradient norm after "
                         "every epoch (Yao et al. Fig. 4 style; mean over seeds).", fig)]


def batch_trends_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Accuracy, robust accuracy and λ1 against batch size, one line per schedule (Kamath et al. style).

    Lines are keyed by ``lr_schedule`` and ``momentum`` plus every other varying config field except
    ``batch_size``, ``seed`` and ``lr`` (which often scales with the batch size). Needs ≥ 2 batch sizes.
    """
    if len({r.config.get("batch_size") for r in runs}) < 2:
        return []
    other = [a for a in varying_axes(runs, ignore=(*POOLED, "batch_size", "lr")) if a not in SCHEDULE_AXES]
    line_axes = [*SCHEDULE_AXES, *other]
    panels: list[tuple[str, Callable[[RunRecord], float | None]]] = [
        ("test accuracy", lambda r: final_value(r, "test_acc"))]
    panels += [(f"{ATTACK.upper()} accuracy, test, ε = {e:g}", lambda r, e=e: M.attack_accuracy(r, ATTACK, "test", e))
               for e in M.attack_eps(list(runs), ATTACK)]
    panels.append(("λ1 (train)", lambda r: M.lambda1(r, "train")))
    panels = [p for p in panels if any(p[1](r) is not None for r in runs)]
    fig = new_figure(len(panels))
    lines: dict[str, list[Group]] = {}
    for g in group_runs(runs):
        lines.setdefault(setting_label(g.config, line_axes), []).append(g)
    for col, (title, get) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), col)
        for label, groups in sorted(lines.items()):
            pts = sorted(((g.config["batch_size"], s, g.reached_target) for g in groups if (s := group_stat(g, get))),
                         key=lambda p: p[0])
            if not pts:
                continue
            mark = "" if all(p[2] for p in pts) else f" {DAGGER}"
            bars = ax.errorbar([p[0] for p in pts], [p[1].mean for p in pts], yerr=[p[1].std or 0.0 for p in pts],
                               marker="o", capsize=3, label=label + mark)
            missed = [p for p in pts if not p[2]]
            if missed:
                ax.plot([p[0] for p in missed], [p[1].mean for p in missed], linestyle="none", marker="o",
                        markersize=8, markerfacecolor="white", markeredgecolor=bars.lines[0].get_color())
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    return [ReportFigure("batch_trends", "Test accuracy, robust accuracy and λ1 against batch size, one line per "
                         "schedule (Kamath et al. style; mean ± std over seeds; log2 batch axis). Hollow markers (and † "
                         "in the legend): runs that did not reach the target loss.", fig)]

"""Report figures from batch-size studies; each builder returns only the figures its data supports.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, never ``pyplot``: nothing global is
touched. Repeated seeds are averaged (mean; error bars are 95 % t intervals) and every caption is generated
from the data drawn: how many seeds each point averages, and which groups did not reach the target loss (†,
hollow markers). Where the batch size is on an axis the axis is log2. Accuracies are in %, as in the tables.
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
from hessianlab.training.hooks import CurvatureHook

SCHEDULE_AXES = ("lr_schedule", "momentum")
LEGEND_SIZE = 9


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


def finish_axes(ax: Any, xlabel: str, ylabel: str, *, legend_size: int = LEGEND_SIZE) -> None:
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


def seeds_phrase(counts: Sequence[int]) -> str:
    """How many seeds each drawn point or curve averages: ``'one seed each'``, ``'mean over 3 seeds each'``,
    ``'mean over 1-3 seeds each'`` (a true statement of the data drawn)."""
    low, high = min(counts), max(counts)
    if high == 1:
        return "one seed each"
    return f"mean over {low if low == high else f'{low}-{high}'} seeds each"


def dagger_phrase(labels: Sequence[str], marker: str = "") -> str:
    """``' † (hollow markers): B=512 did not reach the target loss.'`` for the labels drawn, or ``''``."""
    if not labels:
        return ""
    how = f" ({marker})" if marker else ""
    return f" {DAGGER}{how}: {', '.join(labels)} did not reach the target training loss."


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    length = min(len(c) for c in curves)
    return np.nanmean(np.array([c[:length] for c in curves], dtype=float), axis=0)


def _sorted_groups(runs: Sequence[RunRecord], axes_names: Sequence[str]) -> list[Group]:
    return sorted(group_runs(runs), key=lambda g: (setting_label(g.config, axes_names), g.config.get("batch_size", 0)))


def spectrum_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Top eigenvalues of the full training-set Hessian, one line per batch size (Yao et al. Fig. 1)."""
    axes_names = varying_axes(runs, ignore=(*POOLED, "batch_size"))
    fig, ax = new_figure(1, width=6.0), None
    counts, missed = [], []
    for g in _sorted_groups(runs, axes_names):
        curves = [s for r in g.runs if (s := M.spectrum(r, "train"))]
        if not curves:
            continue
        ax = ax or fig.add_subplot(1, 1, 1)
        values = _mean_curve(curves)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=4, label=group_label(g, axes_names))
        counts.append(len(curves))
        missed += [] if g.reached_target else [group_label(g, axes_names).removesuffix(f" {DAGGER}")]
    if ax is None:
        return []
    ax.set_title("Top Hessian eigenvalues per batch size")
    finish_axes(ax, "eigenvalue index i", "λ_i, training-loss Hessian")
    scale = " (log axis)" if ax.get_yscale() == "log" else ""
    return [ReportFigure("top_eigenvalues", f"Top eigenvalues{scale} of the Hessian w.r.t. the parameters on the "
                         f"training set, one line per batch size ({seeds_phrase(counts)}; Yao et al. Fig. 1 style)."
                         + dagger_phrase(missed), fig)]


def training_curves_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """λ1 and the full-batch gradient norm after every epoch (Yao et al. Fig. 4), when tracked; log y axes, so
    one sharp run does not flatten the others. The caption states the Lanczos tolerance and the largest relative
    residual recorded."""
    axes_names = varying_axes(runs, ignore=(*POOLED, "batch_size"))
    fields = [f for f in ("lambda1", "grad_norm") if any(f in m for r in runs for m in r.metrics)]
    if not fields:
        return []
    fig = new_figure(len(fields))
    counts, missed = [], []
    for col, name in enumerate(fields, start=1):
        ax = fig.add_subplot(1, len(fields), col)
        for g in _sorted_groups(runs, axes_names):
            curves = [[m.get(name, np.nan) for m in r.metrics] for r in g.runs if any(name in m for m in r.metrics)]
            if curves:
                values = _mean_curve(curves)
                ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=group_label(g, axes_names))
                if col == 1:
                    counts.append(len(curves))
                    missed += [] if g.reached_target else [group_label(g, axes_names).removesuffix(f" {DAGGER}")]
        ax.set_title({"lambda1": "λ1 after every epoch",
                      "grad_norm": "Full-batch gradient norm after every epoch"}[name])
        finish_axes(ax, "epoch", {"lambda1": "λ1 of the training-loss Hessian (log scale)",
                                  "grad_norm": "‖∇θ L‖ on the training set (log scale)"}[name])
    residuals = [m["lambda1_rel_residual"] for r in runs for m in r.metrics
                 if isinstance(m.get("lambda1_rel_residual"), (int, float))]
    samples = sorted({str(r.config.get("track_lambda1")) for r in runs if r.config.get("track_lambda1")})
    accuracy = (f" λ1 by Lanczos on {' / '.join(samples)} fixed training samples at relative-residual tolerance "
                f"{CurvatureHook.tol:g}; largest recorded relative residual {max(residuals):.2g}." if residuals else "")
    return [ReportFigure("lambda1_per_epoch", "Dominant Hessian eigenvalue and full-batch gradient norm after every "
                         f"epoch, one line per batch size ({seeds_phrase(counts)}; Yao et al. Fig. 4 style; log "
                         f"y axes).{accuracy}" + dagger_phrase(missed), fig)]


def batch_trends_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Accuracy, robust accuracy (both in %) and λ1 against batch size, one line per schedule (Kamath et al.
    style); error bars are 95 % t intervals over seeds; hollow markers: runs that missed the target loss.

    Lines are keyed by ``lr_schedule`` and ``momentum`` plus every other varying config field except
    ``batch_size``, ``seed`` and ``lr`` (which often scales with the batch size). Needs ≥ 2 batch sizes.
    """
    if len({r.config.get("batch_size") for r in runs}) < 2:
        return []
    other = [a for a in varying_axes(runs, ignore=(*POOLED, "batch_size", "lr")) if a not in SCHEDULE_AXES]
    line_axes = [*SCHEDULE_AXES, *other]
    panels: list[tuple[str, str, float, Callable[[RunRecord], float | None]]] = [
        ("Clean test accuracy", "test accuracy (%)", 100.0, lambda r: final_value(r, "test_acc"))]
    panels += [(f"{ATTACK.upper()} accuracy at ε = {e:g}", f"{ATTACK.upper()} test accuracy at ε = {e:g} (%)", 100.0,
                lambda r, e=e: M.attack_accuracy(r, ATTACK, "test", e)) for e in M.attack_eps(list(runs), ATTACK)]
    panels.append(("λ1 of the training-loss Hessian", "λ1 (train)", 1.0, lambda r: M.lambda1(r, "train")))
    panels = [p for p in panels if any(p[3](r) is not None for r in runs)]
    fig = new_figure(len(panels), height=4.2)
    lines: dict[str, list[Group]] = {}
    for g in group_runs(runs):
        lines.setdefault(setting_label(g.config, line_axes), []).append(g)
    counts, missed = [], set()
    for col, (title, ylabel, scale, get) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), col)
        for label, groups in sorted(lines.items()):
            pts = sorted(((g.config["batch_size"], s, g) for g in groups if (s := group_stat(g, get))),
                         key=lambda p: p[0])
            if not pts:
                continue
            bars = ax.errorbar([p[0] for p in pts], [p[1].mean * scale for p in pts],
                               yerr=[(p[1].half_width or 0.0) * scale for p in pts], capsize=3, label=label or None)
            color = bars.lines[0].get_color()
            for b, st, g in pts:
                hollow = not g.reached_target
                ax.plot([b], [st.mean * scale], linestyle="none", marker="o", markersize=7, markeredgecolor=color,
                        markerfacecolor="white" if hollow else color)
                counts.append(st.n)
                if hollow:
                    missed.add(f"B={b}" + (f" ({label})" if label else ""))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (log2 axis)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=LEGEND_SIZE)
    bars = "; error bars: 95 % t intervals" if max(counts) > 1 else ""
    caption = (f"Clean accuracy, robust accuracy (%, as in the tables) and λ1 against batch size, one line per "
               f"setting ({seeds_phrase(counts)}{bars}; Kamath et al. style). Filled markers: runs that reached "
               "the target loss." + dagger_phrase(sorted(missed), "hollow markers"))
    return [ReportFigure("batch_trends", caption, fig)]

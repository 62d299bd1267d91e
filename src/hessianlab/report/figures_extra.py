"""Per-run report figures: sub-sampled Hessian spectra and loss landscapes, when the results hold them.

* Sub-sampled spectra (Yao et al. Fig. 6 style): a run whose ``eigs`` / ``subsampled`` results (LA, whole
  parameter vector, training split) exist at ≥ 2 ``samples`` values (e.g. 1, 320 and all) gets one panel; at most
  :data:`MAX_PANELS` panels, the caption names any left out.
* Landscapes: every result payload of any kind that is a :class:`~hessianlab.landscape.Line` or
  :class:`~hessianlab.landscape.Plane` dict (``type`` ``line``/``plane``, directly or under ``result`` as
  :func:`~hessianlab.landscape.save_landscape` writes) is drawn with :mod:`hessianlab.landscape` plots;
  a line of ``direction_kind`` ``interpolation`` with :func:`~hessianlab.landscape.plot_interpolation`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from hessianlab.landscape import Line, plot_interpolation, plot_line, plot_plane
from hessianlab.landscape.results import result_from_dict
from hessianlab.report import metrics as M
from hessianlab.report.figures import ReportFigure, new_figure
from hessianlab.report.runs import RunRecord

MAX_PANELS = 6


def subsampled_spectra_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Top eigenvalues of sub-sampled training Hessians (``samples`` = B_H) beside the full one, per run."""
    chosen = [(r, sizes) for r in runs if len(sizes := M.sample_sizes(r, "train")) >= 2]
    if not chosen:
        return []
    shown, left = chosen[:MAX_PANELS], [r.run_id for r, _ in chosen[MAX_PANELS:]]
    fig = new_figure(len(shown))
    for col, (run, sizes) in enumerate(shown, start=1):
        ax = fig.add_subplot(1, len(shown), col)
        for size in sizes:
            values = M.spectrum(run, "train", size) or []
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=f"B_H = {size}")
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("eigenvalue index")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("eigenvalue of the sub-sampled Hessian")
        ax.set_title(run_title(run), fontsize=10)
        ax.legend(fontsize=9)
    caption = ("Top eigenvalues of the Hessian of the training loss over B_H random training samples and over "
               "all of them (Yao et al. Fig. 6 style).")
    if left:
        caption += f" Not shown (panel limit {MAX_PANELS}): {', '.join(left)}."
    return [ReportFigure("subsampled_spectra", caption, fig)]


def landscape_figures(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """One figure per stored plane, and per line or interpolation with its train/test splits together.

    Keys ``TYPE/SPLIT/REST`` (as :mod:`hessianlab.experiments.analyses.landscape` writes them) that differ
    only in the split are drawn as one figure with one curve per split.
    """
    out = []
    for run in runs:
        for kind in sorted(run.results):
            lines: dict[str, dict[str, Line]] = {}
            for key in sorted(run.results[kind]):
                record = _landscape_record(run.results[kind][key])
                if record is None:
                    continue
                result = result_from_dict(record)
                if isinstance(result, Line):
                    parts = key.split("/")
                    split = parts[1] if len(parts) > 1 and parts[1] in M.SPLITS else None
                    group = "/".join([parts[0], *parts[2:]]) if split else key
                    lines.setdefault(group, {})[split or key] = result
                else:
                    fig = plot_plane(result, title=f"{run_title(run)}: loss surface on the (d1, d2) plane")
                    out.append(_landscape_figure(run, kind, key, fig, "loss surface on the plane spanned by d1 and d2, "
                                                 f"{_directions(key)} ({_split(key)} split)"))
            for group, curves in lines.items():
                first = next(iter(curves.values()))
                if first.direction_kind == "interpolation":
                    what = "loss along the straight line between θ_A (α = 0) and θ_B (α = 1)"
                    fig = plot_interpolation(curves, title=f"{run_title(run)}: loss between two models")
                else:
                    what = f"loss along {_DIRECTION.get(first.direction_kind, 'a chosen direction')}"
                    short = "v1" if first.direction_kind == "eigen" else f"a {first.direction_kind} direction"
                    fig = plot_line(curves, title=f"{run_title(run)}: loss along {short}")
                out.append(_landscape_figure(run, kind, group, fig, f"{what} (curves: {', '.join(curves)} split)"))
    return out


_DIRECTION = {"eigen": "the top Hessian eigenvector v1 (unit norm; α in parameter-space units)",
              "random": "a filter-normalised Gaussian direction (Li et al. 2018)"}


def run_title(run: RunRecord) -> str:
    """A human title of a run: ``'B = 16, seed 0'`` plus the setting fields that usually vary in a study."""
    c = run.config
    parts = [f"B = {c.get('batch_size')}", f"seed {c.get('seed')}"]
    parts += [f"{k} {c[k]}" for k in ("activation", "adversarial") if c.get(k) not in (None, "relu")]
    return ", ".join(parts)


def _directions(key: str) -> str:
    if "random" in key:
        return "d1, d2 = two filter-normalised Gaussian directions (Li et al. 2018)"
    return "d1, d2 = the top two Hessian eigenvectors v1, v2 (unit norm; α, β in parameter-space units)"


def _split(key: str) -> str:
    parts = key.split("/")
    return parts[1] if len(parts) > 1 and parts[1] in M.SPLITS else "training"


def _landscape_figure(run: RunRecord, kind: str, key: str, fig: Any, what: str) -> ReportFigure:
    name = "landscape_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{run.run_id}_{kind}_{key}").strip("_")
    return ReportFigure(name, f"{run_title(run)} (run {run.run_id}): {what}. Result key: {kind}/{key}.", fig)


def _landscape_record(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    if payload.get("type") in ("line", "plane"):
        return payload
    inner = payload.get("result")
    if isinstance(inner, dict) and inner.get("type") in ("line", "plane"):
        return inner
    return None

"""ABSA report figures (Yao et al. 2018, "Large batch size training ..."), drawn only for large-batch studies.

* :func:`schedule_figure` (ABSA Fig. 1): the learning rate and the batch size against epochs, one line per
  strategy group. LRs are per-epoch records (the LR of each epoch's last update); batch sizes of ABS/ABSA runs
  come from ``decisions.jsonl`` (exact change points, at ``samples_seen`` / samples per epoch), others from
  the per-epoch records.
* :func:`block_lambda_figure` (ABSA Fig. 6): λ1 of the full Hessian and of a block, tracked per epoch.
* :func:`loss_vs_updates_figure` (ABSA Fig. 3): the training loss against the number of SGD updates (log y).

A group is a set of runs equal up to the seed (schedules: its first run; loss curves: every seed, one colour).
With more than :data:`MAX_LINES` groups only the smallest-batch BL and the growing strategies (GG, ABS, ABSA) are
drawn; the caption names what was left out.
"""

from __future__ import annotations

from typing import Any, Sequence

from matplotlib.ticker import MaxNLocator

from hessianlab.experiments.store import DECISIONS, read_jsonl
from hessianlab.report.absa import GROWING, STRATEGIES, is_large_batch_study, setting_axes, strategy, table_batch
from hessianlab.report.aggregate import Group, group_runs
from hessianlab.report.figures import ReportFigure, finish_axes, new_figure
from hessianlab.report.runs import RunRecord
from hessianlab.report.tables import setting_label

MAX_LINES = 8


def group_name(group: Group, axes: Sequence[str]) -> str:
    """``'ABS BS=2048'`` plus the setting (``abs_eig_params=...``) when one is needed."""
    bs = table_batch(group.config)
    extra = setting_label(group.config, axes)
    return f"{strategy(group.config)} BS={'all' if bs is None else bs}" + (f" ({extra})" if extra else "")


def curve_groups(runs: Sequence[RunRecord]) -> tuple[list[Group], list[str], list[str]]:
    """``(groups to draw, their setting axes, names of groups left out)``, in strategy then BS order."""
    axes = setting_axes(runs)
    groups = sorted((g for g in group_runs(runs) if any(r.metrics for r in g.runs)),
                    key=lambda g: (STRATEGIES.index(strategy(g.config)), table_batch(g.config) or 0,
                                   setting_label(g.config, axes)))
    if len(groups) <= MAX_LINES:
        return groups, axes, []
    baselines = [g for g in groups if strategy(g.config) == "BL"]
    smallest = min(baselines, key=lambda g: g.config["batch_size"]) if baselines else None
    keep = [g for g in groups if g is smallest or strategy(g.config) in GROWING]
    return keep, axes, [group_name(g, axes) for g in groups if not any(g is k for k in keep)]


def _left_out(left: list[str]) -> str:
    return f" Not drawn ({len(left)} constant-batch groups): {', '.join(left)}." if left else ""


def decisions(run: RunRecord) -> list[dict[str, Any]]:
    """The run's adaptive-batch decision records (empty without ``decisions.jsonl``)."""
    return read_jsonl(run.path / DECISIONS)


def epoch_steps(run: RunRecord, name: str) -> tuple[list[float], list[float]]:
    """A per-epoch field as a step function over epochs: value ``i`` holds on ``[i, i + 1)`` (post steps)."""
    values = [float(m[name]) for m in run.metrics if isinstance(m.get(name), (int, float))]
    if not values:
        return [], []
    return list(range(len(values) + 1)), values + values[-1:]


def batch_steps(run: RunRecord) -> tuple[list[float], list[float]]:
    """Batch size against epochs (post steps): exact change points from the decisions when the run has them."""
    records = decisions(run)
    per_epoch = run.metrics[0].get("samples_seen") if run.metrics else None
    if not records or not per_epoch:
        return epoch_steps(run, "batch_size")
    xs, ys = [0.0], [float(run.config["batch_size"])]
    for d in records:
        if d["batch_size"] != ys[-1]:
            xs.append(d["samples_seen"] / per_epoch)
            ys.append(float(d["batch_size"]))
    xs.append(float(len(run.metrics)))
    ys.append(ys[-1])
    return xs, ys


def schedule_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """LR (left) and batch size (right, log2) against epochs per strategy group (ABSA Fig. 1)."""
    if not is_large_batch_study(runs):
        return []
    groups, axes, left = curve_groups(runs)
    if not groups:
        return []
    fig = new_figure(2)
    lr_ax, batch_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for g in groups:
        run = next(r for r in g.runs if r.metrics)
        label = group_name(g, axes)
        line = lr_ax.step(*epoch_steps(run, "lr"), where="post", label=label)[0]
        batch_ax.step(*batch_steps(run), where="post", label=label, color=line.get_color())
    if all(y > 0 for line in lr_ax.get_lines() for y in line.get_ydata()):
        lr_ax.set_yscale("log")
    batch_ax.set_yscale("log", base=2)
    for ax, what in ((lr_ax, "learning rate"), (batch_ax, "batch size")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6)
    caption = ("Learning rate (left; the LR of each epoch's last update) and batch size (right, log2; ABS/ABSA "
               "change points from decisions.jsonl) against epochs, per strategy (ABSA Fig. 1 style; first seed of "
               "each group)." + _left_out(left))
    return [ReportFigure("absa_schedules", caption, fig)]


def block_lambda_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """λ1 of the full Hessian (solid) and of the tracked block (dashed) per epoch, one colour per run (Fig. 6)."""
    tracked = [r for r in runs if any("lambda1_block" in m for m in r.metrics)]
    if not tracked:
        return []
    axes = setting_axes(runs)
    fig = new_figure(1, width=6.0)
    ax = fig.add_subplot(1, 1, 1)
    for run in tracked:
        name = f"{strategy(run.config)} {setting_label(run.config, axes)} seed {run.config.get('seed')}".strip()
        epochs = [m["epoch"] for m in run.metrics]
        full = ax.plot(epochs, [m.get("lambda1", float("nan")) for m in run.metrics], marker=".",
                       label=f"{name}: full")[0]
        ax.plot(epochs, [m.get("lambda1_block", float("nan")) for m in run.metrics], marker=".", linestyle="--",
                color=full.get_color(), label=f"{name}: block")
    finish_axes(ax, "epoch", "λ1 of the training-loss Hessian")
    params = sorted({str(r.config.get("track_lambda1_params")) for r in tracked})
    return [ReportFigure("absa_block_lambda1", "Top Hessian eigenvalue after every epoch: full Hessian (solid) "
                         f"against the block of the parameters matching {', '.join(params)} (dashed), on a fixed "
                         "training sample (ABSA Fig. 6 style).", fig)]


def loss_vs_updates_figure(runs: Sequence[RunRecord]) -> list[ReportFigure]:
    """Training loss (log) against SGD updates, every seed of a group in one colour (ABSA Fig. 3 style)."""
    if not is_large_batch_study(runs):
        return []
    groups, axes, left = curve_groups(runs)
    if not groups:
        return []
    fig = new_figure(1, width=6.0)
    ax = fig.add_subplot(1, 1, 1)
    for g in groups:
        color = None
        for i, run in enumerate(r for r in g.runs if r.metrics):
            label = f"{group_name(g, axes)} ({len(g.runs)} seed{'s' if len(g.runs) > 1 else ''})" if i == 0 else None
            line = ax.plot([m["updates"] for m in run.metrics], [m["train_loss"] for m in run.metrics],
                           linewidth=1.0, color=color, label=label)[0]
            color = line.get_color()
    if all(y > 0 for line in ax.get_lines() for y in line.get_ydata()):
        ax.set_yscale("log")
    ax.set_xlabel("SGD updates")
    ax.set_ylabel("training loss (full training set, eval mode)")
    ax.legend(fontsize=6)
    caption = ("Training loss after every epoch against the number of SGD updates, per strategy (ABSA Fig. 3 "
               "style; one line per seed)." + _left_out(left))
    return [ReportFigure("absa_loss_vs_updates", caption, fig)]

"""Report tables: Yao et al. Table 1 shape, the generic runs table, and the papers' tables as printed.

A :class:`Table` holds display cells (strings, for Markdown and HTML) and raw records (numbers, for CSV).
Rows of runs that did not reach the target loss are marked with :data:`DAGGER` and a footnote says that
comparing them with runs that did compares different stopping points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from hessianlab.report import metrics as M
from hessianlab.report.aggregate import POOLED, Stat, fmt_number, fmt_stat, group_runs, group_stat, varying_axes
from hessianlab.report.reference import PaperTable
from hessianlab.report.runs import RunRecord

DAGGER = "†"
DAGGER_NOTE = (f"{DAGGER} did not reach the target training loss (or had no target): it stopped at max_epochs/"
               "max_updates or diverged. Comparing these rows with unmarked ones compares models at different "
               "points of training, not minima of equal training loss.")
ATTACK = "fgsm"


@dataclass(frozen=True)
class Table:
    """A titled table: ``rows`` are display strings under ``columns``; ``records`` are raw values for CSV."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def final_value(run: RunRecord, name: str) -> float | None:
    """``name`` from the last metrics record, else from the status summary."""
    v = M.value(run, f"final.{name}")
    return v if v is not None else M.value(run, f"summary.{name}")


def setting_label(config: dict[str, Any], axes: Sequence[str]) -> str:
    """``'lr_schedule=constant, momentum=0.9'`` for the given axes (empty when there are none)."""
    return ", ".join(f"{a}={config.get(a)}" for a in axes)


def yao_table(runs: Sequence[RunRecord]) -> Table:
    """Yao et al. Table 1: one row per group of seeds, sorted by setting then batch size."""
    axes = varying_axes(runs, ignore=(*POOLED, "batch_size"))
    eps_list = M.attack_eps(list(runs), ATTACK)
    quantities: list[tuple[str, str, Callable[[RunRecord, str], float | None], float]] = [
        ("Acc. %", "acc", lambda r, s: final_value(r, f"{s}_acc"), 100.0),
        ("λ1^θ", "lambda1_theta", M.lambda1, 1.0),
        ("λ1^x", "lambda1_x", lambda r, s: M.input_stat(r, "lambda1_x", s), 1.0),
        ("‖∇x J‖", "grad_norm_x", lambda r, s: M.input_stat(r, "grad_norm_x", s), 1.0),
    ]
    for eps in eps_list:
        quantities.append((f"Acc % ε = {eps:g}", f"acc_eps{eps:g}",
                           lambda r, s, e=eps: M.attack_accuracy(r, ATTACK, s, e), 100.0))
    columns = (["Setting"] if axes else []) + ["Batch", "n"] + [f"{q[0]} train (test)" for q in quantities]
    groups = sorted(group_runs(runs), key=lambda g: (setting_label(g.config, axes), g.config.get("batch_size", 0)))
    rows, records = [], []
    for g in groups:
        mark = "" if g.reached_target else DAGGER
        row = ([setting_label(g.config, axes)] if axes else []) + [f"{g.config.get('batch_size')}{mark}", str(len(g.runs))]
        record: dict[str, Any] = {"setting": setting_label(g.config, axes), "batch_size": g.config.get("batch_size"),
                                  "n": len(g.runs), "reached_target": g.reached_target}
        for _, key, get, scale in quantities:
            train, test = (group_stat(g, lambda r, s=s: get(r, s)) for s in ("train", "test"))
            row.append(pair_cell(train, test, scale, runs=len(g.runs)))
            for split, st in (("train", train), ("test", test)):
                record[f"{key}_{split}_mean"] = st.mean * scale if st else None
                record[f"{key}_{split}_std"] = st.std * scale if st and st.std is not None else None
                record[f"{key}_{split}_ci95"] = st.half_width * scale if st and st.half_width is not None else None
        rows.append(row)
        records.append(record)
    notes = [f"Values are mean ± half-width of the 95 % t interval over the n seeds of each row (n = 1: the value "
             f"alone; [n=k]: a value measured on k of the row's seeds only); train (test) as in Yao et al.; "
             f"attack columns are white-box {ATTACK.upper()} (L∞, pixels); – = not measured."]
    if any(not g.reached_target for g in groups):
        notes.append(DAGGER_NOTE)
    return Table("table1", "Batch size, curvature and robustness (Yao et al. Table 1 layout)", columns, rows,
                 records, notes)


def pair_cell(train: Stat | None, test: Stat | None, scale: float = 1.0, *, runs: int | None = None) -> str:
    """``'train (test)'`` with ``–`` for a missing side; ``–`` when both are missing. A side averaging fewer
    values than the row's ``runs`` (an analysis run on some seeds only) says its own ``[n=…]``."""
    if train is None and test is None:
        return "–"
    return f"{_side(train, scale, runs)} ({_side(test, scale, runs)})"


def _side(st: Stat | None, scale: float, runs: int | None) -> str:
    text = fmt_stat(st, scale=scale)
    return text + (f" [n={st.n}]" if st is not None and runs is not None and st.n < runs else "")


def runs_table(runs: Sequence[RunRecord]) -> Table:
    """One row per run: the config axes that vary, status, target, epochs, updates, final losses/accuracies."""
    axes = varying_axes(runs, ignore=())
    finals = ("train_loss", "train_acc", "test_loss", "test_acc")
    columns = ["run"] + axes + ["status", "reached target", "epochs", "updates", *finals]
    rows, records = [], []
    for run in runs:
        values = {k: final_value(run, k) for k in finals}
        epochs, updates = run.summary.get("epochs", len(run.metrics) or None), run.summary.get("updates")
        rows.append([run.run_id] + [str(run.config.get(a)) for a in axes]
                    + [run.status, "yes" if run.reached_target else f"no {DAGGER}", _cell(epochs), _cell(updates)]
                    + [_cell(values[k]) for k in finals])
        records.append({"run": run.run_id, **{a: run.config.get(a) for a in axes}, "status": run.status,
                        "reached_target": run.reached_target, "epochs": epochs, "updates": updates, **values})
    notes = [DAGGER_NOTE] if any(not r.reached_target for r in runs) else []
    return Table("runs", "Runs", columns, rows, records, notes)


def paper_table(table: PaperTable) -> Table:
    """A paper's table as printed (the paper's settings, not ours), with its source and settings as notes."""
    s = table.settings
    notes = [f"Source: {table.source}", f"These are the {s.describe()}. They are NOT our settings: compare "
             "trends, not values.", *table.notes]
    return Table(f"paper_{table.key.replace('.', '_')}",
                 f"{table.paper.short}, Table {table.number}: paper's settings ({s.dataset}, {s.model})",
                 [c.header for c in table.columns], table.display(), table.records(), notes)


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return fmt_number(v)
    return str(v)


"""ABSA (Yao et al. 2018, "Large batch size training ... adversarial training and second-order information")
report layouts: the strategy table of its Tables 1 and 4-7, and the full-against-block Hessian table (Sec. 5).

A run's *strategy* follows from its config (ABSA Appendix B): ``ABS`` / ``ABSA`` (``batch_schedule abs``, without /
with adversarial training), ``GG`` (``smith:BMAX``), ``FB`` (``lr_scale_ref`` set, constant batch) and ``BL``
otherwise. Its *BS* (the tables' row) is the constant batch size, or for a growing batch the largest one the
schedule allows (GG's ``BMAX``, ABS's ``abs_batch_max``; ``None`` = the training set) -- the paper's "BS" for
GG, ABS and ABSA. Acc. is the final test accuracy in %, # Iters the number of SGD updates.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from hessianlab.report import metrics as M
from hessianlab.report.aggregate import POOLED, Group, Stat, fmt_stat, group_runs, group_stat, varying_axes
from hessianlab.report.runs import RunRecord
from hessianlab.report.tables import Table, final_value, setting_label

STRATEGIES = ("BL", "FB", "GG", "ABS", "ABSA")
GROWING = ("GG", "ABS", "ABSA")
MISSING = "N.A."
RHO_PATH = "epochs.spearman.lambda1.lambda1_block"


def strategy(config: dict[str, Any]) -> str:
    """``BL`` | ``FB`` | ``GG`` | ``ABS`` | ``ABSA`` of a run config (see the module docstring)."""
    schedule = str(config.get("batch_schedule", "constant"))
    if schedule == "abs":
        return "ABSA" if config.get("adversarial") else "ABS"
    if schedule.startswith("smith:"):
        return "GG"
    return "FB" if config.get("lr_scale_ref") is not None else "BL"


def table_batch(config: dict[str, Any]) -> int | None:
    """The tables' BS: the constant batch size, GG's BMAX or ABS's ``abs_batch_max`` (``None``: training set)."""
    kind = strategy(config)
    if kind == "GG":
        return int(str(config["batch_schedule"]).split(":")[1])
    if kind in ("ABS", "ABSA"):
        cap = config.get("abs_batch_max")
        return None if cap is None else int(cap)
    return int(config["batch_size"])


def is_large_batch_study(runs: Sequence[RunRecord]) -> bool:
    """Whether any run uses an ABSA large-batch strategy other than BL."""
    return any(strategy(r.config) != "BL" for r in runs)


def batch_reached(run: RunRecord) -> int | None:
    """The largest batch size of the run's per-epoch records (``None`` before the first epoch)."""
    sizes = [m["batch_size"] for m in run.metrics if isinstance(m.get("batch_size"), int)]
    return max(sizes) if sizes else None


def _cell_key(group: Group) -> tuple[str, int | None]:
    return strategy(group.config), table_batch(group.config)


def setting_axes(runs: Sequence[RunRecord]) -> list[str]:
    """Config fields that differ between runs of one (strategy, BS) cell: they need a Setting column."""
    groups = group_runs(runs)
    out = []
    for axis in varying_axes(runs, ignore=POOLED):
        cells: dict[tuple[str, int | None], set[str]] = {}
        for g in groups:
            cells.setdefault(_cell_key(g), set()).add(repr(g.config.get(axis)))
        if any(len(values) > 1 for values in cells.values()):
            out.append(axis)
    return out


def _bs_order(bs: int | None) -> float:
    return math.inf if bs is None else float(bs)


def _bs_text(bs: int | None) -> str:
    return "all" if bs is None else str(bs)


def _status_mark(group: Group) -> str:
    return " (diverged)" if any(r.status == "diverged" for r in group.runs) else ""


def strategy_table(runs: Sequence[RunRecord]) -> Table | None:
    """ABSA Tables 1, 4-7: one row per (setting, BS), an (Acc., # Iters) column pair per strategy present.

    ``None`` when the runs hold fewer than two strategies. Repeated seeds give mean ± 95 % t-interval half-width.
    """
    present = [s for s in STRATEGIES if any(strategy(r.config) == s for r in runs)]
    if len(present) < 2:
        return None
    axes = setting_axes(runs)
    cells: dict[tuple[str, int | None], dict[str, Group]] = {}
    for g in group_runs(runs):
        kind, bs = _cell_key(g)
        cells.setdefault((setting_label(g.config, axes), bs), {})[kind] = g
    columns = (["Setting"] if axes else []) + ["BS"]
    for s in present:
        columns += [f"{s} Acc. %", f"{s} # Iters"]
    rows, records, reached = [], [], []
    for (setting, bs), by_kind in sorted(cells.items(), key=lambda c: (c[0][0], _bs_order(c[0][1]))):
        row = ([setting] if axes else []) + [_bs_text(bs)]
        record: dict[str, Any] = {"setting": setting, "batch_size": bs}
        for s in present:
            g = by_kind.get(s)
            acc = group_stat(g, lambda r: final_value(r, "test_acc")) if g else None
            iters = group_stat(g, lambda r: M.value(r, "summary.updates")) if g else None
            row += [(fmt_stat(acc, scale=100.0) + _status_mark(g)) if g else MISSING,
                    fmt_stat(iters, digits=6) if g else MISSING]
            record.update(_stat_fields(f"{s.lower()}_acc", acc, 100.0))
            record.update(_stat_fields(f"{s.lower()}_iters", iters, 1.0))
            if g is not None and s in GROWING:
                top = max((b for r in g.runs if (b := batch_reached(r)) is not None), default=None)
                record[f"{s.lower()}_batch_reached"] = top
                reached.append(f"{s} at BS {_bs_text(bs)}{f' ({setting})' if setting else ''}: {top}")
        rows.append(row)
        records.append(record)
    notes = ["BS: the batch size of BL and FB; for GG, ABS and ABSA, which start at the base batch and grow, the "
             "largest batch size allowed (B_max), as in the paper. Acc.: final test accuracy (mean ± 95 % "
             "t-interval half-width over seeds); # Iters: SGD updates. N.A.: no such run."]
    if reached:
        notes.append("Largest batch size reached: " + "; ".join(reached) + ".")
    return Table("absa_table", "Accuracy and number of updates per strategy (ABSA Tables 1, 4-7 layout)", columns,
                 rows, records, notes)


def _stat_fields(prefix: str, s: Stat | None, scale: float) -> dict[str, float | None]:
    return {f"{prefix}_mean": s.mean * scale if s else None,
            f"{prefix}_std": s.std * scale if s and s.std is not None else None}


def block_hessian_table(runs: Sequence[RunRecord]) -> Table | None:
    """ABSA Sec. 5: ABS/ABSA driven by the full Hessian against a block of it, with the tracked λ1 agreement.

    One row per group of ABS/ABSA runs; ``None`` unless those runs differ in ``abs_eig_params`` or track the
    block's λ1 (``lambda1_block`` in their per-epoch records).
    """
    adaptive = [r for r in runs if strategy(r.config) in ("ABS", "ABSA")]
    blocks = {r.config.get("abs_eig_params") for r in adaptive}
    tracked = any("lambda1_block" in m for r in adaptive for m in r.metrics)
    if not adaptive or (len(blocks) < 2 and not tracked):
        return None
    columns = ["Hessian of Alg. 1", "Strategy", "BS", "n", "Acc. %", "# Iters", "largest B", "eigen time s",
               "ρ(λ1 full, λ1 block) over epochs"]
    rows, records = [], []
    for g in group_runs(adaptive):
        params = g.config.get("abs_eig_params")
        which = "full" if params is None else f"block {params}"
        values = {
            "acc": group_stat(g, lambda r: final_value(r, "test_acc")),
            "iters": group_stat(g, lambda r: M.value(r, "summary.updates")),
            "batch": group_stat(g, lambda r: batch_reached(r)),
            "eig_seconds": group_stat(g, lambda r: M.value(r, "summary.eig_seconds")),
            "rho": group_stat(g, lambda r: M.value(r, RHO_PATH)),
        }
        rows.append([which, strategy(g.config), _bs_text(table_batch(g.config)), str(len(g.runs)),
                     fmt_stat(values["acc"], scale=100.0) + _status_mark(g), fmt_stat(values["iters"], digits=6),
                     fmt_stat(values["batch"], digits=6), fmt_stat(values["eig_seconds"], digits=3),
                     fmt_stat(values["rho"], digits=3)])
        record: dict[str, Any] = {"hessian": which, "strategy": strategy(g.config), "n": len(g.runs)}
        for key, s in values.items():
            record.update(_stat_fields(key, s, 100.0 if key == "acc" else 1.0))
        records.append(record)
    notes = ["Hessian of Alg. 1: the eigenvalue that drives the batch size (abs_eig_params). ρ: Spearman's rank "
             "correlation over the epochs between the tracked λ1 of the full Hessian and of the block "
             "(track_lambda1_params; Lanczos on a fixed sample); – = not tracked. eigen time: Alg. 1's eigenvalue "
             "solves in seconds (wall)."]
    return Table("absa_block_hessian", "Full against block Hessian in ABS/ABSA (ABSA Sec. 5, Fig. 6)", columns,
                 rows, records, notes)


def absa_tables(runs: Sequence[RunRecord]) -> list[Table]:
    """The ABSA tables the runs support (empty unless a large-batch strategy is present)."""
    if not is_large_batch_study(runs):
        return []
    return [t for t in (strategy_table(runs), block_hessian_table(runs)) if t is not None]

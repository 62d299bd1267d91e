"""Yao et al. Tables 3-4 layout: every model's accuracy on D_clean and on each D_attack crafted against M_ORI.

A study with transfer attacks (analyses whose ``source`` selects one run, e.g. ``{adversarial: null}``) stores,
in every other run, the accuracy on examples generated against the source model (result payloads with
``transfer: true``); the source's own accuracy on them is its white-box accuracy. This table puts them side by
side: one row per trained model (``adversarial`` method; repeated seeds as mean ± 95 % t-interval half-width),
one column per (attack, ε) crafted against the source, on the test split, plus D_clean and the mean over the
attack columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hessianlab.report import metrics as M
from hessianlab.report.aggregate import fmt_stat, group_runs, stat
from hessianlab.report.runs import RunRecord
from hessianlab.report.tables import Table, final_value

Column = tuple[str, float]  # (attack method, eps)


def _transfer_columns(runs: Sequence[RunRecord]) -> tuple[list[Column], set[str]]:
    """The (method, eps) pairs of test-split transfer results, and the names of their source run folders."""
    columns: set[Column] = set()
    sources: set[str] = set()
    for run in runs:
        for payload in run.results.get("attack", {}).values():
            if isinstance(payload, dict) and payload.get("transfer") and payload.get("split") == "test":
                columns.update((payload["attack"]["attack"], float(e)) for e in payload["eps"])
                sources.add(Path(str(payload["source"])).name)
    return sorted(columns), sources


def _accuracy(run: RunRecord, column: Column, is_source: bool) -> float | None:
    """Accuracy of ``run`` on the ``column`` examples crafted against the source (white-box for the source)."""
    method, eps = column
    return M.attack_accuracy(run, method, "test", eps, transfer=not is_source)


def robust_table(runs: Sequence[RunRecord]) -> Table | None:
    """The Tables 3-4 layout, or ``None`` when no run holds a transfer attack result."""
    columns, sources = _transfer_columns(runs)
    if not columns:
        return None
    header = ["Model", "n", "D_clean %"] + [f"D_{m.upper()} ε = {e:g} %" for m, e in columns] + ["mean over attacks %"]
    rows, records = [], []
    for group in sorted(group_runs(runs), key=lambda g: (g.config.get("adversarial") is not None,
                                                           str(g.config.get("adversarial")))):
        is_source = all(r.path.name in sources for r in group.runs)
        label = (group.config.get("adversarial") or "none (M_ORI)").upper().replace("NONE (M_ORI)", "M_ORI")
        clean = stat(final_value(r, "test_acc") for r in group.runs)
        per_attack = [stat(_accuracy(r, c, is_source) for r in group.runs) for c in columns]
        mean = stat(_mean([_accuracy(r, c, is_source) for c in columns]) for r in group.runs)
        rows.append([label, str(len(group.runs)), fmt_stat(clean, scale=100)] +
                    [fmt_stat(s, scale=100) for s in per_attack] + [fmt_stat(mean, scale=100)])
        record: dict[str, Any] = {"model": label, "n": len(group.runs), "clean": clean.mean if clean else None,
                                  "mean_over_attacks": mean.mean if mean else None}
        record.update({f"{m}_{e:g}": s.mean if s else None for (m, e), s in zip(columns, per_attack)})
        records.append(record)
    notes = [("Test-split accuracy (mean ± 95 % t-interval half-width over the n seeds). D_attack columns hold "
              f"examples crafted against the source model ({', '.join(sorted(sources))}) and evaluated on each "
              "model (transfer, as in Yao et "
              "al. Tables 3-4); the source's own row is its white-box accuracy. ε in pixels (L∞ for FGSM-type "
              "attacks, L2 for L2GRAD/L2HESS).")]
    return Table("robust_models", "Robust models on D_clean and D_attack (Yao et al. Tables 3-4 layout)", header,
                 rows, records, notes)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known and len(known) == len(values) else None

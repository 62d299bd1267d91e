"""Why a verdict differs from the paper's, measured: one generator for every claim, no prose per claim.

For each claim whose verdict differs from the paper's own (the claim's ``paper`` field, default
``supported``), :func:`differs_paragraphs` writes one paragraph from stored data only:

* how our setting differs from the paper's, read from the runs and from the paper preset of the shipped spec
  of the same name (when there is one): training-set size, largest batch / training-set size, epochs run
  (ours) against the paper's epoch cap, the final training loss (ours) against the paper's target, and our
  clean accuracy gap (train - test, percentage points);
* which of these per-run covariates covaries with the claim's ``y`` across the compared runs (Spearman's ρ
  over the runs; the one with the largest |ρ| is named). A covariate that tracks ``y`` as closely as ``x`` does
  is a candidate explanation of the difference, not a proof.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from hessianlab.errors import ConfigError
from hessianlab.report import metrics as M
from hessianlab.report.runs import RunRecord
from hessianlab.report.verdicts import REPORTED, Verdict

TRAIN_SIZES = {"mnist": 60000, "fashion-mnist": 60000, "cifar10": 50000, "cifar100": 50000, "svhn": 73257,
               "breast-cancer": 455, "digits": 1438}
COVARIATES: dict[str, Callable[[RunRecord], float | None]] = {
    "final train loss": lambda r: M.value(r, "final.train_loss"),
    "clean accuracy gap (train - test)": lambda r: _gap(r),
    "epochs run": lambda r: float(len(r.metrics)) if r.metrics else None,
    "batch / training set": lambda r: _ratio(r.config),
}


def _gap(run: RunRecord) -> float | None:
    tr, te = M.value(run, "final.train_acc"), M.value(run, "final.test_acc")
    return None if tr is None or te is None else tr - te


def train_size(config: dict[str, Any]) -> int | None:
    """Training images a config uses: its ``subset``, else the dataset's full training split (if known)."""
    return config.get("subset") or TRAIN_SIZES.get(str(config.get("dataset")))


def _ratio(config: dict[str, Any]) -> float | None:
    n = train_size(config)
    return None if not n or not config.get("batch_size") else float(config["batch_size"]) / n


def paper_configs(name: str | None) -> list[dict[str, Any]]:
    """Configs of the paper preset of the shipped spec ``name`` (empty when there is none)."""
    from hessianlab.experiments.spec import load_spec

    if not name:
        return []
    path = Path(str(resources.files("hessianlab.experiments") / "specs" / f"{name}.yaml"))
    try:
        return [plan.config.to_dict() for plan in load_spec(path, "paper").expand()]
    except ConfigError:
        return []


def _span(values: Sequence[float], fmt: str = "{:,}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} to {fmt.format(hi)}"


def setting_contrast(runs: Sequence[RunRecord], paper: Sequence[dict[str, Any]]) -> str:
    """``'training set 2,048 (paper 50,000); largest batch / training set 0.125 (paper 0.041); ...'``."""
    ours = [r.config for r in runs]
    parts = []
    sizes, psizes = [s for c in ours if (s := train_size(c))], [s for c in paper if (s := train_size(c))]
    if sizes:
        parts.append(f"training set {_span(sizes)}" + (f" (paper {_span(psizes)})" if psizes else ""))
    ratios, pratios = [_ratio(c) for c in ours], [_ratio(c) for c in paper]
    if any(r is not None for r in ratios):
        parts.append(f"largest batch / training set {max(r for r in ratios if r is not None):.3g}"
                     + (f" (paper {max(r for r in pratios if r is not None):.3g})" if any(pratios) else ""))
    epochs = [len(r.metrics) for r in runs if r.metrics]
    if epochs:
        cap = sorted({c.get("max_epochs") for c in paper if c.get("max_epochs")})
        parts.append(f"epochs run {_span(epochs, '{:d}')}" + (f" (paper cap {_span(cap, '{:d}')})" if cap else ""))
    losses = [v for r in runs if (v := M.value(r, "final.train_loss")) is not None]
    if losses:
        target = sorted({c.get("target_loss") for c in paper if c.get("target_loss")})
        parts.append(f"final train loss {_span(losses, '{:.2g}')}"
                     + (f" (paper trains to {_span(target, '{:g}')})" if target else " (paper: fixed epochs)"))
    gaps = [g for r in runs if (g := _gap(r)) is not None]
    if gaps:
        parts.append(f"clean accuracy gap train - test {_span([100 * g for g in gaps], '{:.3g}')} pp")
    return "; ".join(parts) or "no setting recorded"


def covariation(verdict: Verdict, runs: Sequence[RunRecord]) -> str:
    """Spearman's ρ of each covariate with the claim's ``y`` over the compared runs, strongest named first."""
    chosen = [r for r in runs if r.run_id in set(verdict.compared)]
    y = [M.value(r, verdict.claim.y) for r in chosen]
    found = []
    for name, get in COVARIATES.items():
        pairs = [(c, v) for r, v in zip(chosen, y) if v is not None and (c := get(r)) is not None]
        if len(pairs) >= 3 and np.ptp([c for c, _ in pairs]) > 0 and np.ptp([v for _, v in pairs]) > 0:
            found.append((abs(rho := float(stats.spearmanr(*zip(*pairs)).statistic)), name, rho))
    if not found:
        return "no covariate varies across the compared runs"
    found.sort(reverse=True)
    return (f"strongest: {found[0][1]} (ρ = {found[0][2]:+.2f}); "
            + ", ".join(f"{name} ρ = {rho:+.2f}" for _, name, rho in found[1:])).rstrip("; ")


def differs_paragraphs(verdicts: Sequence[Verdict], runs: Sequence[RunRecord], study: str | None) -> list[str]:
    """One paragraph per claim whose verdict differs from the paper's (empty when none differs)."""
    differing = [v for v in verdicts if v.claim.paper and v.verdict != REPORTED and v.verdict != v.claim.paper]
    if not differing:
        return []
    paper = paper_configs(study)
    out = []
    for v in differing:
        chosen = [r for r in runs if r.run_id in set(v.compared)] or list(runs)
        out.append(f"{v.claim.id}: ours {v.verdict}, the paper's {v.claim.paper}. Our setting against the "
                   f"paper's: {setting_contrast(chosen, paper)}. Covariation with {v.claim.y} across the "
                   f"{len(v.compared)} compared runs (Spearman): {covariation(v, runs)}.")
    return out

"""Verdicts of claims, computed from stored results only.

* ``spearman``: Spearman's ρ between ``x`` and ``y`` over the compared runs. Every run (one seed of one
  setting) is one point: seeds are not averaged, so a study with 3 seeds at 5 batch sizes tests 15 points.
  The two-sided p is a permutation p (:mod:`hessianlab.report.stats`, which says why): exact over all n!
  pairings for n ≤ 8, Monte Carlo over 20,000 seeded pairings above.
* ``less`` / ``greater``: Welch's two-sample t-test (two-sided p) between the ``y`` of the runs matching
  ``where_a`` and of those matching ``where_b``; the effect is ``mean_a - mean_b``. Each group needs ≥ 2 runs.
* ``bound``: no statistics; ``supported`` when every compared run's ``y`` lies in ``[min, max]``,
  ``contradicted`` when one does not (the statistic is the value farthest outside, else the one closest to a
  bound), ``inconclusive`` without values.
* ``describe``: verdict ``reported`` with the smallest, mean and largest ``y`` (no expectation to test).

Verdict: ``supported`` when the effect has the expected sign, p ≤ alpha and (spearman) |ρ| ≥ min_rho;
``contradicted`` when the same holds with the opposite sign; ``inconclusive`` otherwise, with the reason
(fewer than 3 points, a constant variable, p > alpha, |ρ| < min_rho, ...).

Spearman and group verdicts also carry an :class:`~hessianlab.report.effects.Effect` in the claim's units with
its 95 % bootstrap interval; an inconclusive one adds the minimum detectable effect (:mod:`~.power`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy import stats

from hessianlab.report import metrics as M
from hessianlab.report.claims import Claim, matches
from hessianlab.report.effects import Effect, group_effect, trend_effect
from hessianlab.report.runs import RunRecord
from hessianlab.report.stats import trend_test

SUPPORTED, CONTRADICTED, INCONCLUSIVE, REPORTED = "supported", "contradicted", "inconclusive", "reported"
VERDICT_RULE = (
    "Verdict rule: supported = effect in the expected direction with p ≤ alpha (and |ρ| ≥ min_rho for Spearman); "
    "contradicted = the same in the opposite direction; inconclusive otherwise (the reason is given). Trend "
    "claims test every seed-level run as one point (Spearman's ρ, two-sided permutation p: exact for n ≤ 8, "
    "20,000 seeded pairings above); group claims use Welch's t-test. Effects are in the claim's units "
    "(accuracy in percentage points) with a 95 % pooled-residual bootstrap interval; an inconclusive verdict "
    "states the smallest effect the design detects with 80 % power at its n and alpha (MDE, from the observed "
    "seed noise). A bound claim is supported when every run's value lies within its bounds and contradicted "
    "otherwise; a describe claim is only reported.")

if TYPE_CHECKING:
    from hessianlab.report.tables import Table


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim.

    Attributes:
        claim: the claim.
        verdict: ``supported`` | ``contradicted`` | ``inconclusive`` | ``reported`` (describe).
        reason: one sentence saying why.
        statistic: ρ (spearman), ``mean_a - mean_b`` (less/greater), the deciding value (bound) or the mean
            (describe); ``None`` when not computable.
        p_value: two-sided p-value, or ``None``.
        n: number of points compared.
        compared: run ids compared (for less/greater: group A then group B).
        excluded: ``{run_id: why}`` for runs matching ``where`` that were left out.
        details: extra numbers (group means, the p-value method).
        effect: the effect in the claim's units with its interval (and MDE when inconclusive), or ``None``.
    """

    claim: Claim
    verdict: str
    reason: str
    statistic: float | None
    p_value: float | None
    n: int
    compared: list[str]
    excluded: dict[str, str] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    effect: Effect | None = None


def evaluate(claim: Claim, runs: Sequence[RunRecord]) -> Verdict:
    """The verdict of ``claim`` on ``runs``."""
    pool, excluded = [], {}
    for run in runs:
        if not matches(run, claim.where):
            continue
        if claim.only_reached_target and not run.reached_target:
            excluded[run.run_id] = "did not reach the target loss"
        else:
            pool.append(run)
    if claim.test == "spearman":
        return _spearman(claim, pool, excluded)
    if claim.test in ("bound", "describe"):
        return _values(claim, pool, excluded)
    return _groups(claim, pool, excluded)


def _points(claim: Claim, runs: Sequence[RunRecord], path: str | None,
            excluded: dict[str, str]) -> list[tuple[RunRecord, float, float]]:
    """``(run, x, y)`` for the runs having both values (x = 0 without ``path``); others go to ``excluded``."""
    out = []
    for run in runs:
        y = M.value(run, claim.y)
        x = M.value(run, path) if path is not None else 0.0
        bad = [name for name, v in ((claim.y, y), (path, x)) if not _is_number(v)]
        if bad:
            excluded[run.run_id] = f"no numeric value for {bad[0]}"
        else:
            out.append((run, float(x), float(y)))
    return out


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _spearman(claim: Claim, runs: Sequence[RunRecord], excluded: dict[str, str]) -> Verdict:
    pts = _points(claim, runs, claim.x, excluded)
    ids, n = [p[0].run_id for p in pts], len(pts)
    base = dict(claim=claim, n=n, compared=ids, excluded=excluded)
    if n < 3:
        return Verdict(verdict=INCONCLUSIVE, reason=f"only {n} point(s) with values; at least 3 are needed",
                       statistic=None, p_value=None, **base)
    x, y = np.array([p[1] for p in pts]), np.array([p[2] for p in pts])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = claim.x if np.ptp(x) == 0 else claim.y
        return Verdict(verdict=INCONCLUSIVE, reason=f"{which} is constant over the compared runs",
                       statistic=None, p_value=None, **base)
    test = trend_test(x, y)
    sign = 1.0 if claim.expect == "increasing" else -1.0
    verdict, reason = _decide(sign * test.rho, test.p_value, claim.alpha, abs(test.rho), claim.min_rho,
                              f"ρ = {test.rho:.3g}")
    effect = trend_effect(claim.y, claim.x or "x", x, y, alpha=claim.alpha, min_rho=claim.min_rho,
                          with_mde=verdict == INCONCLUSIVE)
    return Verdict(verdict=verdict, reason=reason, statistic=test.rho, p_value=test.p_value,
                   details={"p_method": test.method}, effect=effect, **base)


def _groups(claim: Claim, runs: Sequence[RunRecord], excluded: dict[str, str]) -> Verdict:
    a = _points(claim, [r for r in runs if matches(r, claim.where_a)], None, excluded)
    b = _points(claim, [r for r in runs if matches(r, claim.where_b)], None, excluded)
    ids = [p[0].run_id for p in a] + [p[0].run_id for p in b]
    base = dict(claim=claim, n=len(ids), compared=ids, excluded=excluded)
    overlap = {p[0].run_id for p in a} & {p[0].run_id for p in b}
    if overlap:
        return Verdict(verdict=INCONCLUSIVE, reason=f"runs {sorted(overlap)} match both where_a and where_b",
                       statistic=None, p_value=None, **base)
    if len(a) < 2 or len(b) < 2:
        return Verdict(verdict=INCONCLUSIVE, reason=f"group sizes {len(a)} (A) and {len(b)} (B); each needs at "
                       "least 2 runs (e.g. seeds)", statistic=None, p_value=None, **base)
    ya, yb = np.array([p[2] for p in a]), np.array([p[2] for p in b])
    diff = float(ya.mean() - yb.mean())
    details: dict[str, object] = {"mean_a": float(ya.mean()), "mean_b": float(yb.mean()), "n_a": len(a),
                                  "n_b": len(b), "p_method": "Welch's t-test"}
    p = float(stats.ttest_ind(ya, yb, equal_var=False).pvalue)
    if not math.isfinite(p):
        return Verdict(verdict=INCONCLUSIVE, reason="no variance within the groups; the t-test is undefined",
                       statistic=diff, p_value=None, details=details, **base)
    sign = -1.0 if claim.test == "less" else 1.0
    verdict, reason = _decide(sign * diff, p, claim.alpha, None, None, f"mean A - mean B = {diff:.4g}")
    effect = group_effect(claim.y, ya, yb, alpha=claim.alpha, with_mde=verdict == INCONCLUSIVE)
    return Verdict(verdict=verdict, reason=reason, statistic=diff, p_value=p, details=details, effect=effect,
                   **base)


def _values(claim: Claim, runs: Sequence[RunRecord], excluded: dict[str, str]) -> Verdict:
    """``bound`` and ``describe``: every run's ``y`` on its own."""
    pts = _points(claim, runs, None, excluded)
    base = dict(claim=claim, n=len(pts), compared=[p[0].run_id for p in pts], excluded=excluded, p_value=None)
    if not pts:
        return Verdict(verdict=INCONCLUSIVE, reason=f"no run has a value for {claim.y}", statistic=None, **base)
    y = np.array([p[2] for p in pts])
    details: dict[str, object] = {"min": float(y.min()), "mean": float(y.mean()), "max": float(y.max())}
    summary = f"{claim.y}: min {y.min():.4g}, mean {y.mean():.4g}, max {y.max():.4g} over {len(pts)} run(s)"
    if claim.test == "describe":
        return Verdict(verdict=REPORTED, reason=summary, statistic=float(y.mean()), details=details, **base)
    low = -math.inf if claim.min is None else claim.min
    high = math.inf if claim.max is None else claim.max
    margin = np.minimum(y - low, high - y)  # < 0 outside the bounds
    worst = int(np.argmin(margin))
    bounds = f"[{'-inf' if claim.min is None else f'{low:g}'}, {'inf' if claim.max is None else f'{high:g}'}]"
    if margin[worst] < 0:
        return Verdict(verdict=CONTRADICTED, reason=f"{pts[worst][0].run_id} has {claim.y} = {y[worst]:.4g} outside "
                       f"{bounds}; {summary}", statistic=float(y[worst]), details=details, **base)
    return Verdict(verdict=SUPPORTED, reason=f"every value in {bounds}; {summary}", statistic=float(y[worst]),
                   details=details, **base)


def _decide(signed: float, p: float, alpha: float, size: float | None, min_size: float | None,
            effect: str) -> tuple[str, str]:
    """Map a signed effect (positive = expected direction), p and effect size to a verdict and reason."""
    if p > alpha:
        return INCONCLUSIVE, f"{effect}, p = {p:.3g} > alpha = {alpha:g}"
    if size is not None and min_size is not None and size < min_size:
        return INCONCLUSIVE, f"{effect}, |ρ| < min_rho = {min_size:g} (p = {p:.3g})"
    if signed > 0:
        return SUPPORTED, f"{effect} in the expected direction, p = {p:.3g} ≤ alpha = {alpha:g}"
    if signed < 0:
        return CONTRADICTED, f"{effect} opposite to the expected direction, p = {p:.3g} ≤ alpha = {alpha:g}"
    return INCONCLUSIVE, f"{effect}: no effect"


def verdict_table(verdicts: Sequence[Verdict]) -> Table:
    """The verdicts as a report table (one row per claim; CSV records carry the raw numbers)."""
    from hessianlab.report.tables import Table

    columns = ["claim", "statement", "test", "verdict", "statistic", "p", "effect [95 % CI]", "n", "power (MDE)",
               "reason"]
    rows, records = [], []
    for v in verdicts:
        c, e = v.claim, v.effect
        stat = ("–" if v.statistic is None else f"ρ = {v.statistic:.3g}" if c.test == "spearman"
                else f"Δ = {v.statistic:.4g}" if c.test in ("less", "greater") else f"{v.statistic:.4g}")
        rows.append([c.id, c.statement, _test_text(c), v.verdict, stat,
                     "–" if v.p_value is None else f"{v.p_value:.3g}", effect_cell(v), str(v.n),
                     (e.mde_text() or "–") if e else "–", v.reason])
        records.append({"claim": c.id, "statement": c.statement, "test": c.test, "x": c.x, "y": c.y,
                        "expect": c.expect, "verdict": v.verdict, "statistic": v.statistic, "p_value": v.p_value,
                        "p_method": v.details.get("p_method"), "alpha": c.alpha, "n": v.n,
                        **effect_record(e), "reason": v.reason, "compared": " ".join(v.compared),
                        "excluded": " ".join(v.excluded)})
    return Table("claims", "Claims and verdicts", columns, rows, records)


def effect_cell(v: Verdict) -> str:
    """``'change from config.batch_size = 16 to 512: -3.2 pp [-5.1, -1.0]'``, or ``'–'`` without an effect."""
    return "–" if v.effect is None else f"{v.effect.what}: {v.effect.text()}"


def effect_record(e: Effect | None) -> dict[str, object]:
    """The effect's raw numbers for CSV / JSON (display scale and unit included; ``None`` when absent)."""
    iv = e.interval if e else None
    return {"effect": e.value if e else None, "effect_what": e.what if e else None,
            "effect_low": iv.low if iv else None, "effect_high": iv.high if iv else None,
            "effect_scale": e.scale if e else None, "effect_unit": e.unit if e else None,
            "mde": e.mde if e and e.mde is not None and math.isfinite(e.mde) else None,
            "mde_note": e.mde_text() if e else None}


def _test_text(c: Claim) -> str:
    if c.test == "spearman":
        return f"spearman({c.x}, {c.y}) {c.expect}"
    if c.test == "bound":
        return " and ".join(([f"{c.y} ≥ {c.min:g}"] if c.min is not None else [])
                            + ([f"{c.y} ≤ {c.max:g}"] if c.max is not None else [])) + " for every run"
    if c.test == "describe":
        return f"{c.y} (reported)"
    return f"{c.y}: A {c.test} than B"


def describe_runs(v: Verdict) -> str:
    """One sentence naming the runs a verdict compared and those it left out (with why)."""
    text = f"{v.claim.id}: compared {len(v.compared)} run(s): {', '.join(v.compared) or 'none'}"
    if v.claim.test != "spearman" and v.details.get("n_a") is not None:
        text += f" (A = first {v.details['n_a']}, B = last {v.details['n_b']})"
    if v.excluded:
        text += "; left out: " + ", ".join(f"{k} ({why})" for k, why in sorted(v.excluded.items()))
    scope = ("only runs that reached the target loss" if v.claim.only_reached_target
             else "all runs, reached target or not")
    return text + f"; scope: {scope}."

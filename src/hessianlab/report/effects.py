"""Effect sizes of claims in their own units, with 95 % bootstrap intervals and, when needed, the MDE.

* Trend claims: the change of the mean ``y`` from the smallest to the largest ``x`` among the compared runs
  (e.g. FGSM accuracy at B = 512 minus at B = 16, in percentage points).
* Group claims: mean ``y`` of group A minus group B.

Intervals: :func:`hessianlab.report.stats.contrast_interval` (pooled-residual expanded-percentile bootstrap over
the seed-level values). The minimum detectable effect (:mod:`hessianlab.report.power`) is attached to
inconclusive verdicts. Values are stored unscaled; :meth:`Effect.text` formats them in the claim's units
(accuracies in % / percentage points, see :func:`hessianlab.report.metrics.unit_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hessianlab.report import metrics as M
from hessianlab.report.power import POWER, trend_mde, trend_noise_sd, welch_mde
from hessianlab.report.stats import Interval, cells_of, contrast_interval


@dataclass(frozen=True)
class Effect:
    """An effect of a claim.

    Attributes:
        value: the effect (raw units of the metric, e.g. accuracy as a fraction).
        what: what it measures, e.g. ``'change from config.batch_size = 16 to 512'``.
        interval: 95 % bootstrap interval, ``None`` without seed variance.
        scale, unit: display factor and unit of a difference (``100``, ``'pp'`` for accuracies).
        mde: minimum detectable effect (same raw units) at :data:`~hessianlab.report.power.POWER`, for
            inconclusive verdicts; ``inf`` when the design cannot detect any effect; ``None`` when not computed.
        mde_note: how σ was estimated for the MDE.
    """

    value: float
    what: str
    interval: Interval | None
    scale: float
    unit: str
    mde: float | None = None
    mde_note: str = ""

    def fmt(self, v: float) -> str:
        """``v`` in display units, e.g. ``'-3.2 pp'``."""
        return f"{v * self.scale:+.3g}{self.unit}" if np.isfinite(v) else "∞"

    def text(self) -> str:
        """``'-3.2 pp [-5.1, -1.0]'`` (value and 95 % interval) or ``'… (no interval: one run per setting)'``."""
        if self.interval is None:
            return f"{self.fmt(self.value)} (no interval: one run per setting)"
        lo, hi = self.interval.low * self.scale, self.interval.high * self.scale
        return f"{self.fmt(self.value)} [{lo:+.3g}, {hi:+.3g}]"

    def mde_text(self) -> str:
        """The power statement of an inconclusive verdict (empty without an MDE)."""
        if self.mde is None:
            return ""
        if not np.isfinite(self.mde):
            return "this design cannot reach p ≤ alpha at any effect size: add settings or seeds"
        return (f"detectable with {POWER:.0%} power: |effect| ≥ {abs(self.mde) * self.scale:.3g}{self.unit} "
                f"({self.mde_note})")


def trend_effect(path: str, x_path: str, x: Sequence[float], y: Sequence[float], *, alpha: float,
                 min_rho: float, with_mde: bool) -> Effect:
    """Change of the mean ``y`` from the smallest to the largest ``x``, with interval (and MDE)."""
    cells = cells_of(list(x), list(y))
    low_x, high_x = min(cells), max(cells)
    keys = list(cells)
    weights = [1.0 if k == high_x else -1.0 if k == low_x else 0.0 for k in keys]
    value = float(cells[high_x].mean() - cells[low_x].mean())
    scale, _, unit = M.unit_of(path)
    mde, note = None, ""
    if with_mde:
        sd, note = trend_noise_sd(x, y)
        if sd is not None:
            mde = trend_mde(x, sd, alpha=alpha, min_rho=min_rho) if sd > 0 else 0.0
    return Effect(value, f"change from {x_path} = {low_x:g} to {high_x:g}", contrast_interval(
        [cells[k] for k in keys], weights), scale, unit, mde, note)


def group_effect(path: str, a: Sequence[float], b: Sequence[float], *, alpha: float, with_mde: bool) -> Effect:
    """Mean A - mean B with interval (and the Welch MDE)."""
    cells = [np.asarray(a, dtype=float), np.asarray(b, dtype=float)]
    scale, _, unit = M.unit_of(path)
    mde = welch_mde(a, b, alpha=alpha) if with_mde and len(a) > 1 and len(b) > 1 else None
    return Effect(float(cells[0].mean() - cells[1].mean()), "mean A - mean B", contrast_interval(cells, [1.0, -1.0]),
                  scale, unit, mde, "Welch, observed group SDs" if mde is not None else "")

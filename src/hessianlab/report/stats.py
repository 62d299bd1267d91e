"""Seed-level statistics of claims: a permutation test of Spearman's ρ and bootstrap intervals of effects.

**Trend test (choice and why).** A trend claim ("λ1 increases with batch size") is tested by a permutation
test of Spearman's ρ over the *seed-level* points: every run (one seed at one setting) is one point
``(x, y)``; seeds are not averaged. Under the null hypothesis (y unrelated to x) the y values are exchangeable
across the points, so the null distribution of ρ is that of ρ under random re-pairings of the observed y ranks
with the observed x ranks. This is preferred over a pooled rank test with an asymptotic p (e.g.
``scipy.stats.spearmanr``'s t approximation) because quick studies have 4-6 settings x 3 seeds: x has many
ties (every seed of a setting shares x) and n is 12-18, where the t approximation is off and at n ≤ 4 even
invalid; the permutation p is exact in distribution for any n and any ties, and needs no normality.
With n ≤ :data:`EXACT_MAX_N` points all n! pairings are enumerated (exact p); above, :data:`N_PERM` random
pairings from a fixed seed give a Monte Carlo p = (1 + #{|ρ*| ≥ |ρ|}) / (1 + N_PERM), which is valid
(never below the exact p in expectation) and deterministic.

**Effects and intervals.** An effect is a contrast of cell means (a cell = the runs of one x value or of one
group): the change from the smallest to the largest x, or mean A - mean B, in the claim's units. Its 95 %
interval is a *pooled-residual bootstrap*: residuals y - (its cell's mean) from every cell are pooled and
rescaled by sqrt(N / (N - K)) (N values, K cells; unbiased variance), each replicate adds to every cell mean
the mean of ``n_cell`` residuals drawn with replacement, and the interval is the expanded percentile interval
(Hesterberg 2015): percentiles at α'/2 and 1 - α'/2 with α' = 2 Φ(-t_{1-α/2, N-K}), which corrects the
percentile bootstrap's known under-coverage with few residual degrees of freedom. Pooling assumes seed noise
of similar size in every cell; it is what makes an interval from 3 seeds per cell meaningful (a bootstrap of
3 values alone cannot cover more than 75 %). With one value per cell there is no seed variance and no
interval.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import stats

EXACT_MAX_N = 8
N_PERM = 20_000
N_BOOT = 4_000
SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class TrendTest:
    """Spearman's ρ of seed-level points with its two-sided permutation p-value and how it was computed."""

    rho: float
    p_value: float
    method: str


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` at ``confidence``, with the residual degrees of freedom."""

    low: float
    high: float
    confidence: float
    df: int


def _unit(v: np.ndarray) -> np.ndarray:
    """Centre and normalise along the last axis (rows with no spread become zeros)."""
    c = v - v.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    return np.divide(c, norm, out=np.zeros_like(c), where=norm > 0)


@lru_cache(maxsize=64)
def null_abs_rhos(x_ranks: tuple[float, ...], y_ranks: tuple[float, ...], n_perm: int = N_PERM,
                  seed: int = SEED) -> np.ndarray:
    """Sorted |ρ| over the null re-pairings of ``y_ranks`` with ``x_ranks`` (all n! for n ≤ EXACT_MAX_N)."""
    n = len(x_ranks)
    ry = np.asarray(y_ranks, dtype=float)
    if n <= EXACT_MAX_N:
        perms = ry[np.array(list(itertools.permutations(range(n))))]
    else:
        rng = np.random.default_rng(seed)
        perms = ry[rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)]
    out = np.sort(np.abs(_unit(perms) @ _unit(np.asarray(x_ranks, dtype=float))))
    out.flags.writeable = False
    return out


def trend_tests(x: Sequence[float], y: np.ndarray, *, n_perm: int = N_PERM, seed: int = SEED
                ) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ and permutation p of many datasets at once: ``y`` is (T, n) or (n,), ``x`` (n,).

    Rows of ``y`` must have no ties among themselves for the shared null (continuous data); :func:`trend_test`
    handles one dataset with ties. Returns ``(rho, p)`` each of shape (T,).
    """
    y2 = np.atleast_2d(np.asarray(y, dtype=float))
    rx = stats.rankdata(x)
    ry = np.argsort(np.argsort(y2, axis=1), axis=1) + 1.0
    rho = _unit(ry) @ _unit(rx)
    null = null_abs_rhos(tuple(rx), tuple(np.arange(1.0, y2.shape[1] + 1)), n_perm, seed)
    return rho, _p_from_null(null, rho, len(rx))


def _p_from_null(null: np.ndarray, rho: np.ndarray, n: int) -> np.ndarray:
    count = len(null) - np.searchsorted(null, np.abs(rho) - 1e-12, side="left")
    if n <= EXACT_MAX_N:
        return count / len(null)
    return (1.0 + count) / (1.0 + len(null))


def trend_test(x: Sequence[float], y: Sequence[float], *, n_perm: int = N_PERM, seed: int = SEED) -> TrendTest:
    """Two-sided permutation test of Spearman's ρ between seed-level ``x`` and ``y`` (ties allowed)."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(_unit(ry) @ _unit(rx))
    null = null_abs_rhos(tuple(rx), tuple(np.sort(ry)), n_perm, seed)  # the multiset of y ranks
    p = float(_p_from_null(null, np.array([rho]), len(rx))[0])
    n = len(rx)
    method = (f"exact permutation over {math.factorial(n)} pairings" if n <= EXACT_MAX_N
              else f"Monte Carlo permutation, {len(null)} pairings (seed {seed})")
    return TrendTest(rho, p, method)


def cells_of(keys: Sequence[object], y: Sequence[float]) -> dict[object, np.ndarray]:
    """The ``y`` values grouped by ``keys`` (cells), in order of first appearance."""
    out: dict[object, list[float]] = {}
    for k, v in zip(keys, y):
        out.setdefault(k, []).append(float(v))
    return {k: np.array(v) for k, v in out.items()}


def residual_df(cells: Sequence[np.ndarray]) -> int:
    """N - K: the degrees of freedom of the pooled within-cell variance."""
    return int(sum(len(c) for c in cells) - len(cells))


def pooled_sd(cells: Sequence[np.ndarray]) -> float | None:
    """Pooled within-cell standard deviation, ``None`` when no cell has two values."""
    df = residual_df(cells)
    if df <= 0:
        return None
    return math.sqrt(sum(float(((c - c.mean()) ** 2).sum()) for c in cells) / df)


def contrast_interval(cells: Sequence[np.ndarray], weights: Sequence[float], *, confidence: float = CONFIDENCE,
                      n_boot: int = N_BOOT, seed: int = SEED) -> Interval | None:
    """Pooled-residual expanded-percentile bootstrap interval of ``Σ weights[i] * mean(cells[i])``.

    ``None`` when no cell has two values (no seed variance). See the module docstring for the method.
    """
    df = residual_df(cells)
    if df <= 0:
        return None
    means = np.array([c.mean() for c in cells])
    total = sum(len(c) for c in cells)
    pool = np.concatenate([c - c.mean() for c in cells]) * math.sqrt(total / df)
    rng = np.random.default_rng(seed)
    reps = np.full(n_boot, float(np.dot(weights, means)))
    for w, c in zip(weights, cells):
        if w != 0:
            draws = pool[rng.integers(0, len(pool), size=(n_boot, len(c)))]
            reps += w * draws.mean(axis=1)
    alpha = 1.0 - confidence
    expanded = 2.0 * stats.norm.cdf(-stats.t.ppf(1.0 - alpha / 2.0, df))
    low, high = np.quantile(reps, [expanded / 2.0, 1.0 - expanded / 2.0])
    return Interval(float(low), float(high), confidence, df)


def t_halfwidth(values: Sequence[float], confidence: float = CONFIDENCE) -> float | None:
    """Half-width of the t interval of the mean of ``values`` (``None`` below 2 values).

    Used for a table cell that averages the seeds of one setting: with n = 3 a bootstrap of the cell alone
    cannot reach 95 % coverage, while the t interval is exact for normal seed noise.
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return None
    return float(stats.t.ppf(0.5 + confidence / 2.0, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))

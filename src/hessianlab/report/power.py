"""Power of a claim's design: the minimum detectable effect (MDE) at its n and alpha, from observed seed noise.

An inconclusive verdict alone cannot tell "no effect" from "too few runs". The MDE is the smallest true effect,
in the claim's own units, that the same design (the same settings, seeds per setting and alpha, and the
verdict rule) would declare *supported* with probability :data:`POWER` (80 %), given seed noise of the observed
size. An observed effect below the MDE says "too few runs to see an effect this small"; a design whose MDE is
small says "no effect larger than MDE".

* Trend claims (Spearman permutation test): the planted effect is a change of Δ from the smallest to the
  largest x, linear in the rank of the x value, plus Gaussian seed noise of standard deviation σ. σ is the
  pooled within-setting standard deviation of the seeds; with one seed per setting it is the von Neumann
  estimate sqrt(Σ (y_{i+1} - y_i)² / (2 (n - 1))) over the points ordered by x (inflated by a real trend, so
  the MDE is then conservative). The power at Δ is simulated (:data:`N_SIM` datasets, common random numbers,
  fixed seed) through :func:`hessianlab.report.stats.trend_tests` and the verdict rule (p ≤ alpha and
  ρ ≥ min_rho in the expected direction); Δ is found by bisection on Δ / σ.
* Group claims (Welch's t-test): the usual normal-theory MDE (t_{1-α/2, ν} + t_{power, ν}) · SE with
  SE = sqrt(s_A² / n_A + s_B² / n_B) and Welch-Satterthwaite ν.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

from hessianlab.report.stats import SEED, cells_of, pooled_sd, trend_tests

POWER = 0.8
N_SIM = 2_000
MAX_RATIO = 1e3  # Δ / σ searched up to this; beyond it the design cannot detect any effect


def trend_noise_sd(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, str]:
    """σ of the seed noise of a trend design and how it was estimated (see the module docstring)."""
    sd = pooled_sd(list(cells_of(list(x), list(y)).values()))
    if sd is not None:
        return sd, "pooled within-setting seed SD"
    if len(y) < 3:
        return None, "fewer than 3 points"
    order = np.argsort(np.asarray(x, dtype=float), kind="stable")
    ys = np.asarray(y, dtype=float)[order]
    return float(math.sqrt(np.sum(np.diff(ys) ** 2) / (2 * (len(ys) - 1)))), "one seed per setting: von Neumann SD"


def trend_pattern(x: Sequence[float]) -> np.ndarray:
    """The planted trend of unit size: 0 at the smallest x, 1 at the largest, linear in the x value's rank."""
    levels = sorted(set(float(v) for v in x))
    if len(levels) < 2:
        raise ValueError("a trend needs at least two x values")
    index = {v: i / (len(levels) - 1) for i, v in enumerate(levels)}
    return np.array([index[float(v)] for v in x])


def trend_power(x: Sequence[float], delta_over_sd: float, *, alpha: float, min_rho: float, n_sim: int = N_SIM,
                seed: int = SEED) -> float:
    """Probability that the verdict rule calls a planted increasing trend of size Δ = delta_over_sd · σ
    supported (one-sided by construction; a decreasing claim is the mirror image)."""
    noise = np.random.default_rng(seed + 1).standard_normal((n_sim, len(x)))
    return _power(np.asarray(x, dtype=float), trend_pattern(x), noise, delta_over_sd, alpha, min_rho)


def _power(x: np.ndarray, pattern: np.ndarray, noise: np.ndarray, ratio: float, alpha: float,
           min_rho: float) -> float:
    rho, p = trend_tests(x, ratio * pattern + noise)
    return float(np.mean((p <= alpha) & (rho > 0) & (rho >= min_rho)))


def trend_mde(x: Sequence[float], sd: float, *, alpha: float, min_rho: float, power: float = POWER,
              n_sim: int = N_SIM, seed: int = SEED) -> float:
    """Smallest Δ (change from the smallest to the largest x, in y units) detected with probability
    ``power``; ``inf`` when no effect can be (e.g. too few points for p ≤ alpha)."""
    xs = np.asarray(x, dtype=float)
    pattern = trend_pattern(xs)
    noise = np.random.default_rng(seed + 1).standard_normal((n_sim, len(xs)))
    if _power(xs, pattern, noise, MAX_RATIO, alpha, min_rho) < power:
        return math.inf
    low, high = 0.0, 1.0
    while _power(xs, pattern, noise, high, alpha, min_rho) < power:
        low, high = high, high * 2.0
    for _ in range(30):
        mid = 0.5 * (low + high)
        if _power(xs, pattern, noise, mid, alpha, min_rho) >= power:
            high = mid
        else:
            low = mid
        if high - low < 1e-3 * high:
            break
    return high * sd


def welch_mde(a: Sequence[float], b: Sequence[float], *, alpha: float, power: float = POWER) -> float | None:
    """MDE of mean A - mean B for Welch's two-sided test at ``alpha`` (``None`` without spread in both)."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0 or not math.isfinite(se):
        return None
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float((sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * se)

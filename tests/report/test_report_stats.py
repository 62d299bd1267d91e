"""Seed-level statistics against scipy and on planted data: power, false-positive rate, interval coverage.

The planted designs are the quick presets' shape: 5 settings x 3 seeds (15 points), Gaussian seed noise.
All simulations use fixed seeds, so the assertions are deterministic; their bounds are the binomial
tolerances (about 3 standard errors) around the nominal rates.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from hessianlab.report.effects import group_effect, trend_effect
from hessianlab.report.power import POWER, trend_mde, trend_noise_sd, trend_power, welch_mde
from hessianlab.report.stats import contrast_interval, t_halfwidth, trend_test, trend_tests

DESIGN = [16, 32, 64, 128, 256] * 3


def _spearman_stat(x):
    """Spearman's ρ of ``x`` with every row of ``y`` (vectorised, as scipy's permutation_test calls it)."""
    rx = stats.rankdata(x)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())

    def stat(y, axis=-1):
        ry = stats.rankdata(np.moveaxis(y, axis, -1), axis=-1)
        ry = ry - ry.mean(axis=-1, keepdims=True)
        return ry @ rx / np.linalg.norm(ry, axis=-1)
    return stat


def test_exact_permutation_p_matches_scipy_for_small_n():
    x = [1, 2, 3, 4, 5, 6, 7]
    y = [2.0, 1.0, 4.0, 3.0, 7.0, 5.0, 6.0]
    ours = trend_test(x, y)
    ref = stats.permutation_test((y,), _spearman_stat(x), permutation_type="pairings", n_resamples=math.inf,
                                 vectorized=True)
    assert ours.rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    assert ours.method.startswith("exact")


def test_ties_in_x_and_y_exact_p_matches_scipy():
    x = [16, 16, 32, 32, 64, 64]  # two seeds per setting: tied x
    y = [0.5, 0.6, 0.6, 0.7, 0.9, 0.8]  # one tie in y
    ours = trend_test(x, y)
    ref = stats.permutation_test((y,), _spearman_stat(x), permutation_type="pairings", n_resamples=math.inf,
                                 vectorized=True)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)


def test_monte_carlo_p_agrees_with_scipy_at_seed_level_n():
    rng = np.random.default_rng(3)
    y = np.array(DESIGN, dtype=float) / 100 + rng.standard_normal(15)
    ours = trend_test(DESIGN, y)
    ref = stats.permutation_test((y,), _spearman_stat(DESIGN), permutation_type="pairings", n_resamples=20000,
                                 random_state=1, vectorized=True)
    assert ours.rho == pytest.approx(stats.spearmanr(DESIGN, y).statistic, abs=1e-12)
    # two independent Monte Carlo estimates of p ≈ 0.02 with 20,000 pairings each: s.e. ≈ 0.001
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.005)
    assert "Monte Carlo" in ours.method


def test_vectorised_tests_equal_the_single_test():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((5, 15)) + np.array(DESIGN) / 200
    rho, p = trend_tests(DESIGN, y)
    for row, r, q in zip(y, rho, p):
        single = trend_test(DESIGN, row)
        assert r == pytest.approx(single.rho, abs=1e-12) and q == pytest.approx(single.p_value, abs=1e-12)


def _verdicts(x, y, alpha=0.05, min_rho=0.5):
    rho, p = trend_tests(x, y)
    return (p <= alpha) & (np.abs(rho) >= min_rho), rho


def test_null_data_is_inconclusive_in_at_least_95_percent_of_200_trials():
    y = np.random.default_rng(11).standard_normal((200, 15))
    decided, _ = _verdicts(DESIGN, y)
    assert np.mean(~decided) >= 0.95


def test_planted_trend_of_the_mde_is_detected_with_the_stated_power():
    sd = 2.0
    mde = trend_mde(DESIGN, sd, alpha=0.05, min_rho=0.5)
    assert 0 < mde < math.inf
    rng = np.random.default_rng(12345)  # fresh noise, not the draws the MDE was searched on
    pattern = np.array([math.log2(b / 16) / 4 for b in DESIGN])  # linear in the setting's rank, 0 → 1
    y = mde * pattern + sd * rng.standard_normal((400, 15))
    decided, rho = _verdicts(DESIGN, y)
    rate = np.mean(decided & (rho > 0))
    assert abs(rate - POWER) < 0.07, rate  # binomial s.e. 0.02 at 400 trials, plus the MDE's own search error
    # half the MDE is detected far less often, twice the MDE almost always
    assert trend_power(DESIGN, 0.5 * mde / sd, alpha=0.05, min_rho=0.5, seed=5) < 0.5
    assert trend_power(DESIGN, 2.0 * mde / sd, alpha=0.05, min_rho=0.5, seed=5) > 0.95


def test_mde_is_infinite_when_no_effect_can_reach_alpha():
    assert trend_mde([16, 32, 64], 1.0, alpha=0.05, min_rho=0.5) == math.inf  # smallest exact p is 1/3


def test_bootstrap_interval_covers_the_true_effect_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    x = np.array(DESIGN, dtype=float)
    truth = 1.5  # change from the smallest to the largest setting
    covered = 0
    trials = 400
    for t in range(trials):
        y = truth * np.log2(x / 16) / 4 + rng.standard_normal(15)
        e = trend_effect("eigs.lambda1_train", "config.batch_size", x, y, alpha=0.05, min_rho=0.5, with_mde=False)
        covered += e.interval.low <= truth <= e.interval.high
    assert 0.92 <= covered / trials <= 0.98, covered / trials


def test_group_interval_and_welch_mde():
    rng = np.random.default_rng(8)
    covered, detected = 0, 0
    mde = welch_mde(rng.standard_normal(6), rng.standard_normal(6), alpha=0.05)
    sd_scale = 1.0
    for _ in range(300):
        a, b = 0.7 + rng.standard_normal(6), rng.standard_normal(6)
        iv = contrast_interval([a, b], [1.0, -1.0])
        covered += iv.low <= 0.7 <= iv.high
        a2, b2 = mde + sd_scale * rng.standard_normal(6), sd_scale * rng.standard_normal(6)
        detected += stats.ttest_ind(a2, b2, equal_var=False).pvalue <= 0.05
    assert 0.91 <= covered / 300 <= 0.99
    assert 0.6 <= detected / 300 <= 0.95  # the MDE came from one noisy SD estimate of 6 + 6 values


def test_effects_in_claim_units_and_no_interval_without_seeds():
    e = trend_effect("attack.fgsm.test.0.02", "config.batch_size", [16, 32, 64], [0.60, 0.58, 0.55],
                     alpha=0.05, min_rho=0.5, with_mde=True)
    assert e.value == pytest.approx(-0.05) and e.interval is None and e.unit == " pp"
    assert e.text().startswith("-5 pp") and "one run per setting" in e.text()
    assert e.mde == math.inf and "cannot" in e.mde_text()
    sd, how = trend_noise_sd([16, 32, 64], [0.60, 0.58, 0.55])
    assert "von Neumann" in how and sd == pytest.approx(math.sqrt((0.02 ** 2 + 0.03 ** 2) / 4))
    g = group_effect("summary.updates", [10.0, 12.0], [20.0, 22.0], alpha=0.05, with_mde=False)
    assert g.value == -10.0 and g.interval.low < -10.0 < g.interval.high and g.unit == " updates"


def test_t_halfwidth():
    assert t_halfwidth([1.0]) is None
    v = [1.0, 2.0, 4.0]
    assert t_halfwidth(v) == pytest.approx(stats.t.ppf(0.975, 2) * np.std(v, ddof=1) / math.sqrt(3))


def test_exact_null_distribution_has_every_pairing():
    x = [1, 2, 3, 4]
    p_values = [trend_test(x, list(perm)).p_value for perm in itertools.permutations([1.0, 2.0, 3.0, 4.0])]
    assert min(p_values) == pytest.approx(2 / 24)

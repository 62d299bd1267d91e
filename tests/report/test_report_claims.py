"""Claim validation and verdict logic on synthetic run sets."""

from __future__ import annotations

import pytest

from hessianlab.errors import ConfigError
from hessianlab.report import evaluate, load_runs, parse_claims
from hessianlab.report.claims import parse_claim

from conftest import make_run

SPEARMAN = {"id": "l1", "test": "spearman", "x": "config.batch_size", "y": "eigs.lambda1_train",
            "expect": "increasing"}


def _runs(tmp_path, values, *, seeds=(0,), reached=lambda b: True, **kw):
    for b, lam in values.items():
        for s in seeds:
            make_run(tmp_path, f"b{b}-s{s}", batch_size=b, seed=s, lambda1=lam + 0.01 * s, reached=reached(b), **kw)
    return load_runs(tmp_path)


def test_monotone_increasing_is_supported(tmp_path):
    runs = _runs(tmp_path, {16: 1.0, 32: 2.0, 64: 4.0, 128: 8.0, 256: 16.0})
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "supported", v.reason
    assert v.statistic == pytest.approx(1.0)
    assert v.p_value == pytest.approx(2 / 120)  # exact: 2 of the 5! pairings reach |ρ| = 1
    assert v.n == 5 and len(v.compared) == 5


def test_decreasing_is_contradicted(tmp_path):
    runs = _runs(tmp_path, {16: 16.0, 32: 8.0, 64: 4.0, 128: 2.0, 256: 1.0})
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "contradicted" and v.statistic == pytest.approx(-1.0)
    assert "opposite" in v.reason


def test_too_few_points_and_small_n_are_inconclusive(tmp_path):
    runs = _runs(tmp_path, {16: 1.0, 32: 2.0})
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "inconclusive" and "at least 3" in v.reason
    # three perfectly monotone points: spearmanr's asymptotic p would be 0; the exact p is 1/3
    runs = _runs(tmp_path, {16: 1.0, 32: 2.0, 64: 3.0})
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "inconclusive" and v.p_value == pytest.approx(1 / 3) and "alpha" in v.reason


def test_noise_is_inconclusive(tmp_path):
    runs = _runs(tmp_path, {16: 3.0, 32: 1.0, 64: 4.0, 128: 1.5, 256: 5.0, 512: 0.9, 1024: 2.6, 2048: 3.1})
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "inconclusive"
    assert v.details["p_method"].startswith("exact")


def test_min_rho_and_large_n_use_monte_carlo_permutations(tmp_path):
    values = {2 ** i: float(i) for i in range(1, 11)}
    runs = _runs(tmp_path, values)
    v = evaluate(parse_claim({**SPEARMAN, "min_rho": 0.5}), runs)
    assert v.verdict == "supported" and "Monte Carlo permutation" in v.details["p_method"]
    assert v.p_value == pytest.approx(1 / 20001)  # no random pairing reaches ρ = 1


def test_only_reached_target_excludes_and_reports(tmp_path):
    runs = _runs(tmp_path, {16: 1.0, 32: 2.0, 64: 4.0, 128: 8.0, 256: 16.0, 512: 0.1},
                 reached=lambda b: b != 512)
    v = evaluate(parse_claim(SPEARMAN), runs)
    assert v.verdict == "supported"
    assert v.excluded == {"b512-s0": "did not reach the target loss"}
    v = evaluate(parse_claim({**SPEARMAN, "only_reached_target": False}), runs)
    assert "b512-s0" in v.compared and v.verdict == "inconclusive"


def test_where_filters_runs(tmp_path):
    for b, lam in {16: 1.0, 32: 2.0, 64: 4.0, 128: 8.0, 256: 16.0}.items():
        make_run(tmp_path, f"c{b}", batch_size=b, lambda1=lam)
        make_run(tmp_path, f"r{b}", batch_size=b, lambda1=1.0 / lam, lr_schedule="ratio:0.001")
    runs = load_runs(tmp_path)
    v = evaluate(parse_claim({**SPEARMAN, "where": {"lr_schedule": "constant"}}), runs)
    assert v.verdict == "supported" and all(r.startswith("c") for r in v.compared)
    v = evaluate(parse_claim({**SPEARMAN, "where": {"lr_schedule": ["ratio:0.001"]}}), runs)
    assert v.verdict == "contradicted"


def test_group_comparison(tmp_path):
    for s in range(3):
        make_run(tmp_path, f"adv-{s}", batch_size=64, seed=s, lambda1=1.0 + 0.1 * s, adversarial="fgsm")
        make_run(tmp_path, f"std-{s}", batch_size=64, seed=s, lambda1=5.0 + 0.1 * s)
    runs = load_runs(tmp_path)
    claim = {"id": "adv", "test": "less", "y": "eigs.lambda1_train", "where_a": {"adversarial": "fgsm"},
             "where_b": {"adversarial": None}}
    v = evaluate(parse_claim(claim), runs)
    assert v.verdict == "supported" and v.statistic == pytest.approx(-4.0)
    assert v.details["n_a"] == 3 and v.compared[:3] == ["adv-0", "adv-1", "adv-2"]
    assert evaluate(parse_claim({**claim, "test": "greater"}), runs).verdict == "contradicted"
    one = evaluate(parse_claim({**claim, "where_a": {"adversarial": "fgsm", "seed": 0}}), runs)
    assert one.verdict == "inconclusive" and "at least 2" in one.reason


@pytest.mark.parametrize("bad, field", [
    ({"test": "spearman", "x": "config.batch_size", "y": "eigs.lambda1_train", "expect": "up"}, "expect"),
    ({"test": "kendall", "y": "eigs.lambda1_train"}, "test"),
    ({"test": "spearman", "x": "config.batch_size", "y": "eigs.lambda9", "expect": "increasing"}, "y"),
    ({"test": "spearman", "y": "eigs.lambda1_train", "expect": "increasing"}, "x"),
    ({**SPEARMAN, "alpha": 2}, "alpha"),
    ({**SPEARMAN, "where": {"bach_size": 1}}, "where"),
    ({**SPEARMAN, "colour": "red"}, "colour"),
    ({"test": "less", "y": "final.test_acc", "where_a": {}, "where_b": {}, "expect": "increasing"}, "expect"),
])
def test_bad_claims_name_the_field(bad, field):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        parse_claims([{"id": "c", **bad}])


def test_duplicate_and_missing_ids():
    with pytest.raises(ConfigError, match="'id'"):
        parse_claims([SPEARMAN, SPEARMAN])
    with pytest.raises(ConfigError, match="'id'"):
        parse_claims([{k: v for k, v in SPEARMAN.items() if k != "id"}])


def _theorem1_runs(tmp_path, fractions):
    for name, (activation, psd) in fractions.items():
        run = make_run(tmp_path, name, batch_size=64, activation=activation, reached=False)
        run.write_result("theorem1", "test/samples=8/seed=0/method=auto/rtol=1e-07",
                         {"summary": {"fraction_psd": psd, "fraction_rank_le_classes": 1.0}})
    make_run(tmp_path, "no-result", batch_size=64, activation="elu")
    return load_runs(tmp_path)


def test_bound_and_describe_claims(tmp_path):
    runs = _theorem1_runs(tmp_path, {"relu-0": ("relu", 1.0), "relu-1": ("relu", 1.0),
                                     "soft-0": ("softplus", 0.75), "soft-1": ("softplus", 1.0)})
    psd = {"id": "psd", "test": "bound", "y": "theorem1.fraction_psd", "min": 1.0, "only_reached_target": False}
    v = evaluate(parse_claim({**psd, "where": {"activation": "relu"}}), runs)
    assert v.verdict == "supported" and v.n == 2 and v.statistic == 1.0 and v.p_value is None
    v = evaluate(parse_claim({**psd, "where": {"activation": "softplus"}}), runs)
    assert v.verdict == "contradicted" and v.statistic == 0.75 and "soft-0" in v.reason
    v = evaluate(parse_claim({**psd, "where": {"activation": "elu"}}), runs)
    assert v.verdict == "inconclusive" and v.excluded == {"no-result": "no numeric value for theorem1.fraction_psd"}
    v = evaluate(parse_claim({**psd, "min": 0.5, "max": 0.9}), runs)
    assert v.verdict == "contradicted" and v.statistic == 1.0  # 1.0 is 0.1 above max, 0.75 inside
    assert evaluate(parse_claim({**psd, "only_reached_target": True}), runs).verdict == "inconclusive"
    v = evaluate(parse_claim({"id": "d", "test": "describe", "y": "theorem1.fraction_psd",
                              "where": {"activation": "softplus"}, "only_reached_target": False}), runs)
    assert v.verdict == "reported" and v.statistic == pytest.approx(0.875)
    assert v.details == {"min": 0.75, "mean": 0.875, "max": 1.0} and "min 0.75" in v.reason


@pytest.mark.parametrize("bad, field", [
    ({"test": "bound", "y": "theorem1.fraction_psd"}, "min"),
    ({"test": "bound", "y": "theorem1.fraction_psd", "min": 1.0, "max": 0.5}, "max"),
    ({"test": "bound", "y": "theorem1.fraction_psd", "min": "one"}, "min"),
    ({"test": "bound", "y": "theorem1.fraction_psd", "min": 1.0, "alpha": 0.1}, "alpha"),
    ({"test": "bound", "y": "theorem1.fraction_psd", "min": 1.0, "where_a": {}}, "where_a"),
    ({**SPEARMAN, "min": 1.0}, "min"),
    ({"test": "describe", "y": "theorem1.psd"}, "y"),
])
def test_bad_bound_claims_name_the_field(bad, field):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        parse_claims([{"id": "c", **bad}])

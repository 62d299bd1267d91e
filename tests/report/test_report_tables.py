"""Seed aggregation, metric paths and the Yao et al. Table 1 layout."""

from __future__ import annotations

import pytest

from hessianlab.errors import ConfigError
from hessianlab.report import load_runs
from hessianlab.report import metrics as M
from hessianlab.report.aggregate import fmt_stat, group_runs, stat
from hessianlab.report.tables import DAGGER, runs_table, yao_table

from conftest import make_run


def test_mean_std_over_seeds(tmp_path):
    for s, lam in enumerate((1.0, 2.0, 3.0)):
        make_run(tmp_path, f"b64-s{s}", batch_size=64, seed=s, lambda1=lam)
    make_run(tmp_path, "b128-s0", batch_size=128, lambda1=10.0)
    runs = load_runs(tmp_path)
    groups = group_runs(runs)
    assert [len(g.runs) for g in groups] == [3, 1]  # natural order of run ids: b64 before b128
    s = stat(M.lambda1(r, "train") for r in groups[0].runs)
    assert (s.mean, s.std, s.n) == (pytest.approx(2.0), pytest.approx(1.0), 3)
    assert fmt_stat(s) == "2 ± 2.5" and fmt_stat(stat([5.0])) == "5" and fmt_stat(None) == "–"
    table = yao_table(runs)
    cell = table.rows[[r[0] for r in table.rows].index("64")][table.columns.index("λ1^θ train (test)")]
    assert cell == "2 ± 2.5 (–)"  # 95 % t half-width 4.303 · 1 / sqrt(3)
    assert table.records[0]["lambda1_theta_train_std"] == pytest.approx(1.0)


def test_table1_with_missing_pieces(tmp_path):
    make_run(tmp_path, "a", batch_size=32, acc=(0.99, 0.75))
    make_run(tmp_path, "b", batch_size=512, acc=(0.9, 0.7), reached=False, attack={0.02: (0.4, 0.3)})
    table = yao_table(load_runs(tmp_path))
    assert table.columns == ["Batch", "n", "Acc. % train (test)", "λ1^θ train (test)", "λ1^x train (test)",
                             "‖∇x J‖ train (test)", "Acc % ε = 0.02 train (test)"]
    assert table.rows[0] == ["32", "1", "99 (75)", "–", "–", "–", "–"]
    assert table.rows[1][0] == f"512{DAGGER}" and table.rows[1][-1] == "40 (30)"
    assert any("did not reach the target" in n for n in table.notes)


def test_table1_eps_columns_and_settings(tmp_path):
    for sched in ("constant", "ratio:0.001"):
        for b in (16, 256):
            make_run(tmp_path, f"{sched[:5]}-{b}", batch_size=b, lr_schedule=sched, lambda1=b / 16,
                     attack={0.02: (0.5, 0.4), 0.01: (0.7, 0.6), 0.05: (0.2, 0.1)}, input_stats=True)
    table = yao_table(load_runs(tmp_path))
    assert table.columns[0] == "Setting" and table.rows[0][0] == "lr_schedule=constant"
    assert [c for c in table.columns if c.startswith("Acc % ε")] == [
        "Acc % ε = 0.05 train (test)", "Acc % ε = 0.02 train (test)", "Acc % ε = 0.01 train (test)"]
    assert table.rows[0][table.columns.index("λ1^x train (test)")] == "2 (3)"
    assert not any(DAGGER in n for n in table.notes)


def test_runs_table_marks_unreached(tmp_path):
    make_run(tmp_path, "a", batch_size=32)
    make_run(tmp_path, "b", batch_size=64, reached=False)
    table = runs_table(load_runs(tmp_path))
    assert "batch_size" in table.columns and "lr" not in table.columns
    col = table.columns.index("reached target")
    assert [r[col] for r in table.rows] == ["yes", f"no {DAGGER}"]
    assert table.records[1]["reached_target"] is False


def test_metric_paths(tmp_path):
    make_run(tmp_path, "a", batch_size=32, lambda1=3.0, test_lambda1=7.0, attack={0.02: (0.4, 0.3)}, input_stats=True)
    run = load_runs(tmp_path)[0]
    assert M.value(run, "config.batch_size") == 32
    assert M.value(run, "eigs.lambda1_train") == 3.0 and M.value(run, "eigs.lambda1_test") == 7.0
    assert M.value(run, "attack.fgsm.test.0.02") == 0.3 and M.value(run, "attack.fgsm.test.0.5") is None
    assert M.value(run, "input.grad_norm_x") == 0.05 and M.value(run, "input.lambda1_x.test.q90") == 3.0
    assert M.value(run, "summary.reached_target") == 1.0 and M.value(run, "final.test_acc") == 0.8
    for bad in ("eigs.trace", "attack.fgsm.val.0.1", "input.lambda1_x.train.max", "foo.bar", "nodot"):
        with pytest.raises(ConfigError):
            M.check_path(bad)


def _theorem1(run, split: str, samples: int, fraction_psd: float) -> None:
    run.write_result("theorem1", f"{split}/samples={samples}/seed=0/method=auto/rtol=1e-07",
                     {"summary": {"fraction_psd": fraction_psd, "fraction_rank_le_classes": 1.0, "max_rank": 2.0,
                                  "median_ratio": 0.0, "min_ratio": -0.5}})


def test_theorem1_paths_prefer_most_samples(tmp_path):
    run = make_run(tmp_path, "a", batch_size=32)
    _theorem1(run, "test", 64, 0.5)
    _theorem1(run, "test", 8, 0.25)
    _theorem1(run, "train", 8, 1.0)
    rec = load_runs(tmp_path)[0]
    assert M.value(rec, "theorem1.fraction_psd") == 0.5  # test split by default, 64 samples beat 8
    assert M.value(rec, "theorem1.fraction_psd.train") == 1.0 and M.value(rec, "theorem1.max_rank") == 2.0
    assert M.value(rec, "theorem1.min_ratio") == -0.5 and M.value(rec, "theorem1.median_ratio.train") == 0.0
    for bad in ("theorem1.psd", "theorem1.fraction_psd.val", "theorem1.fraction_psd.test.x"):
        with pytest.raises(ConfigError, match="theorem1"):
            M.check_path(bad)


def test_several_results_for_one_path_take_the_most_accurate(tmp_path):
    run = make_run(tmp_path, "a", batch_size=32)
    attack = {"eps": [0.1], "clean_accuracy": 0.9, "num_samples": 100, "transfer": False, "split": "test",
              "source": None}
    for steps, acc in ((10, 0.2), (40, 0.1), (5, 0.3)):
        run.write_result("attack", f"pgd/test/eps=0.1/samples=100/steps={steps}",
                         {**attack, "accuracy": [acc], "attack": {"attack": "pgd", "steps": steps}})
    run.write_result("attack", "pgd/test/eps=0.1/samples=50/steps=80",
                     {**attack, "num_samples": 50, "accuracy": [0.05], "attack": {"attack": "pgd", "steps": 80}})
    for tol, lam in ((1e-3, 2.0), (1e-4, 3.0), (1e-2, 4.0)):
        run.write_result("eigs", f"lanczos/LA/k=5/train/samples=all/seed=0/float32/tol={tol}",
                         {"eigenvalues": [lam], "which": "LA"})
    run.write_result("eigs", "lanczos/LA/k=5/train/samples=all/seed=0/float32", {"eigenvalues": [9.0]})  # old key
    run.write_result("eigs", "lanczos/LA/k=5/train/samples=all/seed=0/float32/tol=1e-06/params=fc\\.", {"eigenvalues": [8.0]})
    for tol, mean in ((1e-3, 2.0), (1e-5, 1.5)):
        run.write_result("input_stats", f"train/samples=512/seed=0/float32/tol={tol}", {"lambda1_x": {"mean": mean}})
    run.write_result("input_stats", "train/samples=64/seed=0/float32/tol=1e-07", {"lambda1_x": {"mean": 9.0}})
    rec = load_runs(tmp_path)[0]
    assert M.value(rec, "attack.pgd.test.0.1") == 0.1  # most samples, then most steps
    assert M.value(rec, "eigs.lambda1_train") == 3.0  # smallest tol; a block Hessian (params=) never counts
    assert M.value(rec, "input.lambda1_x") == 1.5  # most samples, then smallest tol
    info = M.parse_eigs_key("lanczos/LA/k=5/train/samples=all/seed=0/float32/tol=0.001/verify/params=a/b")
    assert (info["tol"], info["params"]) == ("0.001", "a/b")


def test_cells_from_fewer_seeds_than_the_row_say_their_n(tmp_path):
    for s in range(3):  # λ1 on every seed, the test-split λ1 on seed 0 only (an analysis restricted by `where`)
        make_run(tmp_path, f"b64-s{s}", batch_size=64, seed=s, lambda1=1.0 + s, test_lambda1=5.0 if s == 0 else None)
    table = yao_table(load_runs(tmp_path))
    cell = table.rows[0][table.columns.index("λ1^θ train (test)")]
    assert cell == "2 ± 2.5 (5 [n=1])"

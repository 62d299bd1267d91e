"""ABSA report layouts: strategies from configs, the strategy table, the block-Hessian table, the per-epoch
Spearman metric path and the ABSA figures, on fake run folders (no training)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from hessianlab.errors import ConfigError
from hessianlab.experiments import RunDir
from hessianlab.report import build_report, load_runs
from hessianlab.report import metrics as M
from hessianlab.report.absa import block_hessian_table, strategy, strategy_table, table_batch
from hessianlab.report.figures_absa import batch_steps, block_lambda_figure, loss_vs_updates_figure, schedule_figure
from hessianlab.training.config import TrainConfig

BASE = {"model": "mlp", "dataset": "synthetic", "lr_schedule": "multistep:1,2:0.5", "target_loss": None}
ROWS = {  # name: (config fields, final test accuracy, updates)
    "bl16": ({"batch_size": 16}, 0.90, 60),
    "bl64": ({"batch_size": 64}, 0.70, 15),
    "fb64": ({"batch_size": 64, "lr_scale_ref": 16, "lr_warmup_epochs": 1.0}, 0.10, 15),
    "gg64": ({"batch_size": 16, "batch_schedule": "smith:64"}, 0.88, 33),
    "abs64": ({"batch_size": 16, "batch_schedule": "abs", "abs_batch_max": 64}, 0.89, 25),
    "absa64": ({"batch_size": 16, "batch_schedule": "abs", "abs_batch_max": 64, "adversarial": "fgsm",
                "adv_eps": 0.005, "adv_ratio": 0.2}, 0.91, 21),
}


def fake_run(root: Path, name: str, fields: dict[str, Any], acc: float, updates: int, *, seed: int = 0,
             status: str = "finished", metrics: list[dict[str, Any]] | None = None,
             decisions: list[dict[str, Any]] | None = None, eig_seconds: float = 0.0) -> RunDir:
    cfg = TrainConfig(**{**BASE, **fields, "seed": seed})
    run = RunDir.create(root / name, cfg, {"shape": [1, 4, 4], "classes": 2}, catalog_root=root)
    size = fields["batch_size"]
    history = metrics or [{"epoch": e, "train_loss": 1.0 / e, "test_acc": acc, "lr": 0.1, "batch_size": size,
                           "updates": updates * e // 3, "samples_seen": 96 * e} for e in (1, 2, 3)]
    run.write_metrics(history)
    if decisions is not None:
        run.write_decisions(decisions)
    run.set_status(status, "max_epochs", {"test_acc": acc, "epochs": 3, "updates": updates, "reached_target": False,
                                          "eig_seconds": eig_seconds})
    return run


def test_strategy_and_table_batch_of_each_config():
    expected = {"bl16": ("BL", 16), "bl64": ("BL", 64), "fb64": ("FB", 64), "gg64": ("GG", 64),
                "abs64": ("ABS", 64), "absa64": ("ABSA", 64)}
    for name, (fields, _, _) in ROWS.items():
        config = TrainConfig(**{**BASE, **fields}).to_dict()
        assert (strategy(config), table_batch(config)) == expected[name]
    unbounded = TrainConfig(**BASE, batch_schedule="abs").to_dict()
    assert (strategy(unbounded), table_batch(unbounded)) == ("ABS", None)


def test_strategy_table_layout_seeds_and_marks(tmp_path):
    for name, (fields, acc, updates) in ROWS.items():
        status = "diverged" if name == "fb64" else "finished"
        fake_run(tmp_path, name, fields, acc, updates, status=status)
    fake_run(tmp_path, "abs64-s1", ROWS["abs64"][0], 0.87, 27, seed=1)
    table = strategy_table(load_runs(tmp_path))
    assert table.columns == ["BS", "BL Acc. %", "BL # Iters", "FB Acc. %", "FB # Iters", "GG Acc. %", "GG # Iters",
                             "ABS Acc. %", "ABS # Iters", "ABSA Acc. %", "ABSA # Iters"]
    assert table.rows[0] == ["16", "90", "60"] + ["N.A."] * 8
    assert table.rows[1] == ["64", "70", "15", "10 (diverged)", "15", "88", "33", "88 ± 13", "26 ± 13", "91", "21"]
    assert table.records[1]["abs_acc_mean"] == pytest.approx(88.0) and table.records[1]["abs_iters_std"] == \
        pytest.approx(2 ** 0.5)
    assert table.records[1]["gg_batch_reached"] == 16  # the fake per-epoch records never grow the batch
    assert any("Largest batch size reached: GG at BS 64: 16" in n for n in table.notes)


def test_strategy_table_needs_two_strategies_and_adds_settings(tmp_path):
    fake_run(tmp_path, "a", ROWS["abs64"][0], 0.8, 20)
    assert strategy_table(load_runs(tmp_path)) is None
    fake_run(tmp_path, "b", {**ROWS["abs64"][0], "abs_eig_params": "^fc3"}, 0.7, 30)
    fake_run(tmp_path, "c", ROWS["bl16"][0], 0.9, 60)
    table = strategy_table(load_runs(tmp_path))
    assert table.columns[:2] == ["Setting", "BS"]
    assert [r[:2] for r in table.rows] == [["abs_eig_params=None", "16"], ["abs_eig_params=None", "64"],
                                           ["abs_eig_params=^fc3", "64"]]


def test_epoch_spearman_path(tmp_path):
    full, block = [5.0, 4.0, 3.0, 3.5, 2.0], [2.0, 2.5, 1.0, 1.5, 0.5]
    history = [{"epoch": e + 1, "lambda1": f, "lambda1_block": b} for e, (f, b) in enumerate(zip(full, block))]
    fake_run(tmp_path, "r", ROWS["absa64"][0], 0.9, 20, metrics=history)
    run = load_runs(tmp_path)[0]
    assert M.value(run, "epochs.spearman.lambda1.lambda1_block") == pytest.approx(stats.spearmanr(full, block)[0])
    assert M.value(run, "epochs.spearman.lambda1.missing") is None
    for bad in ("epochs.spearman.lambda1", "epochs.pearson.a.b", "epochs.spearman..b"):
        with pytest.raises(ConfigError, match="epochs.spearman.FIELD.FIELD"):
            M.check_path(bad)


def test_block_hessian_table(tmp_path):
    history = [{"epoch": e, "lambda1": 10.0 - e, "lambda1_block": 4.0 - e, "batch_size": 16 * e, "test_acc": 0.9}
               for e in (1, 2, 3)]
    fake_run(tmp_path, "full", ROWS["absa64"][0], 0.9, 20, metrics=history, eig_seconds=9.0)
    fake_run(tmp_path, "block", {**ROWS["absa64"][0], "abs_eig_params": "^fc3"}, 0.8, 24, metrics=history,
             eig_seconds=1.5)
    table = block_hessian_table(load_runs(tmp_path))
    assert [r[0] for r in table.rows] == ["block ^fc3", "full"]  # natural order of the run ids
    assert table.rows[1] == ["full", "ABSA", "64", "1", "90", "20", "48", "9", "1"]
    assert table.records[0]["eig_seconds_mean"] == pytest.approx(1.5)
    assert block_hessian_table(load_runs(tmp_path / "block")) is not None  # one run tracking the block suffices


def test_batch_steps_from_decisions_and_figures(tmp_path):
    history = [{"epoch": e, "train_loss": 1.0 / e, "test_acc": 0.9, "lr": 0.1 * e, "batch_size": [16, 32, 64][e - 1],
                "updates": 5 * e, "samples_seen": 96 * e} for e in (1, 2, 3)]
    decisions = [{"samples_seen": 48, "batch_size": 16}, {"samples_seen": 144, "batch_size": 32},
                 {"samples_seen": 240, "batch_size": 64}]
    fake_run(tmp_path, "abs", ROWS["abs64"][0], 0.9, 15, metrics=history, decisions=decisions)
    fake_run(tmp_path, "bl", ROWS["bl16"][0], 0.9, 18)
    runs = load_runs(tmp_path)
    assert batch_steps(runs[0]) == ([0.0, 1.5, 2.5, 3.0], [16.0, 32.0, 64.0, 64.0])
    assert batch_steps(runs[1]) == ([0, 1, 2, 3], [16.0, 16.0, 16.0, 16.0])  # per-epoch records without decisions
    (schedules,) = schedule_figure(runs)
    assert len(schedules.figure.axes) == 2 and schedules.figure.axes[1].get_yscale() == "log"
    (losses,) = loss_vs_updates_figure(runs)
    assert [list(line.get_xdata()) for line in losses.figure.axes[0].get_lines()] == [[6, 12, 18], [5, 10, 15]]
    assert block_lambda_figure(runs) == []


def test_report_uses_absa_layout_for_large_batch_runs(tmp_path):
    for name, (fields, acc, updates) in ROWS.items():
        fake_run(tmp_path / "runs", name, fields, acc, updates)
    (tmp_path / "spec.json").write_text(json.dumps({"name": "absa", "reference": ["absa.table5"], "claims": []}))
    result = build_report(tmp_path)
    text = result.markdown.read_text()
    assert "ABSA Tables 1, 4-7 layout" in text and "Table 5" in text
    assert (result.out_dir / "absa_table.csv").is_file() and not (result.out_dir / "table1.csv").exists()
    assert {p.name for p in result.figures} >= {"absa_schedules.png", "absa_loss_vs_updates.png"}

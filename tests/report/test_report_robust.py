"""Yao et al. Tables 3-4 layout: D_clean and D_attack accuracies of robust models against M_ORI's attacks."""

from __future__ import annotations

import pytest

from hessianlab.report.robust import robust_table
from hessianlab.report.runs import load_runs

from conftest import make_run


def _attack(run, method: str, eps: float, acc: float, source=None) -> None:
    key = f"{method}/test/eps={eps}" + (f"/from:{source.path.name}" if source is not None else "")
    run.write_result("attack", key, {"eps": [eps], "accuracy": [acc], "clean_accuracy": 0.8,
                                     "attack": {"attack": method}, "num_samples": 100, "split": "test",
                                     "transfer": source is not None, "source": str(source.path) if source else None})


def test_rows_columns_pooling_and_white_box_source(tmp_path):
    root = tmp_path / "runs"
    ori = [make_run(root, f"ori-s{s}", batch_size=64, seed=s, acc=(1.0, 0.9 - 0.02 * s)) for s in (0, 1)]
    for s, run in enumerate(ori):
        _attack(run, "fgsm", 0.1, 0.10 + 0.02 * s)
        _attack(run, "l2grad", 2.8, 0.05)
    for s in (0, 1):  # robust models continued from the seed's M_ORI, attacked with M_ORI's examples
        run = make_run(root, f"adv-s{s}", batch_size=64, seed=s, acc=(1.0, 0.8), adversarial="fgsm",
                       init_from=str(ori[s].path))
        _attack(run, "fgsm", 0.1, 0.6 + 0.1 * s, source=ori[s])
        _attack(run, "l2grad", 2.8, 0.5, source=ori[s])
        _attack(run, "fgsm", 0.1, 0.3)  # its own white-box result is not a D_attack column
    table = robust_table(load_runs(root))
    assert table.columns == ["Model", "n", "D_clean %", "D_FGSM ε = 0.1 %", "D_L2GRAD ε = 2.8 %", "mean over attacks %"]
    assert [r[0] for r in table.rows] == ["M_ORI", "FGSM"] and [r[1] for r in table.rows] == ["2", "2"]
    ori_rec, adv_rec = table.records
    assert ori_rec["clean"] == pytest.approx(0.89) and ori_rec["fgsm_0.1"] == pytest.approx(0.11)
    assert adv_rec["fgsm_0.1"] == pytest.approx(0.65) and adv_rec["l2grad_2.8"] == pytest.approx(0.5)
    assert adv_rec["mean_over_attacks"] == pytest.approx((0.65 + 0.5) / 2)
    assert table.rows[1][3] == "65 ± 64"  # 2 seeds: t_{0.975,1} = 12.7


def test_no_transfer_results_no_table(tmp_path):
    make_run(tmp_path, "a", batch_size=16, attack={0.1: (0.5, 0.4)})
    assert robust_table(load_runs(tmp_path)) is None

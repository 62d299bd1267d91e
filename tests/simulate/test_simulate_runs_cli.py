"""Costs measured from stored runs, and the ``hessianlab simulate-time`` command."""

from __future__ import annotations

import json
import logging

import pytest

from hessianlab.cli import main
from hessianlab.errors import DataError
from hessianlab.experiments import RunDir
from hessianlab.simulate import Network, allreduce_seconds, costs_from_run
from hessianlab.training.config import TrainConfig

META = {"shape": [1, 4, 4], "classes": ["a", "b", "c"], "mean": [0.5], "std": [0.25]}
LOGREG_PARAMS = 16 * 3 + 3  # weights + biases of logistic regression on 1x4x4 inputs, 3 classes


def _run(root, name, *, updates=(10, 25), wall=(2.0, 5.0), hess_seconds=None):
    """A fake finished run: cumulative updates / wall seconds per epoch, optional decision records."""
    run = RunDir.create(root / name, TrainConfig(model="logreg", dataset="synthetic"), META, catalog_root=root)
    run.write_metrics([{"epoch": e + 1, "updates": u, "wall_seconds": w}
                       for e, (u, w) in enumerate(zip(updates, wall))])
    if hess_seconds is not None:
        records = [{"epoch": i, "seconds": s, "reason": "none"} for i, s in enumerate(hess_seconds)]
        (run.path / "decisions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run.path


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_costs_from_run_with_and_without_decisions(tmp_path, caplog):
    net = Network(latency_s=1e-3, bandwidth_bytes_per_s=1e6, bytes_per_param=4)
    abs_run = costs_from_run(_run(tmp_path, "abs", hess_seconds=[0.5, 1.5]), 8, network=net)
    assert abs_run.name == "abs" and abs_run.updates == 25
    assert abs_run.n_hess == 2 and abs_run.t_hess == pytest.approx(1.0)
    assert abs_run.t_comp == pytest.approx((5.0 - 2.0) / 25)  # Hessian seconds are not SGD time
    assert abs_run.t_comm == pytest.approx(2 * (1e-3 * 3 + 7 / 8 * LOGREG_PARAMS * 4 / 1e6))
    with caplog.at_level(logging.INFO, logger="hessianlab.simulate.runs"):
        bl = costs_from_run(_run(tmp_path, "bl"), 8, params=1000, t_comp=0.1, t_hess=9.0)
    assert "no decisions.jsonl" in caplog.text and "no decisions.jsonl" in bl.source
    assert (bl.n_hess, bl.t_comp, bl.t_hess) == (0, 0.1, 9.0)
    assert bl.t_comm == allreduce_seconds(1000, 8)


def test_costs_from_run_errors(tmp_path):
    bad = _run(tmp_path, "bad", hess_seconds=[1.0])
    (bad / "decisions.jsonl").write_text('{"seconds": 1.0}\n{"lambda": 3}\n')
    with pytest.raises(DataError, match="decisions.jsonl: a line"):
        costs_from_run(bad, 4)
    empty = _run(tmp_path, "empty", updates=(), wall=())
    with pytest.raises(DataError, match="no finished epoch"):
        costs_from_run(empty, 4)


def test_cli_paper_table3_and_json(tmp_path, capsys):
    out = tmp_path / "t3.json"
    assert main(["simulate-time", "--paper-table3", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "ABSA" in table and "6.25x" in table and "eq. 16" in table
    data = json.loads(out.read_text())
    totals = {m["name"]: m["total_s"] for m in data["methods"]}
    assert totals["BL"] == pytest.approx(450_450 * 0.037) and totals["ABS"] == pytest.approx(69_257 * 0.037 + 103.5)
    assert data["baseline"] == "BL" and data["procs"] == 512 and data["network"]["bytes_per_param"] == 4
    # --procs recomputes T_comm by eq. (14) for every method
    assert main(["simulate-time", "--paper-table3", "--procs", "1024", "--json", str(out)]) == 0
    comm = [m["t_comm"] for m in json.loads(out.read_text())["methods"]]
    assert comm == [pytest.approx(allreduce_seconds(11_689_512, 1024))] * 4


def test_cli_runs(tmp_path, capsys):
    a, b = _run(tmp_path, "bl"), _run(tmp_path, "abs", updates=(4, 5), hess_seconds=[0.5, 0.5])
    out = tmp_path / "runs.json"
    assert main(["simulate-time", "--runs", str(a), str(b), "--procs", "4", "--t-comp", "0.2",
                 "--json", str(out)]) == 0
    methods = {m["name"]: m for m in json.loads(out.read_text())["methods"]}
    t_comm = allreduce_seconds(LOGREG_PARAMS, 4)
    assert methods["bl"]["total_s"] == pytest.approx(25 * (0.2 + t_comm))
    assert methods["abs"]["total_s"] == pytest.approx(5 * (0.2 + t_comm) + 2 * 0.5)
    assert methods["abs"]["speedup"] == pytest.approx(methods["bl"]["total_s"] / methods["abs"]["total_s"])


@pytest.mark.parametrize("argv,needle", [
    (["--runs", "RUN"], "--procs"),
    (["--runs", "MISSING", "--procs", "4"], "not a run directory"),
    (["--paper-table3", "--t-comp", "-1"], "t_comp"),
    (["--paper-table3", "--procs", "0"], "processes"),
    (["--paper-table3", "--baseline", "XX"], "baseline"),
    (["--paper-table3", "--runs", "RUN"], "not allowed with"),
    ([], "required"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, needle, tmp_path, capsys):
    run = str(_run(tmp_path, "r"))
    argv = [run if a == "RUN" else str(tmp_path / a) if a == "MISSING" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["simulate-time", *argv]))
    assert info.value.code == 2
    assert needle in _one_error_line(capsys)

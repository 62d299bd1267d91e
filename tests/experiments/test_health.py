"""Damaged run folders and catalogs: found by ``runs --check``, mended by ``runs --repair`` or on their own
(``run``, ``train --resume``, ``report``), with results bitwise equal to the undamaged sweep."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

from hessianlab.cli import main
from hessianlab.experiments import health
from hessianlab.experiments.store import read_jsonl
from hessianlab.errors import StoreError

SPEC = """name: tiny
base: {model: mlp, dataset: digits, width: 0.25, lr: 0.1, momentum: 0.9, target_loss: null, max_epochs: 3, seed: 0}
sweep: {batch_size: [64, 128]}
analyses:
  - {id: eigs, kind: eigs, k: 1, samples: 32, tol: 1e-3}
"""
CLOCK = ("wall_seconds", "eig_seconds")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """An undamaged sweep: two 3-epoch runs on digits, each with a curvature result."""
    root = tmp_path_factory.mktemp("health")
    (root / "spec.yaml").write_text(SPEC)
    assert main(["run", str(root / "spec.yaml"), "--out", str(root / "ref"), "--quiet"]) == 0
    return root / "ref"


def _copy(sweep: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "sweep"
    shutil.copytree(sweep, out)
    run = sorted(p.parent for p in (out / "runs").glob("*/config.json"))[0]
    return out, run


def _run(spec_dir: Path, out: Path) -> None:
    assert main(["run", str(spec_dir / "spec.yaml"), "--out", str(out), "--quiet"]) == 0


def _catalog_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "catalog.sqlite") as conn:
        runs = conn.execute("SELECT run_id, config_hash, status, config, summary FROM runs ORDER BY run_id").fetchall()
        results = conn.execute("SELECT run_id, kind, key, payload FROM results ORDER BY 1, 2, 3").fetchall()
    return runs + results


def _assert_same(damaged: Path, ref: Path, *, exact: bool = True) -> None:
    """Every run folder of ``damaged`` equals ``ref``'s: bytes of the JSON files (clock fields aside unless
    ``exact``), tensors of the model, and the catalog's rows."""
    for folder in sorted((ref / "runs").glob("*/config.json")):
        name = folder.parent.name
        mine, theirs = damaged / "runs" / name, ref / "runs" / name
        for file in ("metrics.jsonl", "status.json", "results.json", "config.json"):
            if exact:
                assert (mine / file).read_bytes() == (theirs / file).read_bytes(), f"{name}/{file}"
            else:
                strip = lambda p: [{k: v for k, v in r.items() if k not in CLOCK} for r in read_jsonl(p)]  # noqa: E731
                if file == "metrics.jsonl":
                    assert strip(mine / file) == strip(theirs / file)
        a, b = (torch.load(p / "model.pt", weights_only=True) for p in (mine, theirs))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if exact:
        assert _catalog_rows(damaged / "runs") == _catalog_rows(ref / "runs")


def _cut_mid_line(run: Path) -> None:
    file = run / "metrics.jsonl"
    os.truncate(file, file.stat().st_size - 40)


def _cut_at_line(run: Path) -> None:
    file = run / "metrics.jsonl"
    lines = file.read_text().splitlines(keepends=True)
    file.write_text("".join(lines[:-1]))


def _corrupt_line(run: Path) -> None:
    file = run / "metrics.jsonl"
    lines = file.read_text().splitlines(keepends=True)
    file.write_text(lines[0] + "{not json}\n" + "".join(lines[2:]))


def _status(run: Path) -> None:
    (run / "status.json").write_text('{"status": "fini')


def _stale_status(run: Path) -> None:
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "running"}))


def _model(run: Path) -> None:
    (run / "model.pt").write_bytes(b"PK\x03\x04 not a zip")


def _results(run: Path) -> None:
    (run / "results.json").write_text('{"eigs": {')


def _catalog_random(run: Path) -> None:
    (run.parent / "catalog.sqlite").write_bytes(os.urandom(6000))


def _catalog_8k(run: Path) -> None:
    db = run.parent / "catalog.sqlite"
    db.write_bytes(db.read_bytes()[:8192])


DAMAGE = {"metrics-cut-mid-line": _cut_mid_line, "metrics-cut-at-line": _cut_at_line,
          "metrics-corrupt-line": _corrupt_line, "status-corrupt": _status, "status-stale": _stale_status,
          "model-corrupt": _model, "results-corrupt": _results, "catalog-random-bytes": _catalog_random,
          "catalog-truncated-8k": _catalog_8k}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_check_lists_and_repair_restores_bitwise(damage, sweep, tmp_path, capsys):
    out, run = _copy(sweep, tmp_path)
    assert main(["runs", str(out), "--check"]) == 0  # the copy is sound
    DAMAGE[damage](run)
    capsys.readouterr()
    assert main(["runs", str(out), "--check"]) == 1
    listed = capsys.readouterr().out
    assert "--repair" in listed
    assert (run.name if "catalog" not in damage else "catalog.sqlite") in listed
    assert main(["runs", str(out), "--repair"]) == 0
    assert "repaired 1 of 1" in capsys.readouterr().out
    assert health.check(out) == []
    _assert_same(out, sweep)


@pytest.mark.parametrize("damage", ["metrics-cut-mid-line", "metrics-cut-at-line", "catalog-random-bytes",
                                    "catalog-truncated-8k"])
def test_run_heals_on_its_own(damage, sweep, tmp_path, caplog):
    out, run = _copy(sweep, tmp_path)
    DAMAGE[damage](run)
    with caplog.at_level(logging.WARNING, logger="hessianlab"):
        _run(sweep.parent, out)
    assert any("rebuilt" in r.message or "rewrite" in r.message for r in caplog.records), caplog.text
    assert health.check(out) == []
    _assert_same(out, sweep)


def test_corrupt_checkpoint_is_retrained_identically(sweep, tmp_path):
    out, run = _copy(sweep, tmp_path)
    (run / "checkpoint.pt").write_bytes(b"garbage")
    assert main(["runs", str(out), "--repair"]) == 0
    assert json.loads((run / "status.json").read_text())["status"] == "created"
    _run(sweep.parent, out)  # retrains the run from epoch 0 (deterministic), keeps its analysis result
    assert health.check(out) == []
    _assert_same(out, sweep, exact=False)


def test_report_skips_a_damaged_run_naming_it(sweep, tmp_path, caplog):
    out, run = _copy(sweep, tmp_path)
    _cut_at_line(run)
    with caplog.at_level(logging.WARNING, logger="hessianlab"):
        assert main(["report", str(out)]) == 0
    assert any("skipping damaged run" in r.message and run.name in r.message for r in caplog.records)


def test_truncated_last_line_is_dropped_with_one_warning(sweep, tmp_path, caplog):
    _, run = _copy(sweep, tmp_path)
    _cut_mid_line(run)
    with caplog.at_level(logging.WARNING, logger="hessianlab"):
        records = read_jsonl(run / "metrics.jsonl")
    assert len(records) == 2
    assert [r.message for r in caplog.records if "truncated" in r.message] != []
    _corrupt_line(run)
    with pytest.raises(StoreError, match="line 2 is corrupt"):
        read_jsonl(run / "metrics.jsonl")


def test_train_resume_heals_cut_metrics(tmp_path, capsys):
    args = ["train", "--model", "mlp", "--dataset", "digits", "--width", "0.25", "--batch-size", "64", "--lr", "0.1",
            "--no-target", "--max-epochs", "2", "--quiet", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    before = (tmp_path / "r" / "metrics.jsonl").read_bytes()
    _cut_mid_line(tmp_path / "r")
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "r" / "metrics.jsonl").read_bytes() == before


def test_unrepairable_config_is_listed_and_left(sweep, tmp_path, capsys):
    out, run = _copy(sweep, tmp_path)
    (run / "config.json").write_text("{")
    assert main(["runs", str(out), "--repair"]) == 1
    text = capsys.readouterr().out
    assert "cannot repair" in text and "left" in text


def test_reindex_rebuilds_a_corrupt_catalog_and_leaves_out_damaged_runs(sweep, tmp_path, capsys):
    out, run = _copy(sweep, tmp_path)
    _catalog_random(run)
    other = sorted(p.parent for p in (out / "runs").glob("*/config.json"))[1]
    (other / "config.json").write_text("{")
    assert main(["runs", str(out / "runs"), "--reindex"]) == 0
    table = capsys.readouterr().out
    assert run.name in table and other.name not in table


def test_check_and_repair_pass_over_a_run_in_use(sweep, tmp_path, caplog):
    from hessianlab.experiments.lock import run_lock

    out, run = _copy(sweep, tmp_path)
    _cut_at_line(run)
    with run_lock(run), caplog.at_level(logging.WARNING, logger="hessianlab"):
        assert health.check(out) == []
        health.repair(out, [health.Damage(run, "metrics.jsonl: cut", "logs", "rewrite")])
    assert sum("in use by another process" in r.message for r in caplog.records) == 2
    assert [d.action for d in health.check(out)] == ["logs"]  # untouched while in use; found once free

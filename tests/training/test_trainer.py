"""Trainer behaviour: determinism, exact resume after kill -9, divergence, stopping rules."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits
from hessianlab.training.trainer import train

BASE = dict(model="mlp", dataset="synthetic", subset=256, test_subset=128, batch_size=32, lr=0.05,
            momentum=0.9, target_loss=None, max_epochs=4, seed=3, width=0.25)


@pytest.fixture
def _train(train_run):
    def run_one(name, **over):
        run, result, _ = train_run(name, **{**BASE, **over})
        return run, result

    return run_one


def _strip(history):
    return [{k: v for k, v in rec.items() if k != "wall_seconds"} for rec in history]


def test_same_seed_gives_bitwise_identical_metrics_and_weights(_train):
    run_a, res_a = _train("a")
    run_b, res_b = _train("b")
    assert _strip(res_a.history) == _strip(res_b.history)
    wa, wb = run_a.load_model().state_dict(), run_b.load_model().state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    _, res_c = _train("c", seed=4)
    assert _strip(res_c.history) != _strip(res_a.history)


def test_metrics_record_every_field(_train):
    run, res = _train("m", max_epochs=2)
    recs = run.metrics()
    assert len(recs) == 2 and res.epochs == 2
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "batch_size", "updates",
                "samples_seen", "wall_seconds", "epoch"):
        assert key in recs[0]
    assert recs[0]["updates"] == 8 and recs[1]["updates"] == 16  # 256 / 32 per epoch
    assert recs[1]["samples_seen"] == 512
    assert run.status["status"] == "finished" and res.reason == "max_epochs"


def test_divergence_is_recorded_not_raised(_train):
    run, res = _train("d", lr=1e8, momentum=0.0, max_epochs=5)
    assert res.status == "diverged"
    assert run.status["status"] == "diverged"
    assert run.catalog.runs(status="diverged")[0]["run_id"] == "d"


def test_stops_at_target_loss_and_max_updates(_train):
    _, res = _train("t", target_loss=0.5, max_epochs=50)
    assert res.reached_target and res.reason == "target_loss"
    assert res.final["train_loss"] <= 0.5
    _, res = _train("u", max_updates=5, max_epochs=50)
    assert res.updates == 5 and res.reason == "max_updates" and not res.reached_target


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    epochs = 40
    args = ["--model", "mlp", "--dataset", "synthetic", "--subset", "512", "--test-subset", "128",
            "--batch-size", "16", "--lr", "0.05", "--momentum", "0.9", "--no-target", "--max-epochs", str(epochs),
            "--seed", "1", "--width", "0.25", "--quiet"]
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hessianlab", "--threads", "1", "train", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(metrics.read_text().splitlines())
    assert 3 <= done_before < epochs, "the kill must land mid-run"
    assert RunDir.open(out).status["status"] == "running"
    subprocess.run(cmd + ["--resume"], env=env, check=True, stdout=subprocess.DEVNULL)
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "hessianlab", "--threads", "1", "train", *args, "--out", str(ref)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    resumed = [json.loads(l) for l in metrics.read_text().splitlines()]
    full = [json.loads(l) for l in (ref / "metrics.jsonl").read_text().splitlines()]
    assert len(resumed) == epochs
    assert _strip(resumed) == _strip(full)
    wa = RunDir.open(out).load_model().state_dict()
    wb = RunDir.open(ref).load_model().state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_of_a_stopped_run_writes_missing_final_model_and_status(_train):
    run, res = _train("f", max_epochs=1)
    (run.path / "model.pt").unlink()
    run.set_status("running")  # as if killed after the last checkpoint, before the final writes
    cfg = TrainConfig(**{**BASE, "max_epochs": 1})
    again = train(cfg, RunDir.open(run.path), *load_splits(cfg))
    assert again.status == "finished" and _strip(again.history) == _strip(res.history)
    assert (run.path / "model.pt").is_file() and RunDir.open(run.path).status["status"] == "finished"

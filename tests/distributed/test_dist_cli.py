"""End to end: ``torchrun --nproc_per_node=2 -m hessianlab train`` equals ``hessianlab train`` in one process."""

from __future__ import annotations

import torch

from hessianlab.cli import main
from hessianlab.experiments.catalog import Catalog
from hessianlab.experiments.store import RunDir
from launch import torchrun

# ABS (kappa=1: the batch grows at every eigenvalue check, 16 -> 32 -> 48) over 75 samples: global batches
# 16, 16, 32, 11 | 48, 27, the odd ones split 6/5 and 14/13 across the two ranks
TRAIN = ["train", "--model", "mlp", "--dataset", "synthetic", "--subset", "75", "--test-subset", "40",
         "--batch-size", "16", "--lr", "0.2", "--momentum", "0.5", "--no-target", "--max-epochs", "2",
         "--width", "0.125", "--quiet", "--batch-schedule", "abs", "--abs-every", "16", "--abs-kappa", "1",
         "--abs-eig-samples", "40", "--abs-batch-max", "48", "--device", "cpu"]  # gloo on CPUs, also on a GPU host


def test_torchrun_train_equals_single_process(tmp_path, capsys):
    assert main([*TRAIN, "--out", str(tmp_path / "single")]) == 0
    proc = torchrun(["-m", "hessianlab", *TRAIN, "--out", str(tmp_path / "ddp")])
    assert proc.stdout.count("finished (max_epochs)") == 1  # only rank 0 reports
    assert "data-parallel training: 2 processes (gloo)" in proc.stderr
    single, ddp = RunDir.open(tmp_path / "single"), RunDir.open(tmp_path / "ddp")
    assert ddp.status["status"] == "finished" and ddp.config_hash == single.config_hash
    ws, wd = single.load_model().state_dict(), ddp.load_model().state_dict()
    for name, value in ws.items():
        # float32; 6 updates whose gradients are summed in another order: differences ~1e-7
        torch.testing.assert_close(wd[name], value, rtol=1e-5, atol=1e-6)
    for a, b in zip(single.metrics(), ddp.metrics(), strict=True):
        assert (a["updates"], a["samples_seen"], a["batch_size"]) == (b["updates"], b["samples_seen"], b["batch_size"])
        assert abs(a["train_loss"] - b["train_loss"]) <= 1e-5 * a["train_loss"]
    decisions = single.decisions()
    assert [d["batch_size"] for d in decisions][:3] == [16, 32, 48]
    for a, b in zip(decisions, ddp.decisions(), strict=True):
        assert (a["update"], a["batch_size"], a["reason"]) == (b["update"], b["batch_size"], b["reason"])
        assert abs(a["eigenvalue"] - b["eigenvalue"]) <= 1e-4 * abs(a["eigenvalue"])
        assert (a["eig_ranks"], b["eig_ranks"]) == (1, 2)  # the torchrun eigen-solves were sharded
    assert {r["device"] for r in ddp.metrics()} == {"cpu"} and ddp.status["summary"]["device"] == "cpu"
    assert sorted(r["run_id"] for r in Catalog(tmp_path).runs()) == ["ddp", "single"]

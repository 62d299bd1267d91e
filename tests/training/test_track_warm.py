"""Warm-started λ1 tracking in the trainer (``track_lambda1_warm``) and checkpointed epoch-hook state: warm
records equal cold ones and the dense oracle to the tolerance in fewer products, resume stays exact, and any
hook with ``state_dict`` / ``load_state_dict`` is carried across a resume."""

import argparse

import pytest
import torch

from hessianlab.commands._training import add_config_arguments, config_from_args
from hessianlab.curvature import dense_hessian
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict
from hessianlab.training.trainer import train

TRACKED = dict(model="mlp", dataset="synthetic", subset=200, test_subset=50, batch_size=25, lr=0.05,
               target_loss=None, max_epochs=5, seed=2, width=0.05, track_lambda1=64)
CLOCK = ("wall_seconds", "eig_seconds")


def _strip(rows, *keys):
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


class _Stop(Exception):
    pass


def _stop_after(epoch):
    def on_epoch(record):
        if record["epoch"] == epoch:
            raise _Stop
    return on_epoch


def _straight_and_stopped(tmp_path, cfg):
    """An uninterrupted run of ``cfg`` and the same run stopped after epoch 2: ``(full, stopped, splits)``."""
    train_data, test_data = load_splits(cfg)
    meta = meta_to_dict(train_data.meta)
    full = train(cfg, RunDir.create(tmp_path / "straight", cfg, meta), train_data, test_data)
    stopped = RunDir.create(tmp_path / "resumed", cfg, meta)
    with pytest.raises(_Stop):
        train(cfg, stopped, train_data, test_data, on_epoch=_stop_after(2))
    return full, stopped, (train_data, test_data)


def test_warm_lambda1_equals_cold_and_dense_oracle_in_fewer_products(train_run):
    cold_run, cold, tr = train_run("cold", **TRACKED)
    warm_run, warm, _ = train_run("warm", **TRACKED, track_lambda1_warm=True)
    # a measurement only: the same weights, and the first epoch (nothing to start from yet) is the cold one
    a, b = cold_run.load_model().state_dict(), warm_run.load_model().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert warm.history[0]["lambda1"] == cold.history[0]["lambda1"]
    for c, w in zip(cold.history, warm.history):
        assert w["lambda1_rel_residual"] <= 1e-3 and c["lambda1_rel_residual"] <= 1e-3
        assert abs(w["lambda1"] - c["lambda1"]) <= 2e-3 * abs(c["lambda1"])
        assert w["grad_norm"] == c["grad_norm"]
    model = warm_run.load_model().double()
    exact = float(torch.linalg.eigvalsh(dense_hessian(model, None, tr, samples=64, seed=2,
                                                      dtype=torch.float64))[-1])
    assert abs(warm.history[-1]["lambda1"] - exact) <= 1e-3 * abs(exact)
    later = slice(1, None)
    cold_products = sum(r["lambda1_matvecs"] for r in cold.history[later])
    warm_products = sum(r["lambda1_matvecs"] for r in warm.history[later])
    assert warm_products < cold_products


@pytest.mark.parametrize("block", [None, r"^fc3\."])
def test_warm_tracking_resume_is_exact(tmp_path, block):
    cfg = TrainConfig(**TRACKED, track_lambda1_warm=True, track_lambda1_params=block)
    full, interrupted, splits = _straight_and_stopped(tmp_path, cfg)
    saved = interrupted.load_checkpoint()["hooks"]  # tensors and plain containers (weights_only load)
    assert len(saved) == (1 if block is None else 2)
    assert all(isinstance(s["previous"], torch.Tensor) and s["previous"].shape[1] == 1 for s in saved)
    resumed = train(cfg, RunDir.open(tmp_path / "resumed"), *splits)
    assert _strip(resumed.history, *CLOCK) == _strip(full.history, *CLOCK)
    if block is not None:
        assert {"lambda1_block", "lambda1_matvecs_block"} <= set(resumed.history[-1])


def test_resume_without_the_hooks_state_is_not_exact(tmp_path):
    """The control for the test above: dropping the checkpointed vector changes the resumed records (the
    warm start is real, so the state is what makes resume exact)."""
    cfg = TrainConfig(**TRACKED, track_lambda1_warm=True)
    full, interrupted, splits = _straight_and_stopped(tmp_path, cfg)
    ckpt = interrupted.load_checkpoint()
    ckpt["hooks"] = [{"previous": None}]
    interrupted.save_checkpoint(ckpt)
    resumed = train(cfg, RunDir.open(tmp_path / "resumed"), *splits)
    assert resumed.history[2]["lambda1_matvecs"] != full.history[2]["lambda1_matvecs"]


class CountingHook:
    """A user's stateful hook: how many epochs it has seen, carried across a resume by the checkpoint."""

    def __init__(self):
        self.seen = 0

    def __call__(self, ctx):
        self.seen += 1
        return {"seen": self.seen, "seen_epoch": ctx.epoch}

    def state_dict(self):
        return {"seen": torch.tensor(self.seen)}

    def load_state_dict(self, state):
        self.seen = int(state["seen"])


def test_user_hook_state_is_checkpointed_and_restored(tmp_path):
    cfg = TrainConfig(**{k: v for k, v in TRACKED.items() if k != "track_lambda1"})
    train_data, test_data = load_splits(cfg)
    run = RunDir.create(tmp_path / "r", cfg, meta_to_dict(train_data.meta))
    stateless = lambda ctx: {"constant": 1.0}  # noqa: E731  (no state: stored as None)
    with pytest.raises(_Stop):
        train(cfg, run, train_data, test_data, hooks=(CountingHook(), stateless), on_epoch=_stop_after(3))
    assert run.load_checkpoint()["hooks"][1] is None
    result = train(cfg, RunDir.open(tmp_path / "r"), train_data, test_data, hooks=(CountingHook(), stateless))
    assert [r["seen"] for r in result.history] == [1, 2, 3, 4, 5]
    assert [r["seen_epoch"] for r in result.history] == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="holds the state of 2 epoch hooks but 1 are given"):
        train(cfg, RunDir.open(tmp_path / "r"), train_data, test_data, hooks=(CountingHook(),))


def test_config_and_cli():
    with pytest.raises(ConfigError, match="track_lambda1_warm: only used with track_lambda1"):
        TrainConfig(track_lambda1_warm=True)
    with pytest.raises(ConfigError, match="track_lambda1_warm: must be true or false"):
        TrainConfig(track_lambda1=32, track_lambda1_warm="yes")
    assert TrainConfig(track_lambda1=32).config_hash() == "58438f91585bfcc2"  # old runs keep their folders
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    base = ["--dataset", "synthetic", "--track-lambda1", "64"]
    cold, warm = (config_from_args(parser.parse_args(base + extra)) for extra in ([], ["--track-lambda1-warm"]))
    assert (cold.track_lambda1_warm, warm.track_lambda1_warm) == (False, True)
    assert warm.config_hash() != cold.config_hash()

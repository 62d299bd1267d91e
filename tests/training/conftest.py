"""Shared helper of the trainer tests: train a config into a fresh run folder under ``tmp_path``."""

import pytest

from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict
from hessianlab.training.trainer import train


@pytest.fixture
def train_run(tmp_path):
    """``train_run(name, **config) -> (run, result, train_data)``; config fields as for :class:`TrainConfig`."""

    def run_one(name, **fields):
        cfg = TrainConfig(**fields)
        tr, te = load_splits(cfg)
        run = RunDir.create(tmp_path / name, cfg, meta_to_dict(tr.meta))
        return run, train(cfg, run, tr, te), tr

    return run_one

"""``track_lambda1_params``: the block Hessian's λ1 recorded beside the full one agrees with a dense oracle."""

import pytest
import torch

from hessianlab.curvature import dense_hessian
from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig

BLOCK = r"^fc3\."


def test_block_lambda1_per_epoch_matches_dense_oracle(train_run):
    run, result, tr = train_run("r", model="mlp", dataset="synthetic", subset=120, test_subset=40, batch_size=30,
                                lr=0.1, target_loss=None, max_epochs=2, seed=1, width=0.05, track_lambda1=64,
                                track_lambda1_params=BLOCK)
    last = result.history[-1]
    assert {"lambda1", "lambda1_block", "grad_norm_block", "lambda1_rel_residual_block"} <= set(last)
    model = run.load_model().double()
    block = dense_hessian(model, None, tr, samples=64, seed=1, params=BLOCK, dtype=torch.float64)
    full = dense_hessian(model, None, tr, samples=64, seed=1, dtype=torch.float64)
    exact_block, exact_full = (float(torch.linalg.eigvalsh(h)[-1]) for h in (block, full))
    assert abs(last["lambda1_block"] - exact_block) <= 2e-3 * abs(exact_block)
    assert abs(last["lambda1"] - exact_full) <= 2e-3 * abs(exact_full)
    assert exact_block < exact_full  # a principal block's top eigenvalue is below the full one here


def test_block_tracking_needs_lambda1_tracking_and_keeps_old_hashes():
    with pytest.raises(ConfigError, match="track_lambda1_params: only used with track_lambda1"):
        TrainConfig(track_lambda1_params=BLOCK)
    with pytest.raises(ConfigError, match="track_lambda1_params: .* not a valid regex"):
        TrainConfig(track_lambda1=32, track_lambda1_params="(")
    # hashes computed by the config code before the field existed: runs stored then keep their folders
    assert TrainConfig(track_lambda1=32).config_hash() == "58438f91585bfcc2"
    assert TrainConfig(model="lenet5", batch_schedule="abs", abs_batch_max=512).config_hash() == "daefbca2cbcc4f8a"
    assert TrainConfig(track_lambda1=32, track_lambda1_params=BLOCK).config_hash() != "58438f91585bfcc2"

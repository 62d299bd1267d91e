"""Gradient accumulation: micro-batched gradients equal the big-batch gradient (float64), and in the trainer."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hessianlab.training.accumulate import accumulate_gradients, micro_batches


def test_micro_batch_slices_cover_the_batch_in_order():
    assert micro_batches(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert micro_batches(10, None) == [(0, 10)]
    assert micro_batches(10, 10) == [(0, 10)] and micro_batches(10, 99) == [(0, 10)]


@pytest.mark.parametrize("max_physical", [1, 3, 7, 16, None])
def test_accumulated_gradient_equals_the_big_batch_gradient_float64(max_physical):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x, y = torch.randn(17, 5, dtype=torch.float64), torch.randint(0, 3, (17,))
    direct = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    model.zero_grad(set_to_none=True)
    loss = accumulate_gradients(model, x, y, max_physical)
    assert loss == pytest.approx(float(F.cross_entropy(model(x), y).detach()), rel=1e-13)
    for p, g in zip(model.parameters(), direct):
        torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-14)


def test_unequal_weighting_would_be_caught():
    # the oracle is sharp: weighting micro-batches equally (mean of means) gives a different gradient
    torch.manual_seed(1)
    model = nn.Linear(4, 3).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    accumulate_gradients(model, x, y, 7)
    accumulated = model.weight.grad.clone()
    mean_of_means = sum(torch.autograd.grad(F.cross_entropy(model(x[a:b]), y[a:b]), model.weight)[0]
                        for a, b in [(0, 7), (7, 10)]) / 2
    assert not torch.allclose(accumulated, mean_of_means, rtol=1e-6)


def _weights(run):
    return run.load_model().state_dict()


def test_trainer_accumulation_matches_plain_training_and_is_recorded(train_run):
    base = dict(model="mlp", dataset="synthetic", subset=96, test_subset=32, batch_size=32, lr=0.1, momentum=0.9,
                target_loss=None, max_epochs=2, seed=4, width=0.25)
    plain, res_plain, _ = train_run("plain", **base)
    same, res_same, _ = train_run("same", **base, max_physical_batch=32)   # never splits: bitwise identical
    split, res_split, _ = train_run("split", **base, max_physical_batch=10)  # 32 -> 10+10+10+2
    wp, ws, wa = _weights(plain), _weights(same), _weights(split)
    assert all(torch.equal(wp[k], ws[k]) for k in wp)
    assert all(torch.allclose(wp[k], wa[k], rtol=1e-4, atol=1e-5) for k in wp)
    assert [r["accumulated_updates"] for r in res_plain.history] == [0, 0]
    assert [r["accumulated_updates"] for r in res_same.history] == [0, 0]
    assert [r["accumulated_updates"] for r in res_split.history] == [3, 6]  # 96/32 = 3 updates per epoch
    assert split.status["summary"]["accumulation"] is True and plain.status["summary"]["accumulation"] is False

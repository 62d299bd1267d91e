"""Strength ordering on a quickly trained model (sklearn digits, 8x8 pixels /16, small MLP, ~1 s of training).

Multi-step attacks search a superset of FGSM's single step, so their robust accuracy must not exceed FGSM's
(+0.02 slack for the finite sample); every attack must hurt a trained model.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from hessianlab.attacks import FGSM, FHSM, IFGSM, PGD, L2Grad, L2Hess, mix_adversarial, robust_accuracy


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.int64)
    torch.manual_seed(0)
    perm = torch.randperm(len(y))
    train, test = perm[:1297], perm[1297:]
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[train]), y[train]).backward()
        optimizer.step()
    return model.eval(), x[test], y[test]


def test_multistep_attacks_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    eps = [0.05, 0.1]
    fgsm = robust_accuracy(model, x, y, FGSM(0.1), eps)
    assert fgsm.clean_accuracy > 0.9
    assert fgsm.accuracy[1] < fgsm.clean_accuracy - 0.1  # the attack does something
    for attack in (IFGSM(0.1, steps=10), PGD(0.1, steps=10), PGD(0.1, steps=10, restarts=2)):
        stronger = robust_accuracy(model, x, y, attack, eps)
        for a, b in zip(stronger.accuracy, fgsm.accuracy):
            assert a <= b + 0.02, (attack, stronger.accuracy, fgsm.accuracy)


def test_l2_and_second_order_attacks_hurt(trained):
    model, x, y = trained
    clean = robust_accuracy(model, x, y, FGSM(0.0)).clean_accuracy
    for attack in (L2Grad(1.0), L2Hess(1.0), FHSM(0.1), PGD(1.0, norm="l2", steps=10)):
        assert robust_accuracy(model, x, y, attack).accuracy[0] < clean - 0.1, attack
    l2pgd = robust_accuracy(model, x, y, PGD(1.0, norm="l2", steps=10)).accuracy[0]
    assert l2pgd <= robust_accuracy(model, x, y, L2Grad(1.0)).accuracy[0] + 0.02


def test_mixed_batch_is_adversarial_where_replaced(trained):
    model, x, y = trained
    x_mixed, _, n_adv = mix_adversarial(model, x, y, FGSM(0.1), 0.5, generator=torch.Generator().manual_seed(0))
    changed = (x_mixed != x).flatten(1).any(1)
    with torch.no_grad():
        acc_changed = (model(x_mixed[changed]).argmax(1) == y[changed]).float().mean()
        acc_kept = (model(x_mixed[~changed]).argmax(1) == y[~changed]).float().mean()
    assert int(changed.sum()) <= n_adv and acc_changed < acc_kept - 0.1

"""Adversarial mixing (exact count, others untouched, seeded, BatchNorm mode explicit) and the γ schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessianlab.attacks import FGSM, PGD, AdvRatioSchedule, mix_adversarial, num_adversarial
from hessianlab.errors import ConfigError


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    with torch.no_grad():
        model[2].running_mean.uniform_(-1, 1)
    return model


def batch(b: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    # away from 0 and 1, so every FGSM step changes every pixel (no clipping back to x)
    return 0.2 + 0.6 * torch.rand(b, 3, 4, generator=g), torch.randint(0, 3, (b,), generator=g)


@pytest.mark.parametrize(("ratio", "expected"), [(0.0, 0), (0.2, 4), (0.25, 5), (0.5, 10), (0.525, 11), (1.0, 20)])
def test_replaces_exactly_round_gamma_b_and_leaves_others_untouched(ratio, expected):
    model = bn_net().train()
    x, y = batch()
    x_before = x.clone()
    x_mixed, labels, n_adv = mix_adversarial(model, x, y, FGSM(0.05), ratio, generator=torch.Generator().manual_seed(7))
    assert n_adv == expected == num_adversarial(20, ratio)
    changed = (x_mixed != x).flatten(1).any(1)
    assert int(changed.sum()) == expected
    assert torch.equal(x_mixed[~changed], x[~changed])
    assert torch.equal(x, x_before) and torch.equal(labels, y)
    if expected:
        index = torch.randperm(20, generator=torch.Generator().manual_seed(7))[:expected]
        assert set(index.tolist()) == set(torch.nonzero(changed).flatten().tolist())
        with torch.no_grad():
            model.eval()
            expected_adv = FGSM(0.05).perturb(model, x[index], y[index])
        assert torch.equal(x_mixed[index], expected_adv)


def test_bn_mode_is_explicit_and_everything_is_restored():
    model = bn_net().train()
    model[4].eval()
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = batch()
    attack = PGD(0.05, steps=3)
    eval_mix, _, _ = mix_adversarial(model, x, y, attack, 1.0, generator=torch.Generator().manual_seed(0), bn_mode="eval")
    train_mix, _, _ = mix_adversarial(model, x, y, attack, 1.0, generator=torch.Generator().manual_seed(0), bn_mode="train")
    assert [m.training for m in model.modules()] == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # running stats restored
    assert not torch.equal(eval_mix, train_mix)  # batch statistics vs running statistics
    index = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    expected = x.clone()
    expected[index] = attack(model, x[index], y[index])  # γ = 1, eval: the attack's own semantics
    assert torch.equal(eval_mix, expected)


@pytest.mark.parametrize(("field", "kwargs"), [("ratio", {"ratio": 1.5}), ("bn_mode", {"ratio": 0.5, "bn_mode": "batch"})])
def test_mixing_config_errors(field, kwargs):
    x, y = batch()
    with pytest.raises(ConfigError, match=field):
        mix_adversarial(bn_net(), x, y, FGSM(0.1), generator=torch.Generator(), **kwargs)


def test_absa_schedule_values():
    s = AdvRatioSchedule(0.2, omega=2.0, tau=50)
    assert [s.ratio(t) for t in (0, 10, 49)] == [0.2, 0.2, 0.2]
    assert s.ratio(10, num_decays=1) == pytest.approx(0.1)
    assert s.ratio(10, num_decays=3) == pytest.approx(0.025)
    assert s.ratio(50) == 0.0 and s.ratio(51, num_decays=2) == 0.0  # vanishing step


def test_periodic_and_constant_schedules():
    s = AdvRatioSchedule(0.4, omega=2.0, decay_every=5)
    assert [s.ratio(t) for t in (0, 4, 5, 9, 10, 17)] == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.1, 0.4 / 8])
    assert s.ratio(5, num_decays=1) == pytest.approx(0.1)
    c = AdvRatioSchedule.constant(1.0)
    assert {c.ratio(t, num_decays=t) for t in range(20)} == {1.0}


@pytest.mark.parametrize(("field", "kwargs"), [("gamma0", {"gamma0": 1.2}), ("omega", {"gamma0": 0.2, "omega": 0.5}),
                                               ("tau", {"gamma0": 0.2, "tau": -1}),
                                               ("decay_every", {"gamma0": 0.2, "decay_every": 0})])
def test_schedule_config_errors(field, kwargs):
    with pytest.raises(ConfigError, match=field):
        AdvRatioSchedule(**kwargs)

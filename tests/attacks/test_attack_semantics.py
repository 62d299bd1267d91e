"""Shared semantics of every attack: ε = 0 identity, ε-ball and [0, 1], model mode, .grad, config errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hessianlab.attacks import (
    ATTACK_NAMES,
    FGSM,
    FHSM,
    IFGSM,
    PGD,
    L2Grad,
    L2Hess,
    make_attack,
    robust_accuracy,
)
from hessianlab.errors import ConfigError, DataError


def tiny_net(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Conv + BatchNorm + Dropout on (1, 6, 6) inputs, 5 classes."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(), nn.Linear(64, 5)
    ).to(dtype)
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    return model


def batch(seed: int = 0, n: int = 6, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 6, 6, generator=g, dtype=dtype), torch.randint(0, 5, (n,), generator=g)


def all_attacks(eps: float) -> list:
    return [
        FGSM(eps),
        IFGSM(eps, steps=3),
        PGD(eps, steps=3),
        PGD(eps, norm="l2", steps=3, restarts=2, seed=1),
        L2Grad(eps),
        FHSM(eps, cg_iters=4),
        L2Hess(eps, cg_iters=4),
    ]


@pytest.mark.parametrize("attack", all_attacks(0.0), ids=lambda a: f"{a.name}-{a.norm}")
def test_eps_zero_is_identity(attack):
    model = tiny_net()
    x, y = batch()
    assert torch.equal(attack(model, x, y), x)


def test_eps_zero_robust_accuracy_equals_clean():
    model = tiny_net()
    x, y = batch(n=40)
    for attack in all_attacks(0.1):
        result = robust_accuracy(model, x, y, attack, eps=[0.0, 0.1], batch_size=25)
        assert result.accuracy[0] == result.clean_accuracy
        assert result.num_samples == 40 and result.eps == (0.0, 0.1)


@settings(max_examples=20, deadline=None)
@given(
    index=st.integers(0, len(all_attacks(0.0)) - 1),
    eps=st.floats(0.0, 1.5, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_inside_ball_and_pixel_range(index, eps, seed):
    model = tiny_net(dtype=torch.float64)
    x, y = batch(seed, dtype=torch.float64)
    attack = all_attacks(eps)[index]
    x_adv = attack(model, x, y)
    delta = (x_adv - x).flatten(1)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    if attack.norm == "linf":
        assert float(delta.abs().max()) <= eps + 1e-12
    else:
        assert float(delta.norm(dim=1).max()) <= eps * (1 + 1e-12) + 1e-12


@pytest.mark.parametrize("attack", all_attacks(0.1), ids=lambda a: f"{a.name}-{a.norm}")
def test_model_mode_params_and_inputs_untouched(attack):
    model = tiny_net()
    model.train()
    model[3].eval()  # mixed state: Dropout in eval inside a model in train mode
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    x, y = batch()
    x_before = x.clone()
    x_adv = attack(model, x, y)
    assert [m.training for m in model.modules()] == flags
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(x, x_before)
    assert not x_adv.requires_grad
    assert not torch.equal(x_adv, x)  # the attack did something


def test_attack_is_deterministic_and_uses_eval_mode():
    """Dropout (p=0.3) would make two calls differ if the attack ran in train mode; PGD is seeded."""
    model = tiny_net().train()
    x, y = batch()
    for attack in all_attacks(0.1):
        assert torch.equal(attack(model, x, y), attack(model, x, y))


def test_robust_accuracy_dataset_like_transfer_and_examples():
    model, source = tiny_net(0), tiny_net(1)
    x, y = batch(n=20)
    data = type("DS", (), {"images": x, "labels": y})()
    result = robust_accuracy(model, data, None, FGSM(0.1), eps=[0.05, 0.1], batch_size=7, source_model=source,
                             return_examples=True)
    assert result.transfer and result.examples is not None
    for e, acc, examples in zip(result.eps, result.accuracy, result.examples):
        expected = FGSM(e)(source, x, y)
        assert torch.equal(examples, expected)
        assert acc == pytest.approx(float((model.eval()(expected).argmax(1) == y).float().mean()))
    assert result.to_dict()["attack"]["attack"] == "fgsm"


def test_registry_builds_every_name():
    for name in ATTACK_NAMES:
        attack = make_attack(name, eps=0.1)
        assert attack.name == name and attack.describe()["eps"] == 0.1
        assert attack.describe()["loss_reduction"] == "sum"
    assert dataclasses.replace(make_attack("pgd", eps=0.1, steps=4), eps=0.2).steps == 4


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("fgsn", {"eps": 0.1}, "attack"),
        ("fgsm", {"eps": -0.1}, "eps"),
        ("fgsm", {"eps": float("nan")}, "eps"),
        ("fgsm", {}, "eps"),
        ("fgsm", {"eps": 0.1, "steps": 3}, "steps"),
        ("pgd", {"eps": 0.1, "norm": "l1"}, "norm"),
        ("pgd", {"eps": 0.1, "steps": 0}, "steps"),
        ("pgd", {"eps": 0.1, "restarts": 2, "random_start": False}, "random_start"),
        ("ifgsm", {"eps": 0.1, "alpha": -1.0}, "alpha"),
        ("fhsm", {"eps": 0.1, "damping": -1.0}, "damping"),
        ("l2hess", {"eps": 0.1, "cg_tol": 0.0}, "cg_tol"),
    ],
)
def test_config_errors_name_the_field(name, params, field):
    with pytest.raises(ConfigError, match=field) as info:
        make_attack(name, **params)
    assert "\n" not in str(info.value)


def test_inputs_outside_pixel_range_rejected():
    model = tiny_net()
    x, y = batch()
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        FGSM(0.1)(model, x * 2 - 0.5, y)
    with pytest.raises(DataError, match="y must be int64"):
        FGSM(0.1)(model, x, y[:3])

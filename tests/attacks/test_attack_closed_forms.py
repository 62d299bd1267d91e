"""Closed forms on a linear softmax model, and the distribution of PGD's random start."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from hessianlab.attacks import FGSM, IFGSM, PGD, L2Grad

D, K, N = 12, 4, 30


def linear_model(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    layer = nn.Linear(D, K).double()
    return nn.Sequential(nn.Flatten(), layer), layer.weight.detach(), layer.bias.detach()


def inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 3, 4, generator=g, dtype=torch.float64), torch.randint(0, K, (N,), generator=g)


def ce_input_gradient(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """∇_x CE(Wx + b, label) = Wᵀ(softmax(Wx + b) − onehot(label)), per sample, shaped like x."""
    flat = x.flatten(1)
    p = torch.softmax(flat @ W.T + b, dim=1)
    return ((p - nn.functional.one_hot(labels, K).double()) @ W).view_as(x)


def test_fgsm_closed_form():
    model, W, b = linear_model()
    x, y = inputs()
    expected = (x + 0.07 * ce_input_gradient(W, b, x, y).sign()).clamp(0, 1)
    torch.testing.assert_close(FGSM(0.07)(model, x, y), expected, rtol=0, atol=1e-15)


def test_fgsm_targeted_closed_form():
    model, W, b = linear_model()
    x, y = inputs()
    target = (y + 1) % K
    expected = (x - 0.07 * ce_input_gradient(W, b, x, target).sign()).clamp(0, 1)
    torch.testing.assert_close(FGSM(0.07)(model, x, y, target=target), expected, rtol=0, atol=1e-15)


def test_l2grad_closed_form():
    model, W, b = linear_model()
    x, y = inputs()
    g = ce_input_gradient(W, b, x, y)
    expected = (x + 0.5 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)).clamp(0, 1)
    torch.testing.assert_close(L2Grad(0.5)(model, x, y), expected, rtol=0, atol=1e-14)


def test_l2grad_zero_gradient_gives_no_perturbation():
    model, _, _ = linear_model()
    with torch.no_grad():
        model[1].weight.zero_()
    x, y = inputs()
    assert torch.equal(L2Grad(0.5)(model, x, y), x)


def test_iterative_closed_form_on_two_class_linear_model():
    """For K = 2, ∇_x CE = (p_y − 1)(w_y − w_other): its sign never changes with x, so I-FGSM and PGD
    (no random start) move exactly min(steps·α, ε) along s = sign(w_other − w_y) (no clipping here)."""
    torch.manual_seed(0)
    layer = nn.Linear(D, 2).double()
    model = nn.Sequential(nn.Flatten(), layer)
    x, y = inputs()
    y = y % 2
    x = 0.25 + 0.5 * x
    w = layer.weight.detach()
    s = (w[1 - y] - w[y]).sign().view_as(x)
    attack = IFGSM(0.04, steps=4)
    assert attack.step_size == pytest.approx(0.01)
    torch.testing.assert_close(attack(model, x, y), x + 0.04 * s, rtol=0, atol=1e-14)
    torch.testing.assert_close(IFGSM(0.04, steps=2)(model, x, y), x + 0.04 * s, rtol=0, atol=1e-14)
    projected = PGD(0.04, steps=3, alpha=0.03, random_start=False)(model, x, y)  # 0.09 capped at 0.04
    torch.testing.assert_close(projected, x + 0.04 * s, rtol=0, atol=1e-14)


class ConstantModel(nn.Module):
    """Logits independent of the input (zero input gradient): PGD then returns its random start."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 3, dtype=x.dtype) + 0.0 * x.flatten(1).sum(1, keepdim=True)


def random_start(norm: str, eps: float, n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    x = torch.full((n, *shape), 0.5, dtype=torch.float64)
    y = torch.zeros(n, dtype=torch.int64)
    return PGD(eps, norm=norm, steps=1, seed=seed)(ConstantModel(), x, y) - x


def test_pgd_linf_random_start_uniform_in_cube():
    eps = 0.3
    delta = random_start("linf", eps, 4000, (2, 2))
    u = (delta.flatten(1) / eps).numpy()
    for j in range(u.shape[1]):  # each coordinate is U(-1, 1)
        assert stats.kstest(u[:, j], stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3
    assert abs(u.mean()) < 4 * math.sqrt(1 / 3 / u.size)
    assert u.var() == pytest.approx(1 / 3, rel=0.03)
    assert abs(float(torch.corrcoef(torch.from_numpy(u.T))[0, 1])) < 0.06  # independent coordinates


def test_pgd_l2_random_start_uniform_in_ball():
    eps, d = 0.4, 3
    delta = random_start("l2", eps, 4000, (d,)).flatten(1)
    r = delta.norm(dim=1)
    assert float(r.max()) <= eps * (1 + 1e-12)
    # P(r <= t·eps) = t^d  <=>  (r/eps)^d ~ U(0, 1)
    assert stats.kstest(((r / eps) ** d).numpy(), "uniform").pvalue > 1e-3
    direction = delta / r[:, None]
    # isotropy: mean 0, covariance I/d; in 3-D each coordinate of a uniform direction is U(-1, 1) (Archimedes)
    assert float(direction.mean(0).abs().max()) < 4 * math.sqrt(1 / d / len(r))
    torch.testing.assert_close(direction.T @ direction / len(r), torch.eye(d, dtype=torch.float64) / d, atol=0.03, rtol=0)
    for j in range(d):
        assert stats.kstest(direction[:, j].numpy(), stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3


def test_pgd_random_start_is_seeded():
    a = random_start("linf", 0.2, 50, (4,), seed=3)
    assert torch.equal(a, random_start("linf", 0.2, 50, (4,), seed=3))
    assert not torch.equal(a, random_start("linf", 0.2, 50, (4,), seed=4))


def test_pgd_restarts_keep_worst_case():
    """Each sample's loss after 3 restarts is >= the loss of every single restart drawn from the same stream."""
    model, _, _ = linear_model()
    x, y = inputs()

    def losses(x_adv: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(model(x_adv), y, reduction="none")

    best = losses(PGD(0.05, steps=2, restarts=3, seed=5)(model, x, y))
    first = losses(PGD(0.05, steps=2, restarts=1, seed=5)(model, x, y))
    misclassified_best = model(PGD(0.05, steps=2, restarts=3, seed=5)(model, x, y)).argmax(1) != y
    misclassified_first = model(PGD(0.05, steps=2, restarts=1, seed=5)(model, x, y)).argmax(1) != y
    assert bool((misclassified_best | ~misclassified_first).all())
    same_status = misclassified_best == misclassified_first
    assert bool((best[same_status] >= first[same_status] - 1e-12).all())

"""Agreement with the reference library torchattacks 3.5.1 (FGSM; PGD without random start).

torchattacks uses CE with reduction 'mean' (we use 'sum': same sign, so same L∞ steps), runs the model in
eval mode, steps ``x + α·sign(g)``, clamps the perturbation to ``[-ε, ε]`` and the image to ``[0, 1]``.
Our single clamp onto ``[max(x-ε, 0), min(x+ε, 1)]`` is the same projection; the two differ by float
rounding only (one ulp of a pixel, ~6e-8), hence the 1e-6 tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessianlab.attacks import FGSM, IFGSM, PGD

torchattacks = pytest.importorskip("torchattacks")


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(8),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10),
    )
    with torch.no_grad():
        model[3].running_mean.uniform_(-0.1, 0.1)
    return model.train()  # both libraries must switch to eval themselves


def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(32, 3, 16, 16, generator=g), torch.randint(0, 10, (32,), generator=g)


@pytest.mark.parametrize("eps", [8 / 255, 0.1])
def test_fgsm_matches_torchattacks(eps):
    model = small_cnn()
    x, y = images()
    reference = torchattacks.FGSM(model, eps=eps)(x, y)
    torch.testing.assert_close(FGSM(eps)(model, x, y), reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("eps", "alpha", "steps"), [(8 / 255, 2 / 255, 10), (0.1, 0.01, 10), (0.05, 0.02, 5)])
def test_pgd_without_random_start_matches_torchattacks(eps, alpha, steps):
    model = small_cnn()
    x, y = images()
    reference = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    ours = PGD(eps, steps=steps, alpha=alpha, random_start=False)(model, x, y)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    # I-FGSM is the same iteration
    torch.testing.assert_close(IFGSM(eps, steps=steps, alpha=alpha)(model, x, y), ours, rtol=0, atol=0)
    assert model.training

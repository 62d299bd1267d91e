"""``logreg``: closed-form loss and Hessian of multinomial logistic regression, convexity."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hessianlab.curvature import dense_hessian
from hessianlab.models import build_model, count_parameters


def _model(d: int, classes: int, mean: float = 0.3, std: float = 0.2) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("logreg", in_shape=(1, 1, d), num_classes=classes, mean=mean, std=std).double()


def test_parameter_count_and_shape() -> None:
    model = _model(30, 2)
    assert count_parameters(model) == 30 * 2 + 2
    assert model(torch.rand(5, 1, 1, 30, dtype=torch.float64)).shape == (5, 2)


def test_two_classes_is_binary_logistic_regression() -> None:
    model = _model(6, 2)
    x = torch.rand(40, 1, 1, 6, dtype=torch.float64)
    y = torch.randint(0, 2, (40,))
    z = model(x)
    margin = (2 * y - 1).double() * (z[:, 1] - z[:, 0])
    assert torch.allclose(F.cross_entropy(z, y), torch.log1p(torch.exp(-margin)).mean(), atol=1e-14)


def test_hessian_closed_form_and_psd() -> None:
    """H = mean_i (diag(p_i) - p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ with x̃ = (normalised x, 1), parameters ordered (W row-major, b)."""
    d, classes, n = 4, 3, 25
    model = _model(d, classes)
    x = torch.rand(n, 1, 1, d, dtype=torch.float64)
    y = torch.randint(0, classes, (n,))
    hessian = dense_hessian(model, None, (x, y), dtype=torch.float64)
    xn = ((x.reshape(n, d) - 0.3) / 0.2)
    p = torch.softmax(model(x), dim=1)
    expected_w = torch.zeros(classes * d, classes * d, dtype=torch.float64)
    expected_wb = torch.zeros(classes * d, classes, dtype=torch.float64)
    expected_b = torch.zeros(classes, classes, dtype=torch.float64)
    for i in range(n):
        s = torch.diag(p[i]) - torch.outer(p[i], p[i])
        expected_w += torch.kron(s, torch.outer(xn[i], xn[i])) / n
        expected_wb += torch.kron(s, xn[i][:, None]) / n
        expected_b += s / n
    expected = torch.cat([torch.cat([expected_w, expected_wb], 1), torch.cat([expected_wb.T, expected_b], 1)], 0)
    assert torch.allclose(hessian, expected, atol=1e-12)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert eigenvalues.min() > -1e-12
    assert eigenvalues.abs().min() < 1e-12  # shifting every class row by the same vector changes nothing

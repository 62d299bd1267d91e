"""Line, plane and interpolation: exact centre, curvature along v1, no side effects, d2 = 0 rows."""

import copy

import pytest
import torch
from torch import nn

from hessianlab.data import load_dataset
from hessianlab.errors import ConfigError
from hessianlab.landscape import (
    eigen_directions, interpolate, line, plane, random_direction, symmetric_grid,
)
from hessianlab.models import build_model
from hessianlab.training.evaluate import evaluate

DATA = load_dataset("synthetic", "train", subset=128)


def mlp(seed: int = 0, *, dtype: torch.dtype = torch.float64, **kw: object) -> nn.Module:
    """Tiny MLP; with BatchNorm its running statistics are made non-trivial by a few train-mode passes."""
    torch.manual_seed(seed)
    model = build_model("mlp", in_shape=(1, 8, 8), num_classes=10, width=0.05, **kw).to(dtype)
    if kw.get("batchnorm"):
        with torch.no_grad():
            for start in range(0, 128, 32):
                model(DATA.images[start:start + 32].to(dtype) * (1 + seed))
    return model.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_size", [1024, 50])
def test_centre_value_equals_evaluate_exactly(dtype: torch.dtype, batch_size: int) -> None:
    model = mlp(batchnorm=True, dtype=dtype)
    result = line(model, DATA, random_direction(model, seed=0), symmetric_grid(0.5, 5), batch_size=batch_size)
    loss, acc = evaluate(model, DATA.images, DATA.labels, batch_size)
    assert result.loss[2].item() == loss and result.accuracy[2].item() == acc
    assert result.settings["bn_policy"] == "eval" and result.settings["num_samples"] == 128


def test_second_difference_along_top_eigenvector_is_lambda1() -> None:
    # Smooth loss (softplus) in float64: the central difference has truncation error O(h^2 L'''') and
    # rounding error O(eps L / h^2) ~ 1e-10, both far below the 1e-3 relative tolerance at h = 1e-3.
    model = mlp(activation="softplus")
    eig = eigen_directions(model, DATA, k=1, tol=1e-10)
    h = 1e-3
    result = line(model, DATA, eig[0], [-h, 0.0, h], kind="eigen")
    second = (result.loss[2] - 2 * result.loss[1] + result.loss[0]) / h**2
    lam1 = eig.eigenvalues[0]
    assert result.direction_kind == "eigen"
    assert abs(second - lam1) <= 1e-3 * abs(lam1), (float(second), float(lam1))


def test_partial_direction_matches_a_perturbed_copy() -> None:
    model = mlp()
    d = {"fc3.weight": torch.randn(10, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(0))}
    result = line(model, DATA, d, [0.3])
    moved = copy.deepcopy(model)
    with torch.no_grad():
        moved.fc3.weight.add_(0.3 * d["fc3.weight"])
    loss, acc = evaluate(moved, DATA.images, DATA.labels)
    assert abs(result.loss[0].item() - loss) <= 1e-12 and result.accuracy[0].item() == acc


def snapshot(model: nn.Module) -> tuple[dict, dict, list, list]:
    return ({n: p.detach().clone() for n, p in model.named_parameters()},
            {n: b.clone() for n, b in model.named_buffers()},
            [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()])


def assert_unchanged(model: nn.Module, before: tuple[dict, dict, list, list]) -> None:
    params, buffers, modes, grads = snapshot(model)
    assert all(torch.equal(params[n], before[0][n]) for n in params)
    assert all(torch.equal(buffers[n], before[1][n]) for n in buffers)
    assert modes == before[2] and grads == before[3]
    assert all(p.grad is None for p in model.parameters())


def test_callers_models_are_unchanged() -> None:
    a, b = mlp(0, batchnorm=True), mlp(1, batchnorm=True)
    a.train()
    a.bn1.eval()  # mixed modes must survive
    before_a, before_b = snapshot(a), snapshot(b)
    d1, d2 = random_direction(a, seed=0), random_direction(a, seed=1)
    line(a, DATA, d1, symmetric_grid(1.0, 3))
    plane(a, DATA, d1, d2, symmetric_grid(1.0, 3), symmetric_grid(1.0, 3))
    interpolate(a, b, DATA, [-0.5, 0.5, 1.5])
    assert_unchanged(a, before_a)
    assert_unchanged(b, before_b)


def test_interpolation_endpoints_equal_each_model_and_midpoint_averages_buffers() -> None:
    a, b = mlp(0, batchnorm=True), mlp(1, batchnorm=True)
    result = interpolate(a, b, DATA, [0.0, 1.0, 0.5, -0.5, 1.5], batch_size=50)
    assert result.direction_kind == "interpolation"
    assert (result.loss[0].item(), result.accuracy[0].item()) == evaluate(a, DATA.images, DATA.labels, 50)
    assert (result.loss[1].item(), result.accuracy[1].item()) == evaluate(b, DATA.images, DATA.labels, 50)
    mid = copy.deepcopy(a)
    with torch.no_grad():
        for (_, t_mid), (_, t_b) in zip(list(mid.named_parameters()) + list(mid.named_buffers()),
                                        list(b.named_parameters()) + list(b.named_buffers())):
            if t_mid.is_floating_point():
                t_mid.copy_(0.5 * t_mid + 0.5 * t_b)
    loss, acc = evaluate(mid, DATA.images, DATA.labels, 50)
    assert abs(result.loss[2].item() - loss) <= 1e-12 and result.accuracy[2].item() == acc
    assert bool(torch.isfinite(result.loss).all())


def test_plane_with_zero_second_direction_equals_the_line_on_each_row() -> None:
    model = mlp(batchnorm=True)
    d1 = random_direction(model, seed=0)
    zero = {n: torch.zeros_like(t) for n, t in d1.items()}
    alphas, betas = symmetric_grid(1.0, 5), symmetric_grid(0.5, 3)
    result = plane(model, DATA, d1, zero, alphas, betas, kinds=("random", "custom"))
    ref = line(model, DATA, d1, alphas)
    assert result.loss.shape == (5, 3) and result.accuracy.shape == (5, 3)
    for j in range(3):
        assert torch.equal(result.loss[:, j], ref.loss) and torch.equal(result.accuracy[:, j], ref.accuracy)
    assert len(set(ref.loss.tolist())) == 5  # the line is not flat, so the comparison can fail


def test_plane_axes_are_alpha_rows_and_beta_columns() -> None:
    model = mlp()
    d1, d2 = random_direction(model, seed=0), random_direction(model, seed=1)
    result = plane(model, DATA, d1, d2, [0.0, 0.7], [0.0, 0.2, 0.4])
    along_d2 = line(model, DATA, d2, [0.0, 0.2, 0.4])
    assert torch.equal(result.loss[0], along_d2.loss)


def test_bad_arguments_are_config_errors() -> None:
    model = mlp()
    d = random_direction(model, seed=0)
    with pytest.raises(ConfigError, match="bn_policy"):
        line(model, DATA, d, [0.0], bn_policy="train")
    with pytest.raises(ConfigError):
        line(model, DATA, {"nope": torch.zeros(1)}, [0.0])
    with pytest.raises(ConfigError):
        line(model, DATA, {"fc1.weight": torch.zeros(3)}, [0.0])
    with pytest.raises(ConfigError):
        line(model, DATA, d, [float("nan")])
    with pytest.raises(ConfigError):
        interpolate(model, mlp(batchnorm=True), DATA, [0.0])

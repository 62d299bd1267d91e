"""Directions: Li et al. filter normalisation, seeded reproducibility, interpolation, eigenvectors."""

import pytest
import torch
from torch import nn

from hessianlab.data import load_dataset
from hessianlab.errors import ConfigError
from hessianlab.landscape import eigen_directions, interpolation_direction, random_direction
from hessianlab.models import build_model


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 6 * 6, 10)).double()


def mlp(seed: int = 0, **kw: object) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", in_shape=(1, 8, 8), num_classes=10, width=0.05, **kw)


def test_each_filter_has_the_norm_of_the_model_filter() -> None:
    model = conv_net()
    d = random_direction(model, seed=3)
    assert list(d) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            dims = tuple(range(1, p.dim()))
            torch.testing.assert_close(torch.linalg.vector_norm(d[name], dim=dims),
                                       torch.linalg.vector_norm(p.detach(), dim=dims), rtol=1e-12, atol=0)
            assert not torch.allclose(d[name], p.detach())  # a random direction, not the weights themselves
        else:  # biases and BatchNorm weight/bias are zeroed by default ('biasbn')
            assert torch.equal(d[name], torch.zeros_like(p))


def test_ignore_none_keeps_one_dimensional_parameters_as_li_et_al() -> None:
    model = conv_net()
    d = random_direction(model, seed=3, ignore=None)
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            assert torch.equal(d[name], p.detach())


def test_without_filter_normalisation_the_direction_is_standard_gaussian() -> None:
    model = mlp()
    d = random_direction(model, seed=0, filter_normalize=False)
    w = d["fc1.weight"]
    assert abs(w.mean().item()) < 0.1 and abs(w.std().item() - 1.0) < 0.1
    assert torch.equal(d["fc1.bias"], torch.zeros_like(d["fc1.bias"]))


def test_seeded_random_direction_is_reproducible_and_dtype_independent() -> None:
    a, b, c = random_direction(mlp(), seed=7), random_direction(mlp(), seed=7), random_direction(mlp(), seed=8)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])
    d64 = random_direction(mlp().double(), seed=7)
    assert d64["fc1.weight"].dtype == torch.float64
    assert all(torch.equal(a[n], d64[n].float()) for n in a)


def test_random_direction_subset_and_bad_ignore() -> None:
    d = random_direction(mlp(), seed=0, params=r"^fc3\.")
    assert list(d) == ["fc3.weight", "fc3.bias"]
    with pytest.raises(ConfigError):
        random_direction(mlp(), seed=0, ignore="bn")


def test_interpolation_direction_is_difference_of_parameters() -> None:
    a, b = mlp(0), mlp(1)
    d = interpolation_direction(a, b)
    for name, pa in a.named_parameters():
        assert torch.equal(d[name], dict(b.named_parameters())[name].detach() - pa.detach())
    with pytest.raises(ConfigError):
        interpolation_direction(a, mlp(0, batchnorm=True))


def test_eigen_directions_are_unit_eigenvectors_over_all_parameters() -> None:
    model = mlp(activation="softplus").double()
    data = load_dataset("synthetic", "train", subset=64)
    eig = eigen_directions(model, data, k=2, tol=1e-8)
    d1, d2 = eig
    assert eig.result.converged and eig.eigenvalues[0] >= eig.eigenvalues[1]
    assert list(d1) == [n for n, _ in model.named_parameters()]
    flat1, flat2 = (torch.cat([t.reshape(-1) for t in d.values()]) for d in (d1, d2))
    assert flat1.dtype == torch.float64
    torch.testing.assert_close(flat1.norm(), torch.tensor(1.0, dtype=torch.float64))
    assert abs(float(flat1 @ flat2)) < 1e-8

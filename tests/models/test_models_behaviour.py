"""Shapes, the Normalize layer, activations, width, BatchNorm defaults, errors, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hessianlab.errors import ConfigError
from hessianlab.models import MODEL_NAMES, Normalize, build_model, count_parameters, make_activation
from hessianlab.models._shapes import ANY_SHAPE_MODELS

MNIST, CIFAR, MNIST1D = (1, 28, 28), (3, 32, 32), (1, 1, 40)
CONV_MODELS = tuple(n for n in MODEL_NAMES if n not in ANY_SHAPE_MODELS)
BN_BY_DEFAULT = {"c1", "s1", "c2", "resnet18", "cr"}
HIDDEN_LAYER_MODELS = tuple(n for n in MODEL_NAMES if n != "logreg")  # logreg: no activation, width or BN
SMALL = 0.125  # width used where the architecture, not its size, is under test


def _has(model: nn.Module, kind: type[nn.Module]) -> bool:
    return any(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("shape", [MNIST, CIFAR], ids=["28x28x1", "32x32x3"])
def test_output_shape(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, in_shape=shape, num_classes=7, width=SMALL).eval()
    out = model(torch.rand(3, *shape))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_mlp_on_mnist1d_and_other_shapes() -> None:
    for shape in (MNIST1D, (2, 5, 3)):
        model = build_model("mlp", in_shape=shape, num_classes=10)
        assert model(torch.rand(4, *shape)).shape == (4, 10)


@pytest.mark.parametrize("name", CONV_MODELS)
def test_conv_models_refuse_mnist1d_with_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(name, in_shape=MNIST1D, num_classes=10)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("in_shape:") and "mlp" in msg and repr(name) in msg


def test_too_small_image_refused() -> None:
    with pytest.raises(ConfigError, match="in_shape: model 'm1'.*too small"):
        build_model("m1", in_shape=(1, 8, 8), num_classes=10)  # 8 -> 4 -> 0
    with pytest.raises(ConfigError, match="'stdcnn'"):
        build_model("stdcnn", in_shape=(1, 12, 12), num_classes=10)  # 12-10-8-4-2-0


# ----------------------------------------------------------------------------- Normalize
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_normalize_is_first(name: str) -> None:
    model = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL, mean=(0.1, 0.2, 0.3), std=0.5)
    first = next(iter(model.children()))
    assert isinstance(first, Normalize)
    assert model.normalize is first
    assert torch.equal(first.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(first.std.flatten(), torch.full((3,), 0.5))


def test_normalize_exact() -> None:
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    layer = Normalize(mean, std, channels=3)
    x = torch.rand(5, 3, 4, 4)
    expected = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.equal(layer(x), expected)
    # defaults: identity; buffers, not parameters
    ident = Normalize(channels=2)
    y = torch.rand(2, 2, 3, 3)
    assert torch.equal(ident(y), y)
    assert list(ident.parameters()) == []
    assert set(dict(ident.named_buffers())) == {"mean", "std"}
    assert set(ident.state_dict()) == {"mean", "std"}


def test_normalize_inside_model_matches_manual() -> None:
    torch.manual_seed(0)
    model = build_model("mlp", in_shape=MNIST, num_classes=10, mean=0.13, std=0.31).eval()
    x = torch.rand(4, *MNIST)
    manual = model[1:]((x - 0.13) / 0.31)  # everything after Normalize, fed the standardised input
    assert torch.allclose(model(x), manual, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mean": (0.1, 0.2)}, "mean"),  # 3 channels need 3 values
        ({"std": (1.0, 0.0, 1.0)}, "std"),
        ({"std": -1.0}, "std"),
        ({"mean": "abc"}, "mean"),
        ({"mean": float("nan")}, "mean"),
    ],
)
def test_normalize_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}:"):
        build_model("mlp", in_shape=CIFAR, num_classes=10, **kwargs)


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", HIDDEN_LAYER_MODELS)
def test_activation_switch(name: str) -> None:
    def count(model: nn.Module, kind: type[nn.Module]) -> int:
        return sum(isinstance(m, kind) for m in model.modules())

    relu = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL)
    n_act = count(relu, nn.ReLU)
    assert n_act >= 2
    assert all(not m.inplace for m in relu.modules() if isinstance(m, nn.ReLU))
    soft = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL, activation="softplus", softplus_beta=7.0)
    assert count(soft, nn.ReLU) == 0 and count(soft, nn.Softplus) == n_act
    assert all(m.beta == 7.0 for m in soft.modules() if isinstance(m, nn.Softplus))
    elu = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL, activation="elu", elu_alpha=0.5)
    assert count(elu, nn.ReLU) == 0 and count(elu, nn.ELU) == n_act
    assert all(m.alpha == 0.5 and not m.inplace for m in elu.modules() if isinstance(m, nn.ELU))
    # same parameters whatever the activation
    assert count_parameters(relu) == count_parameters(soft) == count_parameters(elu)


def test_logreg_has_no_activation_and_ignores_width() -> None:
    models = [build_model("logreg", in_shape=CIFAR, num_classes=10, activation=a, width=w)
              for a, w in (("relu", 1.0), ("softplus", 0.5), ("elu", 2.0))]
    assert all(not _has(m, (nn.ReLU, nn.Softplus, nn.ELU)) for m in models)
    assert {count_parameters(m) for m in models} == {3 * 32 * 32 * 10 + 10}


def test_make_activation() -> None:
    assert isinstance(make_activation("relu"), nn.ReLU)
    assert make_activation("softplus", softplus_beta=3.0).beta == 3.0
    assert make_activation("elu", elu_alpha=2.0).alpha == 2.0
    with pytest.raises(ConfigError, match="^activation: unknown 'tanh'; choose one of: relu, softplus, elu$"):
        make_activation("tanh")


# ----------------------------------------------------------------------------- width
def test_width_scaling() -> None:
    half = build_model("c1", in_shape=CIFAR, num_classes=10, width=0.5)
    assert half.conv1.out_channels == 32 and half.conv2.out_channels == 32
    assert (half.fc1.out_features, half.fc2.out_features, half.fc3.out_features) == (192, 96, 10)
    assert half.fc1.in_features == 32 * 8 * 8
    tiny = build_model("m1", in_shape=MNIST, num_classes=10, width=1e-3)
    assert tiny.conv1.out_channels == 1 and tiny.fc1.out_features == 1  # at least 1
    wide = build_model("mlp", in_shape=MNIST, num_classes=3, width=1.5)
    assert (wide.fc1.out_features, wide.fc2.out_features, wide.fc3.out_features) == (384, 384, 3)
    rn = build_model("resnet18", in_shape=CIFAR, num_classes=10, width=0.25)
    assert rn.conv1.out_channels == 16 and rn.fc.in_features == 128
    cr = build_model("cr", in_shape=CIFAR, num_classes=100, width=2)
    assert cr.conv1.out_channels == 32 and cr.fc.in_features == 128 and cr.fc.out_features == 100
    # rounding half up: 20 * 0.125 = 2.5 -> 3
    assert build_model("m1", in_shape=MNIST, num_classes=10, width=0.125).conv1.out_channels == 3


@pytest.mark.parametrize("name", HIDDEN_LAYER_MODELS)
def test_width_shrinks_every_model(name: str) -> None:
    full = count_parameters(build_model(name, in_shape=CIFAR, num_classes=10))
    small = count_parameters(build_model(name, in_shape=CIFAR, num_classes=10, width=0.25))
    assert small < full / 3


# ----------------------------------------------------------------------------- batchnorm
@pytest.mark.parametrize("name", HIDDEN_LAYER_MODELS)
def test_batchnorm_default_and_forcing(name: str) -> None:
    default = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL)
    assert _has(default, nn.modules.batchnorm._BatchNorm) == (name in BN_BY_DEFAULT)
    on = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL, batchnorm=True)
    off = build_model(name, in_shape=CIFAR, num_classes=10, width=SMALL, batchnorm=False)
    assert _has(on, nn.modules.batchnorm._BatchNorm)
    assert not _has(off, nn.modules.batchnorm._BatchNorm)
    x = torch.rand(2, *CIFAR)
    assert off.eval()(x).shape == on.eval()(x).shape == (2, 10)


def test_c2_is_c3_with_batchnorm() -> None:
    torch.manual_seed(0)
    c2 = build_model("c2", in_shape=CIFAR, num_classes=10)
    torch.manual_seed(0)
    c3 = build_model("c3", in_shape=CIFAR, num_classes=10, batchnorm=True)
    assert [type(m) for m in c2.children()] == [type(m) for m in c3.children()]
    assert all(torch.equal(a, b) for a, b in zip(c2.state_dict().values(), c3.state_dict().values(), strict=True))
    assert [type(m) for m in build_model("c2", in_shape=CIFAR, num_classes=10, batchnorm=False).children()] == [
        type(m) for m in build_model("c3", in_shape=CIFAR, num_classes=10).children()
    ]


def test_c1_layer_order_follows_table() -> None:
    model = build_model("c1", in_shape=CIFAR, num_classes=10)
    kinds = [type(m).__name__ for m in model.children()]
    block = ["Conv2d", "ReLU", "MaxPool2d", "BatchNorm2d"]
    assert kinds[:9] == ["Normalize", *block, *block]
    assert (model.conv1.padding, model.pool1.kernel_size, model.pool1.stride, model.pool1.padding) == ((2, 2), 3, 2, 1)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "prefix"),
    [
        ({"name": "vgg"}, "model: unknown 'vgg'; choose one of: m1, "),
        ({"activation": "gelu"}, "activation: unknown 'gelu'; choose one of: relu, softplus, elu"),
        ({"softplus_beta": 0.0}, "softplus_beta:"),
        ({"elu_alpha": -1.0}, "elu_alpha:"),
        ({"width": 0}, "width:"),
        ({"width": float("inf")}, "width:"),
        ({"batchnorm": "yes"}, "batchnorm:"),
        ({"num_classes": 0}, "num_classes:"),
        ({"in_shape": (28, 28)}, "in_shape:"),
        ({"in_shape": (1, 28, 0)}, "in_shape:"),
        ({"in_shape": (1.0, 28, 28)}, "in_shape:"),
    ],
)
def test_config_errors(kwargs: dict, prefix: str) -> None:
    args = {"name": "c1", "in_shape": CIFAR, "num_classes": 10} | kwargs
    name = args.pop("name")
    with pytest.raises(ConfigError) as info:
        build_model(name, **args)
    msg = str(info.value)
    assert msg.startswith(prefix) and "\n" not in msg
    assert isinstance(info.value, ValueError)


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_deterministic_init(name: str) -> None:
    torch.manual_seed(123)
    a = build_model(name, in_shape=MNIST, num_classes=10, width=SMALL)
    torch.manual_seed(123)
    b = build_model(name, in_shape=MNIST, num_classes=10, width=SMALL)
    torch.manual_seed(124)
    c = build_model(name, in_shape=MNIST, num_classes=10, width=SMALL)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert list(sa) == list(sb)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)

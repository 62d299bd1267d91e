"""Parameter counts against hand computations written out independently of the implementation.

Notation: conv(k, cin, cout) = k*k*cin*cout + cout (weight + bias); fc(i, o) = i*o + o;
bn(c) = 2*c (affine weight + bias; running statistics are buffers, not parameters).
Flatten sizes are worked out by hand in the comments.
"""

from __future__ import annotations

import pytest

from hessianlab.models import MODEL_NAMES, build_model, count_parameters


def conv(k: int, cin: int, cout: int, bias: bool = True) -> int:
    return k * k * cin * cout + (cout if bias else 0)


def fc(i: int, o: int) -> int:
    return i * o + o


def bn(c: int) -> int:
    return 2 * c


MNIST, CIFAR = (1, 28, 28), (3, 32, 32)

# --- M1: valid 5x5 convs, no pool. 28 -> 24 -> 20 ; 32 -> 28 -> 24
M1_MNIST = conv(5, 1, 20) + conv(5, 20, 20) + fc(20 * 20 * 20, 500) + fc(500, 10)
M1_CIFAR = conv(5, 3, 20) + conv(5, 20, 20) + fc(20 * 24 * 24, 500) + fc(500, 10)

# --- StdCNN: valid 3x3 convs. 28 -> 26 -> 24 -> MP 12 -> 10 -> 8 -> MP 4 ; 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5
STD_CONVS = lambda c: conv(3, c, 10) + conv(3, 10, 10) + conv(3, 10, 20) + conv(3, 20, 20)  # noqa: E731
STD_MNIST = STD_CONVS(1) + fc(20 * 4 * 4, 50) + fc(50, 10)
STD_CIFAR = STD_CONVS(3) + fc(20 * 5 * 5, 50) + fc(50, 10)

# --- LeNet-5: first map 28x28x6 in both cases -> MP 14 -> conv5 10 -> MP 5 : flatten 16*5*5 = 400
LENET_MNIST = conv(5, 1, 6) + conv(5, 6, 16) + fc(400, 120) + fc(120, 84) + fc(84, 10)
LENET_CIFAR = conv(5, 3, 6) + conv(5, 6, 16) + fc(400, 120) + fc(120, 84) + fc(84, 10)

# --- C1: same-padded 5x5 convs, pool 3/2/1 halves (ceil). 28 -> 14 -> 7 ; 32 -> 16 -> 8
C1_MNIST = conv(5, 1, 64) + bn(64) + conv(5, 64, 64) + bn(64) + fc(64 * 7 * 7, 384) + fc(384, 192) + fc(192, 10)
C1_CIFAR = conv(5, 3, 64) + bn(64) + conv(5, 64, 64) + bn(64) + fc(64 * 8 * 8, 384) + fc(384, 192) + fc(192, 10)

# --- C3 (Carlini-Wagner): valid 3x3. 28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4 ; 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5
CW_CONVS = lambda c: conv(3, c, 64) + conv(3, 64, 64) + conv(3, 64, 128) + conv(3, 128, 128)  # noqa: E731
C3_MNIST = CW_CONVS(1) + fc(128 * 4 * 4, 256) + fc(256, 256) + fc(256, 10)
C3_CIFAR = CW_CONVS(3) + fc(128 * 5 * 5, 256) + fc(256, 256) + fc(256, 10)
# --- C2 = C3 + BN after each of the 4 convs
C2_BN = bn(64) + bn(64) + bn(128) + bn(128)


# --- ResNets: conv without bias, BN after every conv, 1x1 projection + BN when shape changes
def block(cin: int, cout: int) -> int:
    n = conv(3, cin, cout, bias=False) + bn(cout) + conv(3, cout, cout, bias=False) + bn(cout)
    if cin != cout:
        n += conv(1, cin, cout, bias=False) + bn(cout)
    return n


def resnet18(c: int) -> int:
    stem = conv(3, c, 64, bias=False) + bn(64)
    stages = (
        block(64, 64) + block(64, 64)
        + block(64, 128) + block(128, 128)
        + block(128, 256) + block(256, 256)
        + block(256, 512) + block(512, 512)
    )
    return stem + stages + fc(512, 10)


def resnet20(c: int) -> int:
    stem = conv(3, c, 16, bias=False) + bn(16)
    stages = 3 * block(16, 16) + block(16, 32) + 2 * block(32, 32) + block(32, 64) + 2 * block(64, 64)
    return stem + stages + fc(64, 10)


# --- MLP: flatten -> 256 -> 256 -> 10
def mlp(d: int) -> int:
    return fc(d, 256) + fc(256, 256) + fc(256, 10)


EXPECTED = {
    ("m1", MNIST): M1_MNIST,
    ("m1", CIFAR): M1_CIFAR,
    ("stdcnn", MNIST): STD_MNIST,
    ("stdcnn", CIFAR): STD_CIFAR,
    ("lenet5", MNIST): LENET_MNIST,
    ("lenet5", CIFAR): LENET_CIFAR,
    ("c1", MNIST): C1_MNIST,
    ("c1", CIFAR): C1_CIFAR,
    ("s1", MNIST): C1_MNIST,
    ("s1", CIFAR): C1_CIFAR,
    ("c2", MNIST): C3_MNIST + C2_BN,
    ("c2", CIFAR): C3_CIFAR + C2_BN,
    ("c3", MNIST): C3_MNIST,
    ("c3", CIFAR): C3_CIFAR,
    ("resnet18", MNIST): resnet18(1),
    ("resnet18", CIFAR): resnet18(3),
    ("cr", MNIST): resnet20(1),
    ("cr", CIFAR): resnet20(3),
    ("mlp", MNIST): mlp(784),
    ("mlp", CIFAR): mlp(3072),
    ("logreg", MNIST): 784 * 10 + 10,
    ("logreg", CIFAR): 3072 * 10 + 10,
}


def test_every_registered_model_has_expected_counts() -> None:
    assert {name for name, _ in EXPECTED} == set(MODEL_NAMES)


@pytest.mark.parametrize(
    ("name", "shape"), [pytest.param(n, s, id=f"{n}-{'x'.join(map(str, s))}") for n, s in sorted(EXPECTED)]
)
def test_parameter_count_matches_hand_computation(name: str, shape: tuple[int, int, int]) -> None:
    model = build_model(name, in_shape=shape, num_classes=10)
    assert count_parameters(model) == EXPECTED[(name, shape)]


def test_literature_anchor_values() -> None:
    # Numbers quoted in the literature, as a cross-check of the hand formulas themselves.
    assert M1_MNIST == 4_016_050  # conv 520 + conv 10,020 + fc 4,000,500 + fc 5,010
    assert LENET_MNIST == 61_706  # the classic LeNet-5 count
    assert resnet18(3) == 11_173_962  # CIFAR ResNet-18 (kuangliu / torchsummary)
    assert resnet20(3) == 272_474  # ResNet-20 with 1x1 projection shortcuts ("0.27M")
    assert C1_CIFAR == 1_756_682


def test_mlp_on_mnist1d() -> None:
    model = build_model("mlp", in_shape=(1, 1, 40), num_classes=10)
    assert count_parameters(model) == mlp(40)


def test_count_excludes_buffers() -> None:
    model = build_model("c1", in_shape=CIFAR, num_classes=10)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert "normalize.mean" in dict(model.named_buffers())

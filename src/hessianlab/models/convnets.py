"""Plain convolutional networks of the papers: M1, StdCNN, LeNet-5, C1 (= S1), C2, C3.

Every builder returns an ``nn.Sequential`` with named layers (``normalize``, ``conv1``, ``act1``,
``bn1``, ``pool1``, ..., ``flatten``, ``fc1``, ...), so parameter names are stable
(``conv1.weight``, ``fc3.bias``) and a block Hessian can select layers by name.

Shapes: input ``(N, C, H, W)`` pixels in ``[0, 1]``; output ``(N, num_classes)`` logits (the
"SM" of the papers' tables is the softmax inside the cross-entropy loss, not a layer).

Conventions common to all builders:

* an activation (from :func:`~hessianlab.models.activations.make_activation`) follows every
  convolution and every hidden fully-connected layer, never the output layer;
* ``width`` multiplies every channel and hidden-unit count (rounded half up, at least 1); the
  output layer always has ``num_classes`` units;
* ``batchnorm=True`` on a network whose paper definition has no BatchNorm inserts
  ``BatchNorm2d`` after the activation of every convolution (conv -> act -> BN [-> pool]), the
  order of the authors' reference code (HessianFlow ``c2_model``); fully-connected layers are
  never normalised.

Sources: Kamath et al. (2019) Table 1 (M1, StdCNN, C1), which reproduces the architecture table
of Yao et al. (2018); the authors' public HessianFlow code (``models/c1.py``: ``c1_model`` and
``c2_model``); Carlini & Wagner (2017) for the C3 CIFAR network; LeCun et al. (1998) for LeNet-5;
Yao et al. (2018, ABSA) Appendix B for S1 ("AlexNet like model on SVHN as same as [C1]").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from hessianlab.models._shapes import SpatialTracker, scale_width
from hessianlab.models.normalize import Normalize

__all__ = ["build_m1", "build_stdcnn", "build_lenet5", "build_c1", "build_c2", "build_c3"]

ActFactory = Callable[[], nn.Module]


class _Stack:
    """Accumulates named layers while tracking channels and spatial size."""

    def __init__(self, model: str, in_shape: tuple[int, int, int], normalize: Normalize, *, min_hw: int) -> None:
        self.layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=normalize)
        self.shape = SpatialTracker(model, in_shape, min_hw=min_hw)
        self.channels = in_shape[0]
        self.features = 0  # flattened width once flatten() was called
        self.counts: dict[str, int] = {}

    def add(self, kind: str, module: nn.Module) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.layers[f"{kind}{self.counts[kind]}"] = module

    def conv(self, out: int, kernel: int, padding: int = 0) -> None:
        self.shape.conv(kernel, 1, padding)
        self.add("conv", nn.Conv2d(self.channels, out, kernel, stride=1, padding=padding))
        self.channels = out

    def pool(self, kernel: int, stride: int | None = None, padding: int = 0) -> None:
        stride = kernel if stride is None else stride
        self.shape.pool(kernel, stride, padding)
        self.add("pool", nn.MaxPool2d(kernel, stride=stride, padding=padding))

    def bn2d(self) -> None:
        self.add("bn", nn.BatchNorm2d(self.channels))

    def flatten(self) -> None:
        self.features = self.shape.numel(self.channels)
        self.layers["flatten"] = nn.Flatten(start_dim=1)

    def fc(self, out: int) -> None:
        self.add("fc", nn.Linear(self.features, out))
        self.features = out

    def build(self) -> nn.Sequential:
        return nn.Sequential(self.layers)


def build_m1(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "m1",
) -> nn.Sequential:
    """M1: ``Conv(5,5,20) - Conv(5,5,20) - FC(500) - SM(classes)`` (Kamath Table 1, literally).

    Layers: conv5x5x20 (valid, stride 1) -> act -> conv5x5x20 (valid) -> act -> flatten ->
    fc500 -> act -> fc(classes). No pooling: the table lists none and is consistent without it
    (28x28 -> 24x24 -> 20x20, flatten 20*20*20 = 8000 -> 500). Yao et al. call M1 "a standard
    LeNet"; the Caffe LeNet (conv20-pool-conv50-pool-fc500) differs from the table, and we follow
    the table because it is the only explicit definition both papers share. Consequence: 4.0 M
    parameters at 28x28x1, 5.8 M at 32x32x3 (the fc layer dominates).
    Default: no BatchNorm.
    """
    s = _Stack(name, in_shape, normalize, min_hw=5)
    for _ in range(2):
        s.conv(scale_width(20, width), 5)
        s.add("act", act())
        if batchnorm:
            s.bn2d()
    s.flatten()
    s.fc(scale_width(500, width))
    s.add("act", act())
    s.fc(num_classes)
    return s.build()


def build_stdcnn(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "stdcnn",
) -> nn.Sequential:
    """StdCNN (Kamath Table 1): ``Conv(3,3,10) - Conv(3,3,10) - MP(2,2) - Conv(3,3,20) -
    Conv(3,3,20) - MP(2,2) - FC(50) - Dropout(0.5) - FC(classes)``.

    Valid (unpadded) 3x3 convolutions, stride 1, each followed by the activation; max pool 2x2
    stride 2; dropout 0.5 after fc50's activation (active in train mode only, so set ``eval()``
    for a deterministic Hessian). 28x28: 26-24-12-10-8-4, flatten 20*4*4 = 320.
    32x32: 30-28-14-12-10-5, flatten 500. Default: no BatchNorm.
    """
    s = _Stack(name, in_shape, normalize, min_hw=3)
    for channels in (10, 20):
        for _ in range(2):
            s.conv(scale_width(channels, width), 3)
            s.add("act", act())
            if batchnorm:
                s.bn2d()
        s.pool(2)
    s.flatten()
    s.fc(scale_width(50, width))
    s.add("act", act())
    s.layers["dropout"] = nn.Dropout(p=0.5, inplace=False)
    s.fc(num_classes)
    return s.build()


def build_lenet5(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "lenet5",
) -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) with modern pieces.

    Layers: conv5x5x6 -> act -> maxpool2 -> conv5x5x16 (valid) -> act -> maxpool2 -> flatten ->
    fc120 -> act -> fc84 -> act -> fc(classes).

    The first convolution has padding 2 when the input is smaller than 32x32 (LeCun fed MNIST
    padded to 32x32), else 0, so 28x28 and 32x32 inputs both give the classic 28x28x6 first map
    and a 16*5*5 = 400 flatten. Departures from the 1998 network, all standard today: max pooling
    instead of trainable sub-sampling, a fully connected C3 instead of the sparse connection
    table, C5 as a linear layer (identical to a 5x5 conv on the 5x5 map), linear output instead
    of RBF units, and the factory activation instead of the scaled tanh.
    Default: no BatchNorm (``batchnorm=True``: conv -> act -> BN -> pool).
    """
    pad = 2 if min(in_shape[1], in_shape[2]) < 32 else 0
    s = _Stack(name, in_shape, normalize, min_hw=5)
    for channels, padding in ((6, pad), (16, 0)):
        s.conv(scale_width(channels, width), 5, padding=padding)
        s.add("act", act())
        if batchnorm:
            s.bn2d()
        s.pool(2)
    s.flatten()
    for hidden in (120, 84):
        s.fc(scale_width(hidden, width))
        s.add("act", act())
    s.fc(num_classes)
    return s.build()


def build_c1(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "c1",
) -> nn.Sequential:
    """C1 (Kamath Table 1 / Yao et al.): ``Conv(5,5,64) - MP(3,3) - BN - Conv(5,5,64) - MP(3,3) -
    BN - FC(384) - FC(192) - SM(classes)``; also S1 of the ABSA paper.

    This is the TensorFlow CIFAR-10 tutorial network (AlexNet-like, LRN replaced by BatchNorm):
    5x5 convolutions with 'same' padding (2), max pool 3x3 with stride 2 and padding 1 (equal to
    TF's SAME pooling: output ceil(H/2)), as in the authors' HessianFlow ``c1_model``.
    Layers: conv -> act -> pool -> BN, twice, then flatten -> fc384 -> act -> fc192 -> act ->
    fc(classes). 32x32: 32-16-8, flatten 64*8*8 = 4096; 28x28: 28-14-7, flatten 3136.
    The table's order (pool before BN) is kept; HessianFlow applies BN before the pool, which
    changes neither shapes nor the parameter count. Default: BatchNorm (``batchnorm=False``
    drops both BN layers).
    """
    s = _Stack(name, in_shape, normalize, min_hw=5)
    for _ in range(2):
        s.conv(scale_width(64, width), 5, padding=2)
        s.add("act", act())
        s.pool(3, stride=2, padding=1)
        if batchnorm:
            s.bn2d()
    s.flatten()
    for hidden in (384, 192):
        s.fc(scale_width(hidden, width))
        s.add("act", act())
    s.fc(num_classes)
    return s.build()


def _cw_cifar(
    name: str,
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
) -> nn.Sequential:
    s = _Stack(name, in_shape, normalize, min_hw=3)
    for channels in (64, 128):
        for _ in range(2):
            s.conv(scale_width(channels, width), 3)
            s.add("act", act())
            if batchnorm:
                s.bn2d()
        s.pool(2)
    s.flatten()
    for _ in range(2):
        s.fc(scale_width(256, width))
        s.add("act", act())
    s.fc(num_classes)
    return s.build()


def build_c3(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "c3",
) -> nn.Sequential:
    """C3: the Carlini & Wagner (2017) CIFAR network.

    Layers: conv3x3x64 -> act -> conv3x3x64 -> act -> maxpool2 -> conv3x3x128 -> act ->
    conv3x3x128 -> act -> maxpool2 -> flatten -> fc256 -> act -> fc256 -> act -> fc(classes).
    Valid 3x3 convolutions, stride 1. 32x32: 30-28-14-12-10-5, flatten 128*5*5 = 3200;
    28x28: 26-24-12-10-8-4, flatten 2048. C&W's dropout after the hidden fc layers is omitted
    (as in the authors' HessianFlow code) so the Hessian is deterministic in train mode.
    Default: no BatchNorm (``batchnorm=True`` gives :func:`build_c2`).
    """
    return _cw_cifar(name, in_shape, num_classes, act=act, width=width, batchnorm=batchnorm, normalize=normalize)


def build_c2(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "c2",
) -> nn.Sequential:
    """C2: C3 with BatchNorm after every convolution's activation, as in the authors'
    HessianFlow ``c2_model`` (``bn(relu(conv(x)))``, max pool 2 after the 2nd and 4th block,
    fc 128*5*5 -> 256 -> 256 -> classes on CIFAR-10).

    Yao et al.'s paper text does not spell C2 out; the reference code is the definition used.
    Default: BatchNorm (``batchnorm=False`` makes it identical to C3).
    """
    return _cw_cifar(name, in_shape, num_classes, act=act, width=width, batchnorm=batchnorm, normalize=normalize)

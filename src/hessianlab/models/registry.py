"""``build_model``: the one entry point to the model zoo.

>>> model = build_model("c1", in_shape=(3, 32, 32), num_classes=10,
...                     mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
>>> model(torch.rand(8, 3, 32, 32)).shape
torch.Size([8, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hessianlab.errors import ConfigError
from hessianlab.models import convnets, mlp, resnet
from hessianlab.models._shapes import check_in_shape
from hessianlab.models.activations import activation_factory
from hessianlab.models.normalize import Normalize

__all__ = ["ModelSpec", "MODELS", "MODEL_NAMES", "build_model", "count_parameters"]


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    Attributes:
        name: registry name.
        builder: ``builder(in_shape, num_classes, *, act, width, batchnorm, normalize, name) -> nn.Module``.
        default_batchnorm: what ``batchnorm=None`` means for this architecture.
        summary: one line for listings (``hessianlab models`` / docs).
    """

    name: str
    builder: Callable[..., nn.Module]
    default_batchnorm: bool
    summary: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("m1", convnets.build_m1, False, "Kamath/Yao M1: conv5x5x20-conv5x5x20-fc500 (valid, no pool)"),
        ModelSpec(
            "stdcnn", convnets.build_stdcnn, False, "Kamath StdCNN: 2x conv3x3x10, MP2, 2x conv3x3x20, MP2, fc50, drop"
        ),
        ModelSpec("lenet5", convnets.build_lenet5, False, "LeNet-5: conv5x5x6-MP2-conv5x5x16-MP2-fc120-fc84"),
        ModelSpec("c1", convnets.build_c1, True, "Yao/Kamath C1 (TF CIFAR-10 tutorial): 2x[conv5x5x64-MP3-BN], fc384-fc192"),
        ModelSpec("s1", convnets.build_c1, True, "ABSA S1 (SVHN): the C1 architecture"),
        ModelSpec("c2", convnets.build_c2, True, "Yao C2: Carlini-Wagner CIFAR net with BN after every conv"),
        ModelSpec(
            "c3", convnets.build_c3, False, "Yao C3: Carlini-Wagner CIFAR net: 2x conv3x3x64, MP2, 2x conv3x3x128, MP2, 2x fc256"
        ),
        ModelSpec("resnet18", resnet.build_resnet18, True, "ResNet-18, CIFAR variant (3x3 stem, no max pool)"),
        ModelSpec("cr", resnet.build_cr, True, "Yao CR: ResNet-20 for CIFAR (16/32/64 channels, 3x3 blocks)"),
        ModelSpec("mlp", mlp.build_mlp, False, "MLP: flatten-fc256-fc256 (any input shape, incl. MNIST-1D)"),
        ModelSpec("logreg", mlp.build_logreg, False, "multinomial logistic regression: flatten-fc (convex checks)"),
    )
}

#: registry names, in listing order
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def build_model(
    name: str,
    *,
    in_shape: Sequence[int],
    num_classes: int,
    activation: str = "relu",
    softplus_beta: float = 20.0,
    elu_alpha: float = 1.0,
    width: float = 1.0,
    batchnorm: bool | None = None,
    mean: float | Sequence[float] | torch.Tensor | None = None,
    std: float | Sequence[float] | torch.Tensor | None = None,
) -> nn.Module:
    """Build a freshly initialised model from the registry (float32, CPU, train mode).

    Args:
        name: one of :data:`MODEL_NAMES`.
        in_shape: ``(C, H, W)`` of one sample, e.g. ``DatasetMeta.shape``.
        num_classes: number of output logits (>= 1).
        activation: ``"relu"``, ``"softplus"`` or ``"elu"``; used for every hidden activation.
        softplus_beta: softplus sharpness (> 0).
        elu_alpha: ELU alpha (> 0).
        width: multiplier (> 0) of every channel / hidden-unit count, rounded half up, at least
            1; ``1.0`` is the paper's architecture.
        batchnorm: ``None`` = the architecture's default (BN in c1, s1, c2, resnet18, cr; none
            elsewhere); ``True`` / ``False`` forces it (see each builder's docstring for where).
        mean: per-channel input mean for the first layer :class:`Normalize` (default 0), in pixel
            units.
        std: per-channel input standard deviation for that layer (default 1), in pixel units.

    Returns:
        An ``nn.Module`` mapping ``(N, C, H, W)`` pixels in ``[0, 1]`` to ``(N, num_classes)``
        logits; its first child is the :class:`Normalize` layer (also ``model.normalize``).
        Initialisation is PyTorch's default and is deterministic given ``torch.manual_seed``.

    Raises:
        ConfigError: unknown name or activation, bad numbers, or an ``in_shape`` the
            architecture cannot take (e.g. a conv net on MNIST-1D's (1, 1, 40)).
    """
    if name not in MODELS:
        raise ConfigError(f"model: unknown {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    spec = MODELS[name]
    shape = check_in_shape(in_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes: expected a positive integer, got {num_classes!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not (math.isfinite(width) and width > 0):
        raise ConfigError(f"width: expected a finite number > 0 (1.0 = paper architecture), got {width!r}")
    if batchnorm is not None and not isinstance(batchnorm, bool):
        raise ConfigError(f"batchnorm: expected null/None (architecture default), true or false, got {batchnorm!r}")
    act = activation_factory(activation, softplus_beta, elu_alpha)
    normalize = Normalize(mean, std, channels=shape[0])
    return spec.builder(
        shape,
        num_classes,
        act=act,
        width=float(width),
        batchnorm=spec.default_batchnorm if batchnorm is None else batchnorm,
        normalize=normalize,
        name=spec.name,
    )


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (``sum(p.numel())`` over ``model.parameters()``; buffers such as
    BN running statistics and the Normalize mean/std are not counted)."""
    return sum(p.numel() for p in model.parameters())

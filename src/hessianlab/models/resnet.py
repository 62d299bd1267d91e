"""Residual networks for CIFAR-sized inputs: ResNet-18 (Kamath et al.) and CR = ResNet-20 (Yao et al.).

Both use BasicBlocks (two 3x3 convolutions) with a 1x1-convolution + BN projection shortcut
whenever the stride or the channel count changes, a 3x3 stride-1 stem without max pool, global
average pooling and one linear layer.

Forward-mode AD and ``vmap`` compatibility: activations are out-of-place and the residual sum
is ``out = out + shortcut`` (never ``+=``).

Shapes: input ``(N, C, H, W)`` pixels in ``[0, 1]``; output ``(N, num_classes)`` logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from hessianlab.models._shapes import SpatialTracker, scale_width
from hessianlab.models.normalize import Normalize

__all__ = ["BasicBlock", "CifarResNet", "build_resnet18", "build_cr"]

ActFactory = Callable[[], nn.Module]


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


class BasicBlock(nn.Module):
    """``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``.

    Shapes: ``(N, c_in, H, W) -> (N, c_out, ceil(H / stride), ceil(W / stride))``.
    Convolutions carry a bias only when BatchNorm is off (with BN the bias is redundant).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, act: ActFactory, batchnorm: bool) -> None:
        super().__init__()
        bias = not batchnorm
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = _norm(c_out, batchnorm)
        self.act1 = act()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=bias)
        self.bn2 = _norm(c_out, batchnorm)
        self.act2 = act()
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=bias), _norm(c_out, batchnorm)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return self.act2(out)


class CifarResNet(nn.Module):
    """Stem ``conv3x3(C -> w0) -> BN -> act``, stages of BasicBlocks, global average pool, linear.

    Args:
        in_shape: ``(C, H, W)``.
        num_classes: output width.
        stage_widths: channels of each stage (already width-scaled); stage ``i > 0`` starts with
            stride 2.
        blocks_per_stage: BasicBlocks in each stage.
        act: activation factory.
        batchnorm: BN after every convolution; ``False`` replaces them by ``Identity`` and gives
            the convolutions a bias.
        normalize: the input :class:`Normalize` layer (first child).
        name: registry name for error messages.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        *,
        stage_widths: Sequence[int],
        blocks_per_stage: Sequence[int],
        act: ActFactory,
        batchnorm: bool,
        normalize: Normalize,
        name: str,
    ) -> None:
        super().__init__()
        shape = SpatialTracker(name, in_shape, min_hw=3)
        self.normalize = normalize
        self.conv1 = nn.Conv2d(in_shape[0], stage_widths[0], 3, stride=1, padding=1, bias=not batchnorm)
        self.bn1 = _norm(stage_widths[0], batchnorm)
        self.act1 = act()
        shape.conv(3, 1, 1)
        c_in = stage_widths[0]
        stages = []
        for i, (c_out, blocks) in enumerate(zip(stage_widths, blocks_per_stage, strict=True)):
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(blocks):
                layers.append(BasicBlock(c_in, c_out, stride if j == 0 else 1, act=act, batchnorm=batchnorm))
                shape.conv(3, stride if j == 0 else 1, 1)
                c_in = c_out
            stages.append(nn.Sequential(*layers))
        self.layers = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(start_dim=1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` pixels in [0, 1] -> ``(N, num_classes)`` logits."""
        out = self.act1(self.bn1(self.conv1(self.normalize(x))))
        for stage in self.layers:
            out = stage(out)
        return self.fc(self.flatten(self.pool(out)))


def build_resnet18(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "resnet18",
) -> CifarResNet:
    """ResNet-18, CIFAR variant (He et al. 2016 as used by Kamath et al. and ABSA's C1/C4).

    3x3 stride-1 stem with 64 channels and no max pool, BasicBlocks [2, 2, 2, 2] with widths
    64, 128, 256, 512 (times ``width``), strides 1, 2, 2, 2, global average pool, fc(classes).
    32x32: feature maps 32-16-8-4; 28x28: 28-14-7-4. Default: BatchNorm.
    """
    widths = [scale_width(c, width) for c in (64, 128, 256, 512)]
    return CifarResNet(
        in_shape,
        num_classes,
        stage_widths=widths,
        blocks_per_stage=(2, 2, 2, 2),
        act=act,
        batchnorm=batchnorm,
        normalize=normalize,
        name=name,
    )


def build_cr(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: ActFactory,
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    name: str = "cr",
) -> CifarResNet:
    """CR: ResNet-20 for CIFAR (He et al. 2016, Sec. 4.2), the residual network of Yao et al.
    (CIFAR-100 experiments).

    The paper does not give its depth; the authors' HessianFlow ``train_resnet.py`` defaults to
    ``resnet(depth=20)`` of the bearpaw CIFAR ResNet, which is what this builds: 3x3 stem with 16
    channels, three stages of 3 BasicBlocks with widths 16, 32, 64 (times ``width``), strides 1,
    2, 2, 1x1-conv projection shortcuts (option B), global average pool (adaptive, so 28x28 works:
    28-14-7), fc(classes). Default: BatchNorm.
    """
    widths = [scale_width(c, width) for c in (16, 32, 64)]
    return CifarResNet(
        in_shape,
        num_classes,
        stage_widths=widths,
        blocks_per_stage=(3, 3, 3),
        act=act,
        batchnorm=batchnorm,
        normalize=normalize,
        name=name,
    )

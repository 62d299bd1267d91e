"""Fully-connected network for any input shape (images, MNIST-1D signals, synthetic features)."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence

from torch import nn

from hessianlab.models._shapes import scale_width
from hessianlab.models.normalize import Normalize

__all__ = ["DEFAULT_HIDDEN", "build_logreg", "build_mlp"]

#: hidden-layer sizes at ``width=1``
DEFAULT_HIDDEN: tuple[int, ...] = (256, 256)


def build_mlp(
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    act: Callable[[], nn.Module],
    width: float,
    batchnorm: bool,
    normalize: Normalize,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    name: str = "mlp",
) -> nn.Sequential:
    """MLP: normalize -> flatten -> [fc(h) -> act (-> BN1d)] for h in hidden -> fc(classes).

    ``hidden`` defaults to (256, 256), each multiplied by ``width``; ``name`` is accepted for the
    registry's uniform builder signature. Works on every
    ``(C, H, W)``, including MNIST-1D's (1, 1, 40). Default: no BatchNorm
    (``batchnorm=True`` puts ``BatchNorm1d`` after every hidden activation).

    With ``hidden=()`` it is multinomial logistic regression (registry name ``logreg``): normalize -> flatten
    -> fc1(classes), whose cross-entropy is convex in the parameters (the ABSA appendix's convex check); with
    two classes it is binary logistic regression on the logit difference, and the Hessian has a null
    direction (adding the same vector to both rows changes nothing), so it is convex but not strictly.

    Shapes: ``(N, C, H, W) -> (N, num_classes)``.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=normalize, flatten=nn.Flatten(start_dim=1))
    features = in_shape[0] * in_shape[1] * in_shape[2]
    for i, h in enumerate(hidden, start=1):
        out = scale_width(h, width)
        layers[f"fc{i}"] = nn.Linear(features, out)
        layers[f"act{i}"] = act()
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm1d(out)
        features = out
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(features, num_classes)
    return nn.Sequential(layers)


#: multinomial logistic regression: :func:`build_mlp` without hidden layers
build_logreg = functools.partial(build_mlp, hidden=())

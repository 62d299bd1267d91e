"""Model zoo behind :func:`build_model`.

Every model takes pixels in ``[0, 1]`` shaped ``(N, C, H, W)``; its first layer is
:class:`Normalize`, so epsilons are in pixel units. Output: ``(N, num_classes)`` logits.
Architectures (see each builder's docstring for the exact layer list): ``m1``, ``stdcnn``,
``lenet5``, ``c1`` (= ``s1``), ``c2``, ``c3``, ``resnet18``, ``cr`` (ResNet-20), ``mlp``, ``logreg``.
"""

from hessianlab.models.activations import ACTIVATIONS, make_activation
from hessianlab.models.normalize import Normalize
from hessianlab.models.registry import MODEL_NAMES, MODELS, ModelSpec, build_model, count_parameters

__all__ = [
    "ACTIVATIONS",
    "MODELS",
    "MODEL_NAMES",
    "ModelSpec",
    "Normalize",
    "build_model",
    "count_parameters",
    "make_activation",
]

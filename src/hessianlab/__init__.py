"""hessianlab: Hessian-based analysis of neural-network training.

Sub-packages: :mod:`hessianlab.data` (datasets), :mod:`hessianlab.models` (model zoo),
:mod:`hessianlab.training` (trainer and schedules), :mod:`hessianlab.curvature` (Hessian operators
and eigen-solvers), :mod:`hessianlab.attacks` (adversarial attacks), :mod:`hessianlab.experiments`
(run store), :mod:`hessianlab.tracking` (curvature tracking in any training loop), :mod:`hessianlab.plot`
(figures from results).

For your own loop, at the top level: ``hessianlab.Tracker`` (λ1, trace, gradient norm, λ1·lr/2 every N steps
or epochs), ``hessianlab.AdaptiveBatchSize`` and ``hessianlab.AdaptiveBatchSampler`` (ABS / ABSA), and
``hessianlab.EigenProbe`` (the eigenvalue measurement ABS checks with); they are imported on first use.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Tracker": "hessianlab.tracking.tracker",
    "AdaptiveBatchSize": "hessianlab.training.adaptive_batch",
    "AdaptiveBatchSampler": "hessianlab.training.batch_sampler",
    "EigenProbe": "hessianlab.training.eigen_probe",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hessianlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

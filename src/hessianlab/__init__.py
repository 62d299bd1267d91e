"""hessianlab: Hessian-based analysis of neural-network training.

Sub-packages: :mod:`hessianlab.data` (datasets), :mod:`hessianlab.models` (model zoo),
:mod:`hessianlab.training` (trainer and schedules), :mod:`hessianlab.curvature` (Hessian operators
and eigen-solvers), :mod:`hessianlab.attacks` (adversarial attacks), :mod:`hessianlab.experiments`
(run store).
"""

__version__ = "0.1.0"

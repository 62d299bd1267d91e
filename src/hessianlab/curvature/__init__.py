"""Curvature: Hessian operators, eigen-solvers with certificates, trace, spectral density, exact oracles.

Operators (all :class:`LinearOperator`: ``size``, ``dtype``, ``device``, ``matvec``, ``matmat``, ``settings``)::

    ParamHessian(model, loss_fn, data, *, samples='all'|N|indices, seed, chunk_size, params, mode, dtype)
        data: (x, y) tensors, a Dataset, or a re-iterable of batches (DataLoader; see hessianlab.data.source)
        loss_fn: loss(output, target) with reduction='mean', or BatchLoss(fn(model, batch)) for any batch
    GGN(...)                      generalised Gauss-Newton J^T H_loss J, same data semantics
    ResidualCurvature(H, G)       H - GGN: the network's own second-order part
    InputHessian(model, loss_fn, x, y)   per-sample input Hessians of a batch (block diagonal)
    MatrixOperator, FunctionOperator     dense matrices and callables

Solvers (pure functions returning frozen results with residuals, matvec counts and operator settings)::

    top_eigenpairs(op, k, method='lanczos'|'block'|'auto'|'power', which='LA'|'SA'|'LM', tol, v0=None)
    lanczos(op, k, ...), block_lanczos(op, k, block_size=8, ...), power_iteration(op, k, ...)
    v0 (warm start): a vector (n,), a block (n, m) or a previous EigenResult
    hutchinson_trace(op, num_samples, seed)           estimate and standard error (8 probes per pass)
    hutchpp_trace(op, num_matvecs, seed)              Hutch++: top deflated exactly, two passes
    spectral_density(op, num_probes, num_steps)       stochastic Lanczos quadrature (8 probes share a pass)

Oracles and input-space analysis::

    dense_hessian(model, loss_fn, data, ...), dense_input_hessian(model, loss_fn, x, y)
    input_top_eigenvalue(model, x, y), input_gradient(model, x, y), input_ggn(model, x, y)
    input_stats(model, data, ...)  per-sample λ1^x and ||∇x J|| summaries (Yao et al. Table 1)
    theorem1_check(model, x, y)    PSD-ness and rank of per-sample input Hessians (Theorem 1 / Prop. 2)
    model_mode(model, 'eval'|'train')  set a mode and restore every submodule's flag
"""

from hessianlab.curvature.block_lanczos import block_lanczos
from hessianlab.curvature.dense import dense_hessian, dense_input_hessian
from hessianlab.curvature.density import DensityResult, spectral_density
from hessianlab.curvature.eigs import top_eigenpairs
from hessianlab.curvature.ggn import GGN, CurvaturePair, ResidualCurvature, hessian_and_ggn
from hessianlab.curvature.hutchpp import hutchpp_trace
from hessianlab.curvature.input_hessian import (
    InputEigenResult, InputHessian, input_ggn, input_gradient, input_top_eigenvalue,
)
from hessianlab.curvature.input_stats import InputStats, Summary, Theorem1Report, input_stats, theorem1_check
from hessianlab.curvature.lanczos import lanczos
from hessianlab.curvature.losses import BatchLoss
from hessianlab.curvature.modes import model_mode
from hessianlab.curvature.operator import FunctionOperator, LinearOperator, MatrixOperator
from hessianlab.curvature.param_hessian import ParamHessian, gradient, loss, loss_and_gradient
from hessianlab.curvature.power import power_iteration
from hessianlab.curvature.results import EigenResult
from hessianlab.curvature.trace import TraceResult, hutchinson_trace

__all__ = [
    "BatchLoss", "GGN", "CurvaturePair", "DensityResult", "EigenResult", "FunctionOperator", "InputEigenResult",
    "InputHessian", "block_lanczos",
    "InputStats", "LinearOperator", "MatrixOperator", "ParamHessian", "ResidualCurvature", "Summary",
    "Theorem1Report", "TraceResult", "dense_hessian", "dense_input_hessian", "gradient", "hessian_and_ggn",
    "hutchinson_trace", "hutchpp_trace", "input_ggn", "input_gradient", "input_stats", "input_top_eigenvalue",
    "lanczos", "loss",
    "loss_and_gradient", "model_mode", "power_iteration", "spectral_density", "theorem1_check", "top_eigenpairs",
]

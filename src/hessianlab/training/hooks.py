"""Per-epoch curvature measurements for the trainer (Yao et al. Fig. 4: λ1 and gradient norm per epoch).

:class:`CurvatureHook` records, after each epoch, on a fixed seeded sample of the training set (or all of
it): the top eigenvalue λ1 of the Hessian of the mean loss (Lanczos, eval mode), its relative residual
and cost, and the norm of the full-batch gradient over the same samples. The sample is the same at every
epoch, so the trajectory compares like with like. The solve runs on the model's device; under ``torchrun`` the
samples are sharded across the ranks (see :func:`hessianlab.training.abs_schedule.probe_operator`), so each rank
computes a share of every product and all ranks record the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hessianlab.training.trainer import EpochContext


@dataclass(frozen=True)
class CurvatureHook:
    """λ1 and ||∇L|| after every epoch.

    Attributes:
        samples: ``"all"`` or the number of training samples (seeded by ``seed``, fixed across epochs).
        seed: seed of the sample choice and of the Lanczos start vector.
        tol: relative residual tolerance of λ1.
        chunk_size: samples per HVP chunk (bounds memory).
        params: optional parameter-name regex (block Hessian, e.g. the last layers).
    """

    samples: int | str = 2048
    seed: int = 0
    tol: float = 1e-3
    chunk_size: int = 1024
    params: str | None = None

    def __call__(self, ctx: EpochContext) -> dict[str, Any]:
        from hessianlab.curvature import lanczos
        from hessianlab.curvature.param_hessian import gradient
        from hessianlab.distributed import AllReduceOperator, sharded_loss_and_gradient
        from hessianlab.training.abs_schedule import probe_operator

        n = len(ctx.train)
        samples = "all" if self.samples == "all" or int(self.samples) >= n else int(self.samples)
        op = probe_operator(ctx.model, ctx.train, samples=samples, seed=self.seed, chunk_size=self.chunk_size,
                            params=self.params, dtype=torch.float32)
        grad = sharded_loss_and_gradient(op)[1] if isinstance(op, AllReduceOperator) else gradient(op)
        grad_norm = float(torch.linalg.vector_norm(grad.double()))
        result = lanczos(op, 1, which="LA", tol=self.tol, seed=self.seed)
        return {
            "lambda1": float(result.eigenvalues[0]),
            "lambda1_rel_residual": float(result.relative_residuals[0]),
            "lambda1_matvecs": int(result.num_matvecs),
            "grad_norm": grad_norm,
        }

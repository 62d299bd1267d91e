"""Per-epoch curvature measurements for the trainer (Yao et al. Fig. 4: λ1 and gradient norm per epoch).

:class:`CurvatureHook` records, after each epoch, on a fixed seeded sample of the training set (or all of
it): the top eigenvalue λ1 of the Hessian of the mean loss (Lanczos, eval mode), its relative residual
and cost, and the norm of the full-batch gradient over the same samples. It is a user of the library's
tracker: the values are :func:`hessianlab.tracking.measures.snapshot`'s, so a :class:`hessianlab.Tracker` in a
plain loop (with the same ``warm_start``) records the same numbers. The sample is the same at every
epoch, so the trajectory compares like with like. The solve runs on the model's device; under ``torchrun`` the
samples are sharded across the ranks (see :func:`hessianlab.training.eigen_probe.probe_operator`), so each rank
computes a share of every product and all ranks record the same values.

With ``warm_start`` each epoch's solve starts from the previous epoch's Ritz vector (same stopping rule, fewer
products while the top eigenvector moves little). That vector is the hook's state: the trainer checkpoints it
(:meth:`CurvatureHook.state_dict`) after every epoch, so a resumed run records exactly what an uninterrupted
one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from hessianlab.training.trainer import EpochContext

RECORDED = ("lambda1", "lambda1_rel_residual", "lambda1_matvecs", "grad_norm")  # the deterministic fields


@dataclass
class CurvatureHook:
    """λ1 and ||∇L|| after every epoch.

    Attributes:
        samples: ``"all"`` or the number of training samples (seeded by ``seed``, fixed across epochs).
        seed: seed of the sample choice and of the Lanczos start vector.
        tol: relative residual tolerance of λ1.
        chunk_size: samples per HVP chunk (bounds memory).
        params: optional parameter-name regex (block Hessian, e.g. the last layers).
        warm_start: start each solve from the previous epoch's Ritz vector (see the module docstring).
        suffix: appended to every recorded field name (``"_block"`` for a block's λ1 beside the full one).
    """

    samples: int | str = 2048
    seed: int = 0
    tol: float = 1e-3
    chunk_size: int = 1024
    params: str | None = None
    warm_start: bool = False
    suffix: str = ""
    _previous: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __call__(self, ctx: EpochContext) -> dict[str, Any]:
        from hessianlab.tracking.measures import SnapshotSettings, snapshot

        settings = SnapshotSettings(samples=self.samples, seed=self.seed, tol=self.tol, chunk_size=self.chunk_size,
                                    params=self.params)
        v0 = self._previous if self.warm_start else None
        fields, eigen = snapshot(ctx.model, ctx.train, ("lambda1", "grad_norm"), settings, v0=v0)
        if self.warm_start:
            self._previous = eigen.eigenvectors.detach().clone()
        return {key + self.suffix: fields[key] for key in RECORDED}

    def state_dict(self) -> dict[str, Any]:
        """The warm-start vector ``(P, 1)`` (``None`` when cold or before the first epoch)."""
        return {"previous": self._previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned."""
        self._previous = state["previous"]

"""ABS / ABSA as a batch-size schedule: Algorithm 1 of Yao et al. (2018) driven by the curvature engine.

:class:`AdaptiveBatchSchedule` serves the current batch size to the trainer and, after every SGD update
(:meth:`AdaptiveBatchSchedule.after_update`), checks whether the update crossed a multiple of ``every``
visited samples; if so it measures the top eigenvalue of the loss Hessian with :class:`EigenProbe` (on a
fixed seeded sample of the training set, eval mode), lets :class:`~hessianlab.training.adaptive.AdaptiveBatchRule`
decide, and appends a decision record. The records and the rule's state are part of :meth:`state_dict`,
so a resumed run continues with exactly the decisions of an uninterrupted one.

Under ``torchrun`` (a process group of several ranks, every rank calling the probe at the same update) the
probe's samples are sharded across the ranks (:func:`hessianlab.distributed.sharded_curvature`): each rank
computes its share of every Hessian-vector product and one all-reduce sums them, so the solve costs each rank
``1/P`` of the products and the eigenvalue (and the decision) is identical on every rank; it equals the
one-process eigenvalue to rounding. The probe runs on the model's device.

The LR that goes with it is ``lr_BL(epoch) * B / B_initial``
(:class:`~hessianlab.training.scaling.NoiseScaledLR`): growing the batch keeps the baseline's SGD noise
scale ``η / B`` (Smith & Le's argument in ABSA Sec. 3), as the paper's "change lr" asks. For ABSA the
adversarial ratio γ is ``AdvRatioSchedule.ratio(update, decreases)``: divided by ω at every eigenvalue
decrease event, 0 from update τ on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from hessianlab.attacks.mixing import AdvRatioSchedule
from hessianlab.training.adaptive import AdaptiveBatchRule, check_due
from hessianlab.training.schedules import ScheduleState

if TYPE_CHECKING:
    from hessianlab.curvature import ParamHessian
    from hessianlab.distributed import AllReduceOperator


@dataclass(frozen=True)
class EigenMeasurement:
    """One top-eigenvalue solve: ``value`` (loss-Hessian units), wall ``seconds``, Hessian-vector products,
    relative residual, the solver's converged flag, and ``ranks``: over how many processes the products were
    sharded (1 in a single process)."""

    value: float
    seconds: float
    matvecs: int
    rel_residual: float
    converged: bool
    ranks: int = 1


def probe_operator(model: nn.Module, data: Any, *, samples: int | str, seed: int, chunk_size: int,
                   params: str | None, dtype: torch.dtype) -> ParamHessian | AllReduceOperator:
    """The Hessian of the mean loss over ``samples`` of ``data`` (eval mode, ``dtype``, the block ``params``)
    that the trainer's probes measure: a :class:`~hessianlab.curvature.ParamHessian` in one process, the same
    operator with its samples sharded across ranks when a process group of several ranks is active (a
    collective: every rank must build it and run the same solver calls)."""
    from hessianlab.curvature import ParamHessian
    from hessianlab.distributed import current, sharded_curvature

    kw: dict[str, Any] = {"samples": samples, "seed": seed, "chunk_size": chunk_size, "params": params,
                          "mode": "eval", "dtype": dtype}
    ctx = current()
    return sharded_curvature(model, None, data, ctx=ctx, **kw) if ctx.is_distributed else ParamHessian(
        model, None, data, **kw)


@dataclass(frozen=True)
class EigenProbe:
    """Top eigenvalue of the Hessian of the mean training loss on a fixed seeded sample, eval mode.

    Attributes:
        samples: ``"all"`` or a number of training samples (capped at the training-set size); the same
            samples at every check (drawn with ``seed``).
        seed: seeds the sample choice and the solver's start vector.
        tol: relative residual tolerance of the solver.
        params: parameter-name regex for a block Hessian (e.g. the last layers), ``None`` = all parameters.
        method: ``"power"`` (largest magnitude, as PyHessian/ABSA) or ``"lanczos"`` (largest algebraic).
        chunk_size: samples per Hessian-vector-product chunk (bounds memory).
    """

    samples: int | str = 2048
    seed: int = 0
    tol: float = 1e-3
    params: str | None = None
    method: str = "lanczos"
    chunk_size: int = 1024

    def __call__(self, model: nn.Module, data: Any) -> EigenMeasurement:
        """Measure on ``model`` (its parameters now, on its device) over ``data`` (a Dataset or ``(x, y)``);
        under torchrun every rank must call it at the same point (see the module docstring)."""
        from hessianlab.curvature import lanczos, power_iteration

        started = time.perf_counter()
        n = int(data.labels.shape[0]) if hasattr(data, "labels") else int(data[1].shape[0])
        samples = "all" if self.samples == "all" or int(self.samples) >= n else int(self.samples)
        op = probe_operator(model, data, samples=samples, seed=self.seed, chunk_size=self.chunk_size,
                            params=self.params, dtype=next(model.parameters()).dtype)
        if self.method == "power":
            result = power_iteration(op, 1, tol=self.tol, seed=self.seed)
        else:
            result = lanczos(op, 1, which="LA", tol=self.tol, seed=self.seed)
        return EigenMeasurement(float(result.eigenvalues[0]), time.perf_counter() - started, int(result.num_matvecs),
                                float(result.relative_residuals[0]), bool(result.converged),
                                int(op.settings.get("world_size", 1)))


class AdaptiveBatchSchedule:
    """ABS / ABSA batch-size schedule (see module docstring).

    Args:
        rule: the decision state machine (holds the current batch size).
        every: eigenvalue frequency ``n`` in visited samples.
        probe: the eigenvalue measurement.
        gamma: ABSA's adversarial-ratio schedule, ``None`` for plain ABS.
    """

    def __init__(self, rule: AdaptiveBatchRule, every: int, probe: EigenProbe,
                 gamma: AdvRatioSchedule | None = None) -> None:
        self.rule, self.every, self.probe, self.gamma = rule, every, probe, gamma
        self.records: list[dict[str, Any]] = []
        self.eig_seconds = 0.0

    def batch_size(self, state: ScheduleState) -> int:
        """The current batch size (changes only at eigenvalue checks)."""
        return self.rule.batch_size

    def adv_ratio(self, update: int) -> float:
        """ABSA's γ before update ``update`` (0 for plain ABS)."""
        return 0.0 if self.gamma is None else self.gamma.ratio(update, self.rule.decreases)

    def after_update(self, model: nn.Module, state: ScheduleState, lr: float, *, data: Any) -> dict[str, Any] | None:
        """Called after every SGD update; runs an eigenvalue check when one is due and returns its record.

        ``state`` holds the counters *after* the update, with ``batch_size`` the number of samples the update
        consumed; ``lr`` is the LR the update used; ``data`` is the training set. The record has: ``update``
        (updates done), ``epoch`` (1-based, as in ``metrics.jsonl``), ``samples_seen``, ``eigenvalue``,
        ``previous`` / ``reference`` λ, ``batch_before`` / ``batch_size`` (after the decision), ``lr``,
        ``gamma`` (γ for the next update; ``None`` without adversarial training), ``reason``, ``saturated``,
        ``duration``, ``decreases``, ``seconds``, ``matvecs``, ``rel_residual``, ``converged``, ``eig_ranks``
        (processes the solve was sharded over).
        """
        if not check_due(state.samples_seen - state.batch_size, state.samples_seen, self.every):
            return None
        measured = self.probe(model, data)
        decision = self.rule.decide(measured.value)
        self.eig_seconds += measured.seconds
        record = {
            "update": state.update, "epoch": state.epoch + 1, "samples_seen": state.samples_seen,
            "eigenvalue": decision.eigenvalue, "previous": decision.previous, "reference": decision.reference,
            "batch_before": decision.batch_before, "batch_size": decision.batch_after, "lr": lr,
            "gamma": None if self.gamma is None else self.adv_ratio(state.update), "reason": decision.reason,
            "saturated": decision.saturated, "duration": decision.duration, "decreases": decision.decreases,
            "seconds": measured.seconds, "matvecs": measured.matvecs, "rel_residual": measured.rel_residual,
            "converged": measured.converged, "eig_ranks": measured.ranks,
        }
        self.records.append(record)
        return record

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict(), "records": [dict(r) for r in self.records],
                "eig_seconds": self.eig_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
        self.records = [dict(r) for r in state["records"]]
        self.eig_seconds = float(state["eig_seconds"])

"""ABS / ABSA for any training loop: :class:`AdaptiveBatchSize` exposes Algorithm 1's decisions.

Yao et al. (2018b), Algorithm 1: every ``every`` visited samples the top Hessian eigenvalue is measured
(:class:`~hessianlab.training.eigen_probe.EigenProbe`, on a fixed seeded sample, eval mode) and
:class:`~hessianlab.training.adaptive.AdaptiveBatchRule` decides whether the batch grows. The object holds
what a loop needs between updates:

* :attr:`AdaptiveBatchSize.batch_size`: the batch size to draw next (serve it with
  :class:`~hessianlab.training.batch_sampler.AdaptiveBatchSampler`, a DataLoader ``batch_sampler``);
* :meth:`AdaptiveBatchSize.lr`: ``base_lr * B / B_initial``, the noise-scale rule of the ABSA paper
  (exactly the trainer's :class:`~hessianlab.training.scaling.NoiseScaledLR`);
* :meth:`AdaptiveBatchSize.adv_fraction`: ABSA's adversarial fraction γ (0 for plain ABS).

Call :meth:`AdaptiveBatchSize.after_update` after every optimizer step with the number of samples it
consumed; when the step crossed a multiple of ``every`` it measures, decides, and returns the decision
record (the fields of ``decisions.jsonl``), else ``None``. hessianlab's own trainer drives the same object
(through :class:`~hessianlab.training.abs_schedule.AdaptiveBatchSchedule`), so a plain loop that draws the
same batches takes exactly the trainer's decisions. With ``warm_start=True`` each check's solve starts from
the previous check's Ritz vector (``probe(model, data, v0=...)``; the stopping rule is unchanged, so the
eigenvalue agrees with a cold solve to the probe's tolerance, in fewer Hessian-vector products when the top
eigenvector moved little between checks); the records say so in ``warm``. The state (rule, counters,
records, the warm-start vector) round-trips through :meth:`state_dict`, so a resumed loop continues with the
decisions of an uninterrupted one. ::

    abs_ = AdaptiveBatchSize(32, batch_max=1024, every=len(train_set), probe=EigenProbe(samples=256))
    loader = DataLoader(train_set, batch_sampler=AdaptiveBatchSampler(abs_, len(train_set), seed=0))
    for epoch in range(epochs):
        loader.batch_sampler.set_epoch(epoch)
        for x, y in loader:
            for group in opt.param_groups:
                group["lr"] = abs_.lr(0.01)
            ...; opt.step()
            abs_.after_update(model, train_data, samples=len(y), lr=abs_.lr(0.01), epoch=epoch)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hessianlab import atomic
from hessianlab.attacks.mixing import AdvRatioSchedule
from hessianlab.errors import ConfigError
from hessianlab.training.adaptive import AdaptiveBatchRule, check_due
from hessianlab.training.eigen_probe import EigenProbe

__all__ = ["AdaptiveBatchSize"]


class AdaptiveBatchSize:
    """Algorithm 1's state and decisions for any loop (see the module docstring).

    Args:
        batch_size: the initial batch size ``B0`` (samples).
        batch_max: ``B_max``; the batch never grows beyond it.
        every: eigenvalue-check period ``n`` in visited samples (ABSA: one epoch, the training-set size).
        probe: the eigenvalue measurement, called as ``probe(model, data)`` (``probe(model, data, v0=...)``
            with ``warm_start``); default ``EigenProbe()``.
        alpha: Algorithm 1's decrease ratio α (> 1).
        beta: Algorithm 1's batch growth factor β (> 1).
        kappa: Algorithm 1's duration κ (>= 1).
        gamma: ABSA's adversarial-ratio schedule (:class:`~hessianlab.attacks.mixing.AdvRatioSchedule`),
            ``None`` for plain ABS.
        decisions_path: when given, ``decisions.jsonl`` is rewritten there (atomically) after every check.
        warm_start: start each check's solve from the previous measurement's ``vector`` (the first check,
            and any after a probe that returned no vector, start cold).
    """

    def __init__(self, batch_size: int, *, batch_max: int, every: int, probe: Any = None, alpha: float = 2.0,
                 beta: float = 2.0, kappa: int = 10, gamma: AdvRatioSchedule | None = None,
                 decisions_path: str | Path | None = None, warm_start: bool = False) -> None:
        for name, value in (("batch_size", batch_size), ("batch_max", batch_max), ("every", every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"AdaptiveBatchSize: {name} must be a positive int, got {value!r}")
        if batch_max < batch_size:
            raise ConfigError(f"AdaptiveBatchSize: batch_max={batch_max} is below batch_size={batch_size}; "
                              "raise batch_max")
        if not (alpha > 1 and beta > 1 and kappa >= 1):
            raise ConfigError(f"AdaptiveBatchSize: need alpha > 1, beta > 1, kappa >= 1 "
                              f"(got {alpha}, {beta}, {kappa})")
        self.rule = AdaptiveBatchRule(batch_size, batch_max, alpha=alpha, beta=beta, kappa=kappa)
        self.initial_batch_size, self.every = batch_size, every
        self.probe = EigenProbe() if probe is None else probe
        self.gamma, self.decisions_path = gamma, decisions_path
        self.updates, self.samples_seen = 0, 0
        self.records: list[dict[str, Any]] = []
        self.eig_seconds = 0.0
        self.warm_start = bool(warm_start)
        self._previous: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        """The batch size to draw next (changes only at eigenvalue checks)."""
        return self.rule.batch_size

    @property
    def lr_factor(self) -> float:
        """``B / B0``, the factor on the baseline LR that keeps its noise scale ``lr / B``."""
        return self.rule.batch_size / self.initial_batch_size

    def lr(self, base_lr: float) -> float:
        """``base_lr * B / B0`` (the same arithmetic as the trainer, so the numbers agree bitwise)."""
        return base_lr * self.rule.batch_size / self.initial_batch_size

    def adv_fraction(self, update: int | None = None) -> float:
        """ABSA's γ before update ``update`` (default: the next one); 0 for plain ABS."""
        update = self.updates if update is None else update
        return 0.0 if self.gamma is None else self.gamma.ratio(update, self.rule.decreases)

    def after_update(self, model: nn.Module, data: Any, *, samples: int, lr: float,
                     epoch: int | None = None) -> dict[str, Any] | None:
        """Count one optimizer step that consumed ``samples`` samples with learning rate ``lr`` (in epoch
        ``epoch``, 0-based, for the record) and run the eigenvalue check when one is due; returns its record
        or ``None``. ``data`` is what ``probe(model, data)`` measures on (the training set)."""
        return self.observe(model, data, update=self.updates + 1, samples_seen=self.samples_seen + samples,
                            samples=samples, lr=lr, epoch=epoch)

    def observe(self, model: nn.Module, data: Any, *, update: int, samples_seen: int, samples: int, lr: float,
                epoch: int | None) -> dict[str, Any] | None:
        """:meth:`after_update` with the loop's own counters after the step (``update`` steps done,
        ``samples_seen`` visited); the trainer calls this. The record has: ``update``, ``epoch`` (1-based),
        ``samples_seen``, ``eigenvalue``, ``previous`` / ``reference`` λ, ``batch_before`` / ``batch_size``
        (after the decision), ``lr``, ``gamma`` (γ for the next update; ``None`` without adversarial
        training), ``reason``, ``saturated``, ``duration``, ``decreases``, ``seconds``, ``matvecs``,
        ``rel_residual``, ``converged``, ``eig_ranks`` (processes the solve was sharded over), ``warm`` (the
        solve started from the previous check's vector)."""
        self.updates, self.samples_seen = update, samples_seen
        if not check_due(samples_seen - samples, samples_seen, self.every):
            return None
        warm = self.warm_start and self._previous is not None
        measured = self.probe(model, data, v0=self._previous) if warm else self.probe(model, data)
        if self.warm_start:
            self._previous = None if measured.vector is None else measured.vector.detach().clone()
        decision = self.rule.decide(measured.value)
        self.eig_seconds += measured.seconds
        record = {
            "update": update, "epoch": None if epoch is None else epoch + 1, "samples_seen": samples_seen,
            "eigenvalue": decision.eigenvalue, "previous": decision.previous, "reference": decision.reference,
            "batch_before": decision.batch_before, "batch_size": decision.batch_after, "lr": lr,
            "gamma": None if self.gamma is None else self.adv_fraction(update), "reason": decision.reason,
            "saturated": decision.saturated, "duration": decision.duration, "decreases": decision.decreases,
            "seconds": measured.seconds, "matvecs": measured.matvecs, "rel_residual": measured.rel_residual,
            "converged": measured.converged, "eig_ranks": measured.ranks, "warm": warm,
        }
        self.records.append(record)
        if self.decisions_path is not None:
            self.write_decisions(self.decisions_path)
        return record

    def write_decisions(self, path: str | Path) -> Path:
        """Atomically write the decision records to ``path`` as JSON lines (the format of ``decisions.jsonl``)."""
        atomic.write_jsonl(Path(path), self.records)
        return Path(path)

    def state_dict(self) -> dict[str, Any]:
        """Rule state, counters, records, eigen-solve seconds and the warm-start vector (plain containers and
        one tensor or ``None``)."""
        return {"rule": self.rule.state_dict(), "records": [dict(r) for r in self.records],
                "eig_seconds": self.eig_seconds, "updates": self.updates, "samples_seen": self.samples_seen,
                "previous": self._previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rule.load_state_dict(state["rule"])
        self.records = [dict(r) for r in state["records"]]
        self.eig_seconds = float(state["eig_seconds"])
        self.updates, self.samples_seen = int(state.get("updates", 0)), int(state.get("samples_seen", 0))
        self._previous = state.get("previous")

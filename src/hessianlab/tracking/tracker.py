"""Track curvature in any training loop: λ1 or the top-k eigenvalues, the Hessian trace, the full-batch gradient
norm and the edge-of-stability ratio λ1·lr/2, every N steps or epochs, each value with its certificate. ::

    tracker = hessianlab.Tracker(model, (x_train, y_train), every=1, unit="epoch", samples=1024,
                                 measures=("lambda1", "trace", "grad_norm", "eos"), optimizer=opt,
                                 path="runs/mine/curvature.jsonl", tensorboard="runs/mine/tb")
    for epoch in range(epochs):
        for x, y in loader:
            ...; opt.step()
            tracker.step()          # counts steps (measures here with unit="step")
        tracker.epoch_end()         # measures every `every` epochs with unit="epoch"

Every record holds ``step`` (optimizer steps so far), ``epoch`` (epochs finished so far) and the fields of
:func:`hessianlab.tracking.measures.snapshot`. Records go to :attr:`Tracker.records`, to the JSONL file
``path`` (rewritten atomically after each record) and, when ``tensorboard`` names a folder and the
``tensorboard`` package is installed (``pip install hessianlab[tensorboard]``), to TensorBoard scalars
``hessianlab/<field>`` at ``global_step = step``.

Each measurement is taken on the same fixed seeded sample, in eval mode (the model's mode is restored), with
the parameters as they are at the call; the model is never modified. With ``warm_start=True`` each
eigen-solve starts from the previous record's Ritz vectors (``top_eigenpairs(..., v0=...)``; fewer
products when the spectrum moves slowly; the values then depend on the history to within the tolerance, so it
is off by default, matching hessianlab's trainer, whose ``--track-lambda1`` hook is this tracker's
:func:`~hessianlab.tracking.measures.snapshot`; ``--track-lambda1-warm`` is its ``warm_start``). The warm-start
vector is part of :meth:`Tracker.state_dict`, so a loop that checkpoints it resumes with the same records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hessianlab import atomic
from hessianlab.curvature.params import select_param_names
from hessianlab.errors import ConfigError
from hessianlab.tracking.measures import SnapshotSettings, check_measures, snapshot

__all__ = ["Tracker"]

UNITS = ("epoch", "step")


class Tracker:
    """Curvature records at chosen steps of any training loop (see the module docstring).

    Args:
        model: the network being trained (``model(x)`` gives the output ``loss_fn`` takes).
        data: the training data measured on: ``(x, y)`` tensors, a :class:`hessianlab.data.Dataset`, or a
            re-iterable of ``(x, y)`` batches such as a DataLoader (shuffling allowed; batches go to the model's
            device one at a time; see :func:`hessianlab.data.source.as_batches`).
        every: measure every ``every`` units.
        unit: ``"epoch"`` (count with :meth:`epoch_end`) or ``"step"`` (count with :meth:`step`).
        measures: a subset of ``("lambda1", "trace", "grad_norm", "eos")``.
        optimizer: the torch optimizer whose first parameter group's ``lr`` the ``eos`` measure reads.
        path: JSONL file of the records (``None``: memory only).
        tensorboard: folder of TensorBoard event files (``None``: none).
        warm_start: start each eigen-solve from the previous record's Ritz vectors.
        samples: ``'all'`` or a seeded number of samples of ``data`` the measures use.
        seed: seed of the sample draw, the eigen-solver start and the trace probes.
        k: how many top eigenvalues to record (``1``: λ1 only).
        method: eigen-solver of :func:`~hessianlab.curvature.eigs.top_eigenpairs`.
        tol: relative residual tolerance of the eigen-solve.
        trace_probes: Hutchinson probes of the ``trace`` measure.
        chunk_size: at most this many samples per Hessian-vector-product batch.
        params: ``None`` (all trainable parameters) or a regex selecting a parameter block.
        dtype: floating dtype of the products.
        loss_fn: ``loss_fn(output, target)`` with mean reduction, or a
            :class:`~hessianlab.curvature.losses.BatchLoss` (``None``: cross-entropy). These settings form
            the :class:`~hessianlab.tracking.measures.SnapshotSettings`.
    """

    def __init__(self, model: nn.Module, data: Any, *, every: int = 1, unit: str = "epoch",
                 measures: tuple[str, ...] | list[str] = ("lambda1", "grad_norm"),
                 optimizer: torch.optim.Optimizer | None = None, path: str | Path | None = None,
                 tensorboard: str | Path | None = None, warm_start: bool = False, samples: int | str = "all",
                 seed: int = 0, k: int = 1, method: str = "lanczos", tol: float = 1e-3, trace_probes: int = 50, chunk_size: int = 1024,
                 params: str | None = None, dtype: torch.dtype = torch.float32, loss_fn: Any = None) -> None:
        if unit not in UNITS:
            raise ConfigError(f"unit must be one of {UNITS}, got {unit!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"every must be a positive int (measure every N {unit}s), got {every!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive int, got {k!r}")
        select_param_names(model, params)  # a frozen model or a block regex that matches nothing: refused now
        self.measures = check_measures(tuple(measures))
        self.model, self.data, self.every, self.unit = model, data, every, unit
        self.optimizer, self.warm_start = optimizer, warm_start
        self.settings = SnapshotSettings(samples=samples, seed=seed, k=k, method=method, tol=tol, trace_probes=trace_probes,
                                         chunk_size=chunk_size, params=params, dtype=dtype, loss_fn=loss_fn)
        self.path = None if path is None else Path(path)
        self.steps, self.epochs = 0, 0
        self.records: list[dict[str, Any]] = []
        self._previous: torch.Tensor | None = None
        self._writer = _summary_writer(tensorboard) if tensorboard is not None else None

    def step(self) -> dict[str, Any] | None:
        """Count one optimizer step; measure when ``unit="step"`` and the count is a multiple of ``every``."""
        self.steps += 1
        return self.measure() if self.unit == "step" and self.steps % self.every == 0 else None

    def epoch_end(self) -> dict[str, Any] | None:
        """Count one finished epoch; measure when ``unit="epoch"`` and the count is a multiple of ``every``."""
        self.epochs += 1
        return self.measure() if self.unit == "epoch" and self.epochs % self.every == 0 else None

    def measure(self) -> dict[str, Any]:
        """Measure now, append the record (and write it out); returns the record."""
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else None
        v0 = self._previous if self.warm_start else None
        fields, eigen = snapshot(self.model, self.data, self.measures, self.settings, lr=lr, v0=v0)
        if eigen is not None:
            self._previous = eigen.eigenvectors.detach().clone()
        record = {"step": self.steps, "epoch": self.epochs, **fields}
        self.records.append(record)
        if self.path is not None:
            atomic.write_jsonl(self.path, self.records)
        if self._writer is not None:
            for name, value in fields.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(f"hessianlab/{name}", value, global_step=self.steps)
            self._writer.flush()
        return record

    def to_frame(self) -> Any:
        """The records as a :class:`pandas.DataFrame`, one row per record (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("to_frame() needs pandas; install it with `pip install pandas` "
                              "(or read tracker.records)") from None
        return pd.DataFrame(self.records)

    def close(self) -> None:
        """Close the TensorBoard writer (records stay available)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def state_dict(self) -> dict[str, Any]:
        """Counters, records and the warm-start vector (plain containers and tensors)."""
        return {"steps": self.steps, "epochs": self.epochs, "records": [dict(r) for r in self.records],
                "previous": self._previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned (a resumed loop keeps its records and counters)."""
        self.steps, self.epochs = int(state["steps"]), int(state["epochs"])
        self.records = [dict(r) for r in state["records"]]
        self._previous = state["previous"]


def _summary_writer(folder: str | Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("tensorboard logging needs the tensorboard package: pip install 'hessianlab[tensorboard]' "
                          "(or pass tensorboard=None)") from None
    return SummaryWriter(log_dir=str(folder))

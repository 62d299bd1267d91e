"""Per-method costs measured from a stored training run (a :class:`~hessianlab.experiments.store.RunDir`).

What is read:

* ``metrics.jsonl``: the last epoch's ``updates`` (cumulative count) and ``wall_seconds`` (cumulative);
* ``decisions.jsonl`` (written by adaptive-batch runs, one record per Hessian eigenvalue computation, each
  with its ``seconds``), if present: ``n_Hess`` is the number of records and ``T_Hess`` their mean seconds.
  A run without the file made no Hessian computations for its schedule (``n_Hess = 0``);
* the model (built from ``config.json``, no weights) for ``|θ|``, unless ``params`` is given.

Measured ``T_comp = (wall seconds - Hessian seconds) / updates``: seconds per update *on the machine that
ran it*, including the per-epoch evaluation and any measurement hooks, so it is an upper bound of the pure
SGD step; pass ``t_comp`` to replace it (e.g. by a per-GPU figure for the simulated cluster). ``T_comm``
follows from ``|θ|``, ``procs`` and the network by eq. (14).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hessianlab.errors import DataError
from hessianlab.experiments.store import DECISIONS, RunDir
from hessianlab.simulate.cost import DEFAULT_NETWORK, MethodCosts, Network, allreduce_seconds

__all__ = ["costs_from_run"]

logger = logging.getLogger(__name__)


def _hessian_seconds(run: RunDir) -> list[float]:
    """Seconds of each Hessian computation in the run's decision records (empty without ``decisions.jsonl``)."""
    if not (run.path / DECISIONS).is_file():
        logger.info("%s: no %s, so no Hessian computations are counted for this run", run.path, DECISIONS)
        return []
    try:
        return [float(record["seconds"]) for record in run.decisions()]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise DataError(f"{run.path / DECISIONS}: a line is not a decision record with 'seconds'; "
                        f"rerun the training or pass --t-hess") from None


def costs_from_run(path: str | Path, procs: int, *, network: Network = DEFAULT_NETWORK, params: int | None = None,
                   t_comp: float | None = None, t_hess: float | None = None) -> MethodCosts:
    """The :class:`MethodCosts` of the run in ``path`` on ``procs`` simulated processes.

    Args:
        path: run directory (``config.json`` + ``metrics.jsonl``).
        procs: p, the number of processes the all-reduce spans.
        network: interconnect of eq. (14).
        params: |θ|; default the run's model's parameter count.
        t_comp: seconds per update replacing the measured value.
        t_hess: seconds per Hessian computation replacing the measured mean.

    Raises:
        StoreError: ``path`` is not a run directory. DataError: no finished epoch, or unreadable records.
    """
    run = RunDir.open(Path(path))
    metrics = run.metrics()
    if not metrics or "updates" not in metrics[-1]:
        raise DataError(f"{run.path}: no finished epoch with an 'updates' count; train it first")
    updates = int(metrics[-1]["updates"])
    hess = _hessian_seconds(run)
    if params is None:
        params = sum(p.numel() for p in run.build_model().parameters() if p.requires_grad)
    how = "given"
    if t_comp is None:
        wall = metrics[-1].get("wall_seconds")
        if updates == 0 or wall is None:
            raise DataError(f"{run.path}: no updates or no 'wall_seconds' recorded, so seconds per update are "
                            f"unknown; pass --t-comp")
        t_comp, how = max(float(wall) - sum(hess), 0.0) / updates, "measured"
    measured_hess = sum(hess) / len(hess) if hess else 0.0
    log = DECISIONS if (run.path / DECISIONS).is_file() else f"no {DECISIONS}"
    source = (f"{run.path}: {updates} updates, {len(hess)} Hessian computations ({log}), |θ| = {params}, "
              f"p = {procs}; T_comp {how}")
    return MethodCosts(name=run.path.name, updates=updates, t_comp=t_comp,
                       t_comm=allreduce_seconds(params, procs, network),
                       t_hess=measured_hess if t_hess is None else t_hess, n_hess=len(hess), source=source)

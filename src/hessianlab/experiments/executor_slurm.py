"""``--executor slurm``: jobs submitted to Slurm through submitit (``slurm:local``: submitit's local processes).

Every training run and every run's analyses are one Slurm job running
:func:`~hessianlab.experiments.remote.run_job` (pickled by submitit into ``DIR/slurm/``, with its logs); the
jobs ready at one moment go out as one job array (``array_parallelism`` of them at a time). Resources come
from :class:`~hessianlab.experiments.execution.Execution`: ``partition``, ``time_min``, ``cpus`` (cpus per task
and torch threads), ``gpus`` (per node), ``mem_gb``, ``account``, ``qos``, ``constraint``. A run with
``init_from`` is submitted when its source's job has finished (the driver holds it back, as the local pool
does). Jobs never open the catalog; the driver indexes their run folders.

Slurm jobs outlive a killed driver, so the ids of submitted jobs are kept in ``DIR/slurm/jobs.json``; the
next invocation cancels those still queued or running (``scancel``) before it resumes the sweep, so no run
is ever trained by two jobs at once. ``slurm:local`` jobs are child processes that exit with the driver.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from hessianlab import atomic
from hessianlab.errors import ConfigError
from hessianlab.experiments.execution import Execution
from hessianlab.experiments.pool import Dependencies, Gate, Outcome, broken
from hessianlab.experiments.remote import require, run_job

log = logging.getLogger(__name__)
JOBS_FILE = "jobs.json"


class SlurmExecutor:
    """Submits jobs with submitit and polls them; see the module docstring."""

    def __init__(self, execution: Execution, folder: Path) -> None:
        self.submitit = require("submitit")
        self.local = execution.address == "local"
        if not self.local and shutil.which("sbatch") is None:
            raise ConfigError("--executor slurm: sbatch is not on PATH; run from a Slurm login node, or try the same "
                              "jobs as local processes with --executor slurm:local")
        self.execution = execution
        self.folder = Path(folder)
        self.poll_seconds = 0.2 if self.local else 10.0
        self.executor: Any = None

    def __enter__(self) -> "SlurmExecutor":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._cancel_leftovers()
        e = self.execution
        self.executor = self.submitit.AutoExecutor(folder=self.folder, cluster="local" if self.local else "slurm")
        params: dict[str, Any] = {"name": "hessianlab", "timeout_min": e.time_min, "cpus_per_task": e.cpus,
                                  "gpus_per_node": int(e.gpus), "slurm_array_parallelism": e.array_parallelism}
        if e.mem_gb is not None:
            params["mem_gb"] = e.mem_gb
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(e, key) is not None:
                params[f"slurm_{key}"] = getattr(e, key)
        self.executor.update_parameters(**params)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.executor = None

    def map(self, fn: Callable[..., Outcome], args: Sequence[tuple[Any, ...]], *,
            after: Mapping[str, str] | None = None, gate: Gate | None = None) -> Iterator[Outcome]:
        """Outcomes of ``fn(*a)`` for every ``a`` as the jobs finish (``after``/``gate`` as in the local pool)."""
        order = Dependencies(args, after, gate)
        parent = os.getpid() if self.local else None
        running: dict[Any, tuple[Any, ...]] = {}
        while order.ready or running:
            if order.ready:
                batch = list(order.ready)
                order.ready.clear()
                with self.executor.batch():
                    submitted = [self.executor.submit(run_job, fn, self.execution.cpus, a, parent) for a in batch]
                running.update(zip(submitted, batch))
                self._record(running)
            finished = [job for job in running if job.done()]
            if not finished:
                time.sleep(self.poll_seconds)
                continue
            for job in finished:
                a = running.pop(job)
                outcome = self._result(job, fn, a)
                yield outcome
                yield from order.settle(outcome)
            self._record(running)

    def _result(self, job: Any, fn: Callable[..., Outcome], a: tuple[Any, ...]) -> Outcome:
        try:
            return job.result()
        except Exception as exc:  # noqa: BLE001 - killed, timed out or lost: reported, the sweep goes on
            lines = str(exc).strip().splitlines()
            log.warning("job %s (%s) did not complete: %s", a[0], job.job_id, lines[0] if lines else exc)
            return broken(fn, a, f"job {job.job_id}: {type(exc).__name__}: {lines[0][:200] if lines else ''}")

    def _record(self, running: dict[Any, tuple[Any, ...]]) -> None:
        """``jobs.json``: the ids of the Slurm jobs this driver still waits for."""
        if not self.local:
            atomic.write_json(self.folder / JOBS_FILE, {"jobs": sorted(str(job.job_id) for job in running)})

    def _cancel_leftovers(self) -> None:
        """Cancel the jobs a killed earlier driver left queued or running (Slurm only)."""
        file = self.folder / JOBS_FILE
        if self.local or not file.is_file():
            return
        ids = atomic.read_json(file).get("jobs", [])
        if ids:
            log.info("cancelling %d Slurm jobs of an earlier invocation: %s", len(ids), " ".join(ids))
            subprocess.run(["scancel", *ids], check=False, capture_output=True)
        atomic.write_json(file, {"jobs": []})

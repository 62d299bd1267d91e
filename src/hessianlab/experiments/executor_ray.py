"""``--executor ray[:ADDRESS]``: one Ray task per training run and per analysis, with declared resources.

Each task asks for ``execution.cpus`` CPUs and ``execution.gpus`` GPUs (Ray places it on a node that has
them) and uses that many torch threads. A run with ``init_from`` is a task that takes its source's task as an
argument, so Ray starts it only after the source finished; the runner's gate then decides in the task whether
it trains (a diverged or failed source blocks it, as in the local pool). The analyses of one run are a chain
of tasks (each depends on the one before, so two never write the run's ``results.json`` at once); the chains
of different runs run in parallel. A task whose worker dies is retried ``execution.retries`` times (training
resumes from its checkpoint); after that it is reported failed, and a rerun of the sweep completes it.

All tasks of a ``map`` are submitted at once; outcomes are yielded as tasks finish. Tasks only write run
folders (catalog writes disabled, :func:`~hessianlab.experiments.remote.run_job`), so the output folder must be
on a filesystem every node shares.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable, Iterator, Mapping, Sequence

from hessianlab.errors import ConfigError
from hessianlab.experiments import jobs
from hessianlab.experiments.execution import Execution
from hessianlab.experiments.pool import Gate, Outcome, broken
from hessianlab.experiments.remote import require, run_job

log = logging.getLogger(__name__)
_FORWARDED_ENV = ("HESSIANLAB_DATA", "HESSIANLAB_DEVICE")


def _task(fn: Callable[..., Outcome], threads: int, a: tuple[Any, ...], source: Outcome | None,
                gate: Gate | None) -> Outcome:
    """Worker side of a job: the gate on the source's outcome (Ray resolved it), then the job itself."""
    if source is not None and gate is not None:
        instead = gate(a, source)
        if instead is not None:
            return instead
    return run_job(fn, threads, a)


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` address must accept a TCP connection within 5 s (``ray.init`` would wait much longer)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--executor ray:{address}: expected ray:HOST:PORT or ray:auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"--executor ray:{address}: cannot reach a Ray cluster there ({exc.strerror or exc}); "
                          "start one with 'ray start --head' or check the address") from None


class RayExecutor:
    """Connects to (or starts) a Ray cluster on entry and disconnects on exit; see the module docstring."""

    def __init__(self, execution: Execution) -> None:
        self.ray = require("ray")
        self.execution = execution

    def __enter__(self) -> "RayExecutor":
        address = self.execution.address
        if address is not None and address != "auto":
            _check_reachable(address)
        env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
        try:
            # plain ``ray`` is a private instance ("local"), never a cluster that ``ray start`` left behind
            self.ray.init(address=address or "local", runtime_env={"env_vars": env} if env else None,
                          logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"ray:{address}" if address else "ray"
            raise ConfigError(f"--executor {where}: could not connect to Ray ({' '.join(str(exc).split())[:200]}); "
                              "start a cluster with 'ray start --head' or check the address") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        self.ray.shutdown()

    def _options(self) -> dict[str, Any]:
        return {"num_cpus": self.execution.cpus, "num_gpus": self.execution.gpus,
                "max_retries": self.execution.retries, "retry_exceptions": False}

    def map(self, fn: Callable[..., Outcome], args: Sequence[tuple[Any, ...]], *,
            after: Mapping[str, str] | None = None, gate: Gate | None = None) -> Iterator[Outcome]:
        """Outcomes of ``fn(*a)`` for every ``a`` as the tasks finish (``args`` in dependency order)."""
        task = self.ray.remote(_task).options(**self._options())
        threads = self.execution.cpus
        if fn is jobs.analysis_job:
            yield from self._analyses(task, threads, args)
            return
        after = dict(after or {})
        refs: dict[str, Any] = {}
        pending: dict[Any, tuple[Any, ...]] = {}
        for a in args:
            source = refs.get(after.get(a[0], ""))
            refs[a[0]] = task.remote(fn, threads, a, source, gate if source is not None else None)
            pending[refs[a[0]]] = a
        while pending:
            (ref,), _ = self.ray.wait(list(pending), num_returns=1)
            a = pending.pop(ref)
            yield self._get(ref, fn, a)

    def _analyses(self, task: Any, threads: int, args: Sequence[tuple[Any, ...]]) -> Iterator[Outcome]:
        """One task per analysis, chained per run; one merged outcome per run when its chain is done."""
        chains: dict[Any, list[tuple[Any, tuple[Any, ...]]]] = {}
        for name, folder, todo, context in args:
            chain, previous = [], None
            for item in todo:
                one = (name, folder, [item], context)
                previous = task.remote(jobs.analysis_job, threads, one, previous, None)
                chain.append((previous, one))
            chains[previous] = chain
        while chains:
            (last,), _ = self.ray.wait(list(chains), num_returns=1)
            merged: Outcome = {}
            for ref, one in chains.pop(last):
                outcome = self._get(ref, jobs.analysis_job, one)
                merged = {**outcome, "analyses": {**merged.get("analyses", {}), **outcome["analyses"]}}
            yield merged

    def _get(self, ref: Any, fn: Callable[..., Outcome], a: tuple[Any, ...]) -> Outcome:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("job %s: %s", a[0], first)
            return broken(fn, a, f"{type(exc).__name__}: {first[:200]}")

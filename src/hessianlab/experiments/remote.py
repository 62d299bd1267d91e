"""Executors beyond the local pool: the factory, the missing-extra check and the job wrapper run on workers.

Every executor has the :class:`~hessianlab.experiments.pool.Pool` interface (a context manager with
``map(fn, args, after=..., gate=...)`` yielding outcome dicts). Remote workers (Ray, Slurm) run each
job through :func:`run_job`: ``threads`` torch threads and no catalog writes (they may sit on another machine
with the output folder on a network filesystem); the driver indexes their run folders instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from hessianlab.errors import ConfigError
from hessianlab.experiments.catalog import writes_disabled
from hessianlab.experiments.execution import Execution
from hessianlab.experiments.jobs import init_worker
from hessianlab.experiments.pool import Pool

EXTRAS = {"ray": "ray", "submitit": "slurm"}


def require(module: str) -> ModuleType:
    """Import an optional engine, or a one-line :class:`ConfigError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS[module]
        raise ConfigError(f"--executor {extra}: the Python package {module!r} is not installed; install the extra "
                          f"with: pip install 'hessianlab[{extra}]'") from None


def open_executor(execution: Execution, workers: int, out: Path) -> Any:
    """The executor for ``execution`` (``out``: the sweep's output folder, for Slurm's job files)."""
    if execution.kind == "ray":
        from hessianlab.experiments.executor_ray import RayExecutor

        return RayExecutor(execution)
    if execution.kind == "slurm":
        from hessianlab.experiments.executor_slurm import SlurmExecutor

        return SlurmExecutor(execution, out / "slurm")
    return Pool(workers)


def run_job(fn: Callable[..., dict[str, Any]], threads: int, args: tuple[Any, ...],
            parent_pid: int | None = None) -> dict[str, Any]:
    """Run job ``fn(*args)`` on a remote worker with ``threads`` torch threads, the tuned allocator
    (:mod:`hessianlab.allocator`) and catalog writes disabled.

    With ``parent_pid`` the process exits as soon as that process (the driver, an ancestor) is gone, as the
    local pool's workers do.
    """
    init_worker(threads, parent_pid, direct=False)
    with writes_disabled():
        return fn(*args)

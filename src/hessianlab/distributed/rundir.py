"""Run folders under data-parallel training: rank 0 writes, every rank reads.

Rank 0 creates (or reopens) the run folder; the other ranks wait at a barrier, then open it and get a
:class:`FollowerRun`, which passes every read (config, data meta, checkpoint, metrics) through and skips
every write. Writers are recognised by the run store's naming convention: a method that writes is called
``save_*``, ``write_*``, ``set_*`` or ``append_*``. So all ranks load the same checkpoint on resume, and
the files are written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hessianlab.distributed.context import DistContext, barrier
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig

WRITER_PREFIXES = ("save_", "write_", "set_", "append_")


def _skip(*args: Any, **kwargs: Any) -> None:
    """A write on a rank other than 0: nothing happens."""
    del args, kwargs


class FollowerRun:
    """A :class:`RunDir` seen from a rank other than 0: reads pass through, writes are skipped."""

    def __init__(self, run: RunDir) -> None:
        self._run = run

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._run, name)
        return _skip if name.startswith(WRITER_PREFIXES) and callable(value) else value


def open_run_for_rank(out: Path, config: TrainConfig, data_meta: dict[str, Any],
                      ctx: DistContext) -> RunDir | FollowerRun:
    """Rank 0: :meth:`RunDir.create`; other ranks: after rank 0 is done, a :class:`FollowerRun` of it.

    A rank-0 failure (e.g. a folder holding another config) ends the launch: torchrun stops the ranks
    waiting at the barrier.
    """
    run = RunDir.create(out, config, data_meta) if ctx.is_main else None
    barrier(ctx)
    return run if run is not None else FollowerRun(RunDir.open(out))

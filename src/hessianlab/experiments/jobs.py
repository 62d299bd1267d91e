"""The two jobs a sweep runs, in the runner's process or in a worker process: train one run, analyse one run.

Jobs never raise, except for a full or read-only disk (:data:`STOP_SWEEP`, which every run would hit): a
failure becomes a returned outcome (and, for training, ``status.json`` = ``failed``
with the error message), so one bad run never stops a sweep. Workers split the machine's cores
(:func:`init_worker`) and exit when the runner dies (``kill -9`` included), so a rerun never races an
orphan. A job holds its run folder's lock (:mod:`hessianlab.experiments.lock`); a run another process holds
is skipped (train status ``busy``, analyses ``skipped: busy ...``), not done twice.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from hessianlab.allocator import tune_allocator
from hessianlab.experiments.analyses import ANALYSES, AnalysisContext
from hessianlab.experiments.lock import RunBusy, run_lock
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig

log = logging.getLogger(__name__)
FINAL = ("finished", "diverged")
STOP_SWEEP = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # faults of the machine, not of one run: they stop a sweep


def init_worker(threads: int, parent_pid: int | None, *, direct: bool = True) -> None:
    """Worker set-up (the local pool's initialiser, and every remote job's): ``threads`` torch threads, the
    tuned allocator (:mod:`hessianlab.allocator`), and exit as soon as process ``parent_pid`` is gone (see
    :func:`watch_parent` for ``direct``; ``None``: no watch)."""
    import torch

    tune_allocator()
    torch.set_num_threads(max(1, int(threads)))
    if parent_pid is not None:
        watch_parent(parent_pid, direct=direct)


def watch_parent(parent_pid: int, *, direct: bool = True) -> None:
    """Exit this process (status 1) within half a second of process ``parent_pid`` ceasing to be its parent
    (``direct=False``: ceasing to exist, for an ancestor further up, e.g. the driver of a job controller)."""

    def alive() -> bool:
        if direct:
            return os.getppid() == parent_pid
        try:
            os.kill(parent_pid, 0)
            return Path(f"/proc/{parent_pid}/stat").read_text().split(") ")[-1][:1] != "Z"
        except OSError:
            return False

    def watch() -> None:
        while alive():
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_status(folder: Path) -> str | None:
    """The status in ``folder/status.json``; ``None`` without a run there (``created`` if half-created)."""
    if not (folder / "config.json").is_file():
        return None
    run = RunDir.open(folder)
    return run.status.get("status", "created") if (folder / "status.json").is_file() else "created"


def train_job(name: str, config: dict[str, Any], folder: str, device: str | None = None) -> dict[str, Any]:
    """Train (or resume) ``config`` in ``folder`` on ``device`` (see :mod:`hessianlab.device`); returns
    ``{name, stage, status, reason}``."""
    from hessianlab.training.factory import load_splits, meta_to_dict
    from hessianlab.training.trainer import train

    run = None
    try:
        cfg = TrainConfig.from_dict(config)
        train_data, test_data = load_splits(cfg)
        with run_lock(Path(folder)):
            run = RunDir.create(Path(folder), cfg, meta_to_dict(train_data.meta))
            result = train(cfg, run, train_data, test_data, resume=True, device=device)
        return {"name": name, "stage": "train", "status": result.status, "reason": result.reason}
    except RunBusy as exc:
        return {"name": name, "stage": "train", "status": "busy", "reason": f"{exc}"}
    except OSError as exc:
        if exc.errno in STOP_SWEEP:
            raise  # the disk is full or read-only for every run: the sweep stops with one line (rerun resumes)
        return _failed(name, run, exc)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded, the sweep goes on
        return _failed(name, run, exc)


def _failed(name: str, run: RunDir | None, exc: Exception) -> dict[str, Any]:
    message = f"{type(exc).__name__}: {exc}"
    log.warning("run %s failed: %s", name, message)
    if run is not None:
        run.set_status("failed", message)
    return {"name": name, "stage": "train", "status": "failed", "reason": message}


def analysis_job(name: str, folder: str, todo: list[tuple[str, str, dict[str, Any]]],
                 context: AnalysisContext) -> dict[str, Any]:
    """Run the analyses ``[(id, kind, params)]`` on the run in ``folder``; returns ``{name, stage, analyses}``
    where ``analyses[id]`` is ``"done"`` or ``"failed: <error>"``."""
    try:
        with run_lock(Path(folder)):
            return _analyse(name, folder, todo, context)
    except RunBusy as exc:
        return {"name": name, "stage": "analyse", "analyses": {aid: f"skipped: busy ({exc})" for aid, _, _ in todo}}


def _analyse(name: str, folder: str, todo: list[tuple[str, str, dict[str, Any]]],
             context: AnalysisContext) -> dict[str, Any]:
    outcomes: dict[str, str] = {}
    try:
        run = RunDir.open(Path(folder))
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "stage": "analyse", "analyses": {aid: f"failed: {exc}" for aid, _, _ in todo}}
    for aid, kind, params in todo:
        try:
            ANALYSES[kind](run, dict(params), context)
            outcomes[aid] = "done"
        except Exception as exc:  # noqa: BLE001 - a failing analysis is recorded, the others go on
            if isinstance(exc, OSError) and exc.errno in STOP_SWEEP:
                raise
            outcomes[aid] = f"failed: {type(exc).__name__}: {exc}"
            log.warning("run %s, analysis %s failed: %s", name, aid, exc)
    return {"name": name, "stage": "analyse", "analyses": outcomes}

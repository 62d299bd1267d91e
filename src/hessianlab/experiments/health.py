"""Check and repair run folders and catalogs (``hessianlab runs DIR --check`` / ``--repair``).

The checkpoint is the source of truth of a run: it holds the model, the optimizer, the schedules and the
whole metric history. So every other file of a run folder can be re-derived from it, bit for bit:

=====================================  =================================================================
damage                                 repair
=====================================  =================================================================
``metrics.jsonl`` cut, corrupt, or     rewrite it from the checkpoint's history
not the checkpoint's history
``decisions.jsonl`` (ABS/ABSA) idem    rewrite it from the checkpoint's batch schedule
``status.json`` or ``model.pt``        finish the stopped run again from the checkpoint (model and
corrupt, missing or stale              status as the trainer writes them)
``checkpoint.pt`` corrupt              remove the run's training files; the next ``run``/``train
                                       --resume`` retrains it from epoch 0 (training is deterministic)
``results.json`` corrupt               rebuild it from the catalog when it is sound, else remove it (the
                                       next ``run`` recomputes the analyses)
``catalog.sqlite`` corrupt             rebuild it from the run folders
``config.json`` corrupt                none: the run's identity is lost; delete the folder and rerun
=====================================  =================================================================

:func:`check` lists the :class:`Damage` below a folder without changing anything; :func:`repair` mends it.
Both hold each run folder's lock (:mod:`hessianlab.experiments.lock`) and pass over a run another process is
training (one warning).
:func:`heal_sweep` is the cheap subset ``hessianlab run`` applies on its own before it plans a sweep.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hessianlab import atomic
from hessianlab.errors import StoreError
from hessianlab.experiments.catalog import CATALOG_FILES, CATALOG_NAME, Catalog
from hessianlab.experiments.lock import RunBusy, run_lock
from hessianlab.experiments.store import (
    CHECKPOINT, CONFIG, DECISIONS, METRICS, MODEL, RESULTS, STATUS, RunDir, reindex,
)

log = logging.getLogger(__name__)
FINAL = ("finished", "diverged")
_TRAINING_FILES = (CHECKPOINT, MODEL, METRICS, DECISIONS, STATUS)


@dataclass(frozen=True)
class Damage:
    """One damaged file: ``path`` (a run folder or a catalog), what is wrong and what ``--repair`` does.

    ``action``: ``logs`` | ``finish`` | ``retrain`` | ``results`` | ``catalog`` | ``none`` (cannot repair).
    """

    path: Path
    problem: str
    action: str
    repair: str


def _read(file: Path) -> tuple[str | None, str | None]:
    """``(text, None)``, ``(None, None)`` when missing, or ``(None, why)`` when unreadable as text."""
    if not file.exists():
        return None, None
    try:
        return file.read_text(), None
    except UnicodeDecodeError:
        return None, "not text"


def _json_problem(file: Path) -> str | None:
    text, why = _read(file)
    if why is not None:
        return why
    if text is None:
        return "missing"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"corrupt JSON ({exc.msg})"
    return None


def _log_problem(file: Path, expected: str) -> str | None:
    """How the JSONL ``file`` differs from the text the checkpoint gives, or ``None`` when equal."""
    text, why = _read(file)
    if why is not None:
        return why
    text = text or ""
    if text == expected:
        return None
    have, want = text.count("\n"), expected.count("\n")
    if text and not text.endswith("\n"):
        return f"last line cut ({have} complete of {want} records)"
    if have != want:
        return f"{have} records, the checkpoint holds {want}"
    return "records differ from the checkpoint's"


def check_run(folder: Path, *, catalog_sound: bool = True) -> list[Damage]:
    """The damage of the run folder ``folder`` (see the module docstring); ``[]`` when it is sound."""
    folder = Path(folder)
    if (problem := _json_problem(folder / CONFIG)) is not None:
        return [Damage(folder, f"{CONFIG}: {problem}", "none", "cannot repair: delete the folder and rerun")]
    found = []
    if (folder / RESULTS).exists() and (problem := _json_problem(folder / RESULTS)) is not None:
        how = "rebuild it from the catalog" if catalog_sound else "remove it (the next run recomputes the analyses)"
        found.append(Damage(folder, f"{RESULTS}: {problem}", "results", how))
    if not (folder / CHECKPOINT).exists():
        return found
    try:
        ckpt = atomic.load_tensors(folder / CHECKPOINT)
    except StoreError:
        return found + [Damage(folder, f"{CHECKPOINT}: corrupt", "retrain",
                               "remove the training files; the run retrains from epoch 0")]
    state = ckpt["state"]
    for name, records in ((METRICS, state["history"]), (DECISIONS, ckpt["batch_schedule"].get("records"))):
        if records is not None and (problem := _log_problem(folder / name, atomic.jsonl_text(records))) is not None:
            found.append(Damage(folder, f"{name}: {problem}", "logs", f"rewrite {name} from {CHECKPOINT}"))
    if state["stopped"] is not None:
        problem = _json_problem(folder / STATUS)
        if problem is None and json.loads((folder / STATUS).read_text()).get("status") not in FINAL:
            problem = "says the run is unfinished"
        if problem is None and not _loads(folder / MODEL):
            problem = f"{MODEL} missing or corrupt"
        if problem is not None:
            found.append(Damage(folder, f"{STATUS}/{MODEL}: {problem}", "finish",
                                f"write {MODEL} and {STATUS} from {CHECKPOINT}"))
    return found


def _loads(file: Path) -> bool:
    try:
        atomic.load_tensors(file)
    except StoreError:
        return False
    return True


def run_folders(root: Path) -> list[Path]:
    """Every run folder below ``root`` (a folder with ``config.json``), ``root`` itself included."""
    return sorted(cfg.parent for cfg in Path(root).rglob(CONFIG)
                  if not any(p.startswith(".") for p in cfg.parent.relative_to(root).parts))


def catalog_roots(root: Path) -> list[Path]:
    """Every folder below ``root`` holding a ``catalog.sqlite``."""
    return sorted(db.parent for db in Path(root).rglob(CATALOG_NAME))


def check(root: Path) -> list[Damage]:
    """Every damaged catalog and run folder below ``root``."""
    found = [Damage(r / CATALOG_NAME, problem, "catalog", "rebuild it from the run folders")
             for r in catalog_roots(root) if (problem := Catalog(r).check()) is not None]
    bad_catalogs = {d.path.parent for d in found}
    for folder in run_folders(root):
        try:
            with run_lock(folder):  # a run another process trains is between writes: not checked now
                found += check_run(folder, catalog_sound=folder.parent not in bad_catalogs)
        except RunBusy:
            log.warning("%s: in use by another process; not checked", folder)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            found += check_run(folder, catalog_sound=folder.parent not in bad_catalogs)  # read-only to us: no lock
    return found


def repair(root: Path, damage: list[Damage]) -> None:
    """Mend ``damage`` (from :func:`check` of ``root``): corrupt catalogs are set aside first, run folders
    repaired, then those catalogs rebuilt from the run folders."""
    rebuild = [d.path.parent for d in damage if d.action == "catalog"]
    for catalog_root in rebuild:  # runs repaired below write to a fresh catalog
        for name in CATALOG_FILES:
            (catalog_root / name).unlink(missing_ok=True)
    for d in damage:
        try:
            with run_lock(d.path) if d.action != "catalog" else contextlib.nullcontext():
                if d.action != "catalog":
                    _repair_run(d)
        except RunBusy:
            log.warning("%s: in use by another process; not repaired", d.path)
            continue
        log.info("%s: %s -> %s", d.path, d.problem, d.repair)
    for catalog_root in rebuild:
        reindex(catalog_root)


def _repair_run(d: Damage) -> None:
    folder = d.path
    if d.action == "none":
        return
    if d.action == "retrain":
        for name in _TRAINING_FILES:
            (folder / name).unlink(missing_ok=True)
        RunDir(folder).set_status("created")
        return
    run = RunDir(folder)
    if d.action == "results":
        try:
            rows = list(run.catalog.results(run.run_id))  # a corrupt catalog was set aside: no rows
        except StoreError:
            rows = []
        (folder / RESULTS).unlink(missing_ok=True)
        for row in rows:
            run.write_result(row["kind"], row["key"], row["payload"])
        return
    ckpt = atomic.load_tensors(folder / CHECKPOINT)
    if d.action == "logs":
        run.write_metrics(ckpt["state"]["history"])
        if ckpt["batch_schedule"].get("records") is not None:
            run.write_decisions(ckpt["batch_schedule"]["records"])
    elif d.action == "finish":
        from hessianlab.training.trainer import finish_from_checkpoint

        finish_from_checkpoint(run, ckpt)


def heal_sweep(runs_root: Path) -> None:
    """What ``hessianlab run`` mends on its own (each said in one warning): a corrupt catalog is rebuilt, and
    a finished run whose metrics are cut or shorter than its epoch count gets them back from its checkpoint."""
    runs_root = Path(runs_root)
    if runs_root.is_dir() and Catalog(runs_root).check() is not None:
        reindex(runs_root)  # says so in one warning
    for folder in sorted(runs_root.glob(f"*/{CONFIG}")) if runs_root.is_dir() else []:
        _heal_finished(folder.parent)


def _heal_finished(folder: Path) -> None:
    try:
        status: dict[str, Any] = json.loads((folder / STATUS).read_text())
        epochs = status["summary"]["epochs"]
        text = (folder / METRICS).read_text()
        if status["status"] not in FINAL or (text.endswith("\n") and text.count("\n") == epochs):
            return
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a finished run with a readable status: the trainer's resume rewrites its logs
    for d in check_run(folder):
        if d.action == "logs":
            log.warning("%s: %s; %s", folder, d.problem, d.repair)
            _repair_run(d)

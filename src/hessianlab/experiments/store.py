"""The run store: one directory per run, indexed by a SQLite catalog in the parent folder.

Layout of a run directory::

    config.json     {"config": <TrainConfig dict>, "config_hash": str, "data_meta": {...}, "version": str}
    status.json     {"status": created|running|finished|diverged|failed, "reason": str, "summary": {...}}
    metrics.jsonl   one JSON object per finished epoch
    decisions.jsonl one JSON object per adaptive-batch (ABS/ABSA) eigenvalue check, when the run has them
    checkpoint.pt   latest training state (model, optimizer, schedules, counters, metric history)
    model.pt        final weights (state_dict)
    results.json    {kind: {key: payload}} written by analyses (eigs, attacks, ...)

Every file is written atomically; checkpoints hold only tensors and plain containers and are loaded with
``weights_only=True``. A JSONL file whose last line is cut (a crash mid-write, a copy cut short) is read
without that line, with a one-line warning; any other corrupt line is a :class:`StoreError`
(:mod:`hessianlab.experiments.health` checks and repairs folders). The catalog (``<parent>/catalog.sqlite``)
indexes runs and results; it can be rebuilt from the directories with :func:`reindex`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from hessianlab import __version__, atomic
from hessianlab.errors import StoreError
from hessianlab.experiments.catalog import CATALOG_FILES, Catalog
from hessianlab.experiments.lock import merge_lock
from hessianlab.training.config import TrainConfig

CONFIG, STATUS, METRICS, CHECKPOINT, MODEL, RESULTS = (
    "config.json", "status.json", "metrics.jsonl", "checkpoint.pt", "model.pt", "results.json",
)
DECISIONS = "decisions.jsonl"
RESULTS_LOCK = ".results.lock"
log = logging.getLogger(__name__)


def _read_run_json(file: Path) -> Any:
    """A JSON file of a run folder; a corrupt one is a :class:`StoreError` with the run folder's fix."""
    try:
        return atomic.read_json(file)
    except StoreError:
        if not file.exists():
            raise
        fix = ("delete the run folder and rerun (its identity is lost)" if file.name == CONFIG else
               f"repair it with `hessianlab runs {file.parent.parent} --repair`")
        raise StoreError(f"{file}: corrupt JSON; {fix}") from None


def read_jsonl(file: Path) -> list[dict[str, Any]]:
    """The records of the JSONL ``file`` (``[]`` when it does not exist).

    A last line without its newline that does not parse is a write cut short: it is dropped, with a warning.
    Any other line that does not parse is a :class:`StoreError` naming the file, the line and the fix.
    """
    file = Path(file)
    if not file.exists():
        return []
    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise StoreError(f"{file}: not text; repair it with `hessianlab runs {file.parent.parent} --repair`") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the last line, without a newline: cut mid-write
                log.warning("%s: dropped a truncated last line (a write cut short); "
                            "`hessianlab runs %s --repair` rewrites the file", file, file.parent.parent)
                break
            raise StoreError(f"{file}: line {number} is corrupt; repair it with "
                             f"`hessianlab runs {file.parent.parent} --repair`") from None
    return records


class RunDir:
    """Handle on one run directory. Construct with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, catalog_root: Path | None = None) -> None:
        self.path = Path(path)
        self.catalog = Catalog(Path(catalog_root) if catalog_root is not None else self.path.resolve().parent)
        self._meta: dict[str, Any] = _read_run_json(self.path / CONFIG)

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: TrainConfig, data_meta: dict[str, Any],
               catalog_root: Path | None = None) -> "RunDir":
        """Create a run directory for ``config``, or reopen it if it already holds the same config.

        Raises :class:`StoreError` when ``path`` holds a run with a different config.
        """
        path = Path(path)
        cfg_file = path / CONFIG
        if cfg_file.exists():
            existing = _read_run_json(cfg_file)
            if existing.get("config_hash") != config.config_hash():
                raise StoreError(
                    f"{path} holds a run with another config (hash {existing.get('config_hash')} != "
                    f"{config.config_hash()}); choose another --out or delete that folder"
                )
            return cls(path, catalog_root)
        atomic.write_json(cfg_file, {"config": config.to_dict(), "config_hash": config.config_hash(),
                                     "data_meta": data_meta, "version": __version__})
        run = cls(path, catalog_root)
        run.set_status("created")
        return run

    @classmethod
    def open(cls, path: Path, catalog_root: Path | None = None) -> "RunDir":
        """Open an existing run directory; :class:`StoreError` if ``path`` is not one."""
        if not (Path(path) / CONFIG).is_file():
            raise StoreError(f"{path} is not a run directory (no {CONFIG}); pass the --out folder of a training run")
        return cls(path, catalog_root)

    # --- identity -----------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """Path relative to the catalog root (the folder name for the default layout)."""
        try:
            return str(self.path.resolve().relative_to(self.catalog.root.resolve()))
        except ValueError:
            return str(self.path.resolve())

    @property
    def config(self) -> dict[str, Any]:
        """The resolved training config as a plain dict."""
        return dict(self._meta["config"])

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self._meta["config"])

    @property
    def config_hash(self) -> str:
        return str(self._meta["config_hash"])

    @property
    def data_meta(self) -> dict[str, Any]:
        """Dataset metadata recorded at creation (shape, classes, mean, std, source)."""
        return dict(self._meta["data_meta"])

    # --- status and metrics -------------------------------------------------------------------------
    @property
    def status(self) -> dict[str, Any]:
        return _read_run_json(self.path / STATUS)

    def set_status(self, status: str, reason: str = "", summary: dict[str, Any] | None = None) -> None:
        """Record the run's status in ``status.json`` and the catalog."""
        payload = {"status": status, "reason": reason, "summary": summary or {}}
        atomic.write_json(self.path / STATUS, payload)
        self.catalog.upsert_run(self.run_id, self.config_hash, status, self.config,
                                {"reason": reason, **(summary or {})})

    def write_metrics(self, history: Iterable[dict[str, Any]]) -> None:
        """Atomically replace ``metrics.jsonl`` with ``history`` (one object per epoch)."""
        atomic.write_jsonl(self.path / METRICS, history)

    def metrics(self) -> list[dict[str, Any]]:
        """Per-epoch metrics recorded so far (see :func:`read_jsonl` for a damaged file)."""
        return read_jsonl(self.path / METRICS)

    def write_decisions(self, records: Iterable[dict[str, Any]]) -> None:
        """Atomically replace ``decisions.jsonl`` with ``records`` (one object per eigenvalue check)."""
        atomic.write_jsonl(self.path / DECISIONS, records)

    def decisions(self) -> list[dict[str, Any]]:
        """Adaptive-batch decision records so far (empty for runs without an adaptive batch schedule)."""
        return read_jsonl(self.path / DECISIONS)

    # --- tensors ------------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic.save_tensors(self.path / CHECKPOINT, state)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The latest training state, or ``None`` when the run has none yet."""
        file = self.path / CHECKPOINT
        return atomic.load_tensors(file) if file.exists() else None

    def save_model(self, state_dict: dict[str, torch.Tensor]) -> None:
        atomic.save_tensors(self.path / MODEL, state_dict)

    def build_model(self) -> nn.Module:
        """A freshly initialised model of this run's architecture (no weights loaded)."""
        from hessianlab.training.factory import model_from_config

        return model_from_config(self.train_config, self.data_meta)

    def load_model(self, which: str = "final") -> nn.Module:
        """The trained model in eval mode on CPU. ``which``: ``final`` (model.pt) or ``checkpoint``."""
        if which == "final":
            state = atomic.load_tensors(self.path / MODEL) if (self.path / MODEL).exists() else None
            if state is None:
                raise StoreError(f"{self.path}: no final model yet (status {self.status['status']}); finish training with --resume")
        elif which == "checkpoint":
            ckpt = self.load_checkpoint()
            if ckpt is None:
                raise StoreError(f"{self.path}: no checkpoint yet; train first")
            state = ckpt["model"]
        else:
            raise StoreError(f"which must be 'final' or 'checkpoint', got {which!r}")
        model = self.build_model()
        model.load_state_dict(state)
        return model.eval()

    def load_data(self, split: str, *, subset: int | None = None):
        """The run's dataset split (same dataset, subset and seed as training; never augmented).

        ``subset`` overrides the stored subset size (a stratified, seeded sample of the split).
        """
        from hessianlab.data import load_dataset

        cfg = self.train_config
        default = cfg.subset if split == "train" else cfg.test_subset
        return load_dataset(cfg.dataset, split, subset=subset if subset is not None else default, seed=cfg.seed)

    # --- analysis results ---------------------------------------------------------------------------
    @property
    def results(self) -> dict[str, Any]:
        file = self.path / RESULTS
        return _read_run_json(file) if file.exists() else {}

    def write_result(self, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Merge ``payload`` into ``results.json[kind][key]`` atomically (other processes' merges wait), and
        index it in the catalog."""
        with merge_lock(self.path / RESULTS_LOCK):
            results = self.results
            results.setdefault(kind, {})[key] = payload
            atomic.write_json(self.path / RESULTS, results)
        self.catalog.put_result(self.run_id, kind, key, payload)


def index_run(folder: Path, root: Path) -> None:
    """Write the run in ``folder`` (its status and every result) into the catalog of ``root``."""
    run = RunDir(Path(folder), root)
    status = run.status if (run.path / STATUS).exists() else {"status": "created", "reason": "", "summary": {}}
    run.catalog.upsert_run(run.run_id, run.config_hash, status["status"], run.config,
                           {"reason": status.get("reason", ""), **status.get("summary", {})})
    for kind, entries in run.results.items():
        for key, payload in entries.items():
            run.catalog.put_result(run.run_id, kind, key, payload)


def reindex(root: Path) -> int:
    """Rebuild the catalog of ``root`` from the run directories below it; returns the number of runs.

    A corrupt catalog is replaced (it is only an index); a damaged run folder is left out with a warning
    (``hessianlab runs ROOT --check`` says what is wrong with it).
    """
    catalog = Catalog(Path(root))
    if (problem := catalog.check()) is not None:
        log.warning("%s: corrupt catalog (%s); rebuilt from the run folders", catalog.path, problem)
        for name in CATALOG_FILES:
            (Path(root) / name).unlink(missing_ok=True)
    count = 0
    for cfg in sorted(Path(root).rglob(CONFIG)):
        try:
            index_run(cfg.parent, root)
        except StoreError as exc:
            log.warning("%s: left out of the catalog (%s)", cfg.parent, exc)
            continue
        count += 1
    return count

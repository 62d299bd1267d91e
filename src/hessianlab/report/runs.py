"""Load every run below a report root into plain, read-only records.

A root is a catalog root (run folders below it, ``catalog.sqlite`` beside them) or a sweep folder holding
``runs/`` and ``spec.json``. Runs are found by their ``config.json`` anywhere below the root, so the report
reads the run directories themselves (the source of truth) and never needs the catalog. Folders whose name
starts with ``.`` (temporary report folders) and the report's own output folder are skipped, and so is a
damaged run folder, named in a one-line warning (``hessianlab runs ROOT --repair`` mends it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hessianlab import atomic
from hessianlab.errors import StoreError
from hessianlab.experiments.store import CONFIG, METRICS, STATUS, RunDir

SPEC = "spec.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """Everything the report needs from one run directory.

    Attributes:
        run_id: the run folder relative to the report root.
        path: the run folder.
        config: the resolved training config (``TrainConfig.to_dict()``).
        status: ``created | running | finished | diverged | failed``.
        summary: ``status.json['summary']`` (final losses, epochs, updates, ``reached_target``).
        metrics: per-epoch records of ``metrics.jsonl``.
        results: ``results.json`` as ``{kind: {key: payload}}``.
    """

    run_id: str
    path: Path
    config: dict[str, Any]
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def reached_target(self) -> bool:
        """Whether training stopped because the full-training-set loss reached ``target_loss``."""
        return bool(self.summary.get("reached_target", False))

    @property
    def final(self) -> dict[str, Any]:
        """The last ``metrics.jsonl`` record (empty when no epoch finished)."""
        return dict(self.metrics[-1]) if self.metrics else {}


def load_runs(root: Path, *, exclude: Path | None = None) -> list[RunRecord]:
    """All runs below ``root`` in natural order of ``run_id``; ``exclude`` is a folder to skip (the report output).

    Raises :class:`StoreError` when ``root`` is not a folder or holds no run.
    """
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"{root} is not a folder; pass a catalog root or a sweep folder holding runs/")
    skip = exclude.resolve() if exclude is not None else None
    records = []
    for cfg in sorted(root.rglob(CONFIG)):
        rel = cfg.parent.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if skip is not None and cfg.resolve().is_relative_to(skip):
            continue
        try:
            records.append(_record(cfg.parent, root))
        except StoreError as exc:
            log.warning("report: skipping damaged run %s (%s); `hessianlab runs %s --repair` mends it",
                        rel, exc, root)
    records.sort(key=lambda r: natural_key(r.run_id))
    if not records:
        raise StoreError(f"{root}: no runs found (no {CONFIG} below it); pass a catalog root or a sweep folder")
    return records


def natural_key(text: str) -> list[Any]:
    """Sort key that orders embedded numbers numerically (``b16`` before ``b1024``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]


def load_spec(root: Path) -> dict[str, Any] | None:
    """``root/spec.json`` as a dict, or ``None`` when there is none."""
    file = Path(root) / SPEC
    if not file.is_file():
        return None
    spec = atomic.read_json(file)
    if not isinstance(spec, dict):
        raise StoreError(f"{file}: expected a JSON object; rewrite the spec")
    return spec


def _record(path: Path, root: Path) -> RunRecord:
    run = RunDir(path, root)
    status = atomic.read_json(path / STATUS) if (path / STATUS).is_file() else {"status": "created"}
    run_id = str(path.relative_to(root)) if path != root else path.name
    summary, metrics = dict(status.get("summary") or {}), run.metrics()
    if status.get("status") in ("finished", "diverged") and len(metrics) < summary.get("epochs", 0):  # cut short
        raise StoreError(f"{METRICS} holds {len(metrics)} epochs, {STATUS} says {summary.get('epochs')}")
    return RunRecord(run_id=run_id, path=path, config=run.config, status=str(status.get("status", "created")),
                     summary=summary, metrics=metrics, results=run.results)

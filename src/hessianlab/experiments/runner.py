"""Run a sweep: train every grid point of a spec, then run the analyses each finished run is missing.

Output folder ``DIR`` (default ``runs/<spec output>/<preset>``)::

    DIR/spec.json               the resolved spec (after the preset) and its run folders (planned_runs)
    DIR/summary.json            the outcome of the latest invocation (per run: status, reason, analyses)
    DIR/runs/<run name>/        one run folder per grid point (see :mod:`hessianlab.experiments.store`)
    DIR/runs/catalog.sqlite     the catalog over them

Idempotent and restartable: a run is trained unless its folder (or a catalog entry with the same config
hash) says finished or diverged; an interrupted run resumes from its checkpoint; an analysis runs when one
of its result keys is missing. Everything is written atomically, so after a ``kill -9`` at any moment the
same call completes the sweep without redoing finished work; a corrupt catalog or the cut metrics of a finished
run are mended first (:func:`hessianlab.experiments.health.heal_sweep`), and a run another process holds is
skipped (status ``busy``; :mod:`hessianlab.experiments.lock`). Up to ``workers`` runs go in parallel in
spawned processes with ``cores // workers`` torch threads each, all on the one ``device`` (several workers
share a GPU). Failures are recorded, never raised:
a failed run gets status ``failed``; diverged and failed runs skip their analyses.

A run with ``init_from`` (a selector, see :mod:`hessianlab.experiments.grid`) starts only after its source
run has finished, from the source's final weights (its config's ``init_from`` is the source folder's
absolute path); when the source diverged or failed, it is reported ``failed`` without being trained. An
analysis with ``where`` runs only on the matching runs (the others report ``skipped``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hessianlab import atomic
from hessianlab.device import resolve_device
from hessianlab.errors import ConfigError
from hessianlab.experiments import jobs
from hessianlab.experiments.analyses import ANALYSES, AnalysisContext
from hessianlab.experiments.catalog import Catalog
from hessianlab.experiments.grid import RunPlan, training_order
from hessianlab.experiments.health import heal_sweep
from hessianlab.experiments.execution import Execution
from hessianlab.experiments.remote import open_executor
from hessianlab.experiments.spec import Spec
from hessianlab.experiments.store import RunDir, index_run

log = logging.getLogger(__name__)
Event = dict[str, Any]


@dataclass(frozen=True)
class RunOutcome:
    """One run after the sweep: ``status`` (finished | diverged | failed | ...), ``reason`` and, per
    analysis id, ``done`` | ``skipped: <why>`` | ``failed: <error>``."""

    name: str
    status: str
    reason: str
    analyses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepResult:
    """What one invocation did: the output folder, every run's outcome, and how much work it did."""

    out: Path
    runs: tuple[RunOutcome, ...]
    trained: int
    analysed: int

    @property
    def failed(self) -> list[str]:
        """Names of runs that failed or have a failed analysis."""
        return [r.name for r in self.runs
                if r.status == "failed" or any(v.startswith("failed") for v in r.analyses.values())]


def run_sweep(spec: Spec, out: str | Path | None = None, *, workers: int = 1,
              on_event: Callable[[Event], None] | None = None, device: str | None = None,
              execution: Execution | None = None) -> SweepResult:
    """Train and analyse every run of ``spec`` into ``out`` (see the module docstring) on ``device``
    (``auto``, ``cpu``, ``cuda[:N]``; ``None``: ``$HESSIANLAB_DEVICE``, else auto), checked before any work
    (on the workers' machines for a remote ``execution``: Ray or Slurm, see
    :mod:`hessianlab.experiments.execution`; its workers write run folders only, and this process indexes them
    in the catalog as their jobs finish and once more at the end).

    ``on_event`` receives ``{"stage": "plan", "jobs": n}`` when a phase's jobs are known and each job's
    outcome (``{"name", "stage": "train"|"analyse", ...}``) as it finishes (progress display).
    """
    execution = execution or Execution()
    # a bad or unavailable device fails here, not in every job (remote workers resolve it where they run)
    where = device if execution.remote else str(resolve_device(device))
    out = Path(out) if out is not None else spec.default_out()
    runs_root = out / "runs"
    runs_root.mkdir(parents=True, exist_ok=True)
    heal_sweep(runs_root)  # a corrupt catalog, cut metrics of a finished run: mended, each said in one line
    plans, folders = _locate(spec.expand(), runs_root)
    planned = sorted(str(folders[p.name].resolve().relative_to(out.resolve())) for p in plans)
    atomic.write_json(out / "spec.json", {**spec.to_dict(), "planned_runs": planned})
    notify = on_event or (lambda event: None)
    statuses = {p.name: jobs.run_status(folders[p.name]) for p in plans}
    todo_train = [p for p in training_order(plans) if statuses[p.name] not in jobs.FINAL]
    outcomes: dict[str, RunOutcome] = {}
    with open_executor(execution, workers, out) as pool:
        index = _indexer(execution, folders, runs_root)
        notify({"stage": "plan", "jobs": len(todo_train)})
        args = [(p.name, p.config.to_dict(), str(folders[p.name]), where) for p in todo_train]
        after = {p.name: p.source for p in todo_train if p.source is not None}
        for res in _train(pool, args, after, statuses):
            statuses[res["name"]] = res["status"]
            index(res["name"])
            outcomes[res["name"]] = RunOutcome(res["name"], res["status"], res["reason"])
            log.debug("run %s: %s (%s)", res["name"], res["status"], res["reason"])
            notify(res)
        analysis_jobs, skipped = _analysis_jobs(spec, plans, folders, statuses, where)
        notify({"stage": "plan", "jobs": len(analysis_jobs)})
        done: dict[str, dict[str, str]] = {name: dict(s) for name, s in skipped.items()}
        for res in pool.map(jobs.analysis_job, analysis_jobs):
            done.setdefault(res["name"], {}).update(res["analyses"])
            index(res["name"])
            log.debug("run %s: analyses %s", res["name"], res["analyses"])
            notify(res)
    for plan in plans:  # remote jobs of a killed earlier driver were never indexed
        index(plan.name)
    result = SweepResult(out, tuple(_outcome(p, folders, outcomes, done, spec) for p in plans),
                         trained=len(todo_train), analysed=len(analysis_jobs))
    atomic.write_json(out / "summary.json", {"runs": {r.name: dataclasses.asdict(r) for r in result.runs},
                                              "trained": result.trained, "analysed": result.analysed})
    return result


def _indexer(execution: Execution, folders: dict[str, Path], runs_root: Path) -> Callable[[str], None]:
    """For remote executors, ``index(name)`` writes run ``name``'s folder into the catalog (if it exists)."""

    def index(name: str) -> None:
        if execution.remote and jobs.run_status(folders[name]) is not None:
            index_run(folders[name], runs_root)

    return index


def _train(pool: Any, args: list[tuple[Any, ...]], after: dict[str, str],
           statuses: dict[str, str | None]) -> Any:
    """Train outcomes; a run whose source is not finished (now or from an earlier invocation) is not trained."""

    def gate(a: tuple[Any, ...], source: dict[str, Any]) -> dict[str, Any] | None:
        if source["status"] == "finished":
            return None
        return {"name": a[0], "stage": "train", "status": "failed",
                "reason": f"init_from run {source['name']} is {source['status']}; not trained"}

    todo, blocked = {a[0] for a in args}, {}
    for a in args:  # in training order: a source comes before its dependents
        source = after.get(a[0])
        if source in blocked:
            blocked[a[0]] = gate(a, blocked[source])
        elif source is not None and source not in todo and statuses[source] != "finished":
            blocked[a[0]] = gate(a, {"name": source, "status": statuses[source]})
    yield from blocked.values()
    yield from pool.map(jobs.train_job, [a for a in args if a[0] not in blocked], after=after, gate=gate)


def _locate(plans: list[RunPlan], runs_root: Path) -> tuple[list[RunPlan], dict[str, Path]]:
    """Each plan's folder: ``DIR/runs/<name>``, or a finished run with the same config hash in the catalog.

    Sources come first, so a dependent's ``init_from`` becomes its source's folder (absolute, inside
    ``runs_root``) before its own config hash is looked up. Returns the plans (grid order) and folders.
    """
    catalog = Catalog(runs_root)
    root = runs_root.resolve()
    folders: dict[str, Path] = {}
    resolved: dict[str, RunPlan] = {}
    for plan in training_order(plans):
        if plan.source is not None:
            source = folders[plan.source].resolve()
            if not source.is_relative_to(root):
                raise ConfigError(f"init_from of run {plan.name}: {source} is outside {root}; a run may only start "
                                  "from a run of the same output folder")
            plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, init_from=str(source)))
        resolved[plan.name] = plan
        folder = runs_root / plan.name
        if not folder.exists():
            for row in catalog.runs(config_hash=plan.config.config_hash()):
                if row["status"] in jobs.FINAL and jobs.run_status(runs_root / row["run_id"]) in jobs.FINAL:
                    folder = runs_root / row["run_id"]
                    log.info("run %s: reusing %s (same config hash)", plan.name, folder)
                    break
        folders[plan.name] = folder
    return [resolved[p.name] for p in plans], folders


def _analysis_jobs(spec: Spec, plans: list[RunPlan], folders: dict[str, Path], statuses: dict[str, str | None],
                   device: str) -> tuple[list[tuple[Any, ...]], dict[str, dict[str, str]]]:
    """Per finished run, the analyses with a missing result key (to run on ``device``); analyses of other runs,
    those its ``where`` excludes and those with nothing to compute for it (a selector picking the run itself)
    are skipped."""
    points = {p.name: dict(p.point) for p in plans}
    folder_names = {name: str(path) for name, path in folders.items()}
    todo, skipped = [], {}
    for plan in plans:
        status = statuses[plan.name]
        if status != "finished":
            skipped[plan.name] = {a.id: f"skipped: run {status}" for a in spec.analyses}
            continue
        context = AnalysisContext(plan.name, folder_names, points, spec.groups, device)
        results = RunDir.open(folders[plan.name]).results
        missing, notes = [], {}
        for a in spec.analyses:
            keys = ANALYSES[a.kind].result_keys(a.params, context) if a.applies(plan.point) else None
            if keys is None:
                notes[a.id] = "skipped: not selected by its where"
            elif not keys:
                notes[a.id] = "skipped: its selector picks this run itself"
            elif any(key not in results.get(kind, {}) for kind, key in keys):
                missing.append((a.id, a.kind, dict(a.params)))
        if notes:
            skipped[plan.name] = notes
        if missing:
            todo.append((plan.name, str(folders[plan.name]), missing, context))
    return todo, skipped


def _outcome(plan: RunPlan, folders: dict[str, Path], trained: dict[str, RunOutcome],
             analyses: dict[str, dict[str, str]], spec: Spec) -> RunOutcome:
    if plan.name in trained:
        status, reason = trained[plan.name].status, trained[plan.name].reason
    else:
        info = RunDir.open(folders[plan.name]).status
        status, reason = info.get("status", "created"), info.get("reason", "")
    done = {a.id: analyses.get(plan.name, {}).get(a.id, "done") for a in spec.analyses}
    return RunOutcome(plan.name, status, reason, done)

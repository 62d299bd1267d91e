"""``hessianlab reproduce [NAME ... | all] --preset quick|paper|smoke|full [--out DIR] [--workers N] [--device D]``.

Runs the paper-reproduction studies shipped with the package (``hessianlab/experiments/specs/*.yaml``; the
repository's ``experiments/`` links there; ``--executor`` as for ``hessianlab run``): each study's sweep
(:func:`~hessianlab.experiments.runner.run_sweep`, resumable: rerun the same command after an interruption)
into ``DIR/<study>``, then its report
(:func:`~hessianlab.report.build_report`) into ``DIR/<study>/report``, and finally an index of every study with
its claim verdicts: ``DIR/index.md`` and ``DIR/index.html``. Default ``DIR``: ``runs/reproduce/<preset>``.
``all`` means every shipped study (the ``example-*`` specs are left out; name them to run them); with ``--preset
full``, which only some studies define, every study that defines it.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from importlib import resources
from pathlib import Path
from typing import Any

from hessianlab.commands._sweep_options import add_sweep_arguments, driver_device, execution_from_args, limited
from hessianlab.device import add_device_argument
from hessianlab.errors import ConfigError, HessianlabError

PRESETS = ("quick", "paper", "smoke", "full")
#: presets only some studies define; ``all`` with one of them stands for the studies that define it
PARTIAL_PRESETS = ("full",)


def spec_paths() -> dict[str, Path]:
    """Shipped specs by name (file stem), sorted."""
    root = resources.files("hessianlab.experiments") / "specs"
    return {Path(p.name).stem: Path(str(p)) for p in sorted(root.iterdir(), key=lambda p: p.name)
            if p.name.endswith(".yaml")}


def study_names() -> list[str]:
    """What ``all`` stands for: every shipped spec except the ``example-*`` ones."""
    return [n for n in spec_paths() if not n.startswith("example-")]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reproduce", help="run the paper-reproduction studies, their reports and an index")
    parser.add_argument("names", nargs="*", default=["all"], metavar="NAME",
                        help="studies to run (default: all); see the list in the error for unknown names")
    parser.add_argument("--preset", required=True, choices=PRESETS,
                        help="quick (2 CPU cores), paper (the papers' protocol), smoke (seconds, synthetic data) or full "
                             "(the whole training set on 2 CPU cores; only yao-batch-sweep and kamath-counterexample)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/reproduce/<preset>)")
    parser.add_argument("--workers", type=int, default=1, help="runs trained or analysed in parallel")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    add_device_argument(parser)
    add_sweep_arguments(parser)
    parser.set_defaults(func=_run)


def resolve_names(names: list[str], preset: str | None = None) -> list[str]:
    """Expand ``all`` and check the names; an unknown one is a one-line :class:`ConfigError`.

    With a ``preset`` of :data:`PARTIAL_PRESETS`, ``all`` stands for the studies that define it.
    """
    from hessianlab.experiments.spec import load_spec

    available = list(spec_paths())
    every = study_names()
    if preset in PARTIAL_PRESETS:
        every = [n for n in every if preset in load_spec(spec_paths()[n]).presets]
    out: list[str] = []
    for name in names:
        for n in (every if name == "all" else [name]):
            if n not in available:
                raise ConfigError(f"reproduce: unknown study {n!r}; available: all, {', '.join(available)}")
            if n not in out:
                out.append(n)
    return out


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hessianlab.experiments.runner import run_sweep
    from hessianlab.experiments.spec import load_spec
    from hessianlab.report import build_report
    from hessianlab.report.index import StudyResult, claim_rows, counts_markdown, verdict_counts, verdict_record, \
        write_index

    start = time.perf_counter()
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    names = resolve_names(args.names, args.preset)
    paths = spec_paths()
    specs = [limited(args, load_spec(paths[n], args.preset)) for n in names]  # every spec validated before any work
    executions = [execution_from_args(args, spec.execution) for spec in specs]
    devices = [driver_device(args, e) for e in executions]
    out = args.out if args.out is not None else Path("runs") / "reproduce" / args.preset
    results: list[StudyResult] = []
    for spec, execution, device in zip(specs, executions, devices):
        folder = out / spec.output
        study = StudyResult(spec.name, spec.description, spec.output)
        results.append(study)
        bar = tqdm(total=0, desc=spec.name, unit="job", disable=args.quiet, dynamic_ncols=True)

        def on_event(event: dict[str, Any], bar: Any = bar) -> None:
            if event["stage"] == "plan":
                bar.total += event["jobs"]
                bar.refresh()
            else:
                bar.update(1)

        try:
            sweep = run_sweep(spec, folder, workers=args.workers, on_event=on_event, device=device,
                              execution=execution)
        finally:
            bar.close()
        study.runs = len(sweep.runs)
        study.finished = sum(r.status == "finished" for r in sweep.runs)
        study.failed = sweep.failed
        try:
            report = build_report(folder)
        except HessianlabError as exc:
            study.error = f"no report: {exc}"
        else:
            study.report = str(report.html.relative_to(out))
            study.reached = sum(1 for r in sweep.runs if _reached(folder, r.name))
            study.verdicts = [verdict_record(v) for v in report.verdicts]
        if not args.quiet:
            print(f"{spec.name}: {study.finished}/{study.runs} runs finished; "
                  + (study.error or ", ".join(f"{v['id']}: {v['verdict']}" for v in study.verdicts) or "no claims"))
    write_index(out, args.preset, results, _timing(start))
    print(f"\nVerdicts per paper ({args.preset} preset):\n{counts_markdown(verdict_counts(results))}\n")
    print("\n".join(" | ".join(row[:3] + [row[5]]) for row in claim_rows(results)))
    print(f"\n{out / 'index.html'}: {len(results)} studies ({args.preset} preset)")
    return 0


def _timing(start: float) -> dict[str, float]:
    """Wall seconds since ``start`` and CPU seconds (user + system) of this process and its children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return {"wall_s": time.perf_counter() - start, "cpu_s": cpu, "cores": len(os.sched_getaffinity(0))}


def _reached(folder: Path, run_name: str) -> bool:
    import json

    status = folder / "runs" / run_name / "status.json"
    try:
        return bool(json.loads(status.read_text()).get("summary", {}).get("reached_target", False))
    except (OSError, ValueError):
        return False

"""``hessianlab run SPEC.yaml [--preset P] [--out DIR] [--workers N] [--device D] [--executor E] [--quiet]``.

Trains every grid point of the spec and runs its analyses, skipping finished work (rerun after any
interruption to complete the sweep). Exit code 0 when the sweep completed, failed runs included (they
are listed); 2 for a mistake in the spec or the flags. ``--executor`` places the jobs on a Ray cluster or
on Slurm instead of the local pool (see :mod:`hessianlab.commands._sweep_options`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hessianlab.commands._sweep_options import add_sweep_arguments, driver_device, execution_from_args, limited
from hessianlab.device import add_device_argument
from hessianlab.errors import ConfigError
from hessianlab.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run an experiment spec: train the sweep, then its analyses")
    parser.add_argument("spec", type=Path, help="YAML spec, e.g. experiments/example-batch-sweep.yaml")
    parser.add_argument("--preset", default=None, help="preset of the spec (e.g. quick, paper, smoke)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/<spec>/<preset>)")
    parser.add_argument("--workers", type=int, default=1, help="runs trained or analysed in parallel")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    add_device_argument(parser)
    add_sweep_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.experiments.runner import run_sweep
    from hessianlab.experiments.spec import load_spec

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    spec = limited(args, load_spec(args.spec, args.preset))
    execution = execution_from_args(args, spec.execution)
    device = driver_device(args, execution)  # a bad --device fails before any output
    bar = tqdm(total=0, desc=spec.name, unit="job", disable=args.quiet, dynamic_ncols=True)

    def on_event(event: dict[str, Any]) -> None:
        if event["stage"] == "plan":
            bar.total += event["jobs"]
            bar.refresh()
            return
        bar.update(1)
        if not args.quiet:
            detail = (f"{event['status']} ({event['reason']})" if event["stage"] == "train" else
                      ", ".join(f"{k}: {v}" for k, v in event["analyses"].items()))
            bar.write(f"{event['name']}: {event['stage']} {detail}")

    try:
        result = run_sweep(spec, args.out, workers=args.workers, on_event=on_event, device=device,
                           execution=execution)
    finally:
        bar.close()
    rows = [{"run": r.name, "status": r.status, "reason": r.reason,
             "analyses": sum(v == "done" for v in r.analyses.values()), "of": len(r.analyses)} for r in result.runs]
    print(format_table(rows, ["run", "status", "reason", "analyses", "of"]))
    print(f"{result.out}: {len(result.runs)} runs, {result.trained} trained and {result.analysed} analysed now")
    for run in result.runs:
        for aid, state in run.analyses.items():
            if not state.startswith("done"):
                print(f"  {run.name} {aid}: {state}")
        if run.status == "failed":
            print(f"  {run.name} failed: {run.reason}")
    return 0

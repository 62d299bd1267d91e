"""``hessianlab plan SPEC|STUDY|all [--preset P] [--calibrate] [--calibration FILE] [--jobs] [--json FILE]``.

Prints what a sweep will cost before any GPU-hour is spent (see :mod:`hessianlab.experiments.plan`): the
expanded jobs with, per job, the samples processed, SGD updates, Hessian products and attack steps, and the
estimated hours per device kind: every kind measured in the calibration file (``--calibrate`` measures the
current ``--device`` first; default file ``runs/calibration.json``) and the assumed GPU of
:mod:`hessianlab.experiments.calibration`. With several specs (``all``: every shipped study) it prints one
line of totals per study; ``--jobs`` adds the job tables. ``--limit-samples`` / ``--limit-epochs`` plan the
truncated sweep, as ``run`` would execute it.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hessianlab import atomic
from hessianlab.commands._sweep_options import add_limit_arguments
from hessianlab.device import add_device_argument, resolve_device
from hessianlab.table import format_table

_COUNTERS = ("train_samples", "updates", "hessian_products", "input_products", "attack_steps")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plan", help="jobs, work counts and estimated hours of a spec, before running it")
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="YAML spec, a shipped study name, or all")
    parser.add_argument("--preset", default=None, help="preset of the spec(s), e.g. paper")
    parser.add_argument("--calibrate", action="store_true",
                        help="first measure per-sample costs of the spec's models on --device (seconds per model)")
    parser.add_argument("--calibration", type=Path, default=Path("runs") / "calibration.json",
                        help="calibration file to read and (with --calibrate) update")
    parser.add_argument("--jobs", action="store_true", help="with several specs, also print every job")
    parser.add_argument("--json", type=Path, default=None, help="also write every job and the totals to this file")
    add_limit_arguments(parser)
    add_device_argument(parser)
    parser.set_defaults(func=_run)


def _load_specs(args: argparse.Namespace) -> list[Any]:
    from hessianlab.commands._sweep_options import limited
    from hessianlab.commands.reproduce import resolve_names, spec_paths
    from hessianlab.experiments.spec import load_spec

    paths = spec_paths()
    files = []
    for item in args.specs:
        files += [paths[n] for n in resolve_names([item])] if item == "all" or item in paths else [Path(item)]
    return [limited(args, load_spec(f, args.preset)) for f in files]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) < 1e7 else f"{value:.3g}"


def _hours(value: float | None) -> str:
    return "-" if value is None else (f"{value:.3g}" if value >= 0.01 else f"{value * 3600:.2g} s")


def _run(args: argparse.Namespace) -> int:
    from hessianlab.experiments import calibration as cal
    from hessianlab.experiments.plan import Counts, plan_jobs

    specs = _load_specs(args)
    plans = {spec.name: plan_jobs(spec) for spec in specs}
    if args.calibrate:
        device = resolve_device(args.device)
        cal.calibrate([j for jobs in plans.values() for j in jobs], device, args.calibration)
        print(f"{args.calibration}: calibrated {cal.device_kind(device)}")
    devices = cal.load(args.calibration).get("devices", {})
    flops = {j.model_key: cal.forward_flops(j) for jobs in plans.values() for j in jobs}
    kinds = [*devices, cal.ASSUMED_DEVICE]
    report: dict[str, Any] = {"assumed_device": {"name": cal.ASSUMED_DEVICE, "flops": cal.ASSUMED_FLOPS,
                                                 "forward_equivalents": cal.FORWARD_EQUIVALENTS}, "studies": {}}
    totals_rows, missing = [], set()
    for spec in specs:
        rows, total, hours = [], Counts(), dict.fromkeys(kinds, 0.0)
        for job in plans[spec.name]:
            total += job.counts
            estimate: dict[str, float | None] = {}
            for kind in devices:
                costs = devices[kind]["models"].get(job.model_key)
                estimate[kind] = None if costs is None else cal.seconds(job.counts, costs) / 3600
                missing.update([(kind, job.model_key)] if costs is None else [])
            estimate[cal.ASSUMED_DEVICE] = cal.assumed_seconds(job.counts, flops[job.model_key]) / 3600
            for kind, value in estimate.items():
                hours[kind] = None if value is None or hours[kind] is None else hours[kind] + value
            rows.append({"run": job.run, "job": job.stage, "model": job.model_key, **asdict(job.counts),
                         "hours": estimate})
        report["studies"][spec.name] = {"preset": spec.preset, "jobs": rows, "total": asdict(total), "hours": hours,
                                        "runs": len({r["run"] for r in rows})}
        if len(specs) == 1 or args.jobs:
            print(f"{spec.name} ({spec.preset or 'no'} preset): {len(rows)} jobs")
            print(format_table([{**{k: r[k] for k in ("run", "job", "model")}, **{k: _fmt(r[k]) for k in _COUNTERS},
                                 **{f"h {k}": _hours(v) for k, v in r["hours"].items()}} for r in rows],
                               ["run", "job", "model", *_COUNTERS, *(f"h {k}" for k in kinds)]))
        runs = report["studies"][spec.name]["runs"]
        totals_rows.append({"study": spec.name, "runs": str(runs), "jobs": str(len(rows)),
                            **{k: _fmt(getattr(total, k)) for k in _COUNTERS},
                            **{f"h {k}": _hours(v) for k, v in hours.items()}})
    print(format_table(totals_rows, ["study", "runs", "jobs", *_COUNTERS, *(f"h {k}" for k in kinds)]))
    print("counts are per sample; training runs to max_epochs (target_loss stops earlier); eigen-solves assumed "
          "20 + 3k products; hours: calibrated device kinds, and " + cal.ASSUMED_DEVICE + " from forward FLOPs")
    if not devices:
        print(f"no calibration in {args.calibration}: run hessianlab plan ... --calibrate on each device kind")
    for kind, key in sorted(missing):
        print(f"no calibration of {key} on {kind}: run --calibrate there")
    if args.json is not None:
        atomic.write_json(args.json, report)
    return 0

"""``hessianlab eigs | trace | density RUN_DIR``: curvature of a trained model, stored in the run.

All three build the same operator from flags: the Hessian of the mean cross-entropy over ``--samples``
(``all`` or a seeded random subset of N) of ``--split``, w.r.t. all parameters or those matching
``--params REGEX`` (a block Hessian), in eval mode, in ``--dtype``. ``eigs --wrt input`` measures instead the
per-sample input-Hessian λ1^x and ||∇x J|| (Yao et al. Table 1). Results go to
``results.json[eigs|trace|density|input_stats][KEY]``; the key encodes the settings. ``--device`` places the
model and data (see :mod:`hessianlab.device`; not part of the key).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hessianlab.device import add_device_argument
from hessianlab.errors import ConfigError
from hessianlab.table import format_table

DTYPES = ("float32", "float64")


def _samples(text: str) -> str | int:
    if text == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or a positive integer, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder")
    parser.add_argument("--samples", type=_samples, default="all", help="all, or N random samples (seeded)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample choice and of random probes")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--params", default=None, help="regex of parameter names: a block Hessian")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--chunk-size", type=int, default=1024, help="samples per HVP chunk (memory bound)")
    add_device_argument(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    eigs = subparsers.add_parser("eigs", help="top Hessian eigenpairs of a run's model (with residuals)")
    _common(eigs)
    eigs.add_argument("--k", type=int, default=20)
    eigs.add_argument("--tol", type=float, default=1e-4, help="relative residual tolerance")
    eigs.add_argument("--method", choices=("lanczos", "power"), default="lanczos")
    eigs.add_argument("--which", choices=("LA", "SA", "LM"), default="LA")
    eigs.add_argument("--wrt", choices=("params", "input"), default="params")
    eigs.add_argument("--verify", action="store_true", help="compare with the dense Hessian (small models)")
    eigs.set_defaults(func=_eigs)
    trace = subparsers.add_parser("trace", help="Hutchinson estimate of the Hessian trace")
    _common(trace)
    trace.add_argument("--probes", type=int, default=100)
    trace.set_defaults(func=_trace)
    density = subparsers.add_parser("density", help="Hessian spectral density (stochastic Lanczos quadrature)")
    _common(density)
    density.add_argument("--probes", type=int, default=10)
    density.add_argument("--steps", type=int, default=80)
    density.set_defaults(func=_density)


def _operator(args: argparse.Namespace):
    from hessianlab.experiments.analyses.curvature import hessian_operator
    from hessianlab.experiments.store import RunDir

    run = RunDir.open(args.run)
    _, _, op = hessian_operator(run, split=args.split, samples=args.samples, seed=args.seed, params=args.params,
                                dtype=args.dtype, chunk_size=args.chunk_size, device=args.device)
    return run, op


def _key(args: argparse.Namespace, *extra: Any) -> str:
    from hessianlab.experiments.analyses.curvature import curvature_key

    return curvature_key(args.split, args.samples, args.seed, args.dtype, args.params, *extra)


def _eigs(args: argparse.Namespace) -> int:
    from hessianlab.experiments.analyses.curvature import eigs
    from hessianlab.experiments.store import RunDir

    if args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    if args.wrt == "input":
        return _input_eigs(args)
    result, payload = eigs(RunDir.open(args.run), k=args.k, samples=args.samples, split=args.split, seed=args.seed,
                           params=args.params, dtype=args.dtype, chunk_size=args.chunk_size, tol=args.tol,
                           method=args.method, which=args.which, verify=args.verify, device=args.device)
    rows = [{"i": i + 1, "eigenvalue": float(lam), "residual": float(res), "converged": bool(ok)}
            for i, (lam, res, ok) in enumerate(zip(result.eigenvalues, result.relative_residuals, result.pair_converged))]
    if args.verify:
        for row, err in zip(rows, payload["verify"]["relative_error"]):
            row["dense_rel_err"] = err
    print(format_table(rows, ["i", "eigenvalue", "residual", "converged"] + (["dense_rel_err"] if args.verify else []),
                       ["#", "eigenvalue", "rel. residual", "converged"] + (["vs dense"] if args.verify else [])))
    print(f"{result.num_matvecs} Hessian-vector products, {result.seconds:.2f} s, converged: {result.converged}")
    return 0


def _input_eigs(args: argparse.Namespace) -> int:
    from hessianlab.experiments.analyses.curvature import input_stats
    from hessianlab.experiments.store import RunDir

    stats, _ = input_stats(RunDir.open(args.run), samples=args.samples, split=args.split, seed=args.seed,
                           dtype=args.dtype, tol=args.tol, device=args.device)
    rows = [{"quantity": name, **vars(summary)} for name, summary in
            (("lambda1_x", stats.eigenvalue_summary), ("grad_norm_x", stats.grad_norm_summary))]
    print(format_table(rows, ["quantity", "mean", "median", "q10", "q90"]))
    return 0


def _trace(args: argparse.Namespace) -> int:
    from hessianlab.curvature import hutchinson_trace

    if args.probes < 2:
        raise ConfigError(f"--probes must be >= 2 (a standard error needs two), got {args.probes}")
    run, op = _operator(args)
    result = hutchinson_trace(op, num_samples=args.probes, seed=args.seed)
    run.write_result("trace", _key(args, f"probes={args.probes}"), result.to_dict())
    print(f"trace {result.estimate:.6g} +- {result.standard_error:.3g} (standard error, {result.num_samples} probes, "
          f"{result.num_matvecs} HVPs, {result.seconds:.1f} s)")
    return 0


def _density(args: argparse.Namespace) -> int:
    from hessianlab.curvature import spectral_density

    run, op = _operator(args)
    result = spectral_density(op, num_probes=args.probes, num_steps=args.steps, seed=args.seed)
    run.write_result("density", _key(args, f"probes={args.probes}", f"steps={args.steps}"), result.to_dict())
    print(f"spectral density on [{float(result.grid[0]):.4g}, {float(result.grid[-1]):.4g}] from "
          f"{args.probes} probes x {args.steps} Lanczos steps; stored in {run.path / 'results.json'}")
    return 0

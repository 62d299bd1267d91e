"""Curvature analyses of a trained run: top eigenpairs, sub-sampled spectra, input statistics, Theorem 1.

Library functions shared by the CLI (``hessianlab eigs | trace | density``) and the experiment runner;
each computes one result and stores it with ``run.write_result`` under the key :func:`curvature_key` builds.
A key holds every setting that changes the numbers (``chunk_size`` only changes how samples are batched),
so a result computed with other settings is never taken for this one. ``device`` (``None``: ``$HESSIANLAB_DEVICE``,
else auto; see :mod:`hessianlab.device`) is where the model and data go; like ``chunk_size`` it is not in the
key (results agree across devices to rounding).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from hessianlab.curvature import EigenResult, InputStats, ParamHessian
from hessianlab.device import place_datasets, select_device
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def curvature_key(split: str, samples: int | str, seed: int, dtype: str, params: str | None, *extra: Any,
                  tol: float | None = None, verify: bool = False) -> str:
    """``[EXTRA/...]SPLIT/samples=S/seed=N/DTYPE[/tol=T][/verify][/params=REGEX]``: the settings that define a
    result (``params`` last: a regex may hold ``/``)."""
    parts = [split, f"samples={samples}", f"seed={seed}", dtype]
    if tol is not None:
        parts.append(f"tol={tol}")
    if verify:
        parts.append("verify")
    if params:
        parts.append(f"params={params}")
    return "/".join([*map(str, extra), *parts])


def eigs_key(*, k: int, method: str = "lanczos", which: str = "LA", split: str = "train", samples: int | str = "all",
             seed: int = 0, dtype: str = "float32", params: str | None = None, tol: float = 1e-4,
             verify: bool = False) -> str:
    """Key of :func:`eigs` results: ``METHOD/WHICH/k=K/SPLIT/samples=S/seed=N/DTYPE/tol=T[/verify][/params=RE]``."""
    return curvature_key(split, samples, seed, dtype, params, method, which, f"k={k}", tol=tol, verify=verify)


def hessian_operator(run: RunDir, *, split: str = "train", samples: int | str = "all", seed: int = 0,
                     params: str | None = None, dtype: str = "float32", chunk_size: int = 1024,
                     device: str | torch.device | None = None):
    """``(model, data, ParamHessian)`` of the run's final model on ``split`` (eval mode, ``dtype``, ``device``)."""
    device = select_device(device)
    model = run.load_model().to(device, DTYPES[dtype])
    (data,) = place_datasets(device, run.load_data(split))
    op = ParamHessian(model, None, data, samples=samples, seed=seed, chunk_size=chunk_size, params=params,
                      mode="eval", dtype=DTYPES[dtype])
    return model, data, op


def eigs(run: RunDir, *, k: int = 20, samples: int | str = "all", split: str = "train", seed: int = 0,
         params: str | None = None, dtype: str = "float32", chunk_size: int = 1024, tol: float = 1e-4,
         method: str = "lanczos", which: str = "LA", verify: bool = False,
         kind: str = "eigs", device: str | torch.device | None = None) -> tuple[EigenResult, dict[str, Any]]:
    """Top-``k`` Hessian eigenpairs, stored as ``results[kind][eigs_key(...)]``; returns ``(result, payload)``.

    The payload is :meth:`EigenResult.to_dict`, plus ``verify`` (dense eigenvalues, relative errors) when
    ``verify`` compares with the dense float64 Hessian (small models only).
    """
    from hessianlab.curvature import dense_hessian, top_eigenpairs

    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    model, data, op = hessian_operator(run, split=split, samples=samples, seed=seed, params=params, dtype=dtype,
                                       chunk_size=chunk_size, device=device)
    if k > op.size:
        raise ConfigError(f"k={k} exceeds the number of selected parameters ({op.size})")
    result = top_eigenpairs(op, k, method=method, which=which, tol=tol, seed=seed)
    payload = result.to_dict()
    if verify:
        dense = dense_hessian(model, None, data, samples=samples, seed=seed, params=params, mode="eval",
                              dtype=torch.float64)
        exact = torch.linalg.eigvalsh(dense).cpu()
        exact = {"LA": exact.flip(0), "SA": exact, "LM": exact[exact.abs().argsort(descending=True)]}[which][:k]
        rel = ((result.eigenvalues - exact).abs() / exact.abs().clamp_min(1e-12)).tolist()
        payload["verify"] = {"dense_eigenvalues": exact.tolist(), "relative_error": rel,
                             "max_relative_error": max(rel)}
    run.write_result(kind, eigs_key(k=k, method=method, which=which, split=split, samples=samples, seed=seed,
                                    dtype=dtype, params=params, tol=tol, verify=verify), payload)
    return result, payload


def subsampled(run: RunDir, *, samples: Sequence[int | str], **kw: Any) -> list[tuple[EigenResult, dict[str, Any]]]:
    """:func:`eigs` once per sample count in ``samples`` (the Hessian of a B_H-sample loss), kind ``subsampled``."""
    return [eigs(run, samples=s, kind="subsampled", **kw) for s in samples]


def input_stats(run: RunDir, *, samples: int | str = "all", split: str = "train", seed: int = 0,
                dtype: str = "float32", tol: float = 1e-4,
                device: str | torch.device | None = None) -> tuple[InputStats, dict[str, Any]]:
    """Per-sample λ1 of the input Hessian and ``||∇x J||`` (Yao et al. Table 1), stored as
    ``results["input_stats"][input_stats_key(...)]``."""
    from hessianlab.curvature import input_stats as compute

    device = select_device(device)
    model = run.load_model().to(device, DTYPES[dtype])
    (data,) = place_datasets(device, run.load_data(split))
    stats = compute(model, (data.images.to(DTYPES[dtype]), data.labels), samples=samples, seed=seed, tol=tol,
                    dtype=DTYPES[dtype])
    payload = {"lambda1_x": vars(stats.eigenvalue_summary), "grad_norm_x": vars(stats.grad_norm_summary),
               "converged_fraction": float(stats.converged.float().mean()), "settings": dict(stats.settings)}
    run.write_result("input_stats", input_stats_key(split=split, samples=samples, seed=seed, dtype=dtype, tol=tol),
                     payload)
    return stats, payload


def input_stats_key(*, split: str = "train", samples: int | str = "all", seed: int = 0, dtype: str = "float32",
                    tol: float = 1e-4) -> str:
    """Key of :func:`input_stats` results: ``SPLIT/samples=S/seed=N/DTYPE/tol=T``."""
    return curvature_key(split, samples, seed, dtype, None, tol=tol)


def theorem1_key(*, samples: int | str = 64, split: str = "test", seed: int = 0, method: str = "auto",
                 rtol: float = 1e-7) -> str:
    """Key of :func:`theorem1` results: ``SPLIT/samples=S/seed=N/method=M/rtol=R``."""
    return f"{split}/samples={samples}/seed={seed}/method={method}/rtol={rtol}"


def theorem1(run: RunDir, *, samples: int | str = 64, split: str = "test", seed: int = 0, method: str = "auto",
             rtol: float = 1e-7, device: str | torch.device | None = None) -> dict[str, Any]:
    """Spectrum shape of per-sample input Hessians (float64), stored as ``results["theorem1"][theorem1_key]``.

    Payload: ``summary`` (see :class:`~hessianlab.curvature.Theorem1Report`), ``num_classes``, ``rtol``,
    ``method`` (the one used), ``settings`` and the per-sample lists ``eig_min``, ``eig_max``, ``ratio``,
    ``rank``, ``rank_le_classes``, ``rank_exact`` (non-finite numbers as ``null``).
    """
    from hessianlab.curvature import theorem1_check
    from hessianlab.curvature.param_hessian import select_samples

    device = select_device(device)
    model = run.load_model().to(device, torch.float64)
    data = run.load_data(split)
    idx = select_samples(data.images.shape[0], samples, seed)
    x, y = (data.images, data.labels) if idx is None else (data.images[idx], data.labels[idx])
    report = theorem1_check(model, x.to(device, torch.float64), y.to(device), rtol=rtol, method=method, seed=seed)
    payload: dict[str, Any] = {
        "summary": dict(report.summary), "num_classes": report.num_classes, "rtol": report.rtol,
        "method": report.method, "settings": {"split": split, "samples": int(x.shape[0]), "seed": seed},
    }
    for name in ("eig_min", "eig_max", "ratio", "rank", "rank_le_classes", "rank_exact"):
        payload[name] = [_plain(v) for v in getattr(report, name).tolist()]
    run.write_result("theorem1", theorem1_key(samples=samples, split=split, seed=seed, method=method, rtol=rtol),
                     payload)
    return payload


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value

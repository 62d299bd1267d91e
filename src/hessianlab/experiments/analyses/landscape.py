"""Loss-landscape analyses of a trained run: line along v1, plane along (v1, v2), interpolation to another run.

Eigen-directions are the top Hessian eigenvectors of the mean training loss over ``samples`` (eval mode).
Each result is stored as ``results["landscape"][KEY]`` = ``Line.to_dict()`` / ``Plane.to_dict()`` plus
``file`` (the JSON written by :func:`~hessianlab.landscape.save_landscape`, relative to the run folder, with
the directions beside it as ``.pt``) and, for eigen-directions, ``eigenvalues``. Keys (``E``: ``eval_samples``,
``all`` when unset; ``batch_size`` only batches the evaluation and ``device`` only places it, see
:mod:`hessianlab.device`; neither is part of them):

* ``line/SPLIT/radius=R/points=N/samples=S/seed=K/tol=T/eval=E``
* ``plane/SPLIT/radius=R/points=N/samples=S/seed=K/tol=T/eval=E``
* ``interpolate/SPLIT/to:NAME/start=A/stop=B/points=N/eval=E``
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import torch

from hessianlab.device import place_datasets, select_device
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir

LANDSCAPE_DIR = "landscape"


def landscape_key(type: str, split: str, *, radius: float = 1.0, points: int = 21, samples: int | str = "all",
                  seed: int = 0, tol: float = 1e-4, eval_samples: int | None = None, target: str | Path | None = None,
                  start: float = -0.5, stop: float = 1.5) -> str:
    """The result key of one landscape (see the module docstring)."""
    evaluated = f"eval={eval_samples if eval_samples is not None else 'all'}"
    if type == "interpolate":
        return (f"interpolate/{split}/to:{Path(str(target)).resolve().name}/start={start}/stop={stop}/points={points}/"
                f"{evaluated}")
    return f"{type}/{split}/radius={radius}/points={points}/samples={samples}/seed={seed}/tol={tol}/{evaluated}"


def _store(run: RunDir, key: str, result: Any, directions: dict[str, Any], extra: dict[str, Any]) -> None:
    from hessianlab.landscape import save_landscape

    rel = Path(LANDSCAPE_DIR) / (re.sub(r"[^A-Za-z0-9._=-]+", "_", key) + ".json")
    save_landscape(run.path / rel, result, directions)
    run.write_result("landscape", key, {**result.to_dict(), "file": str(rel), **extra})


def eigen_landscape(run: RunDir, *, type: str = "line", splits: Sequence[str] = ("train", "test"),
                    radius: float = 1.0, points: int = 21, samples: int | str = "all", seed: int = 0,
                    tol: float = 1e-4, eval_samples: int | None = None, batch_size: int = 1024,
                    device: str | torch.device | None = None) -> list[str]:
    """Loss along v1 (``type='line'``) or on the (v1, v2) plane (``'plane'``) of the run's final model, on
    ``device`` (``None``: ``$HESSIANLAB_DEVICE``, else auto).

    The grid is ``symmetric_grid(radius, points)`` (unit eigenvectors: Euclidean distance in parameter
    space); each split in ``splits`` is evaluated on the same directions (``eval_samples``: a stratified
    subset). Returns the stored keys.
    """
    from hessianlab.landscape import eigen_directions, line, plane, symmetric_grid

    if type not in ("line", "plane"):
        raise ConfigError(f"type: {type!r} is not allowed here; use line or plane")
    device = select_device(device)
    model = run.load_model().to(device)
    k = 1 if type == "line" else 2
    eig = eigen_directions(model, place_datasets(device, run.load_data("train"))[0], k=k, samples=samples, seed=seed,
                           tol=tol)
    grid = symmetric_grid(radius, points)
    keys = []
    for split in splits:
        (data,) = place_datasets(device, run.load_data(split, subset=eval_samples))
        if type == "line":
            result = line(model, data, eig[0], grid, batch_size=batch_size, kind="eigen")
            directions = {"d1": eig[0]}
        else:
            result = plane(model, data, eig[0], eig[1], grid, grid, batch_size=batch_size, kinds=("eigen", "eigen"))
            directions = {"d1": eig[0], "d2": eig[1]}
        key = landscape_key(type, split, radius=radius, points=points, samples=samples, seed=seed, tol=tol,
                            eval_samples=eval_samples)
        _store(run, key, result, directions, {"eigenvalues": [float(v) for v in eig.eigenvalues]})
        keys.append(key)
    return keys


def interpolation_landscape(run: RunDir, *, target: str | Path, splits: Sequence[str] = ("train", "test"),
                            start: float = -0.5, stop: float = 1.5, points: int = 21, eval_samples: int | None = None,
                            batch_size: int = 1024, device: str | torch.device | None = None) -> list[str]:
    """Loss on ``(1 - α) θ_run + α θ_target`` for ``α`` in ``linspace(start, stop, points)`` (evaluated on
    ``device``); returns the keys.

    The saved direction ``d`` is ``θ_target - θ_run``.
    """
    from hessianlab.landscape import interpolate, interpolation_direction

    other = RunDir.open(Path(target))
    if other.status.get("status") != "finished":
        raise ConfigError(f"target run {target} is {other.status.get('status')}, not finished; train it first")
    device = select_device(device)
    model_a, model_b = run.load_model().to(device), other.load_model().to(device)
    alphas = torch.linspace(start, stop, points, dtype=torch.float64)
    keys = []
    for split in splits:
        (data,) = place_datasets(device, run.load_data(split, subset=eval_samples))
        result = interpolate(model_a, model_b, data, alphas, batch_size=batch_size)
        key = landscape_key("interpolate", split, target=target, start=start, stop=stop, points=points,
                            eval_samples=eval_samples)
        _store(run, key, result, {"d": interpolation_direction(model_a, model_b)}, {"target": str(target)})
        keys.append(key)
    return keys

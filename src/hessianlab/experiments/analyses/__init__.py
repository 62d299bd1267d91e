"""Analyses an experiment spec runs on each trained model: a registry ``ANALYSES[kind]``.

Every analysis is called as ``ANALYSES[kind](run, params, context)`` with ``params`` already validated
and completed with defaults (see :attr:`Analysis.params`), writes with ``run.write_result(kind, key,
payload)``, and tells the runner which results it writes: ``ANALYSES[kind].result_keys(params, context)``
lists ``(results.json kind, key)`` pairs; a run whose results lack one of them gets the analysis (again).
Keys hold every setting that changes the numbers, so changing one (``tol``, ``steps``, ``eps``, ...) always
recomputes, and the same settings always reuse the stored result. A transfer attack or an interpolation whose
selector picks the run itself has no result keys (it would repeat the white-box attack / draw a flat line).

What each analysis writes into ``results.json`` (``S``: ``all`` or a sample count; numbers as Python prints them)

* ``eigs`` -> ``["eigs"]["METHOD/WHICH/k=K/SPLIT/samples=S/seed=N/DTYPE/tol=T[/verify][/params=REGEX]"]``:
  :meth:`EigenResult.to_dict` (method, which, k, eigenvalues, residual_norms, relative_residuals, converged,
  num_matvecs, iterations, seconds, tol, floor, operator_settings, info) [+ ``verify``].
* ``subsampled`` -> ``["subsampled"][<eigs key with samples=B_H>]``, one per entry of ``samples``, same payload.
* ``input_stats`` -> ``["input_stats"]["SPLIT/samples=S/seed=N/DTYPE/tol=T"]``: ``lambda1_x`` and ``grad_norm_x``
  (mean, median, q10, q90), ``converged_fraction``, ``settings``.
* ``attack`` -> ``["attack"]["METHOD/SPLIT/eps=E1,E2/samples=S[/steps=N][/from:SOURCE_RUN_NAME]"]``, one per
  method x split (``steps`` for ifgsm/pgd):
  :meth:`RobustResult.to_dict` (eps, accuracy, clean_accuracy, attack, num_samples, transfer) + ``split``,
  ``source`` (the source run folder, or null).
* ``landscape`` -> ``["landscape"]["line|plane/SPLIT/radius=R/points=N/samples=S/seed=K/tol=T/eval=E"]`` or
  ``["landscape"]["interpolate/SPLIT/to:TARGET_RUN_NAME/start=A/stop=B/points=N/eval=E"]``: ``Line.to_dict()`` /
  ``Plane.to_dict()`` + ``file`` (``landscape/<key>.json`` in the run folder, directions beside it as .pt),
  ``eigenvalues`` (line, plane) or ``target`` (interpolate).
* ``theorem1`` -> ``["theorem1"]["SPLIT/samples=S/seed=N/method=M/rtol=R"]``: ``summary``, ``num_classes``,
  ``rtol``, ``method``, ``settings`` and per-sample lists ``eig_min``, ``eig_max``, ``ratio``, ``rank``,
  ``rank_le_classes``, ``rank_exact``.

λ1 per epoch is not an analysis: set ``track_lambda1`` in the spec's ``base`` (it lands in ``metrics.jsonl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from hessianlab.attacks import ATTACK_NAMES
from hessianlab.experiments import params as P
from hessianlab.experiments.analyses import attack as _attack
from hessianlab.experiments.analyses import curvature as _curv
from hessianlab.experiments.analyses import landscape as _land
from hessianlab.experiments.grid import select
from hessianlab.experiments.store import RunDir

__all__ = ["ANALYSES", "Analysis", "AnalysisContext"]


@dataclass(frozen=True)
class AnalysisContext:
    """What an analysis may know about the sweep: run folders by name, the sweep points, the zip groups and
    the execution ``device`` (``auto``, ``cpu``, ``cuda[:N]``; ``None``: ``$HESSIANLAB_DEVICE``, else auto).

    ``select(selector)`` is the folder of the run :func:`hessianlab.experiments.grid.select` picks for this run
    (``{batch_size: 64}`` -> the batch-size-64 run with the same seed etc.); ``is_self(selector)`` tells
    whether that is this run.
    """

    name: str
    folders: Mapping[str, str]
    points: Mapping[str, Mapping[str, Any]]
    groups: tuple[tuple[str, ...], ...] = ()
    device: str | None = None

    def selected(self, selector: Mapping[str, Any]) -> str:
        """The name of the one run ``selector`` picks; :class:`KeyError` when it picks none or several."""
        found = select(self.points, self.name, selector, self.groups)
        if len(found) != 1:
            raise KeyError(f"{selector} selects {len(found)} runs of the sweep for {self.name}, not one")
        return found[0]

    def select(self, selector: Mapping[str, Any]) -> Path:
        return Path(self.folders[self.selected(selector)])

    def is_self(self, selector: Mapping[str, Any] | None) -> bool:
        return selector is not None and self.selected(selector) == self.name


@dataclass(frozen=True)
class Analysis:
    """One analysis kind: parameter schema, result keys and the function that computes and stores it."""

    kind: str
    params: Mapping[str, P.Param]
    keys: Callable[[dict[str, Any], AnalysisContext], list[tuple[str, str]]]
    fn: Callable[[RunDir, dict[str, Any], AnalysisContext], Any]
    doc: str

    def __call__(self, run: RunDir, params: dict[str, Any], context: AnalysisContext) -> None:
        self.fn(run, params, context)

    def result_keys(self, params: dict[str, Any], context: AnalysisContext) -> list[tuple[str, str]]:
        return self.keys(params, context)


_SPLIT = P.choice("train", "test")
_HESSIAN = {
    "k": P.Param(20, P.positive_int), "split": P.Param("train", _SPLIT), "seed": P.Param(0, P.non_negative_int),
    "params": P.Param(None, P.optional(P.regex)), "dtype": P.Param("float32", P.choice(*_curv.DTYPES)),
    "chunk_size": P.Param(1024, P.positive_int), "tol": P.Param(1e-4, P.number(0.0, open_low=True)),
    "method": P.Param("lanczos", P.choice("lanczos", "power")), "which": P.Param("LA", P.choice("LA", "SA", "LM")),
}


def _eigs_keys(p: dict[str, Any], kind: str, samples: list[Any]) -> list[tuple[str, str]]:
    return [(kind, _curv.eigs_key(k=p["k"], method=p["method"], which=p["which"], split=p["split"], samples=s,
                                  seed=p["seed"], dtype=p["dtype"], params=p["params"], tol=p["tol"],
                                  verify=p.get("verify", False))) for s in samples]


def _attack_source(p: dict[str, Any], ctx: AnalysisContext) -> Path | None:
    """The run whose model crafts the examples; ``None`` (white-box) also when the selector picks the run
    itself: the source model's own accuracy on its D_attack is its white-box accuracy (Yao et al. Tables 3-4,
    row M_ORI), stored once under the white-box key."""
    if p["source"] is None or ctx.is_self(p["source"]):
        return None
    return ctx.select(p["source"])


def _run_attack(run: RunDir, p: dict[str, Any], ctx: AnalysisContext) -> None:
    source = _attack_source(p, ctx)
    _attack.attack(run, methods=p["methods"], eps=p["eps"], splits=p["splits"], samples=p["samples"],
                   steps=p["steps"], batch_size=p["batch_size"], source=source, device=ctx.device)


def _attack_keys(p: dict[str, Any], ctx: AnalysisContext) -> list[tuple[str, str]]:
    source = _attack_source(p, ctx)
    return [("attack", _attack.attack_key(m, s, source, eps=p["eps"], samples=p["samples"], steps=p["steps"]))
            for m in p["methods"] for s in p["splits"]]


def _run_landscape(run: RunDir, p: dict[str, Any], ctx: AnalysisContext) -> None:
    common = {"splits": p["splits"], "points": p["points"], "eval_samples": p["eval_samples"],
              "batch_size": p["batch_size"], "device": ctx.device}
    if p["type"] == "interpolate":
        if ctx.is_self(p["target"]):
            return
        _land.interpolation_landscape(run, target=ctx.select(p["target"]), start=p["start"], stop=p["stop"], **common)
    else:
        _land.eigen_landscape(run, type=p["type"], radius=p["radius"], samples=p["samples"], seed=p["seed"],
                              tol=p["tol"], **common)


def _landscape_keys(p: dict[str, Any], ctx: AnalysisContext) -> list[tuple[str, str]]:
    if p["type"] == "interpolate" and ctx.is_self(p["target"]):
        return []
    target = ctx.select(p["target"]) if p["type"] == "interpolate" else None
    return [("landscape", _land.landscape_key(p["type"], s, radius=p["radius"], points=p["points"],
                                              samples=p["samples"], seed=p["seed"], tol=p["tol"],
                                              eval_samples=p["eval_samples"], target=target, start=p["start"],
                                              stop=p["stop"])) for s in p["splits"]]


ANALYSES: dict[str, Analysis] = {a.kind: a for a in (
    Analysis("eigs", {**_HESSIAN, "samples": P.Param("all", P.samples), "verify": P.Param(False, P.boolean)},
             lambda p, ctx: _eigs_keys(p, "eigs", [p["samples"]]),
             lambda run, p, ctx: _curv.eigs(run, **p, device=ctx.device), "top-k Hessian eigenpairs"),
    Analysis("subsampled", {**_HESSIAN, "samples": P.Param(None, P.list_of(P.samples), required=True)},
             lambda p, ctx: _eigs_keys(p, "subsampled", p["samples"]),
             lambda run, p, ctx: _curv.subsampled(run, **p, device=ctx.device),
             "eigs of the Hessian of B_H samples, per B_H"),
    Analysis("input_stats", {"samples": P.Param("all", P.samples), "split": P.Param("train", _SPLIT),
                             "seed": P.Param(0, P.non_negative_int), "tol": P.Param(1e-4, P.number(0.0, open_low=True)),
                             "dtype": P.Param("float32", P.choice(*_curv.DTYPES))},
             lambda p, ctx: [("input_stats", _curv.input_stats_key(**p))],
             lambda run, p, ctx: _curv.input_stats(run, **p, device=ctx.device),
             "per-sample input-Hessian λ1 and input-gradient norm"),
    Analysis("attack", {"methods": P.Param(None, P.list_of(P.choice(*ATTACK_NAMES)), required=True),
                        "eps": P.Param(None, P.list_of(P.number(0.0)), required=True),
                        "splits": P.Param(["test"], P.list_of(_SPLIT)), "samples": P.Param(None, P.optional(P.positive_int)),
                        "steps": P.Param(None, P.optional(P.positive_int)), "batch_size": P.Param(256, P.positive_int),
                        "source": P.Param(None, P.optional(P.selector))},
             _attack_keys, _run_attack, "robust accuracy per method, radius and split (optionally transferred)"),
    Analysis("landscape", {"type": P.Param("line", P.choice("line", "plane", "interpolate")),
                           "splits": P.Param(["train", "test"], P.list_of(_SPLIT)), "radius": P.Param(1.0, P.number(0.0, open_low=True)),
                           "points": P.Param(21, P.odd_int), "samples": P.Param("all", P.samples),
                           "seed": P.Param(0, P.non_negative_int), "tol": P.Param(1e-4, P.number(0.0, open_low=True)),
                           "eval_samples": P.Param(None, P.optional(P.positive_int)),
                           "batch_size": P.Param(1024, P.positive_int), "target": P.Param(None, P.optional(P.selector)),
                           "start": P.Param(-0.5, P.number()), "stop": P.Param(1.5, P.number())},
             _landscape_keys, _run_landscape, "loss along v1, on (v1, v2), or interpolated to another run"),
    Analysis("theorem1", {"samples": P.Param(64, P.samples), "split": P.Param("test", _SPLIT),
                          "seed": P.Param(0, P.non_negative_int), "method": P.Param("auto", P.choice("auto", "dense", "lanczos")),
                          "rtol": P.Param(1e-7, P.number(0.0, open_low=True))},
             lambda p, ctx: [("theorem1", _curv.theorem1_key(**p))],
             lambda run, p, ctx: _curv.theorem1(run, **p, device=ctx.device),
             "rank and PSD-ness of per-sample input Hessians"),
)}

"""Metric paths: named numbers of a run, as used by tables, figures and claims.

========================================  =============================================================
path                                      value
========================================  =============================================================
``config.<field>``                        a training-config field (``config.batch_size``, ``config.lr``)
``final.<metric>``                        the last ``metrics.jsonl`` record (``final.test_acc``)
``summary.<field>``                       ``status.json`` summary (``summary.reached_target`` -> 1.0/0.0)
``eigs.lambda1_train``                    λ1 of the parameter Hessian on the whole training split
``eigs.lambda1_test``                     the same on the test split
``attack.<method>.<split>.<eps>``         white-box robust accuracy (``attack.fgsm.test.0.02``)
``input.lambda1_x[.<split>[.<stat>]]``    input-Hessian λ1^x (split default train, stat default mean)
``input.grad_norm_x[.<split>[.<stat>]]``  ||∇x J|| likewise (stat: mean, median, q10 or q90)
``theorem1.<stat>[.<split>]``             input-Hessian Theorem 1 summary (split default test): ``fraction_psd``,
                                          ``fraction_rank_le_classes``, ``max_rank``, ``median_ratio``, ``min_ratio``
``epochs.spearman.<a>.<b>``               Spearman's ρ over the epochs between two ``metrics.jsonl`` fields
                                          (``epochs.spearman.lambda1.lambda1_block``); ``None`` below 3 epochs
                                          holding both or when one is constant
========================================  =============================================================

Result keys hold every setting (see :mod:`hessianlab.experiments.analyses`), so one run may hold several
results for one path; the most accurate wins. ``eigs.*`` uses ``results['eigs']`` (and
``results['subsampled']``) entries for the whole parameter vector with ``which=LA``; among several it prefers
the one over most samples of the split (``all`` first), then the larger k, then float64, then the smaller tol
(:func:`spectrum` with ``prefer='samples'``; spectrum plots prefer the larger k). ``attack.*`` reads white-box
``results['attack']`` entries of the method and split holding the radius (transfer attacks are never used),
preferring most samples, then most steps, then the latest written. ``input.*`` prefers ``input_stats`` over
most samples, then the smaller tol; ``theorem1.*`` the result over most samples. A path whose data is missing
gives ``None``; a malformed path is a :class:`ConfigError`.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from hessianlab.errors import ConfigError
from hessianlab.report.runs import RunRecord

ROOTS = ("config", "final", "summary", "eigs", "attack", "input", "theorem1", "epochs")
INPUT_QUANTITIES = ("lambda1_x", "grad_norm_x")
INPUT_STATS = ("mean", "median", "q10", "q90")
THEOREM1_STATS = ("fraction_psd", "fraction_rank_le_classes", "max_rank", "median_ratio", "min_ratio")
SPLITS = ("train", "test")
EIGS_KINDS = ("eigs", "subsampled")


def check_path(path: str) -> None:
    """Raise :class:`ConfigError` naming the problem when ``path`` is not a valid metric path."""
    if not isinstance(path, str) or "." not in path:
        raise ConfigError(f"metric path {path!r} must look like ROOT.NAME with ROOT one of {', '.join(ROOTS)}")
    root, rest = path.split(".", 1)
    if root not in ROOTS:
        raise ConfigError(f"metric path {path!r}: unknown root {root!r}; use one of {', '.join(ROOTS)}")
    if root == "eigs" and rest not in ("lambda1_train", "lambda1_test"):
        raise ConfigError(f"metric path {path!r}: use eigs.lambda1_train or eigs.lambda1_test")
    if root == "attack":
        parts = rest.split(".", 2)
        if len(parts) != 3 or parts[1] not in SPLITS or _float(parts[2]) is None:
            raise ConfigError(f"metric path {path!r}: use attack.METHOD.SPLIT.EPS, e.g. attack.fgsm.test.0.02")
    if root == "input":
        parts = rest.split(".")
        if (parts[0] not in INPUT_QUANTITIES or len(parts) > 3 or (len(parts) > 1 and parts[1] not in SPLITS)
                or (len(parts) > 2 and parts[2] not in INPUT_STATS)):
            raise ConfigError(f"metric path {path!r}: use input.lambda1_x|grad_norm_x[.train|test[."
                              f"{'|'.join(INPUT_STATS)}]]")
    if root == "theorem1":
        parts = rest.split(".")
        if parts[0] not in THEOREM1_STATS or len(parts) > 2 or (len(parts) == 2 and parts[1] not in SPLITS):
            raise ConfigError(f"metric path {path!r}: use theorem1.{'|'.join(THEOREM1_STATS)}[.train|test]")
    if root == "epochs":
        parts = rest.split(".")
        if len(parts) != 3 or parts[0] != "spearman" or not all(parts[1:]):
            raise ConfigError(f"metric path {path!r}: use epochs.spearman.FIELD.FIELD, e.g. "
                              "epochs.spearman.lambda1.lambda1_block")


def value(run: RunRecord, path: str) -> Any:
    """The value of ``path`` for ``run`` (``None`` when missing); numbers as float, config fields as stored."""
    check_path(path)
    root, rest = path.split(".", 1)
    if root == "config":
        return run.config.get(rest)
    if root == "final":
        return _number(run.final.get(rest))
    if root == "summary":
        return _number(run.summary.get(rest))
    if root == "eigs":
        return lambda1(run, rest.removeprefix("lambda1_"))
    if root == "attack":
        method, split, eps = rest.split(".", 2)
        return attack_accuracy(run, method, split, float(eps))
    parts = rest.split(".")
    if root == "epochs":
        return epoch_spearman(run, parts[1], parts[2])
    if root == "theorem1":
        return theorem1_stat(run, parts[0], parts[1] if len(parts) > 1 else "test")
    return input_stat(run, parts[0], parts[1] if len(parts) > 1 else "train", parts[2] if len(parts) > 2 else "mean")


def unit_of(path: str) -> tuple[float, str, str]:
    """``(scale, unit of a value, unit of a difference)`` for displaying ``path``: accuracies (``attack.*``,
    ``*_acc``) as % and percentage points (scale 100), updates and seconds by name, others unitless."""
    root, rest = path.split(".", 1)
    if root == "attack" or rest.endswith("_acc") or rest.endswith(".acc"):
        return 100.0, "%", " pp"
    if rest.endswith("updates"):
        return 1.0, " updates", " updates"
    if rest.endswith("seconds"):
        return 1.0, " s", " s"
    return 1.0, "", ""


def parse_eigs_key(key: str) -> dict[str, str] | None:
    """Split an eigs key ``METHOD/WHICH/k=K/SPLIT/samples=S/seed=N/DTYPE[/tol=T][/verify][/params=RE]``
    (``tol`` is ``''`` in keys written before it was part of them); ``None`` if malformed."""
    parts = key.split("/")
    if len(parts) < 7 or not parts[2].startswith("k=") or not parts[4].startswith("samples="):
        return None
    rest = parts[7:]
    tol = rest.pop(0).removeprefix("tol=") if rest and rest[0].startswith("tol=") else ""
    if rest and rest[0] == "verify":
        rest.pop(0)
    return {"method": parts[0], "which": parts[1], "k": parts[2][2:], "split": parts[3],
            "samples": parts[4][len("samples="):], "seed": parts[5].removeprefix("seed="), "dtype": parts[6],
            "tol": tol, "params": "/".join(rest).removeprefix("params="), "key": key}


def _eigs_entries(run: RunRecord) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """``(parsed key, payload)`` of LA, whole-parameter eigs results in kinds ``eigs`` and ``subsampled``."""
    for kind in EIGS_KINDS:
        for key, payload in run.results.get(kind, {}).items():
            info = parse_eigs_key(key)
            if info is not None and info["which"] == "LA" and not info["params"] and payload.get("eigenvalues"):
                yield info, payload


def _sample_rank(samples: str) -> float:
    return math.inf if samples == "all" else float(samples) if samples.isdigit() else 0.0


def _key_setting(key: str, name: str) -> str:
    """The value of the ``name=VALUE`` part of a result key (``''`` when absent)."""
    return next((p[len(name) + 1:] for p in key.split("/") if p.startswith(name + "=")), "")


def _accuracy_rank(tol: str) -> float:
    """Smaller tolerances rank higher; an unknown one lowest."""
    value = _float(tol)
    return -value if value is not None else -math.inf


def spectrum(run: RunRecord, split: str, samples: str | None = None, *, prefer: str = "k") -> list[float] | None:
    """Top eigenvalues (LA, whole parameter vector) on ``split``.

    ``samples`` restricts to one sample count; otherwise every count competes. Among candidates the one with
    most eigenvalues wins when ``prefer='k'`` (spectrum plots), the one over most samples when
    ``prefer='samples'`` (λ1 in tables); float64 and then the key break ties.
    """
    best, rank = None, None
    for info, payload in _eigs_entries(run):
        if info["split"] != split or (samples is not None and info["samples"] != samples):
            continue
        k = int(info["k"]) if info["k"].isdigit() else 0
        size = _sample_rank(info["samples"])
        this = ((k, size) if prefer == "k" else (size, k)) + (info["dtype"] == "float64",
                                                             _accuracy_rank(info["tol"]), info["key"])
        if rank is None or this > rank:
            best, rank = payload, this
    if best is None:
        return None
    return [math.nan if v is None else float(v) for v in best["eigenvalues"]]


def sample_sizes(run: RunRecord, split: str = "train") -> list[str]:
    """The distinct ``samples`` values of LA eigs results on ``split`` (``'all'`` last)."""
    found = {info["samples"] for info, _ in _eigs_entries(run) if info["split"] == split}
    return sorted(found, key=lambda s: (s == "all", int(s) if s.isdigit() else 0))


def lambda1(run: RunRecord, split: str) -> float | None:
    """λ1 of the full-split parameter Hessian, or ``None``."""
    values = spectrum(run, split, prefer="samples")
    return values[0] if values else None


def attack_accuracy(run: RunRecord, method: str, split: str, eps: float, *, transfer: bool = False) -> float | None:
    """White-box (or, with ``transfer``, transferred) robust accuracy of ``method`` on ``split`` at radius
    ``eps``, or ``None`` (see the module docstring for the choice among several results)."""
    best, rank = None, None
    for order, (key, payload) in enumerate(run.results.get("attack", {}).items()):
        if bool(payload.get("transfer")) != transfer or payload.get("split") != split or key.split("/")[0] != method:
            continue
        for e, acc in zip(payload.get("eps", []), payload.get("accuracy", [])):
            if math.isclose(float(e), eps, rel_tol=1e-9, abs_tol=1e-12):
                steps = (payload.get("attack") or {}).get("steps") or 0
                this = (payload.get("num_samples") or 0, steps, order)
                if rank is None or this > rank:
                    best, rank = _number(acc), this
    return best


def attack_eps(runs: list[RunRecord], method: str) -> list[float]:
    """The radii of white-box ``method`` results over ``runs``, largest first (Yao et al. column order)."""
    found: set[float] = set()
    for run in runs:
        for key, payload in run.results.get("attack", {}).items():
            if not payload.get("transfer") and key.split("/")[0] == method:
                found.update(float(e) for e in payload.get("eps", []))
    return sorted(found, reverse=True)


def input_stat(run: RunRecord, quantity: str, split: str = "train", stat: str = "mean") -> float | None:
    """Summary ``stat`` of ``quantity`` (``lambda1_x`` or ``grad_norm_x``) from ``input_stats`` on ``split``."""
    payload = _best(run, "input_stats", split)
    return None if payload is None else _number(payload.get(quantity, {}).get(stat))


def theorem1_stat(run: RunRecord, stat: str, split: str = "test") -> float | None:
    """Summary ``stat`` of the ``theorem1`` result on ``split`` (e.g. ``fraction_psd``), or ``None``."""
    payload = _best(run, "theorem1", split)
    return None if payload is None else _number(payload.get("summary", {}).get(stat))


def epoch_spearman(run: RunRecord, a: str, b: str) -> float | None:
    """Spearman's ρ between the per-epoch fields ``a`` and ``b`` over the epochs holding finite values of both;
    ``None`` with fewer than 3 such epochs or when either is constant."""
    from scipy import stats

    values = [(_number(m.get(a)), _number(m.get(b))) for m in run.metrics]
    pairs = [(x, y) for x, y in values if x is not None and y is not None]
    if len(pairs) < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return None
    return float(stats.spearmanr([x for x, _ in pairs], [y for _, y in pairs]).statistic)


def _best(run: RunRecord, kind: str, split: str) -> dict[str, Any] | None:
    """The ``kind`` result on ``split`` over most samples, then with the smallest tol, then the last key."""
    entries = run.results.get(kind, {})
    ranked = [((_sample_rank(_key_setting(k, "samples")), _accuracy_rank(_key_setting(k, "tol")), k), k)
              for k in entries if k.split("/")[0] == split]
    return entries[max(ranked)[1]] if ranked else None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

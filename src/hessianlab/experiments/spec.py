"""Experiment specs (``experiments/*.yaml``): schema, presets and validation before any work starts.

A spec has ``name``, ``description``, optional ``output`` (a relative subfolder, default ``name``), a
``base`` config (any :class:`~hessianlab.training.TrainConfig` field), ``sweep`` axes (field -> list of
values) and ``zip`` groups (``sweep.zip``: a list of ``{field: [values]}`` mappings whose lists have one
length and move together; the run grid is the product of the axes and groups, see
:mod:`hessianlab.experiments.grid`), ``analyses`` (a list of ``{kind, id?, where?, **params}``, kinds from
:data:`~hessianlab.experiments.analyses.ANALYSES`; ``where: {axis: value or [values]}`` restricts one to
the matching runs), named ``presets``, opaque ``claims`` and ``reference`` (the paper tables its report shows,
names from :data:`hessianlab.report.reference.PAPER_TABLES`) and ``execution`` (where the jobs run: executor,
resources per job, Slurm options; see :mod:`hessianlab.experiments.execution`).

``init_from`` (in ``base``, a sweep axis or a zip group) is ``null`` or a run selector ``{axis: value}``
naming another grid point of the same spec (:func:`hessianlab.experiments.grid.select`); that run is
trained first and its final weights start this one. Selectors never name a path, so every run stays inside
the output folder.

A preset deep-merges into the spec: ``base`` fields override, ``sweep`` axes (and ``zip``, as a whole)
replace (``null`` removes), ``analyses`` override parameters by analysis id (``null`` removes one),
``description`` replaces, ``execution`` keys override one by one. Every mistake is one :class:`ConfigError`
naming the field path (``analyses[2].eps``) and what is allowed. ``output`` must be relative and free of ``..``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Mapping

import yaml

from hessianlab.errors import ConfigError
from hessianlab.experiments.analyses import ANALYSES
from hessianlab.experiments.execution import check_block
from hessianlab.experiments.grid import RunPlan, expand, select
from hessianlab.experiments.limits import check_limits, limit_analysis_params, limit_plans
from hessianlab.experiments.spec_analyses import check_analysis, check_where, matches
from hessianlab.experiments.spec_sweep import check_init_from, mapping, parse_base, parse_sweep

TOP_KEYS = ("name", "description", "output", "base", "sweep", "analyses", "presets", "claims", "reference",
            "execution")
PRESET_KEYS = ("description", "base", "sweep", "analyses", "execution")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no object construction) that also reads ``1e-3`` as a float (YAML 1.2 rule)."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True)
class AnalysisSpec:
    """One analysis of the spec: unique ``id``, registry ``kind``, validated ``params`` (defaults filled) and
    ``where`` (``{axis: [values]}``; empty: every run)."""

    id: str
    kind: str
    params: dict[str, Any]
    where: dict[str, list[Any]] = field(default_factory=dict)

    def applies(self, point: Mapping[str, Any]) -> bool:
        """Whether this analysis runs on the run at sweep ``point``."""
        return matches(point, self.where)


@dataclass(frozen=True)
class Spec:
    """A validated spec with its preset applied; :meth:`expand` gives the run grid."""

    name: str
    description: str
    output: str
    preset: str | None
    base: dict[str, Any]
    sweep: tuple[tuple[str, tuple[Any, ...]], ...]
    analyses: tuple[AnalysisSpec, ...]
    claims: tuple[dict[str, Any], ...] = ()
    presets: tuple[str, ...] = field(default=())
    groups: tuple[tuple[str, ...], ...] = ()
    reference: tuple[str, ...] = ()
    execution: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)

    def expand(self) -> list[RunPlan]:
        """One :class:`RunPlan` per grid point, in a stable order with stable names (configs truncated by
        ``limits``, see :mod:`hessianlab.experiments.limits`)."""
        return limit_plans(expand(self.base, self.sweep, self.groups), self.limits)

    def limited(self, *, samples: int | None = None, epochs: int | None = None) -> "Spec":
        """This spec truncated to at most ``samples`` samples and ``epochs`` epochs per run and analysis."""
        limits = {**self.limits, **check_limits(samples, epochs)}
        analyses = tuple(dataclasses.replace(a, params=limit_analysis_params(a.params, limits)) for a in self.analyses)
        return dataclasses.replace(self, analyses=analyses, limits=limits)

    def default_out(self) -> Path:
        """``runs/<output>/<preset or 'default'>``."""
        return Path("runs") / self.output / (self.preset or "default")

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (after the preset) as plain JSON data (``spec.json`` of a sweep)."""
        grouped, values = {a for g in self.groups for a in g}, dict(self.sweep)
        sweep: dict[str, Any] = {}
        for axis, axis_values in self.sweep:  # the zip groups stand where their first axis stands
            if axis not in grouped:
                sweep[axis] = list(axis_values)
            elif "zip" not in sweep:
                sweep["zip"] = [{a: list(values[a]) for a in g} for g in self.groups]
        return {"name": self.name, "description": self.description, "output": self.output, "preset": self.preset,
                "base": dict(self.base), "sweep": sweep,
                "analyses": [{"id": a.id, "kind": a.kind, **({"where": a.where} if a.where else {}), **a.params}
                             for a in self.analyses],
                "claims": [dict(c) for c in self.claims], "presets": list(self.presets),
                "reference": list(self.reference), **({"execution": dict(self.execution)} if self.execution else {}),
                **({"limits": dict(self.limits)} if self.limits else {})}


def load_spec(path: str | Path, preset: str | None = None) -> Spec:
    """Read and validate the YAML spec at ``path`` with ``preset`` applied; :class:`ConfigError` if invalid."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{path}: spec file not found; pass a YAML spec such as experiments/example-batch-sweep.yaml") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; pass a YAML spec such as experiments/example-batch-sweep.yaml") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    try:
        return parse_spec(data, preset)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_spec(data: Any, preset: str | None = None) -> Spec:
    """Validate the spec mapping ``data`` (as read from YAML) and apply ``preset``."""
    mapping(data, "spec", TOP_KEYS)
    for key in ("name", "analyses"):
        if key not in data:
            raise ConfigError(f"{key}: required field is missing")
    name = _safe_name(data["name"], "name")
    presets = mapping(data.get("presets") or {}, "presets", None)
    for pname, body in presets.items():
        _safe_name(pname, f"presets.{pname}")
        mapping(body, f"presets.{pname}", PRESET_KEYS)
    merged = copy.deepcopy({k: v for k, v in data.items() if k != "presets"})
    if preset is not None:
        if preset not in presets:
            allowed = ", ".join(presets) or "none defined"
            raise ConfigError(f"preset: {preset!r} is not defined in spec {name!r}; choose one of: {allowed}")
        _apply_preset(merged, copy.deepcopy(presets[preset]), f"presets.{preset}")
    base = parse_base(merged.get("base") or {})
    sweep, groups = parse_sweep(merged.get("sweep") or {}, base)
    check_init_from(base, sweep)
    description = merged.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description: expected a string, got {description!r}")
    output = _relative_path(merged.get("output", name), "output")
    analyses = _analyses(merged["analyses"], dict(sweep))
    spec = Spec(name, description, output, preset, base, sweep, analyses, _claims(merged.get("claims") or []),
                tuple(presets), groups, _reference(merged.get("reference") or []), check_block(merged.get("execution")))
    _check_analysis_runs(spec.analyses, spec.expand(), groups)  # expand validates every grid point's config
    return spec


def _apply_preset(spec: dict[str, Any], preset: dict[str, Any], where: str) -> None:
    if "description" in preset:
        spec["description"] = preset["description"]
    if preset.get("execution") is not None:
        spec["execution"] = {**check_block(spec.get("execution")),
                             **check_block(preset["execution"], f"{where}.execution")}
    spec["base"] = {**mapping(spec.get("base") or {}, "base", None), **mapping(preset.get("base") or {}, f"{where}.base", None)}
    sweep = dict(mapping(spec.get("sweep") or {}, "sweep", None))
    for axis, values in mapping(preset.get("sweep") or {}, f"{where}.sweep", None).items():
        if values is None:
            sweep.pop(axis, None)
        else:
            sweep[axis] = values
    spec["sweep"] = sweep
    if not isinstance(spec["analyses"], list):
        raise ConfigError(f"analyses: expected a list of mappings, got {spec['analyses']!r}")
    entries = {_analysis_id(e, i): e for i, e in enumerate(spec["analyses"])}
    for aid, override in mapping(preset.get("analyses") or {}, f"{where}.analyses", None).items():
        if aid not in entries:
            raise ConfigError(f"{where}.analyses.{aid}: no analysis has id {aid!r}; ids: {', '.join(entries)}")
        if override is None:
            entries.pop(aid)
        else:
            entries[aid] = {**entries[aid], **mapping(override, f"{where}.analyses.{aid}", None)}
    spec["analyses"] = list(entries.values())


def _check_analysis_runs(analyses: tuple[AnalysisSpec, ...], plans: list[RunPlan],
                         groups: tuple[tuple[str, ...], ...]) -> None:
    """Every ``where`` matches a run, and every run selector picks exactly one run for each run it applies to."""
    points = {p.name: dict(p.point) for p in plans}
    for i, a in enumerate(analyses):
        chosen = [p.name for p in plans if a.applies(p.point)]
        if not chosen:
            raise ConfigError(f"analyses[{i}].where: selects no run of the sweep; name values the sweep has")
        for name in ("source", "target"):
            selector = a.params.get(name)
            for run in chosen if selector is not None else ():
                found = select(points, run, selector, groups)
                if len(found) != 1:
                    raise ConfigError(f"analyses[{i}].{name}: selects {len(found)} runs for run {run}; it must "
                                      "select exactly one (name more axes)")


def _analyses(entries: Any, axes: dict[str, tuple[Any, ...]]) -> tuple[AnalysisSpec, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"analyses: expected a list of mappings, got {entries!r}")
    out: list[AnalysisSpec] = []
    for i, entry in enumerate(entries):
        where = f"analyses[{i}]"
        aid = _safe_name(_analysis_id(entry, i), f"{where}.id")
        if any(a.id == aid for a in out):
            raise ConfigError(f"{where}.id: {aid!r} is used twice; give each analysis a distinct id")
        kind = entry["kind"]
        if kind not in ANALYSES:
            raise ConfigError(f"{where}.kind: unknown analysis {kind!r}; choose one of: {', '.join(ANALYSES)}")
        params = {k: v for k, v in entry.items() if k not in ("id", "kind", "where")}
        out.append(AnalysisSpec(aid, kind, check_analysis(kind, params, where, axes),
                                check_where(entry.get("where"), f"{where}.where", axes)))
    return tuple(out)


def _analysis_id(entry: Any, i: int) -> str:
    if not isinstance(entry, dict):
        raise ConfigError(f"analyses[{i}]: expected a mapping with a kind, got {entry!r}")
    if "kind" not in entry:
        raise ConfigError(f"analyses[{i}].kind: required; choose one of: {', '.join(ANALYSES)}")
    return entry.get("id", entry["kind"])


def _claims(claims: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(claims, list):
        raise ConfigError(f"claims: expected a list of mappings, got {claims!r}")
    for i, claim in enumerate(claims):
        if not isinstance(claim, dict) or not isinstance(claim.get("id"), str):
            raise ConfigError(f"claims[{i}]: expected a mapping with a string id, got {claim!r}")
    return tuple(dict(c) for c in claims)


def _reference(names: Any) -> tuple[str, ...]:
    """Paper table names for the report, checked now so that a typo fails before any training."""
    from hessianlab.report.reference import paper_tables  # lazy: the report package loads matplotlib

    return tuple(t.key for t in paper_tables(names, "reference"))


def _safe_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(f"{where}: expected a name of letters, digits, '.', '_' or '-', got {value!r}")
    return value


def _relative_path(value: Any, where: str) -> str:
    """A relative path without ``..``, so it stays inside the output folder."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a relative path, got {value!r}")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith(("/", "\\", "~")):
        raise ConfigError(f"{where}: {value!r} is absolute; use a path relative to the output folder")
    if ".." in re.split(r"[\\/]", value):
        raise ConfigError(f"{where}: {value!r} contains '..'; paths must stay inside the output folder")
    return value

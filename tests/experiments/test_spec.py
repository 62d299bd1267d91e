"""Experiment specs: validation errors name the field path, presets deep-merge, grids expand stably."""

from pathlib import Path

import pytest
import yaml

from hessianlab.errors import ConfigError
from hessianlab.experiments.spec import load_spec, parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "hessianlab" / "experiments" / "specs" / "example-batch-sweep.yaml"


def _spec(**over):
    data = {
        "name": "t", "description": "d",
        "base": {"dataset": "synthetic", "model": "mlp", "width": 0.05, "subset": 64, "max_epochs": 1},
        "sweep": {"batch_size": [16, 32], "seed": [0, 1]},
        "analyses": [{"id": "eigs", "kind": "eigs", "k": 2},
                     {"id": "fgsm", "kind": "attack", "methods": ["fgsm"], "eps": [0.1, 0.2],
                      "source": {"batch_size": 16}}],
        "presets": {"quick": {"base": {"max_epochs": 2}, "sweep": {"batch_size": [8], "seed": None},
                              "analyses": {"eigs": {"k": 3}, "fgsm": None}}},
        "claims": [{"id": "c1", "anything": [1, 2]}],
    }
    data.update(over)
    return data


@pytest.mark.parametrize("change, needle", [
    ({"bogus": 1}, "spec.bogus: unknown field"),
    ({"base": {"lrr": 0.1}}, "base.lrr: unknown field"),
    ({"base": {"lr": -1.0}}, "base.lr: must be > 0"),
    ({"sweep": {"batch_size": 16}}, "sweep.batch_size: expected a non-empty list"),
    ({"sweep": {"lr": [0.1, -2.0]}}, "sweep.lr[1]: must be > 0"),
    ({"analyses": [{"kind": "eigs", "k": "two"}]}, "analyses[0].k: expected a positive integer"),
    ({"analyses": [{"kind": "eigs"}, {"kind": "attack", "methods": ["fgsm"], "eps": [0.1, -1]}]},
     "analyses[1].eps[1]: expected a finite number >= 0"),
    ({"analyses": [{"kind": "hessian"}]}, "analyses[0].kind: unknown analysis 'hessian'; choose one of: eigs"),
    ({"analyses": [{"kind": "eigs", "kk": 1}]}, "analyses[0].kk: unknown parameter"),
    ({"analyses": [{"kind": "attack", "methods": ["nope"], "eps": [0.1]}]}, "analyses[0].methods[0]: expected one of fgsm"),
    ({"analyses": [{"kind": "attack", "methods": ["fgsm"], "eps": [0.1], "source": {"batch_size": 99}}]},
     "analyses[0].source.batch_size: 99 is not a value of the axis; allowed: 16, 32"),
    ({"analyses": [{"kind": "landscape", "type": "interpolate"}]}, "analyses[0].target: required"),
    ({"analyses": [{"kind": "landscape", "points": 4}]}, "analyses[0].points: expected a positive odd integer"),
    ({"output": "../elsewhere"}, "output: '../elsewhere' contains '..'"),
    ({"output": "/tmp/x"}, "output: '/tmp/x' is absolute"),
    ({"base": {"init_from": "/abs/run"}}, "base.init_from: expected null or a run selector"),
    ({"sweep": {"init_from": ["a/../../b"]}}, "sweep.init_from[0]: expected null or a run selector"),
    ({"base": {"init_from": {"lr": 0.1}}}, "base.init_from.lr: not a sweep axis; allowed: batch_size, seed"),
    ({"base": {"init_from": {"seed": 1}}}, "init_from: {seed: 1} selects the run (batch_size=16, seed=1) itself"),
    ({"sweep": {"seed": [0, 1], "zip": [{"batch_size": [16, 32], "init_from": [{"batch_size": 32}, {"batch_size": 16}]}]}},
     "init_from: the runs form a cycle (seed=0, batch_size=16, init_from=batch_size-32 -> seed=0, batch_size=32"),
    ({"sweep": {"zip": [{"batch_size": [16, 32], "lr": [0.1]}]}},
     "sweep.zip[0]: the lists of a zip group must have one length, got batch_size: 2, lr: 1"),
    ({"sweep": {"zip": [{"batch_size": [16, 16], "lr": [0.1, 0.1]}]}}, "sweep.zip[0]: rows must be distinct"),
    ({"sweep": {"zip": [{"batch_size": [16, 32], "lr": [0.1, -1.0]}]}}, "sweep.zip[0][1].lr: must be > 0"),
    ({"sweep": {"batch_size": [8], "zip": [{"batch_size": [16, 32], "lr": [0.1, 0.2]}]}},
     "sweep.batch_size: the field is both a sweep axis and in a zip group"),
    ({"sweep": {"zip": {"batch_size": [16]}}}, "sweep.zip: expected a list of groups"),
    ({"sweep": {"seed": [0, 1], "zip": [{"batch_size": [16, 32, 64], "lr": [0.1, 0.1, 0.2]}]},
      "analyses": [{"kind": "attack", "methods": ["fgsm"], "eps": [0.1], "source": {"lr": 0.1}}]},
     "analyses[0].source: selects 2 runs for run"),
    ({"analyses": [{"kind": "eigs", "where": {"batch_size": [16, 99]}}]},
     "analyses[0].where.batch_size: 99 is not a value of the axis; allowed: 16, 32"),
    ({"analyses": [{"kind": "eigs", "where": {"lr": 0.1}}]}, "analyses[0].where.lr: not a sweep axis"),
    ({"analyses": [{"kind": "eigs", "where": [16]}]}, "analyses[0].where: expected a mapping of sweep axes"),
    ({"claims": [{"no_id": 1}]}, "claims[0]: expected a mapping with a string id"),
    ({"name": "a/b"}, "name: expected a name"),
])
def test_validation_names_the_field(change, needle):
    with pytest.raises(ConfigError) as info:
        parse_spec(_spec(**change))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unknown_preset_and_bad_preset_override():
    with pytest.raises(ConfigError, match=r"preset: 'paper' is not defined in spec 't'; choose one of: quick"):
        parse_spec(_spec(), "paper")
    bad = _spec(presets={"quick": {"analyses": {"missing": {"k": 1}}}})
    with pytest.raises(ConfigError, match=r"presets.quick.analyses.missing: no analysis has id"):
        parse_spec(bad, "quick")
    with pytest.raises(ConfigError, match=r"presets.quick.bogus: unknown field"):
        parse_spec(_spec(presets={"quick": {"bogus": {}}}))


def test_preset_deep_merge():
    plain, quick = parse_spec(_spec()), parse_spec(_spec(), "quick")
    assert plain.base["max_epochs"] == 1 and quick.base["max_epochs"] == 2 and quick.base["width"] == 0.05
    assert dict(quick.sweep) == {"batch_size": (8,)}
    assert [a.id for a in quick.analyses] == ["eigs"]
    assert quick.analyses[0].params["k"] == 3 and quick.analyses[0].params["tol"] == 1e-4  # defaults kept
    assert quick.claims == ({"id": "c1", "anything": [1, 2]},)
    assert quick.default_out() == Path("runs/t/quick") and plain.default_out() == Path("runs/t/default")


def test_grid_expansion_count_and_stable_names(tmp_path):
    plans = parse_spec(_spec()).expand()
    assert len(plans) == 4
    assert [dict(p.point) for p in plans] == [{"batch_size": b, "seed": s} for b in (16, 32) for s in (0, 1)]
    assert plans[0].name.startswith("batch_size=16_seed=0-") and len(plans[0].name.split("-")[-1]) == 8
    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump(_spec()))
    assert [p.name for p in load_spec(file).expand()] == [p.name for p in plans]
    assert plans[3].config.batch_size == 32 and plans[3].config.seed == 1


def test_yaml_reading(tmp_path):
    file = tmp_path / "s.yaml"
    file.write_text("name: t\nbase: {dataset: synthetic, model: mlp, target_loss: 1e-3}\nanalyses: []\n")
    assert load_spec(file).base["target_loss"] == 1e-3  # a YAML-1.1 string without the 1.2 float rule
    file.write_text("name: t\nanalyses: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(file)
    file.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(file)


def test_example_spec_presets_load():
    for preset in (None, "quick", "smoke"):
        spec = load_spec(EXAMPLE, preset)
        assert spec.expand() and {a.kind for a in spec.analyses} >= {"eigs", "attack", "input_stats", "landscape"}
    assert load_spec(EXAMPLE, "smoke").base["dataset"] == "synthetic"


def _zipped(**over):
    """Two settings that move together (lr with its momentum) times two seeds."""
    sweep = {"zip": [{"lr": [0.1, 0.05], "momentum": [0.0, 0.9]}], "seed": [0, 1]}
    return _spec(sweep=sweep, analyses=[{"id": "eigs", "kind": "eigs", "k": 2}], presets={}, **over)


def test_zip_pairs_values_instead_of_the_full_grid():
    spec = parse_spec(_zipped())
    plans = spec.expand()
    assert [dict(p.point) for p in plans] == [{"lr": lr, "momentum": m, "seed": s}
                                              for lr, m in ((0.1, 0.0), (0.05, 0.9)) for s in (0, 1)]
    assert all((p.config.lr, p.config.momentum) in ((0.1, 0.0), (0.05, 0.9)) for p in plans)
    assert spec.groups == (("lr", "momentum"),)
    assert spec.to_dict()["sweep"] == {"zip": [{"lr": [0.1, 0.05], "momentum": [0.0, 0.9]}], "seed": [0, 1]}
    resolved = {k: v for k, v in spec.to_dict().items() if k not in ("preset", "presets")}
    assert [p.name for p in parse_spec(resolved).expand()] == [p.name for p in plans]
    # a preset replaces the zip groups as a whole, or removes them with null
    presets = {"one": {"sweep": {"zip": [{"lr": [0.2], "momentum": [0.5]}]}}, "none": {"sweep": {"zip": None}}}
    assert [dict(p.point) for p in parse_spec(_zipped() | {"presets": presets}, "one").expand()] == [
        {"lr": 0.2, "momentum": 0.5, "seed": 0}, {"lr": 0.2, "momentum": 0.5, "seed": 1}]
    assert len(parse_spec(_zipped() | {"presets": presets}, "none").expand()) == 2


def test_init_from_selector_resolves_to_the_source_run():
    sweep = {"zip": [{"adversarial": [None, "fgsm"], "init_from": [None, {"adversarial": None}],
                      "max_epochs": [3, 1]}], "seed": [0, 1]}
    data = _spec(sweep=sweep, presets={},
                 analyses=[{"id": "t", "kind": "attack", "methods": ["fgsm"], "eps": [0.1],
                            "source": {"adversarial": None}}])
    plans = {(p.point["adversarial"], p.point["seed"]): p for p in parse_spec(data).expand()}
    for seed in (0, 1):
        clean, robust = plans[None, seed], plans["fgsm", seed]
        assert clean.source is None and clean.config.init_from is None
        assert robust.source == clean.name and robust.config.init_from == clean.name
        assert robust.config.max_epochs == 1 and clean.config.max_epochs == 3
    # the dependent's config hash (and name) follows the source's config, not only the selector
    data["sweep"]["zip"][0]["max_epochs"] = [4, 1]
    again = {(p.point["adversarial"], p.point["seed"]): p for p in parse_spec(data).expand()}
    assert again["fgsm", 0].config.config_hash() != plans["fgsm", 0].config.config_hash()
    assert again["fgsm", 0].name != plans["fgsm", 0].name


def test_source_is_expanded_before_its_dependents_in_training_order():
    from hessianlab.experiments.grid import training_order

    sweep = {"zip": [{"batch_size": [16, 32, 64], "init_from": [{"batch_size": 32}, {"batch_size": 64}, None]}]}
    plans = parse_spec(_spec(sweep=sweep, presets={}, analyses=[])).expand()
    assert [p.point["batch_size"] for p in plans] == [16, 32, 64]  # grid order
    assert [p.point["batch_size"] for p in training_order(plans)] == [64, 32, 16]
    assert plans[0].source == plans[1].name and plans[1].source == plans[2].name


def test_where_restricts_an_analysis_to_matching_runs():
    data = _spec(analyses=[{"id": "plane", "kind": "landscape", "type": "plane", "where": {"batch_size": 32}},
                           {"id": "eigs", "kind": "eigs"}], presets={})
    spec = parse_spec(data)
    plane, eigs = spec.analyses
    assert plane.where == {"batch_size": [32]} and eigs.where == {}
    assert [p.point["batch_size"] for p in spec.expand() if plane.applies(p.point)] == [32, 32]
    assert all(eigs.applies(p.point) for p in spec.expand())
    assert spec.to_dict()["analyses"][0]["where"] == {"batch_size": [32]}

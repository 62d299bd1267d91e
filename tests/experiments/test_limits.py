"""``--limit-samples`` / ``--limit-epochs``: on every study's paper preset, the truncation caps sample counts and
epochs and changes nothing else (the end-to-end runs are in test_paper_presets.py)."""

from __future__ import annotations

import dataclasses

import pytest

from hessianlab.cli import main
from hessianlab.commands.reproduce import spec_paths, study_names
from hessianlab.errors import ConfigError
from hessianlab.experiments.spec import load_spec

CAPPED = {"subset", "test_subset", "max_epochs", "track_lambda1", "abs_eig_samples", "abs_every", "init_from"}


@pytest.mark.parametrize("study", study_names())
def test_limits_change_only_sample_counts_and_epochs(study: str) -> None:
    full = load_spec(spec_paths()[study], "paper")
    tiny = full.limited(samples=12, epochs=2)
    assert tiny.to_dict()["limits"] == {"samples": 12, "epochs": 2}
    plans, limited = full.expand(), tiny.expand()
    assert len({p.name for p in limited}) == len(plans)
    for plan, small in zip(plans, limited):
        assert small.point == plan.point and small.name != plan.name
        before, after = dataclasses.asdict(plan.config), dataclasses.asdict(small.config)
        assert {k for k in before if before[k] != after[k]} <= CAPPED
        assert after["subset"] <= 12 and after["test_subset"] <= 12 and after["max_epochs"] <= 2
        assert (small.source is None) == (plan.source is None)
        if small.source is not None:
            assert small.config.init_from == small.source and small.source in {p.name for p in limited}
    for a, b in zip(full.analyses, tiny.analyses):
        assert (a.id, a.kind, a.where) == (b.id, b.kind, b.where)
        for key, value in a.params.items():
            if key in ("samples", "eval_samples"):
                values = value if isinstance(value, list) else [value]
                new = b.params[key] if isinstance(value, list) else [b.params[key]]
                assert new == [min(v, 12) if isinstance(v, int) else v for v in values]
            else:
                assert b.params[key] == value, key


def test_bad_limits_are_one_line(capsys) -> None:
    with pytest.raises(ConfigError, match="limit-samples"):
        load_spec(spec_paths()["yao-batch-sweep"], "paper").limited(samples=0)
    assert main(["run", str(spec_paths()["example-batch-sweep"]), "--preset", "smoke", "--limit-epochs", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--limit-epochs" in err

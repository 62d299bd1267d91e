"""``hessianlab reproduce``: the shipped study specs parse under every preset, and a smoke run of all of them
writes every study's report and the index."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessianlab.cli import main
from hessianlab.commands.reproduce import PRESETS, spec_paths, study_names
from hessianlab.experiments.spec import load_spec
from hessianlab.report.claims import parse_claims

SPECS = spec_paths()
STUDIES = study_names()


def test_specs_are_shipped_in_the_package() -> None:
    assert {"yao-batch-sweep", "yao-adversarial-training", "yao-activations", "yao-input-hessian",
            "kamath-lr-vs-ratio", "kamath-momentum", "kamath-counterexample"} <= set(STUDIES)
    assert "example-batch-sweep" in SPECS and "example-batch-sweep" not in STUDIES
    repo_link = Path(__file__).resolve().parents[2] / "experiments"
    assert (repo_link / "yao-batch-sweep.yaml").resolve() == SPECS["yao-batch-sweep"].resolve()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_spec_parses_under_every_preset(name: str) -> None:
    spec = load_spec(SPECS[name])
    presets = PRESETS if name in STUDIES else spec.presets
    if name in STUDIES:
        assert set(PRESETS) <= set(spec.presets)
    for preset in presets:
        resolved = load_spec(SPECS[name], preset)
        assert resolved.expand(), (name, preset)
        parse_claims(list(resolved.claims))
        assert resolved.name == name


def test_unknown_study_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "no-such-study", "--preset", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no-such-study" in err and "yao-batch-sweep" in err


@pytest.mark.slow
def test_reproduce_all_smoke_writes_reports_and_index(tmp_path: Path) -> None:
    out = tmp_path / "repro"
    assert main(["reproduce", "all", "--preset", "smoke", "--workers", "2", "--quiet", "--out", str(out)]) == 0
    index_md, index_html = (out / "index.md").read_text(), (out / "index.html").read_text()
    for name in STUDIES:
        spec = load_spec(SPECS[name], "smoke")
        assert (out / spec.output / "report" / "report.md").is_file(), name
        assert (out / spec.output / "report" / "report.html").is_file(), name
        assert f"## {name}" in index_md
        assert f'href="{spec.output}/report/report.html"' in index_html
        for claim in spec.claims:
            assert claim.get("statement", claim["id"]) in index_md

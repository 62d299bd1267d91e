"""``hessianlab reproduce``: the shipped study specs parse under every preset, and a smoke run of all of them
writes every study's report and the index."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from hessianlab.cli import main
from hessianlab.commands.reproduce import PARTIAL_PRESETS, PRESETS, resolve_names, spec_paths, study_names
from hessianlab.experiments.spec import load_spec
from hessianlab.report.claims import parse_claims
from hessianlab.report.index import KINDS

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
    presets = [p for p in PRESETS if p not in PARTIAL_PRESETS or p in spec.presets] if name in STUDIES else spec.presets
    if name in STUDIES:
        assert set(PRESETS) - set(PARTIAL_PRESETS) <= set(spec.presets)
    for preset in presets:
        resolved = load_spec(SPECS[name], preset)
        assert resolved.expand(), (name, preset)
        parse_claims(list(resolved.claims))
        assert resolved.name == name


def test_unknown_study_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "no-such-study", "--preset", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no-such-study" in err and "yao-batch-sweep" in err


def test_full_presets_use_the_whole_training_set() -> None:
    """``all`` with ``--preset full`` is the two studies that define it; each trains on all 60,000 Fashion-MNIST
    images and takes its top-20 spectrum at tol 1e-4 on all of them; its description states a wall time."""
    assert resolve_names(["all"], "full") == ["kamath-counterexample", "yao-batch-sweep"]
    assert resolve_names(["all"], "quick") == STUDIES
    for name in ("kamath-counterexample", "yao-batch-sweep"):
        spec = load_spec(SPECS[name], "full")
        for plan in spec.expand():
            assert plan.config.dataset == "fashion-mnist" and plan.config.subset is None
            assert plan.config.test_subset is None and plan.config.track_lambda1 is None
        eigs = next(a for a in spec.analyses if a.id == "eigs")
        assert (eigs.params["k"], eigs.params["samples"], eigs.params["tol"]) == (20, "all", 1e-4)
        assert re.search(r"wall time on 2 cores", spec.description, re.I), spec.description
    with pytest.raises(Exception, match="preset: 'full' is not defined"):
        load_spec(SPECS["kamath-momentum"], "full")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``reproduce all --preset smoke`` once for this module; its output folder."""
    out = tmp_path_factory.mktemp("repro") / "repro"
    assert main(["reproduce", "all", "--preset", "smoke", "--workers", "2", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_reproduce_all_smoke_writes_reports_and_index(smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = smoke
    index_md, index_html = (out / "index.md").read_text(), (out / "index.html").read_text()
    for name in STUDIES:
        spec = load_spec(SPECS[name], "smoke")
        assert (out / spec.output / "report" / "report.md").is_file(), name
        assert (out / spec.output / "report" / "report.html").is_file(), name
        assert f"## {name}" in index_md
        assert f'href="{spec.output}/report/report.html"' in index_html
        for claim in spec.claims:
            assert claim.get("statement", claim["id"]) in index_md
    data = json.loads((out / "index.json").read_text())
    records = [v for s in data["studies"] for v in s["verdicts"]]
    assert len(records) == sum(len(load_spec(SPECS[n], "smoke").claims) for n in STUDIES)
    counts = Counter(v["verdict"] for v in records)
    # the per-paper table's total row equals the verdicts of every claim
    total = next(line for line in index_md.splitlines() if line.startswith("| all |"))
    assert total == "| all | " + " | ".join(str(counts[k]) for k in KINDS) + f" | {len(records)} |"
    assert data["timing"]["wall_s"] > 0 and "min wall" in index_md


@pytest.mark.slow
def test_index_renders_in_headless_chromium(smoke: Path, tmp_path: Path) -> None:
    """The verdict table of every study, with effects and intervals, as a browser shows it."""
    browser = next((b for b in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(b).exists()), None)
    if browser is None:
        pytest.skip("no headless browser: install the Debian package 'chromium' (provides /usr/bin/chromium)")
    script = ("<script>window.onload=()=>{const t=document.getElementById('verdicts');const rows=[...t.rows]"
              ".slice(1).map(r=>[...r.cells].map(c=>c.innerText));document.body.setAttribute('data-rows',"
              "JSON.stringify(rows));}</script>")
    page = tmp_path / "index.html"
    page.write_text((smoke / "index.html").read_text().replace("</body>", script + "</body>"))
    profile = tmp_path / "profile"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'data-rows="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    rows = json.loads(html.unescape(found.group(1)))
    data = json.loads((smoke / "index.json").read_text())
    expected = [(s["name"], v) for s in data["studies"] for v in s["verdicts"]]
    assert [r[0] for r in rows] == [name for name, _ in expected]  # every study's every claim, in order
    assert {r[0] for r in rows} == set(STUDIES)
    for row, (_, v) in zip(rows, expected):
        assert row[1] == v["statement"] and row[2] == v["verdict"] and row[8] == (v["paper_verdict"] or "–")
        if v["effect"] is not None:  # trend and group claims show their effect (and interval when seeds allow)
            assert row[5].startswith(v["effect_what"]) and v["effect_unit"].strip() in row[5]
            if v["effect_low"] is not None:
                assert "[" in row[5]
        if v["verdict"] == "inconclusive" and v["effect"] is not None and v["mde_note"]:
            assert row[7] == v["mde_note"]
    assert any(v["effect"] is not None for _, v in expected)

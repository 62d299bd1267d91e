"""End to end: build_report and ``hessianlab report`` on fake run folders and on one tiny real run."""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hessianlab.cli import main
from hessianlab.report import build_report

from conftest import build_sweep, make_run

CLAIMS = [{"id": "lambda1-increases", "statement": "λ1 increases with batch size", "test": "spearman",
           "x": "config.batch_size", "y": "eigs.lambda1_train", "expect": "increasing"},
          {"id": "robust-acc-decreases", "test": "spearman", "x": "config.batch_size",
           "y": "attack.fgsm.test.0.02", "expect": "decreasing"}]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables += 1
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            self.external.append(attrs.get("href") or attrs.get("src"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report of the fake sweep, built once for this module (claims from spec.json)."""
    sweep = build_sweep(tmp_path_factory.mktemp("built") / "sweep")
    (sweep / "spec.json").write_text(json.dumps({"name": "demo sweep", "claims": CLAIMS,
                                                 "reference": ["yao2018.table1"]}))
    return sweep, build_report(sweep)


def test_report_end_to_end(built):
    sweep, result = built
    out = sweep / "report"
    assert result.out_dir == out and result.num_runs == 8
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "table1.csv", "runs.csv", "claims.csv",
                                               "paper_yao2018_table1.csv", "figures"}
    names = {p.stem for p in (out / "figures").glob("*.png")}
    assert {"top_eigenvalues", "lambda1_per_epoch", "batch_trends", "subsampled_spectra"} <= names
    assert sum(n.startswith("landscape_") for n in names) == 2
    for stem in names:
        assert (out / "figures" / f"{stem}.png").read_bytes()[:8] == PNG_MAGIC
        assert (out / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert {v.claim.id: v.verdict for v in result.verdicts} == {"lambda1-increases": "supported",
                                                                "robust-acc-decreases": "supported"}
    md = result.markdown.read_text()
    assert "# hessianlab report: demo sweep" in md and "| 1024 | 2 |" in md and "paper's settings" in md
    rows = list(csv.DictReader(result.out_dir.joinpath("table1.csv").open()))
    assert [r["batch_size"] for r in rows] == ["16", "64", "256", "1024"]
    assert float(rows[3]["lambda1_theta_train_mean"]) == pytest.approx(64.05)
    claims = list(csv.DictReader(result.out_dir.joinpath("claims.csv").open()))
    assert claims[0]["verdict"] == "supported" and len(claims[0]["compared"].split()) == 8


def test_html_is_self_contained_with_valid_pngs(built):
    _, result = built
    page = _Page()
    page.feed(result.html.read_text())
    assert page.tables == 4 and not page.external
    assert len(page.images) == len(result.figures) // 2 >= 5
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG_MAGIC


def test_html_renders_in_headless_chromium(built, tmp_path):
    import shutil
    import subprocess

    browser = next((b for b in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(b).exists()), None)
    if browser is None:
        pytest.skip("no headless browser: install the Debian package 'chromium' (provides /usr/bin/chromium)")
    _, result = built
    script = ("<script>window.onload=()=>{const i=[...document.images];document.body.setAttribute('data-loaded',"
              "i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);}</script>")
    page = tmp_path / "page.html"
    page.write_text(result.html.read_text().replace("</body>", script + "</body>"))
    profile = tmp_path / "profile"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    n = len(result.figures) // 2
    assert f'data-loaded="{n}/{n}"' in proc.stdout, proc.stderr[-2000:]
    assert "Claims and verdicts" in proc.stdout


def test_figures_only_when_data_exists(tmp_path):
    make_run(tmp_path, "a", batch_size=32)
    make_run(tmp_path, "b", batch_size=32, seed=1)  # one batch size, no curvature, attacks or landscapes
    result = build_report(tmp_path)
    assert result.figures == [] and result.verdicts == []
    assert "No figure" in result.markdown.read_text()
    assert "–" in result.out_dir.joinpath("report.md").read_text()
    make_run(tmp_path, "c", batch_size=128, lambda1=2.0)
    result = build_report(tmp_path, out=tmp_path / "elsewhere")
    assert sorted(p.name for p in result.figures) == ["batch_trends.pdf", "batch_trends.png",
                                                       "top_eigenvalues.pdf", "top_eigenvalues.png"]
    # a second build replaces the folder as a whole: a stale file disappears, no temporary folder remains
    (tmp_path / "elsewhere" / "stale.txt").write_text("old")
    build_report(tmp_path, out=tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere" / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_report_prints_verdicts(tmp_path, capsys):
    for b, lam in {16: 1.0, 32: 2.0, 64: 3.0}.items():
        make_run(tmp_path, f"b{b}", batch_size=b, lambda1=lam)
    (tmp_path / "spec.json").write_text(json.dumps({"claims": CLAIMS[:1]}))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "r2" / "report.html") in out
    assert "lambda1-increases" in out and "inconclusive" in out and "p = 0.333" in out
    assert "+2 (no interval: one run per setting)" in out  # λ1 from 1 to 3: the effect in the claim's units


def test_runs_outside_the_spec_plan_are_left_out(tmp_path):
    for b, lam in {16: 1.0, 32: 2.0, 64: 3.0, 128: 0.5}.items():
        make_run(tmp_path, f"b{b}", batch_size=b, lambda1=lam)
    plan = ["b16", "b32", "b64"]  # b128 belongs to an earlier version of the spec
    (tmp_path / "spec.json").write_text(json.dumps({"claims": CLAIMS[:1], "planned_runs": plan}))
    result = build_report(tmp_path)
    assert result.num_runs == 3
    text = result.markdown.read_text()
    assert "1 other run folder(s)" in text and "b128" not in text
    assert "ρ = 1" in text  # the claim sees the three planned runs only (with b128 it would not be monotone)


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no runs found" in err
    make_run(tmp_path, "a", batch_size=32)
    (tmp_path / "spec.json").write_text(json.dumps({"claims": [{"id": "c", "test": "spearman", "x": "config.batch_size",
                                                                "y": "eigs.lambda1_train", "expect": "upward"}]}))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'expect'" in err and not (tmp_path / "report").exists()


def test_report_of_a_real_tiny_run(tmp_path):
    root = tmp_path / "runs"
    for b in (16, 32):
        assert main(["train", "--model", "mlp", "--dataset", "synthetic", "--subset", "96", "--width", "0.05",
                     "--batch-size", str(b), "--max-epochs", "2", "--no-target", "--quiet",
                     "--out", str(root / f"b{b}")]) == 0
    result = build_report(root, claims=[{**CLAIMS[0], "y": "final.test_acc"}])
    md = result.markdown.read_text()
    assert "| 16† | 1 |" in md and "did not reach the target" in md
    assert result.verdicts[0].verdict == "inconclusive" and result.verdicts[0].n == 0
    assert len(result.verdicts[0].excluded) == 2

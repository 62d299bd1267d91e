"""The reproduce index and scripts/verdict_table.py on hand-made study results (no training)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from hessianlab.report.index import StudyResult, paper_of, write_index

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verdict_table.py"


def _verdict(vid: str, verdict: str) -> dict:
    return {"id": vid, "statement": f"claim {vid}", "test": "spearman", "verdict": verdict, "statistic": 0.5,
            "statistic_text": "ρ = 0.5", "p": 0.2, "p_method": "exact", "n": 5, "paper_verdict": "supported",
            "effect_text": "change: +1 pp",
            "mde_text": "detectable with 80% power: |effect| ≥ 3 pp", "effect": 0.01, "reason": "r"}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    studies = [StudyResult("yao-batch-sweep", "d", "yao-batch-sweep", runs=3, finished=3, report="r.html",
                           verdicts=[_verdict("a", "supported"), _verdict("b", "inconclusive")]),
               StudyResult("kamath-momentum", "d", "kamath-momentum", verdicts=[_verdict("c", "contradicted")]),
               StudyResult("absa-table", "d", "absa-table", verdicts=[_verdict("d", "reported")])]
    write_index(tmp_path, "quick", studies, {"wall_s": 600.0, "cpu_s": 1200.0, "cores": 2})
    return tmp_path


def test_index_counts_and_claims(index: Path) -> None:
    md = (index / "index.md").read_text()
    assert "| Yao et al. 2018 | 1 | 0 | 1 | 0 | 2 |" in md
    assert "| Kamath et al. 2019 | 0 | 1 | 0 | 0 | 1 |" in md
    assert "| all | 1 | 1 | 1 | 1 | 4 |" in md
    assert "10.0 min wall and 20.0 CPU-min" in md and "Verdict rule" in md
    assert "| yao-batch-sweep | claim b | inconclusive | ρ = 0.5 | 0.2 | change: +1 pp | 5 | detectable" in md
    assert sum(line.endswith("| supported |") for line in md.splitlines()) == 4  # the paper's verdict column
    html = (index / "index.html").read_text()
    assert '<td class="contradicted">contradicted</td>' in html and 'id="verdicts"' in html
    assert json.loads((index / "index.json").read_text())["timing"]["cores"] == 2
    assert paper_of("absa-logistic") == "Yao et al. 2018 (ABSA)" and paper_of("example-x") == "other"


def test_script_regenerates_the_readme_block(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("verdict_table", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- verdicts:start -->\nstale 13 min\n<!-- verdicts:end -->\nrest\n")
    assert mod.main([str(index), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "| all | 1 | 1 | 1 | 1 | 4 |" in text and "10.0 min wall" in text
    assert "| yao-batch-sweep | claim b | inconclusive | ρ = 0.5 | 0.2 | change: +1 pp | 5 | detectable" in text
    assert mod.main([str(index)]) == 0 and "| all | 1 | 1 | 1 | 1 | 4 |" in capsys.readouterr().out
    readme.write_text("no markers\n")
    assert mod.main([str(index), "--readme", str(readme)]) == 2
    assert mod.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 2

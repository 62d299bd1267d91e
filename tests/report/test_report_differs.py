"""'Why verdicts differ' is generated from the stored runs and the shipped spec's paper preset."""

from __future__ import annotations

import json

from hessianlab.report import build_report, load_runs
from hessianlab.report.claims import parse_claim
from hessianlab.report.differs import differs_paragraphs
from hessianlab.report.verdicts import evaluate

from conftest import make_run

CLAIM = {"id": "fgsm-up", "test": "spearman", "x": "config.batch_size", "y": "attack.fgsm.test.0.3",
         "expect": "increasing", "only_reached_target": False}


def _runs(tmp_path):
    for i, b in enumerate((16, 32, 64, 128)):
        acc = 0.5 - 0.02 * (i % 2)  # no trend in batch size; alternates with the train - test gap
        make_run(tmp_path / "runs", f"b{b}", batch_size=b, reached=False, acc=(0.9, 0.8 - 0.05 * (i % 2)),
                 attack={0.3: (acc, acc)}, subset=4096)
    return load_runs(tmp_path)


def test_paragraph_contrasts_settings_and_names_the_covariate(tmp_path):
    runs = _runs(tmp_path)
    v = evaluate(parse_claim(CLAIM), runs)
    assert v.verdict == "inconclusive"
    (text,) = differs_paragraphs([v], runs, "kamath-counterexample")
    assert text.startswith("fgsm-up: ours inconclusive, the paper's supported.")
    assert "training set 4,096 (paper 60,000)" in text  # the paper preset: full Fashion-MNIST
    assert "largest batch / training set 0.0312 (paper 0.0341)" in text and "(paper cap 100)" in text
    assert "strongest: clean accuracy gap (train - test) (ρ = -1.00)" in text
    # a claim whose verdict agrees with the paper's gets no paragraph
    agree = evaluate(parse_claim({**CLAIM, "paper": "inconclusive"}), runs)
    assert differs_paragraphs([agree], runs, "kamath-counterexample") == []


def test_report_has_the_section_only_when_a_verdict_differs(tmp_path):
    _runs(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps({"name": "no-such-study", "claims": [CLAIM]}))
    md = build_report(tmp_path).markdown.read_text()
    assert "## Why verdicts differ from the papers (measured)" in md and "training set 4,096;" in md
    (tmp_path / "spec.json").write_text(json.dumps({"name": "x", "claims": [{**CLAIM, "paper": "inconclusive"}]}))
    assert "Why verdicts differ" not in build_report(tmp_path).markdown.read_text()

"""Reports over a set of runs: paper-style tables, figures and claims with verdicts (Markdown, HTML, CSV).

Public API::

    build_report(root, *, claims=None, out=None) -> ReportResult   write ROOT/report/ (md, html, csv, png, pdf)
    load_runs(root) -> [RunRecord]                                  every run below a catalog root / sweep folder
    parse_claims([...]) -> [Claim];  evaluate(claim, runs) -> Verdict
    metrics.value(run, 'eigs.lambda1_train')                        metric paths (see hessianlab.report.metrics)
    YAO2018_TABLE1                                                  the paper's Table 1, transcribed, with its source
"""

from hessianlab.report.build import ReportResult, build_report
from hessianlab.report.claims import Claim, parse_claims
from hessianlab.report.reference import YAO2018_TABLE1
from hessianlab.report.runs import RunRecord, load_runs
from hessianlab.report.verdicts import Verdict, evaluate

__all__ = ["Claim", "ReportResult", "RunRecord", "Verdict", "YAO2018_TABLE1", "build_report", "evaluate",
           "load_runs", "parse_claims"]

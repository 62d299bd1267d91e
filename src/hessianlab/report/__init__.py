"""Reports over a set of runs: paper-style tables, figures and claims with verdicts (Markdown, HTML, CSV).

Public API::

    build_report(root, *, claims=None, reference=None, out=None)    write ROOT/report/ (md, html, csv, png, pdf)
    load_runs(root) -> [RunRecord]                                  every run below a catalog root / sweep folder
    parse_claims([...]) -> [Claim];  evaluate(claim, runs) -> Verdict
    metrics.value(run, 'eigs.lambda1_train')                        metric paths (see hessianlab.report.metrics)
    PAPER_TABLES['absa.table1'], paper_tables([...])                the papers' tables, transcribed, with sources
"""

from hessianlab.report.build import ReportResult, build_report
from hessianlab.report.claims import Claim, parse_claims
from hessianlab.report.reference import PAPER_TABLES, paper_tables
from hessianlab.report.runs import RunRecord, load_runs
from hessianlab.report.verdicts import Verdict, evaluate

__all__ = ["PAPER_TABLES", "Claim", "ReportResult", "RunRecord", "Verdict", "build_report", "evaluate", "load_runs",
           "paper_tables", "parse_claims"]

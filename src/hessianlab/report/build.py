"""``build_report``: read every run below a folder and write the report (Markdown, HTML, CSV, figures).

Output layout (default ``ROOT/report/``)::

    report.md  report.html  <table>.csv ...  figures/<name>.png  figures/<name>.pdf

The whole folder is written to a hidden temporary sibling and then swapped in with ``os.replace``, so a
reader sees the previous report or the new one, never a mix (stale figures of the previous report vanish).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hessianlab import __version__
from hessianlab.report.absa import absa_tables, is_large_batch_study
from hessianlab.report.aggregate import POOLED, varying_axes
from hessianlab.report.claims import parse_claims
from hessianlab.report.differs import differs_paragraphs
from hessianlab.report.figures import (
    ReportFigure, batch_trends_figure, spectrum_figure, training_curves_figure,
)
from hessianlab.report.figures_absa import block_lambda_figure, loss_vs_updates_figure, schedule_figure
from hessianlab.report.figures_extra import landscape_figures, subsampled_spectra_figure
from hessianlab.report.reference import paper_tables
from hessianlab.report.render import RenderedFigure, Section, csv_text, html_page, markdown
from hessianlab.report.robust import robust_table
from hessianlab.report.runs import RunRecord, load_runs, load_spec
from hessianlab.report.tables import Table, paper_table, runs_table, yao_table
from hessianlab.report.verdicts import VERDICT_RULE, Verdict, describe_runs, evaluate, verdict_table

FIGURE_BUILDERS = (spectrum_figure, training_curves_figure, batch_trends_figure, subsampled_spectra_figure,
                   landscape_figures, schedule_figure, block_lambda_figure, loss_vs_updates_figure)
SETTING_KEYS = ("dataset", "subset", "test_subset", "model", "activation", "width", "lr", "lr_schedule", "momentum",
                "weight_decay", "batch_schedule", "adversarial", "adv_eps", "target_loss", "max_epochs")


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote and concluded."""

    out_dir: Path
    markdown: Path
    html: Path
    csv: list[Path]
    figures: list[Path]
    verdicts: list[Verdict]
    num_runs: int

    @property
    def paths(self) -> list[Path]:
        """Every file written."""
        return [self.markdown, self.html, *self.csv, *self.figures]


def build_report(root: str | Path, *, claims: Sequence[dict[str, Any]] | None = None,
                 reference: Sequence[str] | None = None, out: str | Path | None = None) -> ReportResult:
    """Write the report of the runs below ``root`` into ``out`` (default ``root/report``).

    ``claims`` (mappings, see :mod:`hessianlab.report.claims`) default to ``root/spec.json['claims']``;
    ``reference`` (paper table names such as ``'yao2018.table1'``, see :mod:`hessianlab.report.reference`),
    shown beside our results, default to ``root/spec.json['reference']`` (none when absent).
    Raises :class:`~hessianlab.errors.StoreError` when ``root`` holds no run and
    :class:`~hessianlab.errors.ConfigError` for a malformed claim or an unknown paper table (before anything
    is written).
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    spec = load_spec(root) if root.is_dir() else None
    parsed = parse_claims(claims if claims is not None else (spec or {}).get("claims", []))
    papers = [paper_table(t) for t in paper_tables(list(reference) if reference is not None
                                                   else (spec or {}).get("reference", []))]
    runs = load_runs(root, exclude=out)
    planned = (spec or {}).get("planned_runs")
    left_out = 0
    if isinstance(planned, list):  # runs of an earlier version of the spec may share the folder: leave them out
        wanted = set(planned)
        kept = [r for r in runs if r.run_id in wanted]
        left_out, runs = len(runs) - len(kept), kept
    verdicts = [evaluate(c, runs) for c in parsed]
    title = f"hessianlab report: {(spec or {}).get('name') or root.resolve().name}"
    # batch-size trends put GG/ABS runs at their initial batch size: the ABSA figures replace them there
    builders = [b for b in FIGURE_BUILDERS if b is not batch_trends_figure or not is_large_batch_study(runs)]
    figures = [_render(f) for build in builders for f in build(runs)]
    ours, run_table = absa_tables(runs) or [yao_table(runs)], runs_table(runs)  # ABSA layouts for large batches
    robust = robust_table(runs)  # robust models against M_ORI's attacks (Yao Tables 3-4)
    ours = [robust, *ours] if robust is not None else ours
    claims_tables = [verdict_table(verdicts)] if verdicts else []
    tables = [*ours, *papers, run_table, *claims_tables]
    sections = _sections(runs, verdicts, (spec or {}).get("preset"), ours, [run_table, *claims_tables], papers,
                         figures, left_out)
    differs = differs_paragraphs(verdicts, runs, (spec or {}).get("name"))
    if differs:  # after the claims: why a verdict differs from the paper's, from the stored data
        sections.insert(2, Section("Why verdicts differ from the papers (measured)", differs))
    files: dict[str, bytes] = {"report.md": markdown(title, sections).encode(),
                               "report.html": html_page(title, sections).encode()}
    files.update({f"{t.name}.csv": csv_text(t).encode() for t in tables})
    for f, pdf in figures:
        files[f"figures/{f.name}.png"], files[f"figures/{f.name}.pdf"] = f.png, pdf
    _write_folder(out, files)
    return ReportResult(out_dir=out, markdown=out / "report.md", html=out / "report.html",
                        csv=[out / f"{t.name}.csv" for t in tables],
                        figures=[out / name for name in files if name.startswith("figures/")],
                        verdicts=verdicts, num_runs=len(runs))


def _render(f: ReportFigure) -> tuple[RenderedFigure, bytes]:
    png, pdf = io.BytesIO(), io.BytesIO()
    f.figure.savefig(png, format="png", dpi=110)
    f.figure.savefig(pdf, format="pdf")
    return RenderedFigure(f.name, f.caption, png.getvalue()), pdf.getvalue()


def our_settings(runs: Sequence[RunRecord], preset: str | None) -> str:
    """``"Our quick settings: dataset fashion-mnist, …, model lenet5, …; varied: batch_size."`` (runs non-empty).

    Lists the :data:`SETTING_KEYS` config fields shared by every run (unset ones, and ``adv_eps`` without
    adversarial training, left out), then the varied ones.
    """
    varying = varying_axes(runs, ignore=POOLED)
    config = runs[0].config
    shown = [k for k in SETTING_KEYS if k not in varying and config.get(k) is not None]
    fixed = [f"{k} {config[k]}" for k in shown if k != "adv_eps" or "adversarial" in shown + varying]
    return (f"Our {preset + ' ' if preset else ''}settings: {', '.join(fixed) or 'none recorded'}; "
            f"varied: {', '.join(varying) or 'nothing'}.")


def _sections(runs: Sequence[RunRecord], verdicts: Sequence[Verdict], preset: str | None, ours: Sequence[Table],
              tables: Sequence[Table], papers: Sequence[Table],
              figures: Sequence[tuple[RenderedFigure, bytes]], left_out: int = 0) -> list[Section]:
    run_table, *claims_table = tables
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r.status for r in runs).items()))
    reached = sum(r.reached_target for r in runs)
    stale = (f" {left_out} other run folder(s) below this folder are not runs of the current spec (an earlier "
             "version of it) and are left out." if left_out else "")
    overview = Section("Overview", [f"{len(runs)} run(s) ({statuses}); {reached} reached the target training "
                                    f"loss.{stale} Generated by hessianlab {__version__}."])
    out = [overview]
    if verdicts:
        out.append(Section("Claims", [VERDICT_RULE, *(describe_runs(v) for v in verdicts)], claims_table))
    out.append(Section(f"Our results (our {preset + ' ' if preset else ''}settings)",
                       [our_settings(runs, preset)], list(ours)))
    intro = (["The numbers below are copied from the papers; their models, data and training differ from the "
              "runs above (each table names its settings), so compare trends, not values."] if papers else
             ["This study names no paper table (spec field reference)."])
    out.append(Section("Paper reference values (the paper's settings, not ours)", intro, list(papers)))
    out.append(Section("Runs", [], [run_table]))
    note = [] if figures else ["No figure: the runs hold no eigenvalues, tracked λ1, attack results over several "
                               "batch sizes or landscapes yet."]
    out.append(Section("Figures", note, figures=[f for f, _ in figures]))
    return out


def _write_folder(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        tmp.chmod(0o755)
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

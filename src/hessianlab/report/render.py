"""Render a report (title, sections of tables, figures, claims) as Markdown, self-contained HTML and CSV.

The HTML page has no external resource: styles are inline and every figure is an ``<img>`` whose ``src``
is a ``data:image/png;base64,...`` URI of the PNG written beside it.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import dataclass, field
from typing import Any, Sequence

from hessianlab.report.tables import Table

_STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.note { font-size: 0.8em; color: #555; margin: 0.2em 0; }
.supported { color: #176f2c; font-weight: bold; } .contradicted { color: #a31515; font-weight: bold; }
.inconclusive { color: #8a6d00; font-weight: bold; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #444; }
"""


@dataclass(frozen=True)
class RenderedFigure:
    """A saved figure: its file stem under ``figures/``, caption and PNG bytes."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """A heading with paragraphs, then tables and figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[RenderedFigure] = field(default_factory=list)


def markdown(title: str, sections: Sequence[Section]) -> str:
    """The report as Markdown; figures link to ``figures/<name>.png``."""
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            out += [p, ""]
        for t in sec.tables:
            out += [f"### {t.title}", "", _md_row(t.columns), _md_row(["---"] * len(t.columns))]
            out += [_md_row(r) for r in t.rows]
            out += [""] + [f"*{n}*" + "  " for n in t.notes] + [f"CSV: `{t.name}.csv`", ""]
        for f in sec.figures:
            out += [f"![{f.caption}](figures/{f.name}.png)", "", f"*{f.caption}* (PDF: `figures/{f.name}.pdf`)", ""]
    return "\n".join(out).rstrip() + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def html_page(title: str, sections: Sequence[Section]) -> str:
    """The report as one self-contained HTML page (figures embedded as base64 PNG)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
           f"<style>{_STYLE}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for sec in sections:
        out.append(f"<h2>{e(sec.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in sec.paragraphs]
        for t in sec.tables:
            out.append(f'<h3>{e(t.title)}</h3><table id="table-{e(t.name)}"><thead><tr>'
                       + "".join(f"<th>{e(c)}</th>" for c in t.columns) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in t.rows]
            out.append("</tbody></table>")
            out += [f'<p class="note">{e(n)}</p>' for n in t.notes]
        for f in sec.figures:
            data = base64.b64encode(f.png).decode("ascii")
            out.append(f'<figure id="figure-{e(f.name)}"><img src="data:image/png;base64,{data}" '
                       f'alt="{e(f.caption)}"><figcaption>{e(f.caption)}</figcaption></figure>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _td(cell: str) -> str:
    css = cell if cell in ("supported", "contradicted", "inconclusive") else ""
    return f'<td class="{css}">{html.escape(cell)}</td>' if css else f"<td>{html.escape(cell)}</td>"


def csv_text(table: Table) -> str:
    """The table's raw records as CSV (columns: union of record keys in first-seen order)."""
    columns: list[str] = []
    for rec in table.records:
        columns += [k for k in rec if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for rec in table.records:
        writer.writerow({k: _csv_value(v) for k, v in rec.items()})
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    return "" if v is None else v

"""The index of a ``hessianlab reproduce`` folder: every study's verdicts with effects, intervals and power.

Writes ``index.md``, ``index.html`` and ``index.json`` (the same records, for scripts such as
``scripts/verdict_table.py``): first the verdict counts per paper (supported / contradicted / inconclusive /
reported), then one table of every claim of every study (verdict, statistic, p, effect in the claim's units
with its 95 % bootstrap interval, n, the minimum detectable effect of inconclusive verdicts), the verdict
rule, the command's measured wall and CPU time, and one section per study linking its report.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hessianlab import atomic
from hessianlab.report.verdicts import VERDICT_RULE, Verdict, effect_cell, effect_record

PAPERS = (("yao-", "Yao et al. 2018"), ("kamath-", "Kamath et al. 2019"), ("absa-", "Yao et al. 2018 (ABSA)"))
KINDS = ("supported", "contradicted", "inconclusive", "reported")
COLUMNS = ("study", "claim", "verdict", "statistic", "p", "effect [95 % CI]", "n", "power (MDE)", "paper's verdict")


@dataclass
class StudyResult:
    """One study of the index: where it went, its runs and its claim verdicts (or the error that stopped it)."""

    name: str
    description: str
    folder: str
    runs: int = 0
    finished: int = 0
    reached: int = 0
    failed: list[str] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    report: str | None = None
    error: str | None = None


def verdict_record(v: Verdict) -> dict[str, Any]:
    """A verdict as a plain record: claim, verdict, statistic, p, effect (text and raw numbers), MDE, reason."""
    e = v.effect
    stat = ("" if v.statistic is None else f"ρ = {v.statistic:.3g}" if v.claim.test == "spearman"
            else f"Δ = {v.statistic:.4g}" if v.claim.test in ("less", "greater") else f"{v.statistic:.4g}")
    return {"id": v.claim.id, "statement": v.claim.statement, "test": v.claim.test, "verdict": v.verdict,
            "statistic": v.statistic, "statistic_text": stat, "p": v.p_value, "p_method": v.details.get("p_method"),
            "n": v.n, "paper_verdict": v.claim.paper, "effect_text": effect_cell(v) if e else "",
            "mde_text": e.mde_text() if e else "",
            **effect_record(e), "reason": v.reason}


def paper_of(study: str) -> str:
    """The paper a study reproduces, from its name prefix."""
    return next((paper for prefix, paper in PAPERS if study.startswith(prefix)), "other")


def verdict_counts(studies: Sequence[StudyResult]) -> dict[str, Counter[str]]:
    """``{paper: Counter(verdict)}`` over every claim of every study."""
    out: dict[str, Counter[str]] = {}
    for s in studies:
        out.setdefault(paper_of(s.name), Counter()).update(v["verdict"] for v in s.verdicts)
    return out


def counts_markdown(counts: dict[str, Counter[str]]) -> str:
    """The counts as a Markdown table: one row per paper and a total row."""
    lines = ["| paper | " + " | ".join(KINDS) + " | claims |", "|---" * (len(KINDS) + 2) + "|"]
    total: Counter[str] = Counter()
    for paper, c in counts.items():
        total.update(c)
        lines.append(f"| {paper} | " + " | ".join(str(c[k]) for k in KINDS) + f" | {sum(c.values())} |")
    lines.append("| all | " + " | ".join(str(total[k]) for k in KINDS) + f" | {sum(total.values())} |")
    return "\n".join(lines)


def claim_rows(studies: Sequence[StudyResult]) -> list[list[str]]:
    """One row per claim of every study, in :data:`COLUMNS` order."""
    return [[s.name, v["statement"], v["verdict"], v["statistic_text"] or "–",
             "–" if v["p"] is None else f"{v['p']:.3g}", v["effect_text"] or "–", str(v["n"]),
             v["mde_text"] or "–", v.get("paper_verdict") or "–"]
            for s in studies for v in s.verdicts]


def claims_markdown(studies: Sequence[StudyResult]) -> str:
    """The table of every claim (:data:`COLUMNS`) as Markdown, ``|`` in cells escaped."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in claim_rows(studies)]
    return "\n".join(lines)


def timing_text(timing: dict[str, float] | None) -> str:
    """``'This command took 12.3 min wall, 20.1 CPU-min (...)'`` or ``''`` without a measurement."""
    if not timing:
        return ""
    return (f"This invocation of the command took {timing['wall_s'] / 60:.1f} min wall and "
            f"{timing['cpu_s'] / 60:.1f} CPU-min (user + system, children included) on {timing['cores']} "
            "core(s); a resumed command counts only its own work.")


def write_index(out: Path, preset: str, studies: list[StudyResult], timing: dict[str, float] | None = None) -> None:
    """``out/index.md``, ``out/index.html`` and ``out/index.json``."""
    title = f"hessianlab reproduction ({preset} preset)"
    counts, rows = verdict_counts(studies), claim_rows(studies)
    atomic.write_json(out / "index.json", {"preset": preset, "timing": timing, "rule": VERDICT_RULE,
                                           "studies": [asdict(s) for s in studies]})
    md = [f"# {title}", "", timing_text(timing), "", "## Verdicts per paper", "", counts_markdown(counts), "",
          "## Every claim", "", VERDICT_RULE, "", claims_markdown(studies)]
    e = html.escape
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #bbb;"
            "padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f0f0f0}"
            ".supported{color:#176f2c;font-weight:bold}.contradicted{color:#a31515;font-weight:bold}"
            ".inconclusive{color:#8a6d00;font-weight:bold}</style>", f"</head><body><h1>{e(title)}</h1>",
            f"<p>{e(timing_text(timing))}</p>", "<h2>Verdicts per paper</h2>", '<table id="verdict-counts"><tr>'
            + "".join(f"<th>{k}</th>" for k in ("paper", *KINDS, "claims")) + "</tr>"]
    for paper, c in counts.items():
        page.append(f"<tr><td>{e(paper)}</td>" + "".join(f"<td>{c[k]}</td>" for k in KINDS)
                    + f"<td>{sum(c.values())}</td></tr>")
    page += ["</table>", "<h2>Every claim</h2>", f"<p>{e(VERDICT_RULE)}</p>", '<table id="verdicts"><tr>'
             + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>"]
    page += ["<tr>" + "".join(f'<td class="{e(c)}">{e(c)}</td>' if i == 2 else f"<td>{e(c)}</td>"
                              for i, c in enumerate(r)) + "</tr>" for r in rows]
    page.append("</table>")
    md.append("")
    for s in studies:
        counts_text = f"{s.finished}/{s.runs} runs finished, {s.reached} reached the target loss"
        if s.failed:
            counts_text += f"; failed: {', '.join(s.failed)}"
        md += [f"## {s.name}", "", s.description, "",
               f"{counts_text}. " + (f"[report]({s.report})" if s.report else (s.error or "no report")), ""]
        link = f'<a href="{e(s.report)}">report</a>' if s.report else e(s.error or "no report")
        page += [f"<h2>{e(s.name)}</h2>", f"<p>{e(s.description)}</p>", f"<p>{e(counts_text)}. {link}</p>"]
        reasons = [f"{v['id']}: {v['verdict']} ({v['reason']})" for v in s.verdicts] or ["No claims."]
        md += [f"* {r}" for r in reasons] + [""]
        page.append("<ul>" + "".join(f"<li>{e(r)}</li>" for r in reasons) + "</ul>")
    page.append("</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "index.md", "\n".join(md).rstrip() + "\n")
    atomic.write_text(out / "index.html", "\n".join(page) + "\n")

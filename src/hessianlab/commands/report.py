"""``hessianlab report DIR``: tables, figures and claim verdicts over every run below ``DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="Markdown/HTML/CSV report with figures and claim verdicts")
    parser.add_argument("dir", type=Path, help="catalog root, or a sweep folder holding runs/ and spec.json")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: DIR/report)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.report import build_report

    result = build_report(args.dir, out=args.out)
    print(f"report of {result.num_runs} run(s): {result.markdown} and {result.html} "
          f"({len(result.csv)} CSV, {len(result.figures) // 2} figures)")
    if result.verdicts:
        rows = [{"claim": v.claim.id, "verdict": v.verdict, "n": v.n, "p": v.p_value,
                 "effect [95 % CI]": v.effect.text() if v.effect else "-", "reason": v.reason}
                for v in result.verdicts]
        print(format_table(rows, ["claim", "verdict", "n", "p", "effect [95 % CI]", "reason"]))
    else:
        print("no claims (add a 'claims' list to spec.json)")
    return 0

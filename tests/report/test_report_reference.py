"""The papers' tables: an exact oracle against our markdown copies of the papers, structure, and the reports.

The oracle re-reads every table from ``../shared/papers/*.md`` (relative to the repository root) with its
own parser and compares every stored number, the printed text of every cell and every column name.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from hessianlab.errors import ConfigError
from hessianlab.experiments.spec import parse_spec
from hessianlab.report import build_report
from hessianlab.report.reference import MISSING, PAPER_TABLES, paper_tables
from hessianlab.report.reference.schema import Column, PaperTable, Settings, parse_rows
from hessianlab.report.tables import paper_table

from conftest import make_run

PAPERS = Path(__file__).resolve().parents[2].parent / "shared" / "papers"
BLOCK_BEFORE_CAPTION = {"yao2018.table6"}  # the rebuttal prints this table above its caption
UNITS = {"", "%", "examples", "updates", "s", "×", "loss/θ²", "loss/x²", "loss/x"}
LATEX = [(r"\\epsilon", "ε"), (r"\\lambda_1\^\{?\\theta\}?", "λ1^θ"), (r"\\lambda_1\^x", "λ1^x"),
         (r"\\ \\nabla_\{\\mathbf\{x\}\} \\mathcal\{J\}\\ ", "‖∇x J‖"), (r"\\mathcal\{(\w)\}_\{(\w+)\}", r"\1_\2"),
         (r"(\w)_\{(\w+)\}", r"\1_\2"), ("L_2", "L2"), (r"\$", ""), (r"\s+", " ")]
NUMBER = re.compile(r"[0-9][0-9.]*(E-?[0-9]+)?")


def _latex(cell: str) -> str:
    for pattern, repl in LATEX:
        cell = re.sub(pattern, repl, cell)
    return cell.strip()


def _is_value(cell: str) -> bool:
    return cell == "N.A." or bool(NUMBER.match(cell))


def _block(table: PaperTable) -> tuple[list[list[str]], list[list[str]]]:
    """(header lines, data lines) of ``table`` in the paper's markdown: tab-separated cells, bold removed."""
    path = PAPERS / table.paper.markdown
    if not path.is_file():
        pytest.skip(f"{path} is absent: the transcription oracle needs the shared papers folder")
    lines = path.read_text().splitlines()
    captions = [i for i, line in enumerate(lines) if line.startswith(f"**Table {table.number}:**")]
    assert len(captions) == 1, f"{table.key}: expected one caption, found {len(captions)}"
    step = -1 if table.key in BLOCK_BEFORE_CAPTION else 1
    i = captions[0] + step
    while "\t" not in lines[i]:
        i += step
    block = []
    while "\t" in lines[i]:
        block.append([re.sub(r"</?b>", "", c).strip() for c in lines[i].split("\t")])
        i += step
    block = block[::step]
    data = [cells for cells in block if any(_is_value(c) for c in cells[1:])]
    return [cells for cells in block if cells not in data], data


def _paper_text(table: PaperTable, cells: list[str], label: str) -> list[str]:
    """A data line as the cells of our table: labels normalised, ``'6150 (2.71× faster)'`` split in two."""
    keys = [c.key for c in table.columns]
    out = list(cells)
    if table.columns[0].kind == "label":
        out[0] = label
    if "speedup" in keys:
        total, _, speedup = out[-1].partition(" (")
        out[-1:] = [total, speedup.removesuffix("× faster)")]
    return ["0" if c == "0." else c for c in out]  # the paper prints T_Hess = 0 as '0.'


def _values(text: str) -> object:
    """Printed cell text as numbers: ``'100 (77.68)'`` -> (100.0, 77.68), ``'N.A.'``/``''`` -> None."""
    if text in ("N.A.", ""):
        return None
    m = re.fullmatch(r"(\S+) \((\S+)\)", text)
    return (float(m[1]), float(m[2])) if m else float(text) if NUMBER.fullmatch(text) else text


def _stored(cell: object) -> object:
    if isinstance(cell, tuple):
        return float(cell[0]), float(cell[1])
    return float(cell) if isinstance(cell, Decimal) else cell


@pytest.mark.parametrize("key", list(PAPER_TABLES))
def test_every_stored_number_and_printed_cell_matches_the_paper(key):
    table = PAPER_TABLES[key]
    _, data = _block(table)
    assert len(data) == len(table.rows), f"{key}: {len(data)} rows in the paper, {len(table.rows)} stored"
    label = ""
    for cells, row, shown in zip(data, table.rows, table.display()):
        while cells and cells[-1] == "":
            cells = cells[:-1]
        if table.columns[0].kind == "label":
            m = re.fullmatch(r"\$\\mathcal\{M\}_\{(.+)\}\$", cells[0])
            label = f"M_{m[1].replace('L_2', 'L2')}" if m else (cells[0].split() or [label])[0]
        paper = _paper_text(table, cells, label)
        assert shown == paper, f"{key}: printed {paper}, we show {shown}"
        assert [_stored(c) for c in row] == [_values(c) for c in paper], f"{key}: numbers differ in {paper}"


@pytest.mark.parametrize("key", list(PAPER_TABLES))
def test_column_names_match_the_paper_header(key):
    table = PAPER_TABLES[key]
    header, _ = _block(table)
    names = [c.name for c in table.columns if c.key != "speedup"]  # the speed-up shares the total-time cell
    if len(header) == 2:  # ABSA: strategy names above 'Acc.' / '# Iters', each over two cells
        assert len(header[0]) == len(header[1])
        paper, group = [], ""
        for top, sub in zip(header[0], header[1]):
            group = top or group
            paper.append(f"{group} {sub}".strip())
    else:
        paper = [_latex(c) for c in header[0] if c]
        if header[0][0] == "":  # an unnamed label column (model names)
            assert table.columns[0].kind == "label"
            names = names[1:]
    assert paper == names


def test_registry_names_and_missing_tables():
    expected = [f"yao2018.table{n}" for n in range(1, 7)] + [f"absa.table{n}" for n in range(1, 8)]
    assert list(PAPER_TABLES) == expected
    assert set(MISSING) == {"yao2018.table7"} and not set(MISSING) & set(PAPER_TABLES)
    assert sum(len(t.rows) for t in PAPER_TABLES.values()) == 12 + 4 + 6 + 6 + 4 + 10 + 8 + 8 + 4 + 6 + 6 + 6 + 5


@pytest.mark.parametrize("key", list(PAPER_TABLES))
def test_structure_units_and_settings(key):
    table = PAPER_TABLES[key]
    assert table.key == key and len({c.key for c in table.columns}) == len(table.columns)
    for col in table.columns:
        assert col.unit in UNITS and (col.unit == "") == (col.kind == "label"), (key, col)
    assert all(len(row) == len(table.columns) for row in table.rows)
    assert table.settings.dataset and table.settings.model and table.settings.protocol
    assert f"Table {table.number}: {table.caption}" in table.source
    rendered = paper_table(table)
    assert len(rendered.columns) == len(table.columns) and len(rendered.rows) == len(table.rows)
    assert "paper's settings" in rendered.title and any("NOT our settings" in n for n in rendered.notes)
    pairs = sum(c.kind == "pair" for c in table.columns)
    assert all(len(r) == len(table.columns) + pairs for r in rendered.records)


def test_yao_table1_values_and_units():
    table = PAPER_TABLES["yao2018.table1"]
    assert [c.header for c in table.columns][:4] == ["Model", "Batch (examples)", "Acc. (%) train (test)",
                                                       "λ1^θ (loss/θ²) train (test)"]
    c1 = [r for r in table.records() if r["model"] == "C1"]
    assert [r["batch_size"] for r in c1] == [16, 32, 64, 128, 256, 512, 1024, 2048]
    assert (c1[-1]["lambda1_theta_train"], c1[-1]["lambda1_theta_test"]) == (80.18, 3769)
    assert table.display()[0][-1] == "72.67 (42.70)" and table.display()[9][4] == "4.82 (425.2)"
    assert any("Table 7 (M1 / LeNet-5 on MNIST" in n for n in paper_table(table).notes)


def test_parse_rows_grammar_and_display():
    rows = parse_rows("""
        C1  16  100.00 (77.6)  N.A.
        BL  2.2E-2  –  0.
    """)
    assert rows == (("C1", Decimal(16), (Decimal("100.00"), Decimal("77.6")), None),
                    ("BL", Decimal("0.022"), None, Decimal(0)))
    assert Column("a", "%", "a", "pair").display(rows[0][2]) == "100.00 (77.6)"
    assert Column("t", "s", "t", fmt=".1E").display(rows[1][1]) == "2.2E-2"
    assert Column("x", "×", "x", missing="").display(None) == "" and Column("y", "%", "y").display(None) == "N.A."
    for bad in ("C1 (3)", "(3) 4"):
        with pytest.raises(ValueError, match="not a number"):
            parse_rows(bad)
    assert parse_rows("1\n\n2") == ((Decimal(1),), (Decimal(2),))


def test_malformed_tables_are_rejected():
    paper = PAPER_TABLES["absa.table1"].paper
    cols = (Column("BS", "examples", "bs"), Column("Acc.", "%", "acc", "pair"))
    with pytest.raises(ValueError, match="row 0: 1 cells for 2 columns"):
        PaperTable(paper, 9, "c", Settings("d", "m", "p"), cols, parse_rows("128"))
    with pytest.raises(ValueError, match="is not a pair"):
        PaperTable(paper, 9, "c", Settings("d", "m", "p"), cols, parse_rows("128 92.1"))


def test_paper_tables_checks_names():
    assert [t.key for t in paper_tables(["absa.table3", "yao2018.table1"])] == ["absa.table3", "yao2018.table1"]
    with pytest.raises(ConfigError, match=r"reference\[0\]: unknown paper table 'yao2018.table9'; choose from: "
                                          r"yao2018.table1, .*absa.table7$"):
        paper_tables(["yao2018.table9"])
    with pytest.raises(ConfigError, match=r"reference\[1\]: .*Table 7 .*not in our copy.*remove 'yao2018.table7'"):
        paper_tables(["yao2018.table1", "yao2018.table7"])
    with pytest.raises(ConfigError, match=r"listed twice"):
        paper_tables(["absa.table1", "absa.table1"])
    with pytest.raises(ConfigError, match=r"reference: expected a list of paper table names"):
        paper_tables("yao2018.table1")


def test_spec_reference_is_validated_and_kept():
    base = {"name": "t", "base": {"dataset": "synthetic", "model": "mlp", "subset": 32, "max_epochs": 1},
            "analyses": [{"kind": "eigs", "k": 1}]}
    spec = parse_spec({**base, "reference": ["yao2018.table5", "absa.table2"]})
    assert spec.reference == ("yao2018.table5", "absa.table2")
    assert spec.to_dict()["reference"] == ["yao2018.table5", "absa.table2"]
    assert parse_spec(base).reference == ()
    with pytest.raises(ConfigError, match=r"reference\[0\]: unknown paper table 'yao2018.tabel1'"):
        parse_spec({**base, "reference": ["yao2018.tabel1"]})


def test_report_shows_paper_tables_beside_ours(tmp_path):
    for b in (16, 64):
        make_run(tmp_path / "runs", f"b{b}", batch_size=b, subset=64, lr=0.05)
    (tmp_path / "spec.json").write_text(json.dumps({"name": "demo", "preset": "quick",
                                                    "reference": ["yao2018.table6", "absa.table3"]}))
    result = build_report(tmp_path)
    md = result.markdown.read_text()
    assert "## Our results (our quick settings)" in md
    assert ("Our quick settings: dataset synthetic, subset 64, model mlp, activation relu, width 1.0, lr 0.05, "
            "lr_schedule constant, momentum 0.0, weight_decay 0.0, batch_schedule constant, target_loss 0.001, "
            "max_epochs 100; varied: batch_size.") in md
    assert md.index("### Yao et al. 2018, Table 6: paper's settings (CIFAR-10, CIS = C1 with Softplus") \
        < md.index("### Yao et al. 2018 (ABSA), Table 3: paper's settings (ImageNet (ILSVRC 2012), I3 (ResNet18))")
    assert "| CIE | 2048 | 100.00 (76.64) | 114.4 (4347) | 1.55 (1.6) |" in md
    assert "| BL | 2.2E-2 | 1.5E-2 | 0 | 16666 |  |" in md and "| ABSA | 3.6E-2 | 1.5E-2 | 1.15 | 3467 | 4.80 |" in md
    html = result.html.read_text()
    assert 'id="table-paper_yao2018_table6"' in html and 'id="table-paper_absa_table3"' in html
    rows = list(csv.DictReader((result.out_dir / "paper_absa_table3.csv").open()))
    assert rows[3] == {"method": "ABSA", "t_comp": "0.036", "t_comm": "0.015", "t_hess": "1.15",
                       "total_time": "3467", "speedup": "4.8"}
    assert not (result.out_dir / "paper_yao2018_table1.csv").exists()


def test_report_without_reference_says_so_and_rejects_unknown_names(tmp_path):
    make_run(tmp_path / "runs", "b16", batch_size=16)
    result = build_report(tmp_path)
    md = result.markdown.read_text()
    assert "This study names no paper table" in md and not list(result.out_dir.glob("paper_*.csv"))
    with pytest.raises(ConfigError, match="unknown paper table 'absa.table8'"):
        build_report(tmp_path, reference=["absa.table8"], out=tmp_path / "other")
    assert not (tmp_path / "other").exists()

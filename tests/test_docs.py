"""The documentation site builds from the docstrings, README and examples with warnings as errors."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs / mkdocstrings-python not installed (pip install 'hessianlab[docs]')")
def test_docs_build_strict(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    site = tmp_path / "site"
    assert "AdaptiveBatchSize" in (site / "api" / "3-training" / "index.html").read_text()
    assert "top_eigenpairs" in (site / "api" / "2-curvature" / "index.html").read_text()
    guide = sorted(p.name for p in (site / "guide").iterdir())
    assert "python-api" in guide and "command-line" in guide  # the README's sections are pages
    examples = sorted(p.name for p in (site / "examples").iterdir())
    assert examples == sorted(p.stem for p in (ROOT / "examples").glob("*.py")) and len(examples) == 4

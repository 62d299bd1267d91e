"""Every script in examples/ runs to the end on tiny data and writes what it promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
WRITES = {"curvature_of_your_cnn": ["spectrum.png"], "track_sharpness": ["sharpness.jsonl", "sharpness.png"],
          "abs_plain_loop": ["decisions.jsonl"], "attack_robust_accuracy": []}


def test_four_short_examples():
    assert sorted(p.stem for p in SCRIPTS) == sorted(WRITES)
    assert all(len(p.read_text().splitlines()) < 60 for p in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_on_tiny_data(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HESSIANLAB_EXAMPLE_TINY": "1",
           "HESSIANLAB_EXAMPLE_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in WRITES[script.stem]:
        assert (tmp_path / name).stat().st_size > 0, name
    if script.stem == "track_sharpness":
        records = [json.loads(line) for line in (tmp_path / "sharpness.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in records] == [1, 2] and all(r["lambda1"] > 0 for r in records)
    if script.stem == "curvature_of_your_cnn":
        assert "converged: True" in out.stdout


def test_readme_quick_start_is_the_first_example_in_full():
    source = (ROOT / "examples" / "curvature_of_your_cnn.py").read_text()
    code = source[source.index("import os"):]
    assert f"```python\n{code}```" in (ROOT / "README.md").read_text()

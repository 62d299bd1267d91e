"""Saving with directions beside the values (weights_only), and figures without a display."""

import io
import json
import math

import pytest
import torch
from matplotlib.figure import Figure

from hessianlab.errors import ConfigError
from hessianlab.landscape import (
    Line, Plane, load_landscape, plot_interpolation, plot_line, plot_plane, save_landscape, symmetric_grid,
)


def a_line(shift: float = 0.0) -> Line:
    alphas = symmetric_grid(1.0, 5)
    settings = {"bn_policy": "eval", "batch_size": 64}
    return Line(alphas, alphas**2 + 2.3 + shift, 0.5 - 0.1 * alphas.abs(), "random", settings)


def a_plane() -> Plane:
    alphas, betas = symmetric_grid(1.0, 5), symmetric_grid(0.5, 3)
    loss = alphas[:, None] ** 2 + 3 * betas[None, :] ** 2 + 2.3
    accuracy = torch.full((5, 3), 0.25, dtype=torch.float64)
    return Plane(alphas, betas, loss, accuracy, {"direction_kinds": ["eigen", "eigen"]})


def direction(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"fc1.weight": torch.randn(3, 4, generator=gen), "fc1.bias": torch.zeros(3)}


def test_save_load_round_trip_with_weights_only(tmp_path) -> None:
    plane = a_plane()
    dirs = {"d1": direction(0), "d2": direction(1)}
    pt = save_landscape(tmp_path / "plane.json", plane, dirs)
    assert pt == tmp_path / "plane.pt"
    raw = torch.load(pt, weights_only=True)
    assert set(raw) == {"d1", "d2"} and torch.equal(raw["d1"]["fc1.weight"], dirs["d1"]["fc1.weight"])
    assert json.loads((tmp_path / "plane.json").read_text())["result"]["type"] == "plane"
    loaded, loaded_dirs = load_landscape(tmp_path / "plane.json")
    assert isinstance(loaded, Plane)
    for field in ("alphas", "betas", "loss", "accuracy"):
        assert torch.equal(getattr(loaded, field), getattr(plane, field))
    assert loaded.settings == plane.settings
    assert all(torch.equal(loaded_dirs[k][n], dirs[k][n]) for k in dirs for n in dirs[k])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_line_round_trip_keeps_kind_and_turns_non_finite_into_nan(tmp_path) -> None:
    line = a_line()
    line.loss[0] = math.inf
    save_landscape(tmp_path / "line.json", line, {"d": direction(0)})
    loaded, _ = load_landscape(tmp_path / "line.json")
    assert isinstance(loaded, Line) and loaded.direction_kind == "random"
    assert math.isnan(loaded.loss[0].item()) and torch.equal(loaded.loss[1:], line.loss[1:])
    assert torch.equal(loaded.alphas, line.alphas)


def test_save_needs_a_json_path(tmp_path) -> None:
    with pytest.raises(ConfigError):
        save_landscape(tmp_path / "line.pt", a_line(), {"d": direction(0)})


def test_plots_return_figures_with_the_expected_axes() -> None:
    fig = plot_line({"train": a_line(), "test": a_line(0.4)}, title="top eigenvector")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 2 + 1  # two curves and the centre marker
    assert len(plot_line({"B=64": a_line()}, accuracy=False, log_loss=True).axes) == 1
    fig = plot_plane(a_plane())
    assert len(fig.axes) == 2 and fig.axes[1].name == "3d"
    assert len(plot_interpolation(a_line()).axes) == 2
    fig = plot_interpolation({"train": a_line(), "test": a_line(0.1)}, endpoints=("B=64", "B=2048"), accuracy=False)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2 + 2  # curves and markers at 0 and 1
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_plot_errors() -> None:
    with pytest.raises(ConfigError):
        plot_line({})
    with pytest.raises(ConfigError):
        plot_plane(a_plane(), metric="sharpness")

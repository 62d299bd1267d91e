"""Readable results (repr, to_dict, to_frame) and the plot helpers that take results directly."""

import json

import pytest
import torch

from hessianlab.attacks.evaluate import RobustResult
from hessianlab.curvature import MatrixOperator, hutchinson_trace, spectral_density, top_eigenpairs
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result, short
from hessianlab.landscape import Line, Plane
from hessianlab.plot import plot_density, plot_landscape, plot_records, plot_spectrum


@pytest.fixture(scope="module")
def op():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64))
    values = torch.linspace(-1.0, 10.0, 40, dtype=torch.float64)
    return MatrixOperator(q @ torch.diag(values) @ q.T), values


def test_eigen_repr_is_short_and_shows_values(op):
    matrix, values = op
    result = top_eigenpairs(matrix, k=3, tol=1e-8)
    text = repr(result)
    assert text.startswith("EigenResult(eigenvalues=[10, 9.718, 9.436]")
    assert "tensor(shape=(40, 3), float64" in text and "converged=True" in text
    assert len(text) < 700 and "\n" not in text


def test_eigen_to_frame_rows_are_pairs(op):
    pd = pytest.importorskip("pandas")
    matrix, values = op
    result = top_eigenpairs(matrix, k=4, tol=1e-8)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["eigenvalues", "residual_norms", "relative_residuals"]
    assert frame["eigenvalues"].tolist() == result.eigenvalues.tolist()
    assert frame.attrs["converged"] is True and frame.attrs["num_matvecs"] == result.num_matvecs
    assert torch.allclose(torch.tensor(frame["eigenvalues"].values), values.flip(0)[:4], atol=1e-8)


def test_trace_and_density_frames(op):
    pytest.importorskip("pandas")
    matrix, _ = op
    trace = hutchinson_trace(matrix, num_samples=12, seed=1)
    assert trace.to_frame()["samples"].tolist() == trace.samples.tolist()
    assert trace.to_frame().attrs["estimate"] == trace.estimate
    density = spectral_density(matrix, num_probes=2, num_steps=10, num_points=50)
    frame = density.to_frame()
    assert list(frame.columns) == ["grid", "density"] and len(frame) == 50


def test_robust_and_plane_frames():
    pytest.importorskip("pandas")
    robust = RobustResult(eps=(0.0, 0.1), accuracy=(0.9, 0.5), clean_accuracy=0.9, attack={"method": "fgsm"},
                          num_samples=10, transfer=False)
    assert robust.to_frame().to_dict("list") == {"eps": [0.0, 0.1], "accuracy": [0.9, 0.5]}
    assert "RobustResult(eps=(0, 0.1), accuracy=(0.9, 0.5)" in repr(robust)
    plane = Plane(torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([0.0, 2.0]), torch.arange(6.0).reshape(3, 2),
                  torch.zeros(3, 2))
    frame = plane.to_frame()
    assert len(frame) == 6
    row = frame.iloc[3]  # loss[1, 1] sits at alpha 0, beta 2
    assert (row["alpha"], row["beta"], row["loss"]) == (0.0, 2.0, 3.0)


def test_generated_to_dict_is_json():
    from dataclasses import dataclass

    @friendly_result
    @dataclass(frozen=True)
    class Demo:
        values: torch.Tensor
        name: str
        score: float

    demo = Demo(torch.tensor([1.0, float("nan")]), "x", float("inf"))
    assert json.loads(json.dumps(demo.to_dict())) == {"values": [1.0, None], "name": "x", "score": None}
    assert repr(demo) == "Demo(values=[1, nan], name='x', score=inf)"


def test_short_summarises_long_values():
    assert short(list(range(10))) == "<10 items: 0, ...>"
    assert short({"a": 1, "b": 2, "c": 3, "d": 4}) == "{...4 keys}"
    assert short(torch.arange(10.0)).startswith("tensor(shape=(10,), float32, [0, 1, 2, ...])")


def test_to_frame_without_pandas_names_the_fix(op, monkeypatch):
    import sys

    matrix, _ = op
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError, match="pip install pandas"):
        hutchinson_trace(matrix, num_samples=2).to_frame()


def test_plot_spectrum_draws_the_values_and_marks_unconverged(op):
    matrix, _ = op
    good = top_eigenpairs(matrix, k=3, tol=1e-8)
    rough = top_eigenpairs(matrix, k=3, tol=1e-12, max_iter=4)
    fig = plot_spectrum({"good": good, "rough": rough})
    lines = fig.axes[0].get_lines()
    assert list(lines[0].get_ydata()) == good.eigenvalues.tolist()
    hollow = [ln for ln in lines if ln.get_label() == "not converged"]
    assert len(hollow) == (0 if rough.converged else 1)


def test_plot_density_landscape_records(op):
    matrix, _ = op
    density = spectral_density(matrix, num_probes=2, num_steps=10, num_points=50)
    assert list(plot_density(density).axes[0].get_lines()[0].get_ydata()) == density.density.tolist()
    line = Line(torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([2.0, 1.0, 2.0]), torch.ones(3), "random")
    assert len(plot_landscape(line).axes) == 2
    plane = Plane(torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([-1.0, 0.0, 1.0]), torch.rand(3, 3), torch.rand(3, 3))
    assert len(plot_landscape(plane).axes) == 2
    fig = plot_records([{"step": 1, "lambda1": 3.0}, {"step": 2}, {"step": 3, "lambda1": 4.0}])
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [3.0, 4.0]


def test_plot_helpers_refuse_wrong_inputs(op):
    with pytest.raises(ConfigError, match="expected an EigenResult"):
        plot_spectrum({"a": 1.0})
    with pytest.raises(ConfigError, match="nothing to plot"):
        plot_density({})
    with pytest.raises(ConfigError, match="no record has"):
        plot_records([{"step": 1}], "trace")

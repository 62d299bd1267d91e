"""Figures: captions generated from the data drawn (seed counts, † markers), labelled axes in table units,
hollow markers exactly for the runs that missed the target, human titles."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba

from hessianlab.report import load_runs
from hessianlab.report.figures import batch_trends_figure, spectrum_figure, training_curves_figure
from hessianlab.report.figures_extra import landscape_figures

from conftest import make_run


def _sweep(tmp_path, seeds, missed=(512,)):
    for b in (16, 64, 512):
        for s in range(seeds):
            make_run(tmp_path, f"b{b}-s{s}", batch_size=b, seed=s, reached=b not in missed, lambda1=b / 16 + s,
                     acc=(1.0, 0.8 - b / 1e4), attack={0.02: (0.5, 0.3 - b / 5e3)}, track=True,
                     landscape=(b == 16 and s == 0))
    return load_runs(tmp_path)


def test_batch_trends_caption_and_markers_match_the_data(tmp_path):
    (fig,) = batch_trends_figure(_sweep(tmp_path, seeds=3))
    assert "mean over 3 seeds each" in fig.caption and "95 % t intervals" in fig.caption
    assert "† (hollow markers): B=512" in fig.caption and "B=16" not in fig.caption.split("†")[1]
    axes = fig.figure.axes
    assert [ax.get_ylabel() for ax in axes] == ["test accuracy (%)", "FGSM test accuracy at ε = 0.02 (%)",
                                                "λ1 (train)"]
    assert all(ax.get_xlabel() and ax.get_title() and "." not in ax.get_title().split(" ")[0] for ax in axes)
    acc = axes[0]
    points = [(line.get_xdata()[0], line.get_markerfacecolor()) for line in acc.get_lines()
              if len(line.get_xdata()) == 1]
    assert {x for x, face in points if to_rgba(face) == to_rgba("white")} == {512}  # hollow: exactly B = 512
    ys = np.concatenate([line.get_ydata() for line in acc.get_lines()])
    assert 50 < ys.max() <= 100  # percent, as the tables
    assert acc.get_legend().get_texts()[0].get_fontsize() >= 9


def test_one_seed_never_says_mean_over_seeds(tmp_path):
    runs = _sweep(tmp_path, seeds=1, missed=())
    for f in batch_trends_figure(runs) + spectrum_figure(runs) + training_curves_figure(runs):
        assert "one seed each" in f.caption and "mean over" not in f.caption and "†" not in f.caption, f.name
        assert "error bars" not in f.caption


def test_spectrum_and_epoch_captions_count_seeds_and_residuals(tmp_path):
    runs = _sweep(tmp_path, seeds=2)
    (spec,) = spectrum_figure(runs)
    assert "mean over 2 seeds each" in spec.caption and "†: B=512 did not reach" in spec.caption
    (curves,) = training_curves_figure(runs)
    assert all(ax.get_yscale() == "log" for ax in curves.figure.axes)
    assert all(ax.get_ylabel() for ax in curves.figure.axes)
    assert "mean over 2 seeds each" in curves.caption


def test_landscape_titles_are_human(tmp_path):
    runs = _sweep(tmp_path, seeds=1)
    figs = landscape_figures(runs)
    assert len(figs) == 2
    for f in figs:
        title = f.figure._suptitle.get_text()
        assert title.startswith("B = 16, seed 0:") and "/" not in title
        assert " a eigen" not in f.caption
    plane = next(f for f in figs if "plane" in f.caption)
    assert "d1, d2 = the top two Hessian eigenvectors" in plane.caption

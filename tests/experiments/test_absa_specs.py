"""The ABSA study specs encode the paper's protocol: strategy rows, the block regexes, Theorem 1's step size."""

from __future__ import annotations

import pytest
import torch

from hessianlab.commands.reproduce import spec_paths
from hessianlab.curvature import dense_hessian
from hessianlab.data import load_dataset
from hessianlab.experiments.spec import load_spec
from hessianlab.models import build_model
from hessianlab.report.absa import strategy, table_batch

SPECS = spec_paths()


@pytest.mark.parametrize("preset", ["paper", "paper-s1", "quick", "smoke"])
def test_absa_table_rows_pair_every_strategy_with_every_batch_size(preset):
    plans = load_spec(SPECS["absa-table"], preset).expand()
    configs = [p.config for p in plans]
    base = min(c.batch_size for c in configs)
    cells = [(strategy(c.to_dict()), table_batch(c.to_dict())) for c in configs]
    sizes = sorted({bs for _, bs in cells} - {base})
    assert sorted(cells) == sorted([("BL", base)] + [(s, bs) for bs in sizes for s in ("BL", "FB", "GG", "ABS", "ABSA")])
    for c in configs:
        kind = strategy(c.to_dict())
        assert c.batch_size == (base if kind in ("GG", "ABS", "ABSA") else table_batch(c.to_dict()))
        assert c.lr_scale_ref == (base if kind == "FB" else None)
        assert (c.adversarial, c.adv_eps, c.adv_ratio) == (("fgsm", 0.005, 0.2) if kind == "ABSA" else (None, 0.005, 0.2))
    assert len({(c.lr, c.lr_schedule, c.max_epochs, c.momentum) for c in configs}) == 1


@pytest.mark.parametrize(("preset", "model", "in_shape", "last_two"), [
    ("paper", "resnet18", (3, 32, 32), ("layers.3.1.conv2.weight", "layers.3.1.bn2.weight", "layers.3.1.bn2.bias",
                                        "fc.weight", "fc.bias")),
    ("quick", "lenet5", (1, 28, 28), ("fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")),
    ("smoke", "mlp", (3, 16, 16), ("fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")),
])
def test_block_regex_selects_the_last_two_layers(preset, model, in_shape, last_two):
    import re

    spec = load_spec(SPECS["absa-block-hessian"], preset)
    configs = [p.config for p in spec.expand()]
    assert {c.model for c in configs} == {model}
    names = [n for n, _ in build_model(model, in_shape=in_shape, num_classes=10, width=configs[0].width)
             .named_parameters()]
    blocks = {c.abs_eig_params for c in configs} - {None}
    assert blocks == {c.track_lambda1_params for c in configs}
    (regex,) = blocks
    assert tuple(n for n in names if re.search(regex, n)) == last_two
    assert {c.abs_eig_params for c in configs} == {None, regex}


def test_logistic_step_size_satisfies_theorem1():
    """eta0 <= 1 / (L_g (M_v + B_max)) with M_v = 0 and L_g <= lambda_max(E[z z^T]) / 2, as the spec derives."""
    data = load_dataset("breast-cancer", "train")
    mean, std = data.meta.mean[0], data.meta.std[0]
    z = (data.images.reshape(len(data), -1).double() - mean) / std
    z = torch.cat([z, torch.ones(len(data), 1, dtype=torch.float64)], dim=1)
    lipschitz = float(torch.linalg.eigvalsh(z.T @ z / len(data))[-1]) / 2
    assert lipschitz == pytest.approx(6.16, abs=5e-3)
    for preset in ("paper", "quick", "smoke"):
        for plan in load_spec(SPECS["absa-logistic"], preset).expand():
            c = plan.config
            b_max = c.abs_batch_max if c.batch_schedule == "abs" else c.batch_size
            assert b_max <= len(data) and c.momentum == 0.0
            eta0 = c.lr / c.batch_size  # the noise-scaled ABS LR is b_t * eta0 from there on
            assert eta0 == pytest.approx(3.5e-4) and eta0 <= 1 / (lipschitz * len(data))
    # the bound holds at a point: the dense Hessian of a (random) logistic model stays below L_g
    torch.manual_seed(0)
    model = build_model("logreg", in_shape=(1, 1, 30), num_classes=2, mean=mean, std=std)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.0)  # p = 1/2 everywhere: 2 p (1 - p) = 1/2, where the bound is tight
    top = float(torch.linalg.eigvalsh(dense_hessian(model, None, data, dtype=torch.float64))[-1])
    assert top == pytest.approx(lipschitz, rel=1e-6)

"""Two gloo processes on localhost (one torchrun launch) against single-process references computed here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dist_worker import CURV_SAMPLES, CURV_SEED, data, mlp, probes, train
from hessianlab.curvature import ParamHessian, dense_hessian, lanczos, loss_and_gradient
from hessianlab.training.accumulate import accumulate_gradients
from launch import torchrun

WORKER = Path(__file__).with_name("dist_worker.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("dist")
    torchrun([str(WORKER), str(out)])
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_ddp_training_equals_single_process(ranks):
    # reference: one process, the trainer's own gradient over the same global batches (sizes 6, 5, 1, 4, ...);
    # the ranks ran sgd_epoch with DataParallelStep and 2-sample micro-batches per shard
    model, losses, state = train(lambda model: accumulate_gradients)
    assert len(losses) == len(ranks[0]["losses"]) > 8 and state["samples_seen"] == 2 * 23
    for r in ranks:
        assert {k: r["state"][k] for k in state} == state  # (the ranks also count accumulated updates)
        # float64; the shard sums are added in another order than the single-process mean: ~1e-16 relative
        torch.testing.assert_close(r["losses"], losses, rtol=1e-12, atol=0)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(r["weights"][name], value, rtol=1e-11, atol=1e-13)
    # the all-reduced gradients are identical on both ranks, so the weights are bitwise equal
    for name in model.state_dict():
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name])


def test_sharded_top_eigenvalues_equal_single_process(ranks):
    model, xy = mlp(5), data(11, 2)
    H = dense_hessian(model, None, xy, samples=CURV_SAMPLES, seed=CURV_SEED)
    top = torch.linalg.eigvalsh(H).flip(0)
    op = ParamHessian(model, None, xy, samples=CURV_SAMPLES, seed=CURV_SEED, dtype=torch.float64)
    single = lanczos(op, 2, tol=1e-10, seed=0)
    v = torch.linspace(-1, 1, op.size, dtype=torch.float64)
    for r in ranks:
        assert r["lanczos_converged"]
        torch.testing.assert_close(r["lanczos"], top[:2], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(r["lanczos"], single.eigenvalues, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(r["power"], top[:1], rtol=1e-8, atol=1e-12)
        torch.testing.assert_close(r["hv"], H @ v, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(r["hV"], H @ torch.stack([v, v.flip(0)], dim=1), rtol=1e-12, atol=1e-14)
    # every product is all-reduced, so both ranks follow the same iterates
    assert torch.equal(ranks[0]["lanczos"], ranks[1]["lanczos"])
    assert torch.equal(ranks[0]["lanczos_vectors"], ranks[1]["lanczos_vectors"])


def test_sharded_loss_gradient_and_settings(ranks):
    model, xy = mlp(5), data(11, 2)
    value, grad = loss_and_gradient(ParamHessian(model, None, xy, samples=CURV_SAMPLES, seed=CURV_SEED,
                                                 dtype=torch.float64))
    for r in ranks:
        assert r["loss"] == pytest.approx(value, rel=1e-13)
        torch.testing.assert_close(r["grad"], grad, rtol=1e-12, atol=1e-15)
        s = r["settings"]
        assert (s["samples"], s["world_size"], s["shard_samples"]) == (CURV_SAMPLES, 2, [5, 4])
        assert (s["operator"], s["local_operator"], s["sample_selection"]) == ("AllReduceOperator", "ParamHessian",
                                                                               "random")
    assert ranks[0]["settings"] == ranks[1]["settings"]


def test_trainer_probes_are_sharded_and_equal_on_every_rank(ranks):
    # ABS's EigenProbe and the λ1 hook under torchrun: each rank computes its share of every product, so the
    # measurement is identical on both ranks and equals the one-process probe to rounding
    single_probe, single_hook = probes(mlp(5), data(11, 2))
    assert single_probe.ranks == 1
    for r in ranks:
        assert r["probe"].ranks == 2 and r["probe"].converged
        assert r["probe"].value == pytest.approx(single_probe.value, rel=1e-10)
        assert r["hook"]["lambda1"] == pytest.approx(single_hook["lambda1"], rel=1e-5)  # float32 operator
        assert r["hook"]["grad_norm"] == pytest.approx(single_hook["grad_norm"], rel=1e-5)
    assert ranks[0]["probe"].value == ranks[1]["probe"].value
    assert ranks[0]["probe"].matvecs == ranks[1]["probe"].matvecs
    assert ranks[0]["hook"] == ranks[1]["hook"]


def test_empty_shard_contributes_nothing(ranks):
    model, xy = mlp(5), data(11, 2)
    H4 = dense_hessian(model, None, xy, samples=[4])
    v = torch.linspace(-1, 1, H4.shape[0], dtype=torch.float64)
    for r in ranks:
        assert r["one_counts"] == [1, 0]
        torch.testing.assert_close(r["one_hv"], H4 @ v, rtol=1e-12, atol=1e-14)


def test_batchnorm_buffers_stay_identical_across_ranks(ranks):
    for name, value in ranks[0]["bn_state"].items():
        assert torch.equal(value, ranks[1]["bn_state"][name]), name

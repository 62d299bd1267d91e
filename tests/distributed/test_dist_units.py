"""hessianlab.distributed without processes: sharding arithmetic, environment parsing, single-process paths."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dist_worker import data, mlp
from hessianlab.curvature import ParamHessian, loss_and_gradient
from hessianlab.distributed import (
    AllReduceOperator, DataParallelStep, DistContext, init_from_env, shard, shard_bounds, shard_sizes,
    sharded_curvature, sharded_loss_and_gradient,
)
from hessianlab.distributed.rundir import FollowerRun, open_run_for_rank
from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
def test_shards_partition_in_order_and_differ_by_at_most_one(world_size):
    for n in range(0, 23):
        sizes = shard_sizes(n, world_size)
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
        items = torch.arange(n)
        parts = [shard(items, DistContext(rank=r, world_size=world_size)) for r in range(world_size)]
        assert torch.equal(torch.cat(parts), items)
        for r, part in enumerate(parts):
            start, stop = shard_bounds(n, world_size, r)
            assert (stop - start, part.numel()) == (sizes[r], sizes[r])


def test_uneven_and_empty_shards():
    assert shard_sizes(5, 2) == [3, 2]
    assert shard_sizes(1, 2) == [1, 0]
    assert shard_bounds(7, 3, 0) == (0, 3) and shard_bounds(7, 3, 1) == (3, 5) and shard_bounds(7, 3, 2) == (5, 7)
    assert shard_bounds(2, 4, 3) == (2, 2)
    with pytest.raises(ConfigError, match="rank 2 is outside"):
        shard_bounds(4, 2, 2)
    with pytest.raises(ConfigError, match="world_size"):
        shard_sizes(4, 0)


def test_environment_parsing():
    assert init_from_env({}) == DistContext()
    assert init_from_env({"WORLD_SIZE": "1"}) == DistContext()
    with pytest.raises(ConfigError, match=r"\$RANK is not set.*torchrun"):
        init_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="MASTER_ADDR"):
        init_from_env({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="outside"):
        init_from_env({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="not an integer"):
        init_from_env({"WORLD_SIZE": "two"})


@pytest.mark.parametrize("max_physical", [None, 4])
def test_single_process_step_is_the_mean_loss_gradient(max_physical):
    x, y = data(9, 0)
    a, b = mlp(1), mlp(1)
    loss = DataParallelStep(a, DistContext())(a, x, y, max_physical)
    ref = F.cross_entropy(b(x), y)
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-14)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-13, atol=1e-16)
    with pytest.raises(ValueError, match="another model"):
        DataParallelStep(a, DistContext())(b, x, y)


def test_nonfinite_loss_is_returned_for_the_caller_to_stop():
    model = mlp(1)
    x, y = data(4, 0)
    assert not math.isfinite(DataParallelStep(model, DistContext())(model, x * float("inf"), y))


def test_single_process_sharded_operator_is_the_operator():
    model, xy = mlp(2), data(11, 1)
    op = sharded_curvature(model, None, xy, samples=6, seed=4, dtype=torch.float64, chunk_size=4)
    ref = ParamHessian(model, None, xy, samples=6, seed=4, dtype=torch.float64)
    V = torch.randn(op.size, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(op.matvec(V[:, 0]), ref.matvec(V[:, 0]), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(op.matmat(V), ref.matmat(V), rtol=1e-12, atol=1e-15)
    assert op.num_matvecs == 4
    assert (op.settings["samples"], op.settings["shard_samples"], op.settings["chunk_size"]) == (6, [6], 4)
    value, grad = sharded_loss_and_gradient(op)
    ref_value, ref_grad = loss_and_gradient(ref)
    assert value == pytest.approx(ref_value, rel=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-13, atol=1e-16)


def test_operator_without_samples_is_refused():
    local = ParamHessian(mlp(2), None, data(3, 1), dtype=torch.float64)
    with pytest.raises(ConfigError, match="no rank holds a sample"):
        AllReduceOperator(local, 0, ctx=DistContext())


def test_follower_run_reads_but_never_writes(tmp_path):
    cfg = TrainConfig(model="mlp", dataset="synthetic")
    run = open_run_for_rank(tmp_path / "r", cfg, {"shape": [1, 1, 4], "classes": ["a", "b"]}, DistContext())
    run.save_checkpoint({"state": {"epoch": 3}})
    before = {p.name: p.read_bytes() for p in run.path.iterdir()}
    follower = FollowerRun(run)
    assert follower.load_checkpoint()["state"]["epoch"] == 3 and follower.config_hash == run.config_hash
    follower.save_checkpoint({"state": {"epoch": 9}})
    follower.write_metrics([{"epoch": 1}])
    follower.set_status("finished")
    follower.save_model({"w": torch.zeros(1)})
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == before

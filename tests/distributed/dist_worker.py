"""Worker of the 2-process tests, started by ``python -m torch.distributed.run --nproc_per_node=2``.

``python dist_worker.py OUT`` computes, on every rank, DDP training of a tiny float64 MLP (batch sizes
cycling through :data:`BATCH_SIZES`, including a batch of one that leaves rank 1's shard empty), sharded
curvature results, the trainer's curvature probes (ABS eigenvalue, λ1 hook), and a few BatchNorm updates,
and saves them to ``OUT/rank{r}.pt``. The problem builders
are shared with the test module, which computes the single-process references.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from hessianlab.curvature import lanczos, power_iteration
from hessianlab.data import BatchIterator
from hessianlab.data.types import Dataset, DatasetMeta
from hessianlab.distributed import (
    DataParallelStep, init_from_env, sharded_curvature, sharded_loss_and_gradient, shutdown,
)
from hessianlab.training.abs_schedule import EigenMeasurement, EigenProbe
from hessianlab.training.config import TrainConfig
from hessianlab.training.hooks import CurvatureHook
from hessianlab.training.schedules import ConstantLR, ScheduleState
from hessianlab.training.trainer import EpochContext, sgd_epoch

BATCH_SIZES = (6, 5, 1, 4)  # 6 -> 3/3, 5 -> 3/2, 1 -> 1/0 (empty shard), 4 -> 2/2
EPOCHS = 2
CURV_SAMPLES = 9  # of 11: shards 5/4
CURV_SEED = 3


def mlp(seed: int, batchnorm: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(5, 7), *([nn.BatchNorm1d(7)] if batchnorm else []), nn.Tanh(), nn.Linear(7, 3)]
    return nn.Sequential(*layers).double()


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


class CyclingBatch:
    """Batch-size schedule ``BATCH_SIZES[update % 4]``: the size changes before every update."""

    def batch_size(self, state: ScheduleState) -> int:
        return BATCH_SIZES[state.update % len(BATCH_SIZES)]

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        del state


def train(gradient_fn, max_physical: int | None = None) -> tuple[nn.Module, list[float], dict]:
    """The trainer's ``sgd_epoch`` (SGD with momentum and weight decay) for 2 epochs over 23 samples;
    ``gradient_fn(model)`` gives the trainer's gradient function. Returns the model, the losses, the counters."""
    model = mlp(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=1e-3)
    fn, losses = gradient_fn(model), []

    def recorded(*args):
        losses.append(fn(*args))
        return losses[-1]

    iterator = BatchIterator(data(23, 1), batch_size=BATCH_SIZES[0], seed=1)
    state = {"updates": 0, "samples_seen": 0}
    for epoch in range(EPOCHS):
        sgd_epoch(model, opt, iterator.epoch(epoch), ConstantLR(0.3), CyclingBatch(), state,
                  max_physical_batch=max_physical, gradient_fn=recorded)
    return model, losses, state


def probes(model: nn.Module, xy: tuple[torch.Tensor, torch.Tensor]) -> tuple[EigenMeasurement, dict]:
    """The trainer's curvature probes on ``model`` over ``xy`` (sharded under torchrun): the ABS eigenvalue
    (Lanczos, tol 1e-10) and the per-epoch λ1 / gradient-norm hook, both on CURV_SAMPLES seeded samples."""
    probe = EigenProbe(samples=CURV_SAMPLES, seed=CURV_SEED, tol=1e-10, method="lanczos")(model, xy)
    toy = Dataset(*xy, DatasetMeta("toy", "train", ("a", "b", "c"), (1, 1, 5), (0.0,), (1.0,), "generated:test"))
    hook = CurvatureHook(samples=CURV_SAMPLES, seed=CURV_SEED, tol=1e-6)(EpochContext(model, 0, 0, TrainConfig(),
                                                                                      toy, toy))
    return probe, hook


def main(out: Path) -> None:
    ctx = init_from_env()
    assert ctx.world_size == 2, ctx
    model, losses, state = train(DataParallelStep, max_physical=2)  # micro-batches: 2+1 or 1 per shard
    result = {"weights": model.state_dict(), "losses": losses, "state": state}

    curv_model, curv_data = mlp(5), data(11, 2)
    op = sharded_curvature(curv_model, None, curv_data, samples=CURV_SAMPLES, seed=CURV_SEED, dtype=torch.float64)
    v = torch.linspace(-1, 1, op.size, dtype=torch.float64)
    lz = lanczos(op, 2, tol=1e-10, seed=0)
    pw = power_iteration(op, 1, tol=1e-10, seed=0)
    loss, grad = sharded_loss_and_gradient(op)
    one = sharded_curvature(curv_model, None, curv_data, samples=[4], dtype=torch.float64)  # rank 1 holds nothing
    result.update(hv=op.matvec(v), hV=op.matmat(torch.stack([v, v.flip(0)], dim=1)), lanczos=lz.eigenvalues,
                  lanczos_vectors=lz.eigenvectors, lanczos_converged=lz.converged, power=pw.eigenvalues,
                  loss=loss, grad=grad, settings=dict(op.settings), one_hv=one.matvec(v),
                  one_counts=one.shard_samples)
    result["probe"], result["hook"] = probes(curv_model, curv_data)

    bn = mlp(7, batchnorm=True)
    bn_opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    bn_step = DataParallelStep(bn)
    x, y = data(8, 3)
    for _ in range(3):
        bn_opt.zero_grad()
        bn_step(bn, x, y)
        bn_opt.step()
    result["bn_state"] = bn.state_dict()
    torch.save(result, out / f"rank{ctx.rank}.pt")
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

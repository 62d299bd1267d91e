"""Data-parallel training (DistributedDataParallel) and all-reduced curvature over ``torch.distributed``.

Launch
------
Training, ``P`` processes on one host (``torchrun`` is ``python -m torch.distributed.run``)::

    torchrun --nproc_per_node=4 -m hessianlab train --out runs/r1 --batch-size 512 ...
    torchrun --nproc_per_node=4 -m hessianlab train --out runs/r1 --resume ...      # continue it

Several hosts: add ``--nnodes=N --node_rank=I --master_addr=HOST --master_port=PORT`` on each. Without
torchrun (or with one process) the same command trains in one process. Device and backend: with
``--device cuda`` (or ``auto`` on a GPU host) rank ``r`` trains on ``cuda:LOCAL_RANK`` over nccl
(``cpu:gloo,cuda:nccl``); with ``--device cpu`` over gloo (see :mod:`~hessianlab.distributed.context`).

Library use, inside a script started by torchrun::

    ctx = init_from_env()                                   # no-op without torchrun
    op = sharded_curvature(model, None, data, samples=4096, seed=0, chunk_size=512)
    result = lanczos(op, k=5, seed=0)                       # same call on every rank
    loss, grad = sharded_loss_and_gradient(op)
    shutdown()

Semantics
---------
* Training: every rank draws the same seeded global batch (the batch size, ABS included, comes from the
  schedule before every update, on the global batch), keeps its contiguous shard, and back-propagates its
  summed loss scaled by ``P / B``; DDP's averaging then yields the gradient of the global-batch mean loss,
  so a BatchNorm-free model trains as in one process with the same batches (to rounding). The LR schedule,
  ``samples_seen`` and metrics all refer to the global batch. See :mod:`~hessianlab.distributed.training`.
* Evaluation runs on every rank over all its data, without communication (the weights are identical on
  every rank, so the results are too; the curvature hooks shard their products, see below); only rank 0
  writes the run folder, and every rank loads the checkpoint on resume (:mod:`~hessianlab.distributed.rundir`).
* Curvature: the samples are chosen as in one process, sharded contiguously, and each product is the
  shard-size-weighted sum of local products, all-reduced: the Hessian of the mean loss over all samples.
  Solvers run unchanged on every rank (:mod:`~hessianlab.distributed.curvature`). The trainer's ABS
  eigenvalue checks and ``track_lambda1`` use it, so each rank computes ``1/P`` of every product.
"""

from hessianlab.distributed.context import (
    DistContext, all_reduce_max, all_reduce_sum, barrier, current, default_backend, init_from_env, shutdown,
)
from hessianlab.distributed.curvature import AllReduceOperator, sharded_curvature, sharded_loss_and_gradient
from hessianlab.distributed.sharding import shard, shard_bounds, shard_sizes
from hessianlab.distributed.training import DataParallelStep, cross_entropy_sum

__all__ = [
    "AllReduceOperator", "DataParallelStep", "DistContext", "all_reduce_max", "all_reduce_sum", "barrier",
    "cross_entropy_sum", "current", "default_backend", "init_from_env", "shard", "shard_bounds", "shard_sizes",
    "sharded_curvature", "sharded_loss_and_gradient", "shutdown",
]

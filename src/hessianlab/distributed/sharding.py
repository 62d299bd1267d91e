"""Deterministic contiguous sharding of ``n`` items (a batch, a sample index set) across ranks.

Rank ``r`` of ``P`` keeps items ``[start_r, stop_r)``: the first ``n mod P`` ranks hold ``⌊n/P⌋ + 1`` items and
the others ``⌊n/P⌋``, so shard sizes differ by at most one and concatenating the shards in rank order gives
back the items in their original order. When ``n < P`` the last ``P - n`` ranks hold nothing (an empty
shard is legal; callers weight each shard by its size, so it contributes zero). The split depends only on
``(n, P, r)``: every rank computes every rank's shard without communication.
"""

from __future__ import annotations

import torch

from hessianlab.distributed.context import DistContext
from hessianlab.errors import ConfigError


def _check(n: int, world_size: int, rank: int | None = None) -> None:
    if n < 0:
        raise ConfigError(f"cannot shard a negative number of items ({n})")
    if world_size < 1:
        raise ConfigError(f"world_size must be at least 1, got {world_size}")
    if rank is not None and not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is outside [0, {world_size}); pass the rank of this process")


def shard_sizes(n: int, world_size: int) -> list[int]:
    """Items per rank, ``(world_size,)`` entries summing to ``n``, non-increasing, differing by at most 1."""
    _check(n, world_size)
    base, extra = divmod(n, world_size)
    return [base + (r < extra) for r in range(world_size)]


def shard_bounds(n: int, world_size: int, rank: int) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s contiguous shard of ``n`` items (``start == stop`` when empty)."""
    _check(n, world_size, rank)
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def shard(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's rows of ``tensor`` ``(n, ...)``: a view ``(n_r, ...)`` (all rows in a single process)."""
    start, stop = shard_bounds(int(tensor.shape[0]), ctx.world_size, ctx.rank)
    return tensor[start:stop]

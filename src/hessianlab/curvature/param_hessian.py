"""Parameter Hessian of the mean loss over a chosen set of samples, as a :class:`LinearOperator`.

Data semantics (shared with :class:`hessianlab.curvature.ggn.GGN` through
:class:`DatasetCurvatureOperator`):

* ``data`` is anything :func:`hessianlab.data.source.as_batches` accepts: ``(x, y)`` tensors shaped
  ``(N, ...)`` / ``(N, ...)``, a :class:`hessianlab.data.Dataset`, or a re-iterable of batches (a
  ``torch.utils.data.DataLoader``, a list of batches, a function returning a fresh iterator). Batches go to
  the model's device one at a time; loaders with random augmentation are refused (what is checked is
  documented in :mod:`hessianlab.data.determinism`).
* ``loss_fn(output, target)`` with ``reduction='mean'`` (default ``torch.nn.functional.cross_entropy``;
  regression losses such as ``mse_loss`` with float targets work the same), or
  :class:`~hessianlab.curvature.losses.BatchLoss` ``fn(model, batch)`` for batches that are not ``(x, y)``.
  The operator is the Hessian of ``(1/N) Σ_{i in S} loss_i`` over exactly the chosen samples ``S``.
* ``samples='all'`` | ``int`` (seeded random subset without replacement: the sub-sampled Hessian) |
  explicit indices; in-memory data only (for a loader, pass a loader over the subset). Batches (chunks of
  at most ``chunk_size`` samples, or the loader's batches, split further by ``chunk_size``) are weighted by
  ``n_b / N``, so products do not depend on the batching; peak memory is bounded by one batch.
* ``params``: ``None`` (every parameter with ``requires_grad``), a list of names or a regex (block
  Hessian); see :func:`hessianlab.curvature.params.select_param_names`.
* ``mode='eval' | 'train'`` is set around every product and restored afterwards. Train mode uses batch
  statistics in BatchNorm (refused with more than one batch, as batches would change the operator) and
  refuses active Dropout (random masks would make products random).
* The operator is taken at the parameters the model has *at construction*; it holds dtype-cast copies.
* Cost: ``num_passes`` counts passes over the data; :meth:`DatasetCurvatureOperator.matmat` computes all
  ``k`` columns of a block in ONE pass (one forward per batch shared by the ``k`` products).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from hessianlab.curvature.hvp import GradientGraph, Objective, TensorDict, check_hvp_method
from hessianlab.curvature.losses import BatchLoss, LossFn, loss_name
from hessianlab.curvature.modes import check_mode, model_mode
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.params import ParamSelection, param_spec
from hessianlab.data.source import Samples, as_batches, resolve_data, select_samples
from hessianlab.errors import ConfigError

__all__ = [  # resolve_data / select_samples / Samples are re-exported for existing importers
    "AUTO_BLOCK_METHOD", "AUTO_MATVEC_METHOD", "DatasetCurvatureOperator", "ParamHessian",
    "Samples", "check_train_mode", "gradient", "loss", "loss_and_gradient", "resolve_data", "select_samples",
]


def check_train_mode(model: nn.Module, mode: str, chunked: bool) -> None:
    """Refuse train mode where it makes the operator ill-defined: BatchNorm with several batches (each
    would use its own batch statistics) and active Dropout (random masks)."""
    if mode != "train":
        return
    if chunked and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError(
            "BatchNorm in train mode with chunking changes the operator; use mode='eval' or chunk_size=None"
        )
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        raise ConfigError("Dropout in train mode makes curvature products random; use mode='eval'")


class DatasetCurvatureOperator(LinearOperator):
    """Base of curvature operators over a dataset (data, samples, batches, params, mode, dtype).

    Subclasses implement ``_batch_product(batch, v) -> dict`` (the product for the mean loss of one
    batch) and ``_batch_block(batch, V) -> dict`` (``k`` products at once, ``V`` holding ``(k, *shape)``
    tensors). ``source`` is the :class:`~hessianlab.data.source.BatchSource` of the data.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn | BatchLoss | None,
        data: Any,
        *,
        samples: Samples = "all",
        seed: int = 0,
        chunk_size: int | None = None,
        params: ParamSelection = None,
        mode: str = "eval",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.mode = check_mode(mode)
        if not dtype.is_floating_point:
            raise ConfigError(f"dtype must be a floating type, got {dtype}")
        self.spec = param_spec(model, params)
        device = next(model.parameters()).device
        self.loss_fn: LossFn | BatchLoss = loss_fn or F.cross_entropy
        self.source = as_batches(data, samples=samples, seed=seed, chunk_size=chunk_size, device=device,
                                 dtype=dtype, structured=isinstance(self.loss_fn, BatchLoss))
        self.sample_indices = self.source.sample_indices
        self.num_samples = self.source.num_samples
        check_train_mode(model, self.mode, self.source.num_batches > 1)
        self.model = model
        self.chunk_size = chunk_size
        self._params_arg = params
        self._seed = seed
        self._selection = "all" if isinstance(samples, str) else "random" if isinstance(samples, int) else "indices"
        super().__init__(self.spec.size, dtype, device)
        self.objective = Objective(model, self.loss_fn, self.spec, dtype, train_mode=self.mode == "train")

    # -- layout -------------------------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        return self.spec.names

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.spec.shapes

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat ``(P,)`` -> dict of parameter-shaped views."""
        return self.spec.unflatten(v)

    def flatten(self, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Dict of parameter-shaped tensors -> flat ``(P,)``."""
        return self.spec.flatten(tensors)

    @property
    def settings(self) -> Mapping[str, Any]:
        return {
            **super().settings,
            "loss": loss_name(self.loss_fn),
            **self.source.settings,
            "sample_selection": self._selection,
            "seed": self._seed,
            "mode": self.mode,
            "params": "all" if self._params_arg is None else list(self.spec.names),
            "chunk_size": self.chunk_size,
        }

    # -- data -------------------------------------------------------------------------------------
    @property
    def num_chunks(self) -> int:
        """Batches per pass over the data (``1`` for in-memory data with ``chunk_size=None``)."""
        return self.source.num_batches

    def chunks(self) -> Iterator[tuple[Any, float]]:
        """One pass: ``(batch, n_b / N)`` with the batch on the operator's device and dtype."""
        return iter(self.source)

    # -- products ---------------------------------------------------------------------------------
    def _batch_product(self, batch: Any, v: TensorDict) -> TensorDict:
        raise NotImplementedError

    def _batch_block(self, batch: Any, V: TensorDict) -> TensorDict:
        raise NotImplementedError

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        vd = self.spec.unflatten(v.to(self.dtype))
        out = torch.zeros(self.size, dtype=self.dtype, device=self.device)
        with model_mode(self.model, self.mode):
            for batch, w in self.chunks():
                out.add_(self.spec.flatten(self._batch_product(batch, vd)), alpha=w)
        return out

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A @ V`` for ``V`` ``(P, k)`` in ONE pass over the data: per batch, the ``k`` products share
        its forward pass (see the subclass for how). Counts ``k`` products and one pass."""
        if V.dim() != 2 or V.shape[0] != self.size:
            raise ValueError(f"matmat expects shape ({self.size}, k), got {tuple(V.shape)}")
        out = self._matmat(V)
        self.num_matvecs += V.shape[1]
        self.num_passes += 1
        return out

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        Vd = self.spec.unflatten_batch(V.T.to(self.dtype))
        out = torch.zeros(V.shape[1], self.size, dtype=self.dtype, device=self.device)
        with model_mode(self.model, self.mode):
            for batch, w in self.chunks():
                out.add_(self.spec.flatten_batch(self._batch_block(batch, Vd)), alpha=w)
        return out.T


AUTO_MATVEC_METHOD = "fwd_rev"
"""What ``hvp_method='auto'`` uses for single products over several batches (chosen by bench/bench_hvp_block.py)."""
AUTO_BLOCK_METHOD = "double_backward"
"""What ``'auto'`` uses for block products over several batches (chosen by bench/bench_hvp_block.py)."""
_OTHER = {"fwd_rev": "double_backward", "double_backward": "fwd_rev"}


class ParamHessian(DatasetCurvatureOperator):
    """Hessian ``(P, P)`` of the mean loss over the chosen samples w.r.t. the chosen parameters.

    ``hvp_method``:

    * ``'cached'``: at the first product, build every batch's gradient graph once
      (:class:`~hessianlab.curvature.hvp.GradientGraph`: ``create_graph=True`` on the private parameter
      snapshot); each product is then one backward pass per batch through the retained graphs, and
      :meth:`matmat` loops over columns. Memory scales with the data: the graphs (activations and first
      backward) of *all* batches are held until :meth:`release`.
    * ``'double_backward'``: per batch, build the gradient graph, run one backward pass per vector
      through it (all ``k`` columns of a block share the graph), drop it; peak memory is one batch's graph.
    * ``'fwd_rev'``: per batch, forward-over-reverse (``jvp`` of ``grad``); a block is ``vmap`` over the
      ``k`` tangents (one forward and backward of the batch shared by all; memory ~ ``k`` times a product's
      tangents, so choose ``chunk_size`` / the loader's batch size with ``k`` in mind). In torch 2.13 it
      raises on ``mse_loss`` ("ZeroTensors are immutable"); ``'auto'`` then falls back.
    * ``'auto'``: ``'cached'`` when the samples form one batch, so the memory bound stays one batch (its
      graph is held between products); otherwise :data:`AUTO_MATVEC_METHOD` for :meth:`matvec` and
      :data:`AUTO_BLOCK_METHOD` for :meth:`matmat`, falling back to the other method when the first batch
      raises ``NotImplementedError``/``RuntimeError`` (a model ``torch.func`` or double backward cannot
      handle).

    ``settings['hvp_method_used']`` / ``settings['block_method_used']`` record the method of single and
    block products (``None`` until the first one under ``'auto'``) and ``settings['cached_chunks']`` how
    many batch graphs the cached path holds (``0`` for the other methods). The operator is a snapshot of
    the parameters taken at construction: later changes to the model are never seen, cached graphs or not.
    See the module docstring for the data semantics.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn | BatchLoss | None, data: Any, *, hvp_method: str = "auto",
                 **kw: Any):
        super().__init__(model, loss_fn, data, **kw)
        self.hvp_method = check_hvp_method(hvp_method)
        fixed = None if hvp_method == "auto" else hvp_method
        self._used: dict[str, str | None] = {"matvec": fixed, "block": fixed}
        self._graphs: list[tuple[GradientGraph, float]] | None = None

    @property
    def hvp_method_used(self) -> str | None:
        """The method single products use (``None`` until resolved under ``'auto'``)."""
        return self._used["matvec"]

    @property
    def settings(self) -> Mapping[str, Any]:
        used = self._used["matvec"] or self._used["block"]
        cached = None if used is None else self.num_chunks if used == "cached" else 0
        return {**super().settings, "hvp_method": self.hvp_method, "hvp_method_used": self._used["matvec"],
                "block_method_used": self._used["block"], "cached_chunks": cached}

    def release(self) -> None:
        """Free the cached gradient graphs; the next cached product rebuilds them."""
        self._graphs = None

    # -- cached path --------------------------------------------------------------------------------
    def _cached_graphs(self) -> list[tuple[GradientGraph, float]]:
        """``(graph, n_b / N)`` per batch, built at the first call."""
        if self._graphs is None:
            with model_mode(self.model, self.mode):
                self._graphs = [(GradientGraph(self.objective, batch), w) for batch, w in self.chunks()]
        return self._graphs

    def _try_cached(self, product: Callable[[], torch.Tensor]) -> torch.Tensor | None:
        """``product()`` on the cached path, or ``None`` when it does not apply: another method, or
        ``'auto'`` over several batches, or ``'auto'`` on a model that fails double backward."""
        if "cached" in self._used.values():
            return product()
        if self.hvp_method != "auto" or any(self._used.values()) or self.num_chunks > 1:
            return None
        try:
            out = product()
        except (NotImplementedError, RuntimeError):
            self.release()
            self._used = {"matvec": "fwd_rev", "block": "fwd_rev"}
            return None
        self._used = {"matvec": "cached", "block": "cached"}
        return out

    def _cached_matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``H V`` for ``V`` ``(P, k)`` through the retained graphs (one backward per column and batch)."""
        Vd = self.spec.unflatten_batch(V.T.to(self.dtype))
        out = torch.zeros(V.shape[1], self.size, dtype=self.dtype, device=self.device)
        for graph, w in self._cached_graphs():
            out.add_(self.spec.flatten_batch(graph.hvp_block(Vd)), alpha=w)
        return out.T

    # -- products -----------------------------------------------------------------------------------
    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        out = self._try_cached(lambda: self._cached_matmat(v[:, None])[:, 0])
        return super()._matvec(v) if out is None else out

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self._try_cached(lambda: self._cached_matmat(V))
        return super()._matmat(V) if out is None else out

    def _resolved(self, kind: str, compute: Callable[[str], TensorDict]) -> TensorDict:
        """``compute(method)`` with the method of ``kind`` (``'matvec'``/``'block'``), resolving ``'auto'``
        on the first batch: the measured default, else the other method when it raises."""
        method = self._used[kind]
        if method is not None:
            return compute(method)
        first = AUTO_MATVEC_METHOD if kind == "matvec" else AUTO_BLOCK_METHOD
        try:
            out = compute(first)
        except (NotImplementedError, RuntimeError):
            first = _OTHER[first]
            out = compute(first)
        self._used[kind] = first
        return out

    def _batch_product(self, batch: Any, v: TensorDict) -> TensorDict:
        return self._resolved("matvec", lambda m: self.objective.hvp(batch, v, m))

    def _batch_block(self, batch: Any, V: TensorDict) -> TensorDict:
        return self._resolved("block", lambda m: self.objective.hvp_block(batch, V, m))


def loss_and_gradient(op: DatasetCurvatureOperator) -> tuple[float, torch.Tensor]:
    """Mean loss and its flat gradient ``(P,)`` over the operator's samples, parameters, mode, dtype."""
    total = torch.zeros(op.size, dtype=op.dtype, device=op.device)
    value = 0.0
    with model_mode(op.model, op.mode):
        for batch, w in op.chunks():
            lc, gc = op.objective.loss_and_grad(batch)
            total.add_(op.spec.flatten(gc), alpha=w)
            value += w * float(lc)
    return value, total


def gradient(op: DatasetCurvatureOperator) -> torch.Tensor:
    """Full-batch gradient ``(P,)`` over the operator's samples (batch-weighted, exact)."""
    return loss_and_gradient(op)[1]


def loss(op: DatasetCurvatureOperator) -> float:
    """Mean loss over the operator's samples (batch-weighted, exact), without derivatives."""
    value = 0.0
    with torch.no_grad(), model_mode(op.model, op.mode):
        for batch, w in op.chunks():
            value += w * float(op.objective.closure(batch)(op.objective.point))
    return value

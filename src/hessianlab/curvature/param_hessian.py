"""Parameter Hessian of the mean loss over a chosen set of samples, as a :class:`LinearOperator`.

Data semantics (shared with :class:`hessianlab.curvature.ggn.GGN` through
:class:`DatasetCurvatureOperator`):

* ``data`` is ``(x, y)`` with shapes ``(N, ...)`` / ``(N,)`` or an object with ``.images`` and ``.labels``
  (a :class:`hessianlab.data.Dataset`).
* ``loss_fn(logits, y)`` must use ``reduction='mean'`` (default ``torch.nn.functional.cross_entropy``).
  The operator is the Hessian of ``(1/n) Σ_{i in S} loss_i`` over exactly the chosen samples ``S``.
* ``samples='all'`` | ``int`` (seeded random subset without replacement: the sub-sampled Hessian) |
  explicit indices. Chunks of at most ``chunk_size`` samples are weighted by ``n_c / n``, so products do
  not depend on ``chunk_size``; peak memory is bounded by one chunk.
* ``params``: ``None`` (all), a list of names or a regex (block Hessian); see
  :func:`hessianlab.curvature.params.select_param_names`.
* ``mode='eval' | 'train'`` is set around every product and restored afterwards. Train mode uses batch
  statistics in BatchNorm (refused together with chunking, as chunks would change the operator) and
  refuses active Dropout (random masks would make products random).
* The operator is taken at the parameters the model has *at construction*; it holds dtype-cast copies.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from hessianlab.curvature.hvp import GradientGraph, Objective, LossFn, TensorDict, check_hvp_method
from hessianlab.curvature.modes import check_mode, model_mode
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.params import ParamSelection, param_spec
from hessianlab.errors import ConfigError

Samples = str | int | Sequence[int] | torch.Tensor


def resolve_data(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a tuple or from an object with ``.images`` / ``.labels``; checks matching ``N``."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise ConfigError("data must be (x, y) tensors or a Dataset with .images and .labels")
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or x.shape[0] != y.shape[0]:
        raise ConfigError("data x and y must be tensors with the same first dimension N")
    if x.shape[0] == 0:
        raise ConfigError("data is empty; pass at least one sample")
    return x, y


def select_samples(n_total: int, samples: Samples, seed: int) -> torch.Tensor | None:
    """Sorted sample indices, or ``None`` for all ``n_total`` samples.

    ``int``: a random subset of that size without replacement, drawn from ``torch.Generator`` seeded
    with ``seed``; a sequence/tensor: explicit distinct indices in ``[0, n_total)``.
    """
    if isinstance(samples, str):
        if samples != "all":
            raise ConfigError(f"samples must be 'all', an int or indices, got {samples!r}")
        return None
    if isinstance(samples, int) and not isinstance(samples, bool):
        if not 1 <= samples <= n_total:
            raise ConfigError(f"samples={samples} must be in [1, {n_total}] (the dataset size)")
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randperm(n_total, generator=gen)[:samples].sort().values
    idx = torch.as_tensor(samples, dtype=torch.long).reshape(-1)
    if idx.numel() == 0 or idx.min() < 0 or idx.max() >= n_total:
        raise ConfigError(f"sample indices must be non-empty and within [0, {n_total})")
    if idx.unique().numel() != idx.numel():
        raise ConfigError("sample indices contain duplicates; pass distinct indices")
    return idx


def check_train_mode(model: nn.Module, mode: str, chunked: bool) -> None:
    """Refuse train mode where it makes the operator ill-defined: BatchNorm with chunking (each chunk
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
    """Base of curvature operators over a dataset (data, samples, chunks, params, mode, dtype).

    Subclasses implement ``_chunk_product(x, y, v) -> dict`` (product for the mean loss of one chunk)
    and may implement ``_chunk_product_batched(x, y, V) -> dict | None`` for :meth:`matmat`.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn | None,
        data: Any,
        *,
        samples: Samples = "all",
        seed: int = 0,
        chunk_size: int | None = None,
        params: ParamSelection = None,
        mode: str = "eval",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.x, self.y = resolve_data(data)
        self.sample_indices = select_samples(self.x.shape[0], samples, seed)
        self.num_samples = self.x.shape[0] if self.sample_indices is None else int(self.sample_indices.numel())
        self.mode = check_mode(mode)
        if chunk_size is not None and chunk_size < 1:
            raise ConfigError(f"chunk_size must be a positive int or None, got {chunk_size}")
        check_train_mode(model, self.mode, chunk_size is not None and chunk_size < self.num_samples)
        if not dtype.is_floating_point:
            raise ConfigError(f"dtype must be a floating type, got {dtype}")
        self.model = model
        self.loss_fn: LossFn = loss_fn or F.cross_entropy
        self.spec = param_spec(model, params)
        self.chunk_size = chunk_size
        self._params_arg = params
        self._seed = seed
        self._selection = "all" if isinstance(samples, str) else "random" if isinstance(samples, int) else "indices"
        device = next(model.parameters()).device
        super().__init__(self.spec.size, dtype, device)
        self.objective = Objective(model, self.loss_fn, self.spec, dtype, train_mode=self.mode == "train")
        self._vmap_ok: bool | None = None

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
            "loss": getattr(self.loss_fn, "__name__", type(self.loss_fn).__name__),
            "N": int(self.x.shape[0]),
            "samples": self.num_samples,
            "sample_selection": self._selection,
            "seed": self._seed,
            "mode": self.mode,
            "params": "all" if self._params_arg is None else list(self.spec.names),
            "chunk_size": self.chunk_size,
        }

    # -- data -------------------------------------------------------------------------------------
    @property
    def _chunk_step(self) -> int:
        return self.num_samples if self.chunk_size is None else min(self.chunk_size, self.num_samples)

    @property
    def num_chunks(self) -> int:
        """Number of chunks the samples are split into (``1`` when ``chunk_size`` is ``None``)."""
        return -(-self.num_samples // self._chunk_step)

    def chunks(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        """Yield ``(x_c, y_c, n_c / n)`` with inputs cast to the operator dtype and device."""
        n, step = self.num_samples, self._chunk_step
        for start in range(0, n, step):
            stop = min(start + step, n)
            if self.sample_indices is None:
                xc, yc = self.x[start:stop], self.y[start:stop]
            else:
                idx = self.sample_indices[start:stop]
                xc, yc = self.x[idx], self.y[idx]
            xc = xc.to(self.device, self.dtype)
            yc = yc.to(self.device, self.dtype) if yc.is_floating_point() else yc.to(self.device)
            yield xc, yc, (stop - start) / n

    # -- products ---------------------------------------------------------------------------------
    def _chunk_product(self, x: torch.Tensor, y: torch.Tensor, v: TensorDict) -> TensorDict:
        raise NotImplementedError

    def _chunk_product_batched(self, x: torch.Tensor, y: torch.Tensor, V: TensorDict) -> TensorDict | None:
        return None

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        vd = self.spec.unflatten(v.to(self.dtype))
        out = torch.zeros(self.size, dtype=self.dtype, device=self.device)
        with model_mode(self.model, self.mode):
            for xc, yc, w in self.chunks():
                out.add_(self.spec.flatten(self._chunk_product(xc, yc, vd)), alpha=w)
        return out

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A @ V`` for ``V`` ``(P, k)``: one ``vmap``-batched pass per chunk when the subclass supports
        it (memory ~ k times a product), otherwise column by column."""
        if V.dim() != 2 or V.shape[0] != self.size:
            raise ValueError(f"matmat expects shape ({self.size}, k), got {tuple(V.shape)}")
        if self._vmap_ok is not False:
            try:
                out = self._matmat_batched(V)
            except (RuntimeError, NotImplementedError):
                out = None
            self._vmap_ok = out is not None
            if out is not None:
                self.num_matvecs += V.shape[1]
                self.num_passes += 1
                return out
        return super().matmat(V)

    def _matmat_batched(self, V: torch.Tensor) -> torch.Tensor | None:
        Vd = self.spec.unflatten_batch(V.T.to(self.dtype))
        out = torch.zeros(V.shape[1], self.size, dtype=self.dtype, device=self.device)
        with model_mode(self.model, self.mode):
            for xc, yc, w in self.chunks():
                res = self._chunk_product_batched(xc, yc, Vd)
                if res is None:
                    return None
                out.add_(self.spec.flatten_batch(res), alpha=w)
        return out.T


class ParamHessian(DatasetCurvatureOperator):
    """Hessian ``(P, P)`` of the mean loss over the chosen samples w.r.t. the chosen parameters.

    ``hvp_method``:

    * ``'cached'``: at the first product, build every chunk's gradient graph once
      (:class:`~hessianlab.curvature.hvp.GradientGraph`: ``create_graph=True`` on the private parameter
      snapshot); each product is then one backward pass per chunk through the retained graphs, and
      :meth:`matmat` loops over columns (``is_grads_batched`` was measured 1.2-1.6x slower per column on
      CPU). Memory scales with the data: the graphs (activations and first backward) of *all* chunks are
      held until :meth:`release`.
    * ``'fwd_rev'`` (forward-over-reverse) and ``'double_backward'``: recompute the forward and first
      backward pass for every product; peak memory is one chunk.
    * ``'auto'``: ``'cached'`` when the samples form one chunk (``chunk_size is None or >= samples``), so
      the memory bound stays one chunk (its graph is held between products); with several chunks, or
      when double backward fails on the first product, forward-over-reverse with a double-backward
      fallback on ``NotImplementedError``/``RuntimeError``.

    ``settings['hvp_method_used']`` records the method (``None`` until the first product under
    ``'auto'``) and ``settings['cached_chunks']`` how many chunk graphs the cached path holds (``0`` for
    the other methods). The operator is a snapshot of the parameters taken at construction: later changes
    to the model are never seen, cached graphs or not. See the module docstring for the data semantics.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn | None, data: Any, *, hvp_method: str = "auto", **kw: Any):
        super().__init__(model, loss_fn, data, **kw)
        self.hvp_method = check_hvp_method(hvp_method)
        self.hvp_method_used: str | None = None if hvp_method == "auto" else hvp_method
        self._graphs: list[tuple[GradientGraph, float]] | None = None

    @property
    def settings(self) -> Mapping[str, Any]:
        used = self.hvp_method_used
        cached = None if used is None else self.num_chunks if used == "cached" else 0
        return {**super().settings, "hvp_method": self.hvp_method, "hvp_method_used": used, "cached_chunks": cached}

    def release(self) -> None:
        """Free the cached gradient graphs; the next cached product rebuilds them."""
        self._graphs = None

    # -- cached path --------------------------------------------------------------------------------
    def _cached_graphs(self) -> list[tuple[GradientGraph, float]]:
        """``(graph, n_c / n)`` per chunk, built at the first call."""
        if self._graphs is None:
            with model_mode(self.model, self.mode):
                self._graphs = [(GradientGraph(self.objective, xc, yc), w) for xc, yc, w in self.chunks()]
        return self._graphs

    def _try_cached(self, product: Callable[[], torch.Tensor]) -> torch.Tensor | None:
        """``product()`` on the cached path, or ``None`` when it does not apply: another method, or
        ``'auto'`` over several chunks, or ``'auto'`` on a model that fails double backward."""
        if self.hvp_method_used == "cached":
            return product()
        if self.hvp_method_used is not None or self.num_chunks > 1:
            return None
        try:
            out = product()
        except (NotImplementedError, RuntimeError):
            self.release()
            return None
        self.hvp_method_used = "cached"
        return out

    def _cached_matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` for flat ``v`` ``(P,)`` through the retained graphs, chunk-weighted."""
        vd = self.spec.unflatten(v.to(self.dtype))
        out = torch.zeros(self.size, dtype=self.dtype, device=self.device)
        for graph, w in self._cached_graphs():
            out.add_(self.spec.flatten(graph.hvp(vd)), alpha=w)
        return out

    # -- products -----------------------------------------------------------------------------------
    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        out = self._try_cached(lambda: self._cached_matvec(v))
        return super()._matvec(v) if out is None else out

    def _matmat_batched(self, V: torch.Tensor) -> torch.Tensor | None:
        out = self._try_cached(lambda: torch.stack([self._cached_matvec(c) for c in V.T.to(self.dtype)], dim=1))
        return super()._matmat_batched(V) if out is None else out

    def _chunk_product(self, x: torch.Tensor, y: torch.Tensor, v: TensorDict) -> TensorDict:
        if self.hvp_method_used is None:
            try:
                out = self.objective.hvp(x, y, v, "fwd_rev")
                self.hvp_method_used = "fwd_rev"
                return out
            except (NotImplementedError, RuntimeError):
                self.hvp_method_used = "double_backward"
        return self.objective.hvp(x, y, v, self.hvp_method_used)

    def _chunk_product_batched(self, x: torch.Tensor, y: torch.Tensor, V: TensorDict) -> TensorDict | None:
        if self.hvp_method_used == "double_backward":
            return None
        out = self.objective.hvp_batched(x, y, V)
        self.hvp_method_used = "fwd_rev"
        return out


def loss_and_gradient(op: DatasetCurvatureOperator) -> tuple[float, torch.Tensor]:
    """Mean loss and its flat gradient ``(P,)`` over the operator's samples, parameters, mode, dtype."""
    total = torch.zeros(op.size, dtype=op.dtype, device=op.device)
    value = 0.0
    with model_mode(op.model, op.mode):
        for xc, yc, w in op.chunks():
            lc, gc = op.objective.loss_and_grad(xc, yc)
            total.add_(op.spec.flatten(gc), alpha=w)
            value += w * float(lc)
    return value, total


def gradient(op: DatasetCurvatureOperator) -> torch.Tensor:
    """Full-batch gradient ``(P,)`` over the operator's samples (chunk-weighted, exact)."""
    return loss_and_gradient(op)[1]


def loss(op: DatasetCurvatureOperator) -> float:
    """Mean loss over the operator's samples (chunk-weighted, exact), without derivatives."""
    value = 0.0
    with torch.no_grad(), model_mode(op.model, op.mode):
        for xc, yc, w in op.chunks():
            value += w * float(op.objective.closure(xc, yc)(op.objective.point))
    return value

"""The SGD trainer: data + model + LR and batch-size schedules -> checkpoints and per-epoch metrics.

Semantics
---------
* Plain SGD (``torch.optim.SGD``) with momentum and weight decay; the learning rate and the batch size are
  queried from their schedules before *every* update, so per-iteration policies and batch sizes that
  change mid-epoch are both exact.
* An epoch is one pass over a seeded permutation of the training set; the last batch of an epoch may be
  smaller. Shuffling, augmentation and dropout are seeded per ``(seed, epoch)``, so an epoch's updates
  depend only on the state at its start: this is what makes ``resume`` exact.
* After each epoch the full training set and the test set are evaluated in eval mode; the record holds
  train/test loss and accuracy, lr, batch size, updates and samples so far, wall seconds, plus whatever the
  epoch hooks return. Training stops when the training loss reaches ``target_loss``, or at
  ``max_epochs``/``max_updates``; a non-finite loss stops the run as *diverged* (not a crash).
* Large batches: with ``max_physical_batch`` a larger batch is processed in micro-batches with gradient
  accumulation and one optimizer step (:mod:`hessianlab.training.accumulate`; exact without BatchNorm);
  records count the ``accumulated_updates``. A batch schedule with ``after_update`` (ABS/ABSA) is called
  after every update and may change the batch size mid-epoch; its decision records go to
  ``decisions.jsonl`` and its eigen-solve time to the records' ``eig_seconds``.
* A checkpoint (model, optimizer, schedules, counters, metric history, epoch hooks' state) is written
  atomically after each epoch. Resuming after any interruption (``kill -9`` included) redoes at most the
  unfinished epoch and ends with exactly the metrics of an uninterrupted run (wall-clock fields aside).
* Device (an execution option, not part of the config; see :mod:`hessianlab.device`): the model, optimizer
  state, batches, evaluation, hooks and ABS eigen-solves run on it. The in-memory splits are moved there once
  when they fit :data:`~hessianlab.device.RESIDENT_BYTES`, else each batch is moved when drawn (evaluation
  and curvature move their chunks). Checkpoints and ``model.pt`` always hold CPU tensors, so a run may be
  resumed or analysed on another device. Every epoch record and ``status.json`` name the device used.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from hessianlab.data import BatchIterator, Dataset, Epoch
from hessianlab.data import augment as augment_batch
from hessianlab.device import place_datasets, select_device, to_device
from hessianlab.training.accumulate import accumulate_gradients
from hessianlab.training.adversarial import BatchTransform, adversarial_transform
from hessianlab.training.config import TrainConfig
from hessianlab.training.evaluate import evaluate
from hessianlab.training.factory import (
    adv_ratio_schedule,
    model_from_config,
    schedules_from_config,
)
from hessianlab.training.schedules import BatchSchedule, LRSchedule, ScheduleState

if TYPE_CHECKING:
    from hessianlab.experiments.store import RunDir

log = logging.getLogger(__name__)

_SEED_STRIDE = 1_000_003  # separates per-epoch seed streams of different run seeds


@dataclass(frozen=True)
class EpochContext:
    """What an epoch hook sees: the model (train mode restored after the hook), data and counters."""

    model: nn.Module
    epoch: int
    updates: int
    config: TrainConfig
    train: Dataset
    test: Dataset


class EpochHook(Protocol):
    """A per-epoch measurement; returns extra metric fields (JSON scalars) merged into the epoch record.

    Hooks must be deterministic and must leave the model's parameters and mode as they found them. A hook that
    carries state from one epoch to the next (a warm-start vector, a running count) also defines
    ``state_dict() -> dict`` and ``load_state_dict(dict)``: the trainer stores that dict in every checkpoint
    and restores it on resume, so a resumed run records what an uninterrupted one does. Its values must be
    tensors and plain containers (checkpoints load with ``weights_only=True``).
    """

    def __call__(self, ctx: EpochContext) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TrainResult:
    """How a run ended. ``status``: finished | diverged; ``reason`` says why it stopped."""

    status: str
    reason: str
    reached_target: bool
    epochs: int
    updates: int
    samples_seen: int
    history: list[dict[str, Any]] = field(repr=False)

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * _SEED_STRIDE + epoch


def train(
    config: TrainConfig,
    run: RunDir,
    train_data: Dataset,
    test_data: Dataset,
    *,
    hooks: Sequence[EpochHook] = (),
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = True,
    device: str | torch.device | None = None,
) -> TrainResult:
    """Train per ``config``, writing checkpoints and metrics into ``run``.

    ``train_data``/``test_data`` are the in-memory splits (pixels in [0, 1]). With ``resume`` (default) an
    existing checkpoint in ``run`` is continued; otherwise training starts from scratch and overwrites it.
    ``on_epoch`` receives each finished epoch's record (progress display). ``device``: ``auto``, ``cpu``,
    ``cuda``, ``cuda:N`` or ``None`` (``$HESSIANLAB_DEVICE``, else auto; see :mod:`hessianlab.device`).
    Returns how the run ended.
    """
    device = select_device(device)
    model = model_from_config(config, run.data_meta, seed=config.seed)
    for field_name in ("abs_eig_params", "track_lambda1_params"):  # a block regex must select something now,
        if getattr(config, field_name) is not None:                   # not at the first eigenvalue check
            _check_block(model, field_name, getattr(config, field_name))
    if config.init_from is not None:
        model.load_state_dict(init_weights(config.init_from, run))
    model.to(device)
    train_data, test_data = place_datasets(device, train_data, test_data)
    lr_schedule, batch_schedule = schedules_from_config(config, len(train_data))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    hooks = (*hooks, *tracking_hooks(config))
    state = {"epoch": 0, "updates": 0, "samples_seen": 0, "last_batch_size": config.batch_size, "wall_seconds": 0.0,
             "history": [], "stopped": None}

    ckpt = run.load_checkpoint() if resume else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        lr_schedule.load_state_dict(ckpt["lr_schedule"])
        batch_schedule.load_state_dict(ckpt["batch_schedule"])
        state = ckpt["state"]
        _load_hook_states(hooks, ckpt.get("hooks"))
        run.write_metrics(state["history"])
        _write_decisions(run, batch_schedule)
    if state["stopped"] is not None:  # finished before; make sure the final model and status exist
        return _finish(run, model, state, device)

    if config.max_physical_batch is not None and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                                     for m in model.modules()):
        log.warning("max_physical_batch with BatchNorm: micro-batches use their own batch statistics, so the "
                    "accumulated gradient is not the full batch's")
    run.set_status("running", summary={"device": str(device)})
    iterator = BatchIterator(train_data, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             augment=augment_batch if config.augment else None)
    transform = adversarial_transform(config, _gamma(config, batch_schedule, state))
    after_update = (functools.partial(batch_schedule.after_update, data=train_data)
                    if hasattr(batch_schedule, "after_update") else None)
    from hessianlab.distributed import DataParallelStep, current  # DDP under torchrun (see that package)

    gradient_fn = DataParallelStep(model) if current().is_distributed else accumulate_gradients
    started = time.perf_counter() - state["wall_seconds"]
    while state["stopped"] is None:
        epoch = state["epoch"]
        torch.manual_seed(_epoch_seed(config.seed, epoch))  # dropout masks of this epoch
        eig_before = getattr(batch_schedule, "eig_seconds", 0.0)
        diverged, lr, batch_size = sgd_epoch(model, optimizer, iterator.epoch(epoch), lr_schedule, batch_schedule,
                                             state, config.max_updates, transform,
                                             max_physical_batch=config.max_physical_batch, after_update=after_update,
                                             gradient_fn=gradient_fn)
        record = _epoch_record(model, config, train_data, test_data, hooks, state, epoch, lr, batch_size)
        record["eig_seconds"] = getattr(batch_schedule, "eig_seconds", 0.0) - eig_before
        record["device"] = str(device)
        record["wall_seconds"] = time.perf_counter() - started
        state["history"].append(record)
        state["epoch"] = epoch + 1
        state["wall_seconds"] = record["wall_seconds"]
        state["stopped"] = _stop_reason(config, state, record, diverged)
        run.save_checkpoint(to_device({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                       "lr_schedule": lr_schedule.state_dict(),
                                       "batch_schedule": batch_schedule.state_dict(), "state": state,
                                       "hooks": _hook_states(hooks)}, "cpu"))
        run.write_metrics(state["history"])
        _write_decisions(run, batch_schedule)
        if on_epoch is not None:
            on_epoch(record)

    return _finish(run, model, state, device)


def tracking_hooks(config: TrainConfig) -> tuple[EpochHook, ...]:
    """The hooks ``track_lambda1`` asks for: λ1 and the gradient norm per epoch, and with
    ``track_lambda1_params`` the same for that block of the Hessian (ABSA Fig. 6), recorded with ``_block``."""
    if config.track_lambda1 is None:
        return ()
    from hessianlab.training.hooks import CurvatureHook

    full = CurvatureHook(samples=config.track_lambda1, seed=config.seed, warm_start=config.track_lambda1_warm)
    if config.track_lambda1_params is None:
        return (full,)
    return full, CurvatureHook(samples=config.track_lambda1, seed=config.seed, params=config.track_lambda1_params,
                               warm_start=config.track_lambda1_warm, suffix="_block")


def _hook_states(hooks: Sequence[EpochHook]) -> list[dict[str, Any] | None]:
    """Each hook's ``state_dict()`` (``None`` for a stateless hook), in the hooks' order."""
    return [hook.state_dict() if hasattr(hook, "state_dict") else None for hook in hooks]


def _load_hook_states(hooks: Sequence[EpochHook], states: list[dict[str, Any] | None] | None) -> None:
    """Restore the states :func:`_hook_states` saved (a checkpoint written before hooks had state has none)."""
    if states is None:
        return
    if len(states) != len(hooks):
        from hessianlab.errors import ConfigError

        raise ConfigError(f"the checkpoint holds the state of {len(states)} epoch hooks but {len(hooks)} are "
                          "given; resume with the hooks the run started with")
    for hook, saved in zip(hooks, states):
        if saved is not None and hasattr(hook, "load_state_dict"):
            hook.load_state_dict(saved)


def _gamma(config: TrainConfig, batch_schedule: BatchSchedule, state: dict[str, Any]) -> Callable[[], float]:
    """γ for the next batch: ABSA's (from the adaptive schedule) or ``adv_ratio`` with ``adv_tau``."""
    if hasattr(batch_schedule, "adv_ratio"):
        return lambda: batch_schedule.adv_ratio(state["updates"])
    schedule = adv_ratio_schedule(config)
    return lambda: 0.0 if schedule is None else schedule.ratio(state["updates"])


def _write_decisions(run: RunDir, batch_schedule: BatchSchedule) -> None:
    records = getattr(batch_schedule, "records", None)
    if records is not None:
        run.write_decisions(records)


def _check_block(model: nn.Module, field_name: str, regex: str) -> None:
    """A :class:`ConfigError` naming ``field_name`` when the block regex selects no parameter of ``model``."""
    from hessianlab.curvature.params import select_param_names
    from hessianlab.errors import ConfigError

    try:
        select_param_names(model, regex)
    except ConfigError as exc:
        raise ConfigError(f"{field_name}: {exc}") from None


def _finish(run: RunDir, model: nn.Module, state: dict[str, Any], device: torch.device) -> TrainResult:
    """Write the final weights (CPU tensors) and status of a stopped run (idempotent, so a resume after a kill
    between the last checkpoint and these writes completes the run)."""
    result = _result(state)
    run.save_model(to_device(model.state_dict(), "cpu"))
    summary = {k: result.final.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    summary.update(epochs=result.epochs, updates=result.updates, reached_target=result.reached_target,
                   accumulation=result.final.get("accumulated_updates", 0) > 0,
                   eig_seconds=sum(r.get("eig_seconds", 0.0) for r in result.history), device=str(device))
    run.set_status(result.status, result.reason, summary)
    return result


def finish_from_checkpoint(run: RunDir, ckpt: dict[str, Any]) -> TrainResult:
    """Write ``model.pt`` and ``status.json`` of a stopped run from its checkpoint ``ckpt``, exactly as
    training wrote them (run-folder repair; the device recorded is the one the last epoch ran on)."""
    state = ckpt["state"]
    if state["stopped"] is None:
        raise ValueError("finish_from_checkpoint needs the checkpoint of a stopped run")
    model = model_from_config(run.train_config, run.data_meta)
    model.load_state_dict(ckpt["model"])
    device = torch.device(state["history"][-1].get("device", "cpu") if state["history"] else "cpu")
    return _finish(run, model, state, device)


AfterUpdate = Callable[[nn.Module, ScheduleState, float], Any]
GradientFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int | None], float]


def sgd_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, epoch: Epoch, lr_schedule: LRSchedule,
              batch_schedule: BatchSchedule, state: dict[str, Any], max_updates: int | None = None,
              transform: BatchTransform | None = None, *, max_physical_batch: int | None = None,
              after_update: AfterUpdate | None = None,
              gradient_fn: GradientFn = accumulate_gradients) -> tuple[bool, float, int]:
    """Run the SGD updates of one epoch (train mode), querying both schedules before every update.

    ``state`` holds the counters ``updates`` and ``samples_seen`` (updated in place) and ``last_batch_size``.
    ``transform(model, x, y, epoch, position) -> x`` rewrites each batch before the update (adversarial
    mixing); ``position`` is the batch's start within the epoch, so a transform can seed itself per batch.
    A batch larger than ``max_physical_batch`` is split into micro-batches whose gradients are accumulated
    before the single step (counted in ``state["accumulated_updates"]``). ``after_update(model, counters, lr)``
    is called after every step with the counters after it (``batch_size`` = samples the step consumed).
    ``gradient_fn(model, x, y, max_physical_batch) -> loss`` fills ``.grad`` (data-parallel training passes a
    :class:`hessianlab.distributed.DataParallelStep`, which shards the batch across ranks). Batches are moved
    to the model's device (a no-op when the data already lives there).
    Returns ``(diverged, last lr, last batch size)``; stops early on a non-finite loss or at ``max_updates``.
    """
    model.train()
    device = next(model.parameters()).device
    lr, batch_size = float("nan"), state.get("last_batch_size", epoch.batch_size)
    while epoch.remaining > 0:
        now = ScheduleState(epoch.epoch, state["updates"], state["samples_seen"], batch_size)
        batch_size = batch_schedule.batch_size(now)
        position = epoch.position
        x, y = epoch.next_batch(batch_size)
        x, y = x.to(device), y.to(device)
        if transform is not None:
            x = transform(model, x, y, epoch.epoch, position)
            model.train()
        lr = lr_schedule.lr(ScheduleState(epoch.epoch, state["updates"], state["samples_seen"], x.shape[0]))
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = gradient_fn(model, x, y, max_physical_batch)
        if not math.isfinite(loss):
            return True, lr, batch_size
        optimizer.step()
        state["updates"] += 1
        state["samples_seen"] += x.shape[0]
        state["last_batch_size"] = batch_size
        if max_physical_batch is not None and x.shape[0] > max_physical_batch:
            state["accumulated_updates"] = state.get("accumulated_updates", 0) + 1
        if after_update is not None:
            after_update(model, ScheduleState(epoch.epoch, state["updates"], state["samples_seen"], x.shape[0]), lr)
        if max_updates is not None and state["updates"] >= max_updates:
            break
    return False, lr, batch_size


def init_weights(source: str, run: RunDir) -> dict[str, torch.Tensor]:
    """Final weights of the run folder ``source`` (same architecture required) to start ``run`` from."""
    from hessianlab.errors import ConfigError
    from hessianlab.experiments.store import RunDir as _RunDir

    src = _RunDir.open(Path(source))
    mine, theirs = run.config, src.config
    for key in ("model", "activation", "width", "batchnorm"):
        if mine[key] != theirs[key]:
            raise ConfigError(f"init_from: {source} has {key}={theirs[key]!r} but this run has {mine[key]!r}; "
                              "start from a run of the same architecture")
    if list(src.data_meta["shape"]) != list(run.data_meta["shape"]):
        raise ConfigError(f"init_from: {source} was trained on inputs {src.data_meta['shape']}, this run uses "
                          f"{run.data_meta['shape']}")
    return src.load_model().state_dict()


def _epoch_record(model: nn.Module, config: TrainConfig, train_data: Dataset, test_data: Dataset,
                  hooks: Sequence[EpochHook], state: dict[str, Any], epoch: int, lr: float,
                  batch_size: int) -> dict[str, Any]:
    train_loss, train_acc = evaluate(model, train_data.images, train_data.labels, config.eval_batch_size)
    test_loss, test_acc = evaluate(model, test_data.images, test_data.labels, config.eval_batch_size)
    record: dict[str, Any] = {
        "epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss,
        "test_acc": test_acc, "lr": lr, "batch_size": batch_size, "updates": state["updates"],
        "samples_seen": state["samples_seen"], "accumulated_updates": state.get("accumulated_updates", 0),
    }
    if math.isfinite(train_loss):
        ctx = EpochContext(model, epoch, state["updates"], config, train_data, test_data)
        for hook in hooks:
            record.update(hook(ctx))
    return record


def _stop_reason(config: TrainConfig, state: dict[str, Any], record: dict[str, Any], diverged: bool) -> str | None:
    if diverged or not math.isfinite(record["train_loss"]):
        return "diverged"
    if config.target_loss is not None and record["train_loss"] <= config.target_loss:
        return "target_loss"
    if config.max_updates is not None and state["updates"] >= config.max_updates:
        return "max_updates"
    if state["epoch"] >= config.max_epochs:
        return "max_epochs"
    return None


def _result(state: dict[str, Any]) -> TrainResult:
    reason = state["stopped"]
    return TrainResult(
        status="diverged" if reason == "diverged" else "finished",
        reason=reason,
        reached_target=reason == "target_loss",
        epochs=state["epoch"],
        updates=state["updates"],
        samples_seen=state["samples_seen"],
        history=list(state["history"]),
    )

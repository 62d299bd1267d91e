"""Shared pieces of the training commands: config flags, data loading, progress display."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from hessianlab.data import FALLBACK_DATASET
from hessianlab.distributed import current
from hessianlab.distributed.rundir import open_run_for_rank
from hessianlab.errors import StoreError
from hessianlab.models._shapes import ANY_SHAPE_MODELS
from hessianlab.experiments.lock import run_lock
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict, model_from_config
from hessianlab.training.trainer import TrainResult, train

log = logging.getLogger(__name__)

def _all_or_int(text: str) -> str | int:
    """``'all'`` or an integer (argparse type)."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or an integer, got {text!r}") from None


# flag name -> (TrainConfig field, type); defaults come from TrainConfig itself
_FLAGS: dict[str, tuple[str, Any]] = {
    "--model": ("model", str), "--dataset": ("dataset", str), "--subset": ("subset", int),
    "--test-subset": ("test_subset", int), "--activation": ("activation", str), "--width": ("width", float),
    "--batch-size": ("batch_size", int), "--batch-schedule": ("batch_schedule", str), "--lr": ("lr", float),
    "--lr-schedule": ("lr_schedule", str), "--momentum": ("momentum", float),
    "--weight-decay": ("weight_decay", float), "--target-loss": ("target_loss", float),
    "--max-epochs": ("max_epochs", int), "--max-updates": ("max_updates", int), "--seed": ("seed", int),
    "--eval-batch-size": ("eval_batch_size", int), "--adversarial": ("adversarial", str),
    "--adv-eps": ("adv_eps", float), "--adv-ratio": ("adv_ratio", float), "--adv-bn-mode": ("adv_bn_mode", str),
    "--init-from": ("init_from", str), "--track-lambda1": ("track_lambda1", _all_or_int),
    "--lr-scale-ref": ("lr_scale_ref", int), "--lr-warmup-epochs": ("lr_warmup_epochs", float),
    "--max-physical-batch": ("max_physical_batch", int), "--adv-omega": ("adv_omega", float),
    "--adv-tau": ("adv_tau", int), "--abs-alpha": ("abs_alpha", float), "--abs-beta": ("abs_beta", float),
    "--abs-kappa": ("abs_kappa", int), "--abs-every": ("abs_every", int), "--abs-batch-min": ("abs_batch_min", int),
    "--abs-batch-max": ("abs_batch_max", int), "--abs-eig-samples": ("abs_eig_samples", _all_or_int),
    "--abs-eig-tol": ("abs_eig_tol", float), "--abs-eig-seed": ("abs_eig_seed", int),
    "--abs-eig-params": ("abs_eig_params", str), "--abs-eig-method": ("abs_eig_method", str),
    "--abs-eig-chunk": ("abs_eig_chunk", int),
}


def add_config_arguments(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per :class:`TrainConfig` field (``--batchnorm on|off|default``, ``--augment``)."""
    defaults = TrainConfig()
    for flag, (name, kind) in _FLAGS.items():
        if flag in skip:
            continue
        default = getattr(defaults, name)
        helptext = f"default: {default}" if name != "dataset" else "default: fashion-mnist, or mnist1d if it is missing"
        parser.add_argument(flag, dest=name, type=kind, default=None, help=helptext, metavar=name.upper())
    parser.add_argument("--batchnorm", choices=("on", "off", "default"), default="default",
                        help="force BatchNorm on/off (default: the architecture's own)")
    parser.add_argument("--augment", action="store_true", help="random crop + horizontal flip on training batches")
    parser.add_argument("--no-target", action="store_true", help="train for --max-epochs without a target loss")
    parser.add_argument("--abs-eig-warm", action="store_true",
                        help="ABS: start each eigenvalue check from the previous check's Ritz vector")
    parser.add_argument("--track-lambda1-warm", action="store_true",
                        help="--track-lambda1: start each epoch's solve from the previous epoch's Ritz vector")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """A validated :class:`TrainConfig` from parsed flags (unset flags keep the config defaults)."""
    fields: dict[str, Any] = {name: getattr(args, name) for _, (name, _) in _FLAGS.items()
                              if getattr(args, name, None) is not None}
    if fields.get("dataset") is None:
        fields["dataset"] = default_dataset()
        if fields["dataset"] == FALLBACK_DATASET and fields.get("model", TrainConfig.model) not in ANY_SHAPE_MODELS:
            log.warning("%s cannot take MNIST-1D's (1, 1, 40) signals; using mlp instead",
                        fields.get("model", TrainConfig.model))
            fields["model"] = "mlp"
    fields["batchnorm"] = {"on": True, "off": False, "default": None}[args.batchnorm]
    fields["augment"] = bool(args.augment)
    fields["abs_eig_warm"] = bool(args.abs_eig_warm)
    fields["track_lambda1_warm"] = bool(args.track_lambda1_warm)
    if args.no_target:
        fields["target_loss"] = None
    fields.update(overrides)
    return TrainConfig.from_dict(fields)


def default_dataset() -> str:
    """``fashion-mnist`` when its files are found, else ``mnist1d`` (logged in one line)."""
    from hessianlab.data import resolve_default_dataset

    name, note = resolve_default_dataset()
    if note:
        log.warning(note)
    return name


def run_training(config: TrainConfig, out: Path, *, resume: bool, quiet: bool, label: str = "train",
                 device: str | torch.device | None = None) -> tuple[RunDir, TrainResult]:
    """Create (or reopen with ``resume``) the run folder ``out`` and train ``config`` there on ``device``
    (see :mod:`hessianlab.device`), holding the folder's lock (:mod:`hessianlab.experiments.lock`)."""
    train_data, test_data = load_splits(config)
    meta = meta_to_dict(train_data.meta)
    model_from_config(config, meta)  # a model that cannot take this data fails here, before any folder is made
    ctx = current()  # under torchrun rank 0 writes the folder and the other ranks only read it
    with run_lock(out) if ctx.is_main else contextlib.nullcontext():
        return _train_locked(config, out, resume=resume, quiet=quiet, label=label, device=device,
                             data=(train_data, test_data), meta=meta)


def _train_locked(config: TrainConfig, out: Path, *, resume: bool, quiet: bool, label: str,
                  device: str | torch.device | None, data: tuple[Any, Any],
                  meta: dict[str, Any]) -> tuple[RunDir, TrainResult]:
    ctx = current()
    run = open_run_for_rank(out, config, meta, ctx)
    ckpt = run.load_checkpoint()
    if not resume and ckpt is not None:
        raise StoreError(f"{out} already holds a started run; pass --resume to continue it or choose another --out")
    bar = tqdm(total=config.max_epochs, desc=label, unit="epoch", disable=quiet or not ctx.is_main, leave=False,
               dynamic_ncols=True)
    bar.update(ckpt["state"]["epoch"] if ckpt is not None else 0)
    train_data, test_data = data

    def on_epoch(record: dict[str, Any]) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{record['train_loss']:.4g}", acc=f"{record['test_acc']:.3f}")

    try:
        result = train(config, run, train_data, test_data, on_epoch=on_epoch, resume=resume, device=device)
    finally:
        bar.close()
    return run, result

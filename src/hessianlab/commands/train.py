"""``hessianlab train``: train one model into a run folder (resumable) on ``--device``; data-parallel under
``torchrun --nproc_per_node=P -m hessianlab train ...`` (see :mod:`hessianlab.distributed`), each rank on
``cuda:LOCAL_RANK`` over nccl with CUDA, else on the CPU over gloo."""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.commands._training import add_config_arguments, config_from_args, run_training
from hessianlab.device import add_device_argument, select_device
from hessianlab.distributed import init_from_env, shutdown
from hessianlab.errors import StoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train one model into a run folder")
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="run folder (created; catalog in its parent)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.resume and not args.out.exists():
        raise StoreError(f"--resume: {args.out} does not exist; drop --resume to start a new run there")
    config = config_from_args(args)
    device = select_device(args.device)  # under torchrun: cuda:LOCAL_RANK when CUDA is used
    ctx = init_from_env(device=device)  # under torchrun: join the process group (DDP); else a no-op
    try:
        run, result = run_training(config, args.out, resume=args.resume, quiet=args.quiet, device=device)
    finally:
        shutdown()
    if not ctx.is_main:
        return 0
    final = result.final
    print(f"{run.path}: {result.status} ({result.reason}) after {result.epochs} epochs, {result.updates} updates; "
          f"train loss {final.get('train_loss', float('nan')):.4g}, train acc {final.get('train_acc', 0):.4f}, "
          f"test acc {final.get('test_acc', 0):.4f}")
    return 0

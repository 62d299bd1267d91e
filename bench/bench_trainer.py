"""Trainer throughput against a minimal hand-written PyTorch loop (same model, data, batch size).

Two ratios per batch size, measured alternately in one process (hand / ours, so >= 1 means we are not
slower):

* ``updates``: one epoch of SGD updates — our :func:`hessianlab.training.trainer.sgd_epoch` (schedules
  queried per update, :class:`BatchIterator`) against ``for idx in randperm.split(B): ...``.
* ``epoch``: the same plus the full-training-set and test evaluation the trainer does after every epoch,
  against the hand loop plus a hand-written ``no_grad`` evaluation.

Usage: ``python bench/bench_trainer.py [--subset 8192] [--batch-sizes 32,1024] [--out bench/results]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, median, write_result  # noqa: E402

from hessianlab.data import BatchIterator, load_dataset  # noqa: E402
from hessianlab.models import build_model  # noqa: E402
from hessianlab.training.evaluate import evaluate  # noqa: E402
from hessianlab.training.schedules import ConstantBatch, ConstantLR  # noqa: E402
from hessianlab.training.trainer import sgd_epoch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=8192)
    parser.add_argument("--batch-sizes", default="32,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = load_dataset("fashion-mnist", "train", subset=args.subset, seed=0)
    test = load_dataset("fashion-mnist", "test", subset=2000, seed=0)
    x_all, y_all = train.images, train.labels
    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        torch.manual_seed(0)
        ours = build_model("m1", in_shape=train.meta.shape, num_classes=10, mean=train.meta.mean, std=train.meta.std)
        hand = build_model("m1", in_shape=train.meta.shape, num_classes=10, mean=train.meta.mean, std=train.meta.std)
        hand.load_state_dict(ours.state_dict())
        opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
        opt_hand = torch.optim.SGD(hand.parameters(), lr=0.01, momentum=0.9)
        iterator = BatchIterator(train, batch_size=batch, seed=0)
        state = {"updates": 0, "samples_seen": 0, "last_batch_size": batch}
        counter = {"epoch": 0}

        def ours_updates() -> None:
            counter["epoch"] += 1
            sgd_epoch(ours, opt_ours, iterator.epoch(counter["epoch"]), ConstantLR(0.01), ConstantBatch(batch), state)

        gen = torch.Generator().manual_seed(0)

        def hand_updates() -> None:
            hand.train()
            for idx in torch.randperm(x_all.shape[0], generator=gen).split(batch):
                loss = F.cross_entropy(hand(x_all[idx]), y_all[idx])
                opt_hand.zero_grad(set_to_none=True)
                loss.backward()
                opt_hand.step()

        def ours_epoch() -> None:
            ours_updates()
            evaluate(ours, train.images, train.labels, 1024)
            evaluate(ours, test.images, test.labels, 1024)

        @torch.no_grad()
        def hand_eval(images: torch.Tensor, labels: torch.Tensor) -> None:
            hand.eval()
            for start in range(0, images.shape[0], 1024):
                F.cross_entropy(hand(images[start:start + 1024]), labels[start:start + 1024])

        def hand_epoch() -> None:
            hand_updates()
            hand_eval(train.images, train.labels)
            hand_eval(test.images, test.labels)

        t = alternate({"ours_updates": ours_updates, "hand_updates": hand_updates}, repeats=args.repeats)
        e = alternate({"ours_epoch": ours_epoch, "hand_epoch": hand_epoch}, repeats=max(2, args.repeats // 2))
        row = {
            "batch_size": batch,
            "samples_per_s_ours": args.subset / median(t["ours_updates"]),
            "samples_per_s_hand": args.subset / median(t["hand_updates"]),
            "ratio_updates": median(t["hand_updates"]) / median(t["ours_updates"]),
            "ratio_epoch_with_eval": median(e["hand_epoch"]) / median(e["ours_epoch"]),
            "seconds": {**t, **e},
        }
        rows.append(row)
        print(f"B={batch}: ours {row['samples_per_s_ours']:.0f} samples/s, hand {row['samples_per_s_hand']:.0f} "
              f"samples/s, ratio {row['ratio_updates']:.3f} (with eval {row['ratio_epoch_with_eval']:.3f})")
    path = write_result(args.out, "trainer", {"model": "m1", "dataset": "fashion-mnist", "subset": args.subset,
                                              "target_ratio": 0.95, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

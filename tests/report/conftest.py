"""Fake run folders for the report tests: written with the run store, no training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hessianlab.experiments import RunDir
from hessianlab.training.config import TrainConfig


def eig_payload(values: list[float]) -> dict[str, Any]:
    """An ``EigenResult.to_dict()``-shaped payload with the given eigenvalues."""
    k = len(values)
    return {"method": "lanczos", "which": "LA", "k": k, "eigenvalues": values, "residual_norms": [1e-6] * k,
            "relative_residuals": [1e-6] * k, "converged": True, "num_matvecs": 40, "iterations": 20,
            "seconds": 0.1, "tol": 1e-4, "floor": 1e-6, "operator_settings": {}, "info": {}}


def make_run(root: Path, name: str, *, batch_size: int, seed: int = 0, reached: bool = True,
             lambda1: float | None = None, test_lambda1: float | None = None, acc: tuple[float, float] = (1.0, 0.8),
             attack: dict[float, tuple[float, float]] | None = None, input_stats: bool = False,
             track: bool = False, subsampled: bool = False, landscape: bool = False, **config: Any) -> RunDir:
    """A finished fake run below ``root`` with the requested results."""
    cfg = TrainConfig(model="mlp", dataset="synthetic", batch_size=batch_size, seed=seed, **config)
    run = RunDir.create(root / name, cfg, {"shape": [1, 4, 4], "classes": 2}, catalog_root=root)
    history = [{"epoch": e, "train_loss": 0.5 / (e + 1), "train_acc": acc[0], "test_loss": 0.6, "test_acc": acc[1],
                **({"lambda1": 1.0 + e * batch_size / 100, "grad_norm": 1.0 / (e + 1)} if track else {})}
               for e in range(3)]
    run.write_metrics(history)
    run.set_status("finished", "target_loss" if reached else "max_epochs",
                   {"train_loss": 0.1, "train_acc": acc[0], "test_loss": 0.6, "test_acc": acc[1], "epochs": 3,
                    "updates": 30, "reached_target": reached})
    if lambda1 is not None:
        spectrum = [lambda1 * 0.8 ** i for i in range(5)]
        run.write_result("eigs", "lanczos/LA/k=5/train/samples=all/seed=0/float32", eig_payload(spectrum))
        if subsampled:
            run.write_result("subsampled", "lanczos/LA/k=5/train/samples=1/seed=0/float32",
                             eig_payload([lambda1 * 3 - i for i in range(5)]))
    if test_lambda1 is not None:
        run.write_result("eigs", "lanczos/LA/k=5/test/samples=all/seed=0/float32", eig_payload([test_lambda1] * 2))
    for split, index in (("train", 0), ("test", 1)):
        if attack:
            eps = sorted(attack, reverse=True)
            run.write_result("attack", f"fgsm/{split}", {"eps": eps, "accuracy": [attack[e][index] for e in eps],
                                                        "clean_accuracy": acc[index], "attack": {"attack": "fgsm"},
                                                        "num_samples": 100, "transfer": False, "split": split,
                                                        "source": None})
        if input_stats:
            summary = {"mean": 2.0 + index, "median": 2.0, "q10": 1.0, "q90": 3.0}
            run.write_result("input_stats", f"{split}/samples=all/seed=0/float32",
                             {"lambda1_x": summary, "grad_norm_x": {**summary, "mean": 0.05 + index},
                              "converged_fraction": 1.0, "settings": {}})
    if landscape:
        alphas = [-1.0, -0.5, 0.0, 0.5, 1.0]
        for split in ("train", "test"):  # two splits of one line: drawn as one figure
            run.write_result("landscape", f"line/{split}/radius=1.0/points=5/samples=all/seed=0", {
                "type": "line", "alphas": alphas, "loss": [a * a + 0.1 for a in alphas],
                "accuracy": [1.0 - abs(a) / 4 for a in alphas], "direction_kind": "eigen", "settings": {},
                "file": "landscape/x.json", "eigenvalues": [3.0]})
        run.write_result("landscape", "plane/train/radius=1.0/points=3/samples=all/seed=0", {
            "type": "plane", "alphas": alphas[1:4], "betas": alphas[1:4],
            "loss": [[a * a + b * b for b in alphas[1:4]] for a in alphas[1:4]],
            "accuracy": [[1.0] * 3 for _ in alphas[1:4]], "settings": {}})
    return run


def build_sweep(root: Path) -> Path:
    """A sweep folder: 4 batch sizes x 2 seeds, λ1 growing with the batch size, FGSM accuracy falling."""
    for b in (16, 64, 256, 1024):
        for seed in (0, 1):
            make_run(root / "runs", f"b{b}-s{seed}", batch_size=b, seed=seed, lambda1=b / 16 + seed * 0.1,
                     test_lambda1=b / 8, acc=(1.0, 0.8 - b / 1e4 + seed * 0.01),
                     attack={0.02: (0.5 - b / 4e3, 0.3 - b / 5e3), 0.01: (0.7, 0.4)}, input_stats=True,
                     track=True, subsampled=(b == 16), landscape=(b == 16 and seed == 0), momentum=0.9)
    return root

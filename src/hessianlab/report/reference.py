"""Reference values from the papers, shown beside our numbers and clearly marked as the paper's settings.

Transcribed exactly from ``/work/shared/papers/yao2018-hessian-large-batch-robustness.md`` (the markdown of
Yao et al. 2018, "Hessian-based Analysis of Large Batch Training and Robustness to Adversaries").

* Table 1 (C1 and C2 on CIFAR-10): included below.
* Table 7 (M1 / LeNet-5 on MNIST): the paper's text refers to it (appendix), but the markdown we have does
  not contain it, so it is left out rather than guessed.

Accuracies are percentages, ``(train, test)`` pairs as in the paper ("testing result is given in
parenthese"); the radii ε are L∞ in pixel units for FGSM. The paper prints C2's ε columns on another scale
than C1's (``0.57 (0.38)``, apparently fractions rather than percentages); they are kept exactly as printed.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = ("Yao, Gholami, Lei, Keutzer, Mahoney (2018), Hessian-based Analysis of Large Batch Training and "
          "Robustness to Adversaries, Table 1")
SETTINGS = ("paper's settings: full CIFAR-10, C1/C2 networks, trained to 100% training accuracy; λ1^θ by power "
            "iteration (relative error 1e-4); FGSM at ε = 0.02 and 0.01 (L∞, pixels)")
MISSING = {"Table 7": "M1 (LeNet-5) on MNIST: not in the paper markdown available to us, so not transcribed"}

Pair = tuple[float, float]


@dataclass(frozen=True)
class ReferenceRow:
    """One row of Yao et al. Table 1: ``(train, test)`` pairs; ``acc_eps`` maps ε to a pair."""

    model: str
    dataset: str
    batch: int
    acc: Pair
    lambda1_theta: Pair
    lambda1_x: Pair
    grad_norm_x: Pair
    acc_eps: dict[float, Pair]


def _row(model: str, batch: int, acc: Pair, lt: Pair, lx: Pair, gx: Pair, e02: Pair, e01: Pair) -> ReferenceRow:
    return ReferenceRow(model, "cifar10", batch, acc, lt, lx, gx, {0.02: e02, 0.01: e01})


YAO2018_TABLE1: tuple[ReferenceRow, ...] = (
    _row("c1", 16, (100, 77.68), (0.64, 32.78), (2.69, 200.7), (0.05, 20.41), (48.07, 30.38), (72.67, 42.70)),
    _row("c1", 32, (100, 76.77), (0.97, 45.28), (3.43, 234.5), (0.05, 23.55), (49.04, 31.23), (72.63, 43.30)),
    _row("c1", 64, (100, 77.32), (0.77, 48.06), (3.14, 195.0), (0.04, 21.47), (50.40, 32.59), (73.85, 44.76)),
    _row("c1", 128, (100, 78.84), (1.33, 137.5), (1.41, 128.1), (0.02, 13.98), (33.15, 25.2), (57.69, 39.09)),
    _row("c1", 256, (100, 78.54), (3.34, 338.3), (1.51, 132.4), (0.02, 14.08), (25.33, 19.99), (50.10, 34.94)),
    _row("c1", 512, (100, 79.25), (16.88, 885.6), (1.97, 100.0), (0.04, 10.42), (14.17, 12.94), (28.54, 25.08)),
    _row("c1", 1024, (100, 78.50), (51.67, 2372), (3.11, 146.9), (0.05, 13.33), (8.80, 8.40), (23.99, 21.57)),
    _row("c1", 2048, (100, 77.31), (80.18, 3769), (5.18, 240.2), (0.06, 18.08), (4.14, 3.77), (17.42, 16.31)),
    _row("c2", 256, (100, 79.20), (0.62, 28), (12.10, 704.0), (0.10, 41.95), (0.57, 0.38), (0.73, 0.47)),
    _row("c2", 512, (100, 80.44), (0.75, 57), (4.82, 425.2), (0.03, 26.14), (0.34, 0.25), (0.54, 0.38)),
    _row("c2", 1024, (100, 79.61), (2.36, 142), (0.523, 229.9), (0.04, 17.16), (0.27, 0.22), (0.46, 0.35)),
    _row("c2", 2048, (100, 78.99), (4.30, 307), (0.145, 260.0), (0.50, 17.94), (0.18, 0.16), (0.33, 0.28)),
)


def reference_rows(model: str | None = None) -> list[ReferenceRow]:
    """Rows of Yao et al. Table 1, all or those of ``model`` (``'c1'`` or ``'c2'``)."""
    return [r for r in YAO2018_TABLE1 if model is None or r.model == model]

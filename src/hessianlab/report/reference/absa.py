"""Yao et al. 2018 (ABSA), "Large Batch Size Training of Neural Networks with Adversarial Training and
Second-Order Information": its Tables 1-7.

Transcribed from our copy, ``yao2018-absa-adaptive-batch-adversarial.md`` in the shared papers folder (the
anonymous review version). Tables 1, 2 and 4-7 give the final test accuracy and the number of parameter
updates of five training strategies per batch size; Table 3 is the simulated training time of I3 on ImageNet.
Bold marks (best value of a row) are dropped. Kamath et al. 2019's only table is an architecture list (no
results), so that paper has no table here.
"""

from __future__ import annotations

from hessianlab.report.reference.schema import Column, Paper, PaperTable, Settings, parse_rows

PAPER = Paper("absa", "Yao et al. 2018 (ABSA)",
              "Yao et al. (2018), Large Batch Size Training of Neural Networks with Adversarial Training and "
              "Second-Order Information (ABSA; anonymous review version)",
              "yao2018-absa-adaptive-batch-adversarial.md")

STRATEGIES = {"BL": "baseline", "FB": "linear lr scaling with warm-up (Goyal et al.)",
              "GG": "batch size increased instead of lr decay (Smith et al.)",
              "ABS": "adaptive batch size from the Hessian", "ABSA": "ABS with FGSM adversarial training"}
_PROTOCOL = ("strategies: " + "; ".join(f"{k} = {v}" for k, v in STRATEGIES.items())
             + "; ABS/ABSA: α = β = 2, κ = 10, ε_adv = 0.005, γ = 20%, ω = 2, Hessian eigenvalue every {every}")
_NOTE = ("BS is the batch size; for GG, ABS and ABSA, whose batch size grows, it is the largest batch size "
         "reached. Acc. is the final test accuracy, # Iters the number of parameter updates.")


def _accuracy_table(number: int, caption: str, dataset: str, model: str, training: str, strategies: tuple[str, ...],
                    rows: str, every: str = "epoch") -> PaperTable:
    """A table of BS and, per strategy, test accuracy and number of updates."""
    columns = [Column("BS", "examples", "batch_size")]
    for s in strategies:
        key = s.lower()
        columns += [Column(f"{s} Acc.", "%", f"{key}_acc"), Column(f"{s} # Iters", "updates", f"{key}_iters")]
    return PaperTable(PAPER, number, caption, Settings(dataset, model, f"{training}; {_PROTOCOL.format(every=every)}"),
                      tuple(columns), parse_rows(rows), (_NOTE,))


ALL = ("BL", "FB", "GG", "ABS", "ABSA")

TABLE1 = _accuracy_table(
    1, "Accuracy and the number of parameter updates of C3 on Cifar-10.", "CIFAR-10", "C3 (SqueezeNext)",
    "200 epochs, lr 0.1 divided by 5 at epochs 60, 120, 160, data augmentation", ALL, """
          128  92.02 78125  N.A. N.A.   N.A.  N.A.   N.A. N.A.   N.A.  N.A.
          256  91.88 39062  91.75 39062  91.84 50700  91.7  40792  92.11 43352
          512  91.68 19531  91.67 19531  91.19 37050  92.15 32428  91.61 25388
         1024  89.44  9766  91.23  9766  91.12 31980  91.61 17046  91.66 23446
         2048  83.17  4882  90.44  4882  89.19 30030  91.57 21579  91.61 14027
         4096  73.74  2441  86.12  2441  91.83 29191  91.91 18293  92.07 21909
         8192  63.71  1220  64.91  1220  91.51 28947  91.77 22802  91.81 16778
        16384  47.84   610  32.57   610  90.19 28828  92.12 17485  91.97 24361
    """)

TABLE2 = _accuracy_table(
    2, "Accuracy and the number of parameter updates of I1 on TinyImageNet.", "TinyImageNet (200 classes)",
    "I1 (ResNet50)", "120 epochs, lr 0.1 divided by 10 at epochs 60, 90, data augmentation",
    ("BL", "FB", "GG", "ABSA"), """
          128  60.41 93750  N.A. N.A.   N.A.  N.A.   N.A.  N.A.
          256  58.24 46875  59.82 46875  60.31 70290  61.28 60684
          512  57.48 23437  59.28 23437  59.94 58575  60.55 51078
         1024  54.14 11718  59.62 11718  59.72 52717  60.72 19011
         2048  50.89  5859  59.18  5859  59.82 50667  60.43 17313
         4096  40.97  2929  58.26  2929  60.09 49935  61.14 22704
         8192  25.01  1464  16.48  1464  60.00 49569  60.71 22334
        16384  10.21   732  0.5    732  60.37 48995  60.71 20348
    """)

TABLE3 = PaperTable(
    PAPER, 3,
    "Below we present the breakdown of one SGD update training time in terms of forward/backwards computation "
    "(T_comp), one step communication time (T_comm), one total Hessian spectrum computation (if any T_Hess), and "
    "the total training time. The results correspond to I3 model on ImageNet (for accuracy results please see "
    "Figure 2).",
    Settings("ImageNet (ILSVRC 2012)", "I3 (ResNet18)",
             "simulated, not measured end to end: 512 processes, ring all-reduce with latency 2 µs and bandwidth "
             "6 Gb/s (NERSC Cori2), T_comp and T_Hess measured on a V100; 16 images per process per SGD update, "
             "4096 images for the Hessian; GG multiplies the batch size by 10 at epochs 30, 60, 80"),
    (Column("Method", "", "method", "label"), Column("T_comp", "s", "t_comp", fmt=".1E"),
     Column("T_comm", "s", "t_comm", fmt=".1E"), Column("T_Hess", "s", "t_hess"),
     Column("Total Time", "s", "total_time"), Column("Speed-up over BL", "×", "speedup", missing="")),
    parse_rows("""
        BL    2.2E-2  1.5E-2  0.    16666  –
        GG    2.2E-2  1.5E-2  0.     6150  2.71
        ABS   2.2E-2  1.5E-2  1.15   2666  6.25
        ABSA  3.6E-2  1.5E-2  1.15   3467  4.80
    """),
    ("T_comp and T_comm are per SGD update, T_Hess per Hessian eigenvalue computation, Total Time for the whole "
     "training; the table prints no unit: seconds per the text of the paper's Appendix C. The paper prints the "
     "speed-up inside the total-time cell ('6150 (2.71× faster)'); T_Hess = 0 is printed '0.'.",),
)

TABLE4 = _accuracy_table(
    4, "Accuracy and the number of parameter updates of S1 on SVHN.", "SVHN (with the extra set, > 500k images)",
    "S1 (AlexNet-like, Yao et al. 2018's C1)",
    "20 epochs, lr 0.01 divided by 5 at epochs 5, 10, 15, no augmentation",
    ALL, """
           128  94.90 81986  N.A. N.A.   N.A.  N.A.   N.A.  N.A.   N.A.  N.A.
           512  94.76 20747  95.24 20747  95.49 51862  95.65 25353  95.72 24329
          2048  95.17  5186  95.00  5186  95.59 45935  95.51 10562  95.82 16578
          8192  93.73  1296  19.58  1296  95.70 44407  95.56 14400  95.61  7776
         32768  91.03   324  10.0    324  95.60 42867  95.60  7996  95.90 12616
        131072  84.75    81  10.0     81  95.58 42158  95.61 11927  95.92 11267
    """, every="65536 training examples")

TABLE5 = _accuracy_table(
    5, "Accuracy and the number of parameter updates of C1 on Cifar-10.", "CIFAR-10", "C1 (ResNet18)",
    "90 epochs, lr 0.1 divided by 5 at epochs 30, 60, 80, no augmentation", ALL, """
          128  83.05 35156  N.A. N.A.   N.A.  N.A.   N.A.  N.A.   N.A.  N.A.
          640  81.01  7031  84.59  7031  83.99 16380  83.30 10578  84.52  9631
         3200  74.54  1406  78.70  1406  84.27 14508  83.33  6375  84.42  5168
         5120  70.64   878  74.65   878  83.47 14449  83.83  6575  85.01  6265
        10240  68.75   439  30.99   439  83.68 14400  83.56  5709  84.29  7491
        16000  67.88   281  10.00   281  84.00 14383  83.50  5739  84.24  5357
    """)

TABLE6 = _accuracy_table(
    6, "Accuracy and the number of parameter updates of C2 on Cifar-10.", "CIFAR-10", "C2 (WResNet 16-4)",
    "90 epochs, lr 0.1 divided by 5 at epochs 30, 60, 80, no augmentation", ALL, """
          128  87.64 35156  N.A. N.A.   N.A.  N.A.   N.A.  N.A.   N.A.  N.A.
          640  86.20  7031  87.9   7031  87.84 16380  87.86 10399  89.05 10245
         3200  82.59  1406  73.2   1406  87.59 14508  88.02  5869  89.04  4525
         5120  81.40   878  63.27   878  87.85 14449  87.92  7479  88.64  5863
        10240  79.85   439  10.00   439  87.52 14400  87.84  5619  89.03  3929
        16000  81.06   281  10.00   281  88.28 14383  87.58  9321  89.19  4610
    """)

TABLE7 = _accuracy_table(
    7, "Accuracy and the number of parameter updates of C4 on Cifar-100.", "CIFAR-100", "C4 (ResNet18)",
    "160 epochs, lr 0.1 divided by 10 at epochs 80, 120, data augmentation", ALL, """
          128  67.67 62500  N.A. N.A.   N.A.  N.A.   N.A.  N.A.   N.A.  N.A.
          256  67.12 31250  67.89 31250  66.79 46800  67.71 33504  67.32 33760
          512  66.47 15625  67.83 15625  67.74 39000  67.68 32240  67.87 24688
         1024  64.7   7812  67.72  7812  67.17 35100  65.31 22712  68.03 13688
         2048  62.91  3906  67.93  3906  67.76 33735  64.69 25180  68.43 12103
    """)

TABLES = (TABLE1, TABLE2, TABLE3, TABLE4, TABLE5, TABLE6, TABLE7)

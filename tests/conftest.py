"""Suite-wide settings: one torch thread per test process (pytest-xdist runs one process per core), and the
CPU as the default device, so the CPU-exact references hold on a GPU host too (export HESSIANLAB_DEVICE=cuda
to run the suite's training and analyses on a GPU instead)."""

import os

import torch

os.environ.setdefault("HESSIANLAB_DEVICE", "cpu")
torch.set_num_threads(1)

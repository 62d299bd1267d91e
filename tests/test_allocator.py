"""``hessianlab.allocator.tune_allocator``: freed blocks stay in the heap, so repeated large tensors stop
faulting fresh pages in (counted by the kernel, never timed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hessianlab.allocator import OPT_OUT, tune_allocator

# three SGD steps of LeNet-5 on a 2,048-image batch (one activation is 38 MB), after four warm-up steps; prints
# whether the tuning applied and the minor page faults the three steps cost
PROBE = """
import resource, sys, torch
import torch.nn.functional as F
from hessianlab.allocator import tune_allocator
from hessianlab.models import build_model
torch.set_num_threads(1)
applied = tune_allocator() if sys.argv[1] == "tuned" else None
model = build_model("lenet5", in_shape=(1, 28, 28), num_classes=10)
x, y = torch.rand(2048, 1, 28, 28), torch.randint(0, 10, (2048,))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
def step():
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(4):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != OPT_OUT}).stdout.split()
    return out[0], int(out[1])


def test_tuned_allocator_keeps_large_blocks() -> None:
    applied, tuned = _faults("tuned")
    if applied != "True":
        pytest.skip("no glibc mallopt here (tune_allocator returned False)")
    _, default = _faults("default")
    # default: every block above the mmap threshold is mapped afresh and faulted in page by page (~300 k
    # faults for the three steps); tuned: the blocks of the warm-up steps are reused (measured 0-25 k: heap
    # fragmentation varies from run to run, so the margin is 5x, far from the untuned count either way)
    assert default > 50_000
    assert tuned * 5 < default


def test_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OPT_OUT, "1")
    assert tune_allocator() is False

"""Tracking sharpness in a plain training loop: λ1, the trace, the gradient norm and λ1·lr/2 every epoch.

hessianlab.Tracker measures on a fixed sample of the training data after each epoch, every value with its
certificate (residual, Hessian-vector products, passes over the data, seconds), and writes the records as
JSON lines. It takes your DataLoader (shuffled or not) and moves one batch at a time. An `eos` value near 1 is the edge of stability (Cohen et al. 2021) for plain gradient descent.
Set HESSIANLAB_EXAMPLE_TINY=1 for a seconds-long run and HESSIANLAB_EXAMPLE_OUT for the output folder.
"""

import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hessianlab
from hessianlab.data import load_dataset
from hessianlab.plot import plot_records

tiny = os.environ.get("HESSIANLAB_EXAMPLE_TINY") == "1"
out = Path(os.environ.get("HESSIANLAB_EXAMPLE_OUT", "runs/examples"))
digits = load_dataset("digits", "train", subset=128 if tiny else None)
loader = DataLoader(TensorDataset(digits.images, digits.labels), batch_size=32, shuffle=True)

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.2)
tracker = hessianlab.Tracker(model, loader, every=1, unit="epoch", optimizer=opt,  # measured on all of `loader`
                             measures=("lambda1", "trace", "grad_norm", "eos"), trace_probes=5 if tiny else 30,
                             path=out / "sharpness.jsonl")
for epoch in range(2 if tiny else 15):
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        tracker.step()
    r = tracker.epoch_end()
    print(f"epoch {r['epoch']:3d}  lambda1 {r['lambda1']:8.3f} (residual {r['lambda1_rel_residual']:.0e}, "
          f"{r['lambda1_matvecs']} HVPs)  trace {r['trace']:8.2f} ± {r['trace_se']:.2f}  "
          f"|grad| {r['grad_norm']:.4f}  lambda1*lr/2 {r['eos']:.3f}")
plot_records(tracker.records, "lambda1", x="epoch").savefig(out / "sharpness.png")

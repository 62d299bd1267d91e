"""ABS (adaptive batch size, Yao et al. 2018 Algorithm 1) in a plain training loop.

An AdaptiveBatchSize object checks the top Hessian eigenvalue every epoch and grows the batch when it falls by
half (or after kappa checks without a fall); its DataLoader batch sampler serves the new size from the next
batch on, and lr follows lr_base * B / B0. The decisions are written to decisions.jsonl as hessianlab's trainer
writes them. Set HESSIANLAB_EXAMPLE_TINY=1 for a seconds-long run and HESSIANLAB_EXAMPLE_OUT for the folder.
"""

import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

import hessianlab
from hessianlab.data import load_dataset

tiny = os.environ.get("HESSIANLAB_EXAMPLE_TINY") == "1"
out = Path(os.environ.get("HESSIANLAB_EXAMPLE_OUT", "runs/examples"))
digits = load_dataset("digits", "train", subset=128 if tiny else None)
dataset, n = TensorDataset(digits.images, digits.labels), len(digits)
probe_data = DataLoader(Subset(dataset, range(64 if tiny else 512)), batch_size=256)  # the eigenvalue's samples

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
abs_ = hessianlab.AdaptiveBatchSize(16, batch_max=256, every=n, kappa=2,
                                    probe=hessianlab.EigenProbe(samples="all", tol=1e-2),
                                    decisions_path=out / "decisions.jsonl")
sampler = hessianlab.AdaptiveBatchSampler(abs_, n, seed=0)
loader = DataLoader(dataset, batch_sampler=sampler)
for epoch in range(3 if tiny else 12):
    sampler.set_epoch(epoch)
    for x, y in loader:
        lr = abs_.lr(0.05)  # keeps lr / B of the base run
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        decision = abs_.after_update(model, probe_data, samples=len(y), lr=lr, epoch=epoch)
        if decision is not None:
            print(f"epoch {epoch + 1:2d} update {decision['update']:4d}: lambda1 {decision['eigenvalue']:8.3f} "
                  f"-> {decision['reason']:8s} batch {decision['batch_before']} -> {decision['batch_size']}")
print(f"{abs_.updates} updates, final batch size {abs_.batch_size}, lr factor {abs_.lr_factor:g}")

"""Curvature of your own CNN from a DataLoader: a certified top-5 Hessian spectrum.

A small CNN is trained on scikit-learn's digits with a plain PyTorch loop; then hessianlab computes the top-5
eigenvalues of the Hessian of the mean training loss, each with its certificate (the relative residual
||Hv - λv|| / |λ|), and the Hutchinson trace with its standard error. Set HESSIANLAB_EXAMPLE_TINY=1 for a
seconds-long run and HESSIANLAB_EXAMPLE_OUT to choose the output folder (default runs/examples).
"""

import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.curvature import ParamHessian, hutchinson_trace, top_eigenpairs
from hessianlab.data import load_dataset
from hessianlab.plot import plot_spectrum

tiny = os.environ.get("HESSIANLAB_EXAMPLE_TINY") == "1"
out = Path(os.environ.get("HESSIANLAB_EXAMPLE_OUT", "runs/examples"))
digits = load_dataset("digits", "train", subset=128 if tiny else None)  # images (N, 1, 8, 8) in [0, 1]
loader = DataLoader(TensorDataset(digits.images, digits.labels), batch_size=64, shuffle=True)

torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(1 if tiny else 20):
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

# The quick start: the Hessian of the mean loss over the data, its top-5 eigenpairs with residuals, the trace.
hessian = ParamHessian(model, None, loader)  # any re-iterable of (x, y) batches; tensors and Datasets work too
spectrum = top_eigenpairs(hessian, k=5, tol=1e-4)
trace = hutchinson_trace(hessian, num_samples=10 if tiny else 100, seed=0)
print(spectrum)
for i, (lam, res) in enumerate(zip(spectrum.eigenvalues.tolist(), spectrum.relative_residuals.tolist()), 1):
    print(f"lambda_{i} = {lam:10.4f}   relative residual {res:.1e}")
print(f"converged: {spectrum.converged} after {spectrum.num_matvecs} Hessian-vector products")
print(f"trace = {trace.estimate:.2f} ± {trace.standard_error:.2f}")
out.mkdir(parents=True, exist_ok=True)
plot_spectrum(spectrum).savefig(out / "spectrum.png")

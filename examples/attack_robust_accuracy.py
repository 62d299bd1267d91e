"""Attacking your model and its robust accuracy: FGSM, PGD and the second-order FHSM at several radii.

Every attack takes pixels in [0, 1] and epsilons in pixel units, returns examples inside the epsilon-ball and
[0, 1], and leaves the model's mode and gradients as they were. robust_accuracy evaluates several radii in one
call, on your DataLoader; results print readably and become a pandas DataFrame with to_frame() when pandas
is installed.
Set HESSIANLAB_EXAMPLE_TINY=1 for a seconds-long run.
"""

import os

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.attacks import FGSM, FHSM, PGD, robust_accuracy
from hessianlab.data import load_dataset

tiny = os.environ.get("HESSIANLAB_EXAMPLE_TINY") == "1"
train = load_dataset("digits", "train", subset=128 if tiny else None)
test = load_dataset("digits", "test", subset=64 if tiny else None)
loader = DataLoader(TensorDataset(train.images, train.labels), batch_size=32, shuffle=True)
test_loader = DataLoader(TensorDataset(test.images, test.labels), batch_size=100)

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(1 if tiny else 20):
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

x_adv = FGSM(eps=0.05)(model, test.images, test.labels)  # one call, one batch of adversarial examples
print(f"largest perturbation {float((x_adv - test.images).abs().max()):.3f} (eps 0.05)")
eps = [0.0, 0.02, 0.05, 0.1]
for attack in (FGSM(eps=0.1), PGD(eps=0.1, steps=3 if tiny else 20, seed=0), FHSM(eps=0.1)):
    result = robust_accuracy(model, test_loader, None, attack, eps=eps)  # tensors or a Dataset work too
    accuracies = "  ".join(f"eps {e:.2f}: {a:6.1%}" for e, a in zip(result.eps, result.accuracy))
    print(f"{attack.name:5s} clean {result.clean_accuracy:6.1%}  {accuracies}")

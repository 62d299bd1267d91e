"""robust_accuracy takes a DataLoader (any re-iterable of (x, y) batches): the same accuracies as tensors for
any batch size, shuffled included, and one clear error for a loader yielding non-tensors."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.attacks import FGSM, FHSM, IFGSM, PGD, robust_accuracy
from hessianlab.errors import ConfigError


def _model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    g = torch.Generator().manual_seed(1)
    return model, torch.rand(45, 1, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 4, (45,), generator=g)


@pytest.mark.parametrize("attack", [FGSM(0.1), IFGSM(0.1, steps=3), FHSM(0.1, cg_iters=4),
                                    PGD(0.1, steps=3, random_start=False)], ids=lambda a: a.name)
@pytest.mark.parametrize("batch_size,shuffle", [(7, True), (45, False), (100, True)])
def test_loader_gives_the_tensors_accuracies(attack, batch_size, shuffle):
    model, x, y = _model_and_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                        generator=torch.Generator().manual_seed(2))
    on_tensors = robust_accuracy(model, x, y, attack, eps=[0.0, 0.05, 0.2], batch_size=16)
    on_loader = robust_accuracy(model, loader, None, attack, eps=[0.0, 0.05, 0.2], batch_size=16)
    assert on_loader.accuracy == on_tensors.accuracy and on_loader.clean_accuracy == on_tensors.clean_accuracy
    assert on_loader.num_samples == 45 and len(set(on_tensors.accuracy)) > 1  # the radii made a difference


def test_loader_examples_come_in_batch_order():
    model, x, y = _model_and_data()
    order = torch.randperm(45, generator=torch.Generator().manual_seed(3))
    batches = [(x[order[i:i + 10]], y[order[i:i + 10]]) for i in range(0, 45, 10)]  # a re-iterable list
    result = robust_accuracy(model, batches, None, FGSM(0.1), return_examples=True, batch_size=4)
    assert torch.equal(result.examples[0], FGSM(0.1)(model, x[order], y[order]))


def test_loader_yielding_non_tensors_is_one_clear_error():
    model, _, _ = _model_and_data()
    with pytest.raises(ConfigError, match=r"not an \(x, y\) pair of tensors"):
        robust_accuracy(model, [("a", "b")], None, FGSM(0.1))

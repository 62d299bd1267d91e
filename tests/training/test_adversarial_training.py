"""Adversarial training through the trainer: init_from, mixing, determinism, config validation."""

import pytest
import torch

from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig

BASE = dict(model="mlp", dataset="synthetic", subset=128, test_subset=64, batch_size=32, lr=0.05,
            target_loss=None, max_epochs=2, seed=5, width=0.25)


@pytest.fixture
def _run(train_run):
    def run_one(name, **over):
        run, result, _ = train_run(name, **{**BASE, **over})
        return run, result

    return run_one


def _weights(run):
    return run.load_model().state_dict()


def test_init_from_and_adversarial_mixing(_run):
    base, _ = _run("base")
    src = str(base.path)
    # ratio 0 replaces nothing: identical to plain continued training from the same weights
    plain, _ = _run("plain", init_from=src, seed=6)
    zero, _ = _run("zero", init_from=src, seed=6, adversarial="fgsm", adv_eps=0.1, adv_ratio=0.0)
    wp, wz = _weights(plain), _weights(zero)
    assert all(torch.equal(wp[k], wz[k]) for k in wp)
    # full adversarial batches change the result, deterministically
    adv1, res = _run("adv1", init_from=src, seed=6, adversarial="fgsm", adv_eps=0.1, adv_ratio=1.0)
    adv2, _ = _run("adv2", init_from=src, seed=6, adversarial="fgsm", adv_eps=0.1, adv_ratio=1.0)
    wa, wb = _weights(adv1), _weights(adv2)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wp[k]) for k in wa)
    assert res.status == "finished"


def test_init_from_starts_from_the_source_weights(_run):
    base, _ = _run("base")
    cont, _ = _run("cont", init_from=str(base.path), lr=1e-12, seed=9)
    wb, wc = _weights(base), _weights(cont)
    assert all(torch.allclose(wb[k], wc[k], atol=1e-9) for k in wb)


def test_init_from_other_architecture_is_refused(_run):
    base, _ = _run("base")
    with pytest.raises(ConfigError, match="width"):
        _run("bad", init_from=str(base.path), width=0.5)


@pytest.mark.parametrize("over,needle", [({"adversarial": "nope"}, "attack"), ({"adversarial": "fgsm", "adv_eps": -1.0}, "eps"),
                                         ({"adversarial": "fgsm", "adv_ratio": 1.5}, "adv_ratio"),
                                         ({"adversarial": "fgsm", "adv_bn_mode": "x"}, "adv_bn_mode")])
def test_bad_adversarial_config(over, needle):
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(**{**BASE, **over})

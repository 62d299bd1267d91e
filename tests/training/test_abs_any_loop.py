"""ABS / ABSA in a plain PyTorch loop: AdaptiveBatchSize with a DataLoader batch sampler takes exactly the
trainer's decisions on the same run, and its sampler really serves the decided sizes."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.data import BatchIterator
from hessianlab.errors import ConfigError
from hessianlab.training.abs_schedule import EigenMeasurement, EigenProbe
from hessianlab.training.adaptive_batch import AdaptiveBatchSize
from hessianlab.training.batch_sampler import AdaptiveBatchSampler
from hessianlab.training.factory import model_from_config

ABS = dict(model="mlp", dataset="synthetic", subset=96, test_subset=32, batch_size=8, lr=0.05, target_loss=None,
           seed=3, width=0.25, batch_schedule="abs", abs_every=24, abs_kappa=2, abs_eig_samples=32,
           abs_batch_max=32, abs_eig_tol=1e-2, abs_eig_method="lanczos", max_epochs=3)

_TIMING = ("seconds",)


def _plain_loop(cfg, train_data, meta, decisions_path):
    """What a user writes: their own model, SGD, DataLoader and loop, with hessianlab's ABS object."""
    model = model_from_config(cfg, meta, seed=cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    abs_ = AdaptiveBatchSize(cfg.batch_size, batch_max=cfg.abs_batch_max, every=cfg.abs_every, kappa=cfg.abs_kappa,
                             probe=EigenProbe(samples=cfg.abs_eig_samples, seed=cfg.seed, tol=cfg.abs_eig_tol),
                             decisions_path=decisions_path, warm_start=cfg.abs_eig_warm)
    sampler = AdaptiveBatchSampler(abs_, len(train_data), seed=cfg.seed)
    loader = DataLoader(TensorDataset(train_data.images, train_data.labels), batch_sampler=sampler)
    sizes = []
    for epoch in range(cfg.max_epochs):
        sampler.set_epoch(epoch)
        model.train()
        for x, y in loader:
            lr = abs_.lr(cfg.lr)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sizes.append(len(y))
            abs_.after_update(model, train_data, samples=len(y), lr=lr, epoch=epoch)
    return model, abs_, sizes


@pytest.mark.parametrize("warm", [False, True])
def test_plain_loop_takes_exactly_the_trainers_decisions(train_run, tmp_path, monkeypatch, warm):
    monkeypatch.setenv("HESSIANLAB_DEVICE", "cpu")  # the plain loop runs on the CPU; so must the trainer (bitwise)
    run, result, train_data = train_run("abs", **ABS, abs_eig_warm=warm)
    cfg = run.train_config
    model, abs_, sizes = _plain_loop(cfg, train_data, run.data_meta, tmp_path / "decisions.jsonl")
    trainer_records = run.decisions()
    assert len(trainer_records) >= 8 and max(r["batch_size"] for r in trainer_records) == 32
    assert [r["warm"] for r in trainer_records] == [warm and i > 0 for i in range(len(trainer_records))]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in _TIMING} for r in rows]  # noqa: E731
    assert strip(abs_.records) == strip(trainer_records)  # every field, bitwise (eigenvalues, lr, batch sizes)
    # the sampler really served the decided sizes, and the weights end bitwise equal to the trainer's
    assert sum(sizes) == 3 * 96 and len(sizes) == result.updates and sizes[0] == 8 and max(sizes) == 32
    final = run.load_model().state_dict()
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())
    # decisions.jsonl is written as the trainer writes it
    logged = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert strip(logged) == strip(trainer_records)


def test_sampler_order_is_the_trainers_and_sizes_change_mid_epoch():
    class Source:
        batch_size = 3

    source = Source()
    sampler = AdaptiveBatchSampler(source, 10, seed=7)
    sampler.set_epoch(2)
    batches = []
    for batch in sampler:
        batches.append(batch)
        source.batch_size = 4  # decided after the first batch: applies from the next one
    assert [len(b) for b in batches] == [3, 4, 3]
    x = torch.arange(10)
    expected = BatchIterator((x, x), batch_size=1, seed=7).permutation(2).tolist()
    assert sum(batches, []) == expected and sorted(expected) == list(range(10))
    source.batch_size = 4
    assert len(sampler) == 3
    assert [len(b) for b in AdaptiveBatchSampler(source, 10, shuffle=False, drop_last=True)] == [4, 4]
    assert list(AdaptiveBatchSampler(source, 5, shuffle=False)) == [[0, 1, 2, 3], [4]]


def test_controller_state_round_trip_and_gamma(tmp_path):
    from hessianlab.attacks.mixing import AdvRatioSchedule

    values = iter([5.0, 2.0, 1.9, 1.8])
    probe = lambda model, data: EigenMeasurement(next(values), 0.1, 3, 1e-3, True)  # noqa: E731
    abs_ = AdaptiveBatchSize(4, batch_max=16, every=8, probe=probe, gamma=AdvRatioSchedule(0.2, tau=100))
    assert abs_.adv_fraction() == 0.2 and abs_.lr_factor == 1.0
    reasons = [abs_.after_update(None, None, samples=abs_.batch_size, lr=0.1) for _ in range(6)]
    assert [r and r["reason"] for r in reasons] == [None, "first", None, "decrease", "none", "none"]
    assert abs_.batch_size == 8 and abs_.lr_factor == 2.0 and abs_.lr(0.1) == 0.1 * 8 / 4
    assert abs_.adv_fraction() == 0.1 and reasons[3]["epoch"] is None and reasons[3]["update"] == 4
    again = AdaptiveBatchSize(4, batch_max=16, every=8, probe=probe)
    again.load_state_dict(abs_.state_dict())
    assert (again.updates, again.samples_seen, again.batch_size) == (6, 32, 8) and again.records == abs_.records


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0, batch_max=8, every=4), "batch_size must be a positive int"),
    (dict(batch_size=16, batch_max=8, every=4), "raise batch_max"),
    (dict(batch_size=4, batch_max=8, every=4, alpha=1.0), "alpha > 1"),
])
def test_bad_settings_name_the_fix(kwargs, match):
    batch_size = kwargs.pop("batch_size")
    with pytest.raises(ConfigError, match=match):
        AdaptiveBatchSize(batch_size, **kwargs)
    with pytest.raises(ConfigError, match="pass an AdaptiveBatchSize"):
        AdaptiveBatchSampler(object(), 10)

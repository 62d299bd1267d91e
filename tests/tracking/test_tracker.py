"""The Tracker for any training loop: equal to the trainer's λ1 hook in a plain loop, exact against dense
oracles, with its certificates, schedule, JSONL / TensorBoard output and clear errors."""

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F

import hessianlab
from hessianlab.curvature import dense_hessian
from hessianlab.curvature.trace import random_probes
from hessianlab.data import BatchIterator
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict, model_from_config
from hessianlab.training.trainer import train

HOOKED = ("lambda1", "lambda1_rel_residual", "lambda1_matvecs", "grad_norm")


@pytest.mark.parametrize("warm", [False, True])
def test_plain_loop_records_equal_the_trainers_hook(tmp_path, monkeypatch, warm):
    monkeypatch.setenv("HESSIANLAB_DEVICE", "cpu")  # the plain loop runs on the CPU; so must the trainer (bitwise)
    cfg = TrainConfig(model="mlp", dataset="synthetic", subset=200, test_subset=50, batch_size=25, lr=0.1,
                      target_loss=None, max_epochs=3, seed=2, width=0.05, track_lambda1=64, track_lambda1_warm=warm)
    train_data, test_data = load_splits(cfg)
    result = train(cfg, RunDir.create(tmp_path / "hooked", cfg, meta_to_dict(train_data.meta)), train_data, test_data)
    model = model_from_config(cfg, meta_to_dict(train_data.meta), seed=cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    tracker = hessianlab.Tracker(model, train_data, every=1, unit="epoch", samples=64, seed=cfg.seed,
                                 measures=("lambda1", "grad_norm"), path=tmp_path / "curv.jsonl", warm_start=warm)
    batches = BatchIterator(train_data, batch_size=cfg.batch_size, seed=cfg.seed)
    for epoch in range(cfg.max_epochs):
        model.train()
        for x, y in batches.epoch(epoch):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            tracker.step()
        tracker.epoch_end()
    assert len(tracker.records) == 3
    for mine, theirs in zip(tracker.records, result.history):
        assert {k: mine[k] for k in HOOKED} == {k: theirs[k] for k in HOOKED}  # bitwise
        assert mine["epoch"] == theirs["epoch"] and mine["step"] == theirs["updates"]
    written = [json.loads(line) for line in (tmp_path / "curv.jsonl").read_text().splitlines()]
    assert written == tracker.records


@pytest.fixture(scope="module")
def tiny():
    cfg = TrainConfig(model="mlp", dataset="synthetic", subset=48, width=0.05, seed=4)
    train_data, _ = load_splits(cfg)
    model = model_from_config(cfg, meta_to_dict(train_data.meta), seed=4).double()
    dense = dense_hessian(model, None, train_data, samples=32, seed=1)
    return model, train_data, dense


def test_measures_match_dense_oracles(tiny):
    model, data, dense = tiny
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    tracker = hessianlab.Tracker(model, data, samples=32, seed=1, k=3, tol=1e-8, dtype=torch.float64, trace_probes=7,
                                 measures=("lambda1", "trace", "grad_norm", "eos"), optimizer=opt)
    record = tracker.measure()
    exact = torch.linalg.eigvalsh(dense).flip(0)
    assert record["eigenvalues"] == pytest.approx(exact[:3].tolist(), rel=1e-7)
    assert record["lambda1"] == record["eigenvalues"][0]
    assert record["eos"] == pytest.approx(exact[0].item() * 0.3 / 2, rel=1e-7) and record["lr"] == 0.3
    # Hutchinson with the same seeded probes on the dense matrix: the estimate and its standard error
    z = random_probes(dense.shape[0], 7, "rademacher", torch.Generator().manual_seed(1))
    values = (z * (dense @ z)).sum(0)
    assert record["trace"] == pytest.approx(values.mean().item(), rel=1e-10)
    assert record["trace_se"] == pytest.approx((values.std() / 7 ** 0.5).item(), rel=1e-8)
    # the certificate: converged residuals, products, passes over the data, seconds
    assert record["lambda1_converged"] and record["lambda1_rel_residual"] <= 1e-8
    assert record["lambda1_matvecs"] > 3 and record["lambda1_passes"] >= 1 and record["lambda1_seconds"] > 0
    assert record["trace_matvecs"] == 7 and record["trace_passes"] == 7 and record["grad_norm_passes"] == 1
    assert model.training  # mode restored


def test_gradient_norm_matches_autograd(tiny):
    model, data, _ = tiny
    record = hessianlab.Tracker(model, (data.images, data.labels), measures=("grad_norm",), samples="all",
                                dtype=torch.float64).measure()
    loss = F.cross_entropy(model.eval()(data.images.double()), data.labels)
    model.train()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert record["grad_norm"] == pytest.approx(torch.sqrt(sum((g ** 2).sum() for g in grads)).item(), rel=1e-10)


def test_schedule_by_steps_and_warm_start(tiny):
    model, data, dense = tiny
    tracker = hessianlab.Tracker(model, data, every=2, unit="step", samples=32, seed=1, tol=1e-6, dtype=torch.float64,
                                 measures=("lambda1",), warm_start=True)
    out = [tracker.step() for _ in range(5)]
    assert [r is not None for r in out] == [False, True, False, True, False]
    assert tracker.epoch_end() is None and [r["step"] for r in tracker.records] == [2, 4]
    cold, warm = tracker.records
    exact = torch.linalg.eigvalsh(dense)[-1].item()
    assert warm["lambda1"] == pytest.approx(exact, rel=1e-6) and cold["lambda1"] == pytest.approx(exact, rel=1e-6)
    assert warm["lambda1_matvecs"] < cold["lambda1_matvecs"]  # started from the converged vector
    if importlib.util.find_spec("pandas") is not None:
        frame = tracker.to_frame()
        assert frame["step"].tolist() == [2, 4] and frame["lambda1"].tolist() == [cold["lambda1"], warm["lambda1"]]
    again = hessianlab.Tracker(model, data, samples=32, measures=("lambda1",))
    again.load_state_dict(tracker.state_dict())
    assert (again.steps, again.records) == (5, tracker.records)


def test_tensorboard_scalars(tiny, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, data, _ = tiny
    tracker = hessianlab.Tracker(model, data, samples=16, measures=("grad_norm",), tensorboard=tmp_path / "tb")
    tracker.step()
    record = tracker.epoch_end()
    tracker.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    (scalar,) = events.Scalars("hessianlab/grad_norm")
    assert scalar.step == 1 and scalar.value == pytest.approx(record["grad_norm"], rel=1e-6)


def test_bad_input_names_the_fix(tiny):
    model, data, _ = tiny
    with pytest.raises(ConfigError, match="subset of"):
        hessianlab.Tracker(model, data, measures=("sharpness",))
    with pytest.raises(ConfigError, match="add it"):
        hessianlab.Tracker(model, data, measures=("trace", "eos"))
    with pytest.raises(ConfigError, match="optimizer="):
        hessianlab.Tracker(model, data, samples=8, measures=("lambda1", "eos")).measure()
    with pytest.raises(ConfigError, match="unit must be"):
        hessianlab.Tracker(model, data, unit="batch")
    with pytest.raises(ConfigError, match="every must be a positive int"):
        hessianlab.Tracker(model, data, every=0)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ConfigError, match="unfreeze"):
        hessianlab.Tracker(frozen, data)
    with pytest.raises(ConfigError, match="selects no parameter; choose from"):
        hessianlab.Tracker(model, data, params=r"^nothing\.")
    with pytest.raises(ConfigError, match=r"not an \(x, y\) pair of tensors"):
        hessianlab.Tracker(model, [1, 2, 3]).measure()
    with pytest.raises(ConfigError, match="pass samples='all'"):
        hessianlab.Tracker(model, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.images, data.labels)),
                           samples=10).measure()


def test_a_shuffled_dataloader_gives_the_tensors_values(tiny):
    model, data, _ = tiny
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.images, data.labels), batch_size=7,
                                         shuffle=True, generator=torch.Generator().manual_seed(0))
    kw = dict(samples="all", seed=1, tol=1e-8, dtype=torch.float64, measures=("lambda1", "trace", "grad_norm"),
              trace_probes=3)
    on_loader = hessianlab.Tracker(model, loader, **kw).measure()
    on_tensors = hessianlab.Tracker(model, (data.images, data.labels), **kw).measure()
    for key in ("lambda1", "trace", "grad_norm"):
        assert on_loader[key] == pytest.approx(on_tensors[key], rel=1e-9), key
    assert on_loader["grad_norm_passes"] == 1 and on_loader["lambda1_passes"] >= 1

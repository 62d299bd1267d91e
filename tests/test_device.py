"""The execution device: resolution, the movers, CPU training unchanged by the option, clean CUDA errors."""

from __future__ import annotations

import collections
import json
import os

import pytest
import torch
from torch import nn

from hessianlab.cli import main
from hessianlab.data.types import Dataset, DatasetMeta
from hessianlab.device import place_datasets, prepare_device, resolve_device, to_device
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict
from hessianlab.training.trainer import train

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a host without CUDA")
# ABS (eigen-solves), adversarial mixing, momentum and the λ1 hook: every device-dependent path of the trainer
CONFIG = dict(model="mlp", dataset="digits", subset=120, test_subset=60, batch_size=16, lr=0.05, momentum=0.9,
              max_epochs=2, target_loss=None, width=0.125, batch_schedule="abs", abs_every=48, abs_kappa=1,
              abs_eig_samples=32, adversarial="fgsm", adv_eps=0.05, adv_ratio=0.5, track_lambda1=32)


@pytest.fixture
def gpu_host(monkeypatch):
    """Pretend this host has two CUDA devices (resolution only; nothing runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_resolution_on_a_cpu_host(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu", env={}) == torch.device("cpu")
    assert resolve_device("auto", env={}) == torch.device("cpu")
    assert resolve_device(None, env={}) == torch.device("cpu")  # no $HESSIANLAB_DEVICE: auto
    assert resolve_device(None, env={"HESSIANLAB_DEVICE": " CPU "}) == torch.device("cpu")
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match=r"--device: .* requested but CUDA is not available.*--device cpu"):
            resolve_device(spec, env={})
    with pytest.raises(ConfigError, match=r"\$HESSIANLAB_DEVICE: cuda requested but CUDA is not available"):
        resolve_device(None, env={"HESSIANLAB_DEVICE": "cuda"})
    for bad in ("gpu", "cpu:0", "cuda:", "cuda:-1", "auto:1", ""):
        with pytest.raises(ConfigError, match="is not a device; use auto, cpu, cuda or cuda:N"):
            resolve_device(bad, env={})


def test_resolution_on_a_gpu_host(gpu_host):
    assert resolve_device("auto", env={}) == torch.device("cuda", 0)
    assert resolve_device("cuda", env={}) == torch.device("cuda", 0)
    assert resolve_device("cuda:1", env={}) == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 1), env={}) == torch.device("cuda", 1)
    assert resolve_device("cpu", env={}) == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"cuda:2 does not exist; this host has 2 CUDA device\(s\)"):
        resolve_device("cuda:2", env={})
    # under torchrun every rank takes cuda:LOCAL_RANK; one process (WORLD_SIZE=1) is not remapped
    ranks = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    assert resolve_device("auto", env=ranks) == torch.device("cuda", 1)
    assert resolve_device("cuda", env=ranks) == torch.device("cuda", 1)
    assert resolve_device("cuda:1", env=ranks) == torch.device("cuda", 1)
    assert resolve_device("cpu", env=ranks) == torch.device("cpu")
    assert resolve_device("cuda", env={"WORLD_SIZE": "1", "LOCAL_RANK": "1"}) == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="LOCAL_RANK=1 and each rank uses cuda:LOCAL_RANK"):
        resolve_device("cuda:0", env=ranks)
    with pytest.raises(ConfigError, match="LOCAL_RANK=2 but this host has 2 CUDA device"):
        resolve_device("cuda", env={"WORLD_SIZE": "3", "RANK": "2", "LOCAL_RANK": "2"})


def test_prepare_cpu_changes_nothing(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic)
    assert prepare_device(torch.device("cpu")) == torch.device("cpu")
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic) == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def _checkpoint() -> dict:
    """A trainer-shaped checkpoint: model state dict (with BatchNorm metadata), SGD momentum state, counters."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "state": {"epoch": 3, "history": [{"a": 1.5}]},
            "pair": (torch.ones(2), "x")}


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def test_to_device_moves_every_tensor_and_keeps_the_structure():
    ckpt = _checkpoint()
    moved = to_device(ckpt, "meta")  # a second device that every host has
    assert len(_tensors(moved)) == len(_tensors(ckpt)) > 8
    assert all(t.device.type == "meta" for t in _tensors(moved))
    assert all(t.device.type == "cpu" for t in _tensors(ckpt))  # the original is untouched
    for a, b in zip(_tensors(moved), _tensors(ckpt)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
    assert isinstance(moved["model"], collections.OrderedDict)
    assert moved["model"]._metadata == ckpt["model"]._metadata  # BatchNorm's version for load_state_dict
    assert moved["state"] == ckpt["state"] and moved["state"] is not ckpt["state"]
    assert moved["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    assert isinstance(moved["pair"], tuple) and moved["pair"][1] == "x"


def test_to_device_on_the_same_device_shares_the_tensors():
    ckpt = _checkpoint()
    same = to_device(ckpt, "cpu")
    for a, b in zip(_tensors(same), _tensors(ckpt)):
        assert a is b


def _toy(n: int) -> Dataset:
    meta = DatasetMeta("toy", "train", ("a", "b"), (1, 2, 2), (0.5,), (0.1,), "generated:test")
    return Dataset(torch.rand(n, 1, 2, 2), torch.zeros(n, dtype=torch.int64), meta)


def test_place_datasets_moves_small_data_once_and_leaves_large_data():
    a, b = _toy(10), _toy(5)
    nbytes = 15 * (4 * 4 + 8)
    ma, mb = place_datasets(torch.device("meta"), a, b, limit_bytes=nbytes)
    assert (ma.images.device.type, mb.labels.device.type) == ("meta", "meta")
    assert ma.meta is a.meta and a.images.device.type == "cpu"
    big = place_datasets(torch.device("meta"), a, b, limit_bytes=nbytes - 1)  # together over the limit
    assert big[0] is a and big[1] is b
    cpu = place_datasets(torch.device("cpu"), a, b)
    assert cpu[0] is a and cpu[1] is b


def _train(tmp_path, name: str, **kw):
    cfg = TrainConfig(**CONFIG)
    tr, te = load_splits(cfg)
    run = RunDir.create(tmp_path / name, cfg, meta_to_dict(tr.meta))
    return run, train(cfg, run, tr, te, **kw)


def _numbers(run: RunDir) -> tuple[list, list, dict]:
    wall = ("wall_seconds", "eig_seconds", "seconds")
    metrics = [{k: v for k, v in r.items() if k not in wall} for r in run.metrics()]
    decisions = [{k: v for k, v in d.items() if k not in wall} for d in run.decisions()]
    return metrics, decisions, run.load_model().state_dict()


@NO_CUDA
def test_explicit_cpu_equals_the_default_bitwise(tmp_path, monkeypatch):
    monkeypatch.delenv("HESSIANLAB_DEVICE", raising=False)  # the default: auto, the CPU on this host
    default, _ = _train(tmp_path, "default")
    explicit, _ = _train(tmp_path, "explicit", device="cpu")
    (m1, d1, w1), (m2, d2, w2) = _numbers(default), _numbers(explicit)
    assert m1 == m2 and d1 == d2 and len(d1) >= 3
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert default.config_hash == explicit.config_hash  # the device is not part of the config
    assert {r["device"] for r in default.metrics()} == {"cpu"} and default.status["summary"]["device"] == "cpu"
    assert {d["eig_ranks"] for d in default.decisions()} == {1}


def test_checkpoint_and_model_hold_cpu_tensors(tmp_path):
    device = resolve_device()  # the CPU here; a GPU when the suite runs with HESSIANLAB_DEVICE=cuda
    run, _ = _train(tmp_path, "r", device=device)
    for name in ("checkpoint.pt", "model.pt"):
        loaded = torch.load(run.path / name, weights_only=True)  # no map_location: as saved
        tensors = _tensors(loaded)
        assert tensors and all(t.device.type == "cpu" for t in tensors), name
    assert json.loads((run.path / "status.json").read_text())["summary"]["device"] == str(device)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("tiny") / "r"
    assert main(["train", "--model", "logreg", "--dataset", "digits", "--subset", "50", "--test-subset", "20",
                 "--max-epochs", "1", "--no-target", "--quiet", "--device", "cpu", "--out", str(out)]) == 0
    return str(out)


@NO_CUDA
@pytest.mark.parametrize("argv", [
    ["train", "--model", "mlp", "--dataset", "digits", "--quiet"],
    ["eigs", "RUN", "--k", "1"], ["eigs", "RUN", "--wrt", "input"], ["trace", "RUN"], ["density", "RUN"],
    ["attack", "RUN"], ["run", "experiments/example-batch-sweep.yaml", "--preset", "smoke"],
    ["reproduce", "example-batch-sweep", "--preset", "smoke"],
])
def test_cli_cuda_unavailable_is_one_line_exit_2(argv, tiny_run, tmp_path, capsys):
    argv = [tiny_run if a == "RUN" else a for a in argv]
    out = ["--out", str(tmp_path / "out")] if argv[0] in ("train", "run", "reproduce") else []
    assert main([*argv, *out, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cuda requested but CUDA is not available" in err[0], err
    assert not (tmp_path / "out").exists()  # refused before any work
    assert "eigs" not in RunDir.open(tiny_run).results and "attack" not in RunDir.open(tiny_run).results


def test_cli_bad_device_from_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HESSIANLAB_DEVICE", "tpu")
    assert main(["train", "--model", "mlp", "--dataset", "digits", "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert "$HESSIANLAB_DEVICE: 'tpu' is not a device" in capsys.readouterr().err

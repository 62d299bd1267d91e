"""ABS / ABSA through the trainer: the eigenvalue probe against a dense oracle, batch sizes that really change
with consistent records, ABSA's γ reaching the adversarial mixing, and exact resume."""

import copy

import pytest
import torch

from hessianlab import attacks
from hessianlab.curvature import dense_hessian
from hessianlab.experiments.store import RunDir
from hessianlab.training.abs_schedule import EigenMeasurement, EigenProbe
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import load_splits, meta_to_dict, model_from_config
from hessianlab.training.trainer import train

ABS = dict(model="mlp", dataset="synthetic", subset=128, test_subset=32, batch_size=8, lr=0.05, target_loss=None,
           seed=3, width=0.25, batch_schedule="abs", abs_every=32, abs_kappa=2, abs_eig_samples=32,
           abs_batch_max=32, abs_eig_tol=1e-2, abs_eig_method="lanczos")


@pytest.fixture(scope="module")
def tiny():
    """A float64 mlp (~900 parameters), its training set, and the dense Hessians of the probe's sample."""
    cfg = TrainConfig(model="mlp", dataset="synthetic", subset=64, width=0.05, seed=2)
    train_data, _ = load_splits(cfg)
    model = model_from_config(cfg, meta_to_dict(train_data.meta), seed=2).double()
    top = {params: float(torch.linalg.eigvalsh(dense_hessian(model, None, train_data, samples=24, seed=5,
                                                             params=params))[-1])
           for params in (None, r"^fc3\.")}
    return model, train_data, top


@pytest.mark.parametrize("method,params,chunk", [("power", None, 1024), ("lanczos", None, 1024),
                                                 ("lanczos", r"^fc3\.", 1024), ("lanczos", None, 10)])
def test_eigen_probe_matches_the_dense_oracle(tiny, method, params, chunk):
    model, train_data, top = tiny
    measured = EigenProbe(samples=24, seed=5, tol=1e-4, params=params, method=method, chunk_size=chunk)(
        model, train_data)
    assert measured.value == pytest.approx(top[params], rel=1e-4)
    assert measured.converged and measured.matvecs > 0 and measured.seconds > 0
    assert model.training  # the probe restores the caller's mode
    if params is not None:
        assert top[params] < top[None]  # the block Hessian is a different operator: the regex was applied


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_warm_started_probe_equals_the_cold_one_and_the_dense_oracle(tiny, method):
    """A warm start from the Ritz vector of a nearby model (one gradient step away) gives the dense top
    eigenvalue, as the cold solve does, in fewer products."""
    model, train_data, top = tiny
    probe = EigenProbe(samples=24, seed=5, tol=1e-6, method=method)
    nearby = copy.deepcopy(model)
    with torch.no_grad():
        for p in nearby.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()), dtype=p.dtype))
    start = probe(nearby, train_data).vector
    cold, warm = probe(model, train_data), probe(model, train_data, v0=start)
    assert start is not None and start.shape == (sum(p.numel() for p in model.parameters()),)
    for measured in (cold, warm):
        assert measured.converged and measured.value == pytest.approx(top[None], rel=1e-6)
    assert warm.matvecs < cold.matvecs
    assert abs(float(warm.vector @ cold.vector)) == pytest.approx(1.0, abs=1e-6)  # the same unit eigenvector


def test_warm_abs_takes_the_cold_decisions_in_fewer_products(train_run):
    """ABS with ``abs_eig_warm``: every check after the first starts from the previous Ritz vector; eigenvalues
    agree with the cold run's to the solver tolerance, the decisions are the same, the products fewer."""
    fields = {**ABS, "abs_eig_tol": 1e-4, "max_epochs": 3}
    cold_run, _, _ = train_run("cold", **fields)
    warm_run, _, _ = train_run("warm", **fields, abs_eig_warm=True)
    cold, warm = cold_run.decisions(), warm_run.decisions()
    assert len(cold) == len(warm) == 3 * 128 // 32
    assert [r["warm"] for r in cold] == [False] * len(cold)
    assert [r["warm"] for r in warm] == [False] + [True] * (len(warm) - 1)
    for c, w in zip(cold, warm):
        assert w["converged"] and c["converged"]
        assert w["eigenvalue"] == pytest.approx(c["eigenvalue"], rel=2e-4)
        assert (w["batch_size"], w["reason"]) == (c["batch_size"], c["reason"])
    assert sum(r["matvecs"] for r in warm) < sum(r["matvecs"] for r in cold)


def _replay(config, num_train, history, records):
    """Rebuild every update's batch size from the decision records; check counters against the records."""
    batch, updates, samples, by_update = config.batch_size, 0, 0, {r["update"]: r for r in records}
    for rec in history:
        position = 0
        while position < num_train:
            size = min(batch, num_train - position)
            position, updates, samples = position + size, updates + 1, samples + size
            if (samples - size) // config.abs_every < samples // config.abs_every:  # a multiple was crossed
                check = by_update.pop(updates)
                assert check["samples_seen"] == samples and check["batch_before"] == batch
                assert check["epoch"] == rec["epoch"]
                batch = check["batch_size"]
        assert (rec["updates"], rec["samples_seen"], rec["batch_size"]) == (updates, samples, batch)
    assert not by_update, "a record at an update where no check was due"


def test_abs_run_grows_the_batch_with_consistent_records(train_run):
    run, result, train_data = train_run("abs", **ABS, max_epochs=3, lr_schedule="multistep:2:0.5")
    records = run.decisions()
    cfg = run.train_config
    assert len(records) == 3 * 128 // 32                  # one check per 32 samples, 3 epochs
    assert records[0]["reason"] == "first" and records[0]["batch_size"] == 8
    assert max(r["batch_size"] for r in records) == 32 and result.history[-1]["batch_size"] == 32
    _replay(cfg, len(train_data), result.history, records)
    for r in records:  # the LR of the update before each check: lr_BL(epoch) * B / B0
        assert r["lr"] == pytest.approx(0.05 * 0.5 ** (r["epoch"] >= 3) * r["batch_before"] / 8, rel=1e-12)
        assert r["gamma"] is None and r["matvecs"] > 0 and r["eigenvalue"] > 0
    for rec in result.history:
        assert rec["eig_seconds"] == pytest.approx(sum(r["seconds"] for r in records if r["epoch"] == rec["epoch"]))
        assert rec["eig_seconds"] < rec["wall_seconds"]
    assert run.status["summary"]["eig_seconds"] == pytest.approx(sum(r["seconds"] for r in records))


def test_absa_gamma_decays_on_decrease_events_and_vanishes_at_tau(train_run, monkeypatch):
    script = iter([10.0, 4.0, 4.5, 1.5] + [1.4] * 20)  # decreases at the 2nd and 4th checks
    monkeypatch.setattr(EigenProbe, "__call__", lambda self, model, data: EigenMeasurement(next(script), 0.0, 1,
                                                                                           0.0, True))
    ratios = []
    original = attacks.mix_adversarial

    def spy(model, x, y, attack, ratio, **kw):
        ratios.append(ratio)
        return original(model, x, y, attack, ratio, **kw)

    monkeypatch.setattr(attacks, "mix_adversarial", spy)
    run, result, _ = train_run("absa", **{**ABS, "subset": 64, "abs_every": 16, "abs_kappa": 10}, max_epochs=2,
                               adversarial="fgsm", adv_eps=0.05, adv_ratio=0.2, adv_tau=7)
    records = run.decisions()
    # B=8 until the decrease at update 4 (samples 32), then 16 until the decrease at update 6, then 32
    assert [(r["update"], r["reason"], r["batch_size"]) for r in records] == [
        (2, "first", 8), (4, "decrease", 16), (5, "none", 16), (6, "decrease", 32), (7, "none", 32), (8, "none", 32)]
    # γ per update as the mixing saw it: 0.2, halved after each decrease, 0 from update τ = 7 on
    assert ratios == [0.2] * 4 + [0.1] * 2 + [0.05] + [0.0]
    assert [r["gamma"] for r in records] == [0.2, 0.1, 0.1, 0.05, 0.0, 0.0]
    assert result.updates == 8


def _strip(rows, *keys):
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("warm", [False, True])
def test_abs_resume_is_exact(tmp_path, warm):
    cfg = TrainConfig(**ABS, max_epochs=4, adversarial="fgsm", adv_eps=0.05, adv_ratio=0.5, abs_eig_warm=warm)
    train_data, test_data = load_splits(cfg)
    meta = meta_to_dict(train_data.meta)
    straight = RunDir.create(tmp_path / "straight", cfg, meta)
    full = train(cfg, straight, train_data, test_data)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise _Stop

    interrupted = RunDir.create(tmp_path / "resumed", cfg, meta)
    with pytest.raises(_Stop):
        train(cfg, interrupted, train_data, test_data, on_epoch=stop_after_two)
    assert len(interrupted.metrics()) == 2
    resumed = train(cfg, RunDir.open(tmp_path / "resumed"), train_data, test_data)
    clock = ("wall_seconds", "eig_seconds", "seconds")
    assert _strip(resumed.history, *clock) == _strip(full.history, *clock)
    assert _strip(interrupted.decisions(), *clock) == _strip(straight.decisions(), *clock)
    assert len(straight.decisions()) == 4 * 128 // 32 and straight.decisions()[-1]["batch_size"] > 8
    wa, wb = straight.load_model().state_dict(), RunDir.open(tmp_path / "resumed").load_model().state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("field_name,extra", [("abs_eig_params", {}), ("track_lambda1_params", {"track_lambda1": 16})])
def test_block_regex_selecting_nothing_fails_before_training(tmp_path, field_name, extra):
    from hessianlab.errors import ConfigError

    cfg = TrainConfig(**{**ABS, field_name: r"^conv9\.", **extra})
    train_data, test_data = load_splits(cfg)
    run = RunDir.create(tmp_path / "run", cfg, meta_to_dict(train_data.meta))
    with pytest.raises(ConfigError, match=f"^{field_name}: params=.*selects no parameter"):
        train(cfg, run, train_data, test_data)
    assert not (tmp_path / "run" / "metrics.jsonl").exists() or run.metrics() == []

"""BL multistep, FB (linear scaling + warm-up) and GG (Smith) schedules: whole per-update LR traces from the
real update loop against closed forms; config validation of the combinations; CLI one-line errors."""

import pytest
import torch

from hessianlab.cli import main
from hessianlab.data import BatchIterator
from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import (
    load_splits,
    meta_to_dict,
    model_from_config,
    schedules_from_config,
)
from hessianlab.training.scaling import warmup_updates
from hessianlab.training.schedules import (
    MultiStepLR,
    ScheduleState,
    SmithBatch,
    parse_lr_schedule,
)
from hessianlab.training.trainer import sgd_epoch

BASE = dict(model="mlp", dataset="synthetic", test_subset=32, width=0.125, target_loss=None, seed=1)


def _trace(epochs, **fields):
    """``[(epoch, samples consumed, lr)]`` of every update of ``epochs`` epochs of the real update loop."""
    cfg = TrainConfig(**{**BASE, **fields})
    train_data, _ = load_splits(cfg)
    model = model_from_config(cfg, meta_to_dict(train_data.meta), seed=cfg.seed)
    lr_schedule, batch_schedule = schedules_from_config(cfg, len(train_data))
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    iterator = BatchIterator(train_data, batch_size=cfg.batch_size, seed=cfg.seed)
    state = {"updates": 0, "samples_seen": 0, "last_batch_size": cfg.batch_size}
    trace = []
    for epoch in range(epochs):
        sgd_epoch(model, optimizer, iterator.epoch(epoch), lr_schedule, batch_schedule, state,
                  after_update=lambda m, s, lr: trace.append((s.epoch, s.batch_size, lr)))
    return trace


def test_multistep_decays_at_each_listed_epoch():
    sched = parse_lr_schedule("multistep:30,60,80:0.2", 0.1)  # ABSA's C1 baseline
    assert isinstance(sched, MultiStepLR) and sched.milestones == (30, 60, 80)
    lrs = [sched.lr(ScheduleState(e, 0, 0, 128)) for e in (0, 29, 30, 59, 60, 79, 80, 89)]
    assert lrs == pytest.approx([0.1, 0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008], rel=1e-12)


@pytest.mark.parametrize("spec", ["multistep:30,20:0.2", "multistep:30,30:0.2", "multistep:0,5:0.5",
                                  "multistep::0.5", "multistep:5:-1", "multistep:5"])
def test_bad_multistep_specs(spec):
    with pytest.raises(ConfigError, match="lr_schedule"):
        parse_lr_schedule(spec, 0.1)


def test_warmup_length_formula():
    assert warmup_updates(5, 50000, 8192) == 35          # 5 x ceil(50000 / 8192) = 5 x 7
    assert warmup_updates(1.5, 100, 16) == 11            # ceil(1.5 x 7)
    assert warmup_updates(0, 100, 16) == 0


def test_fb_whole_lr_trace_linear_scaling_warmup_then_baseline():
    # N=100, B=16 -> 7 updates/epoch; k = 16/4 = 4; warm-up ceil(1.5 x 7) = 11 updates; baseline halves at
    # epochs 1 and 3 (the milestone at epoch 1 falls inside the warm-up: the ramp multiplies the baseline)
    trace = _trace(4, subset=100, batch_size=16, lr=0.01, lr_schedule="multistep:1,3:0.5", lr_scale_ref=4,
                   lr_warmup_epochs=1.5)
    assert len(trace) == 28
    expected = []
    for t in range(28):
        epoch = t // 7
        baseline = 0.01 * 0.5 ** ((epoch >= 1) + (epoch >= 3))
        multiplier = 1 + 3 * t / 10 if t < 11 else 4.0
        expected.append(baseline * multiplier)
    assert [lr for _, _, lr in trace] == pytest.approx(expected, rel=1e-12, abs=0)
    assert trace[0][2] == pytest.approx(0.01, rel=1e-12)          # starts at the base LR
    assert trace[10][2] == pytest.approx(0.04 * 0.5, rel=1e-12)   # target reached exactly at its last step
    assert [b for _, b, _ in trace] == ([16] * 6 + [4]) * 4         # FB keeps the batch size


def test_fb_without_warmup_is_pure_linear_scaling():
    trace = _trace(1, subset=64, batch_size=32, lr=0.01, lr_scale_ref=8)
    assert [lr for _, _, lr in trace] == pytest.approx([0.04, 0.04], rel=1e-12)


def test_gg_whole_lr_and_batch_trace_preserves_lr_over_b():
    # N=96, B0=8, baseline halves at epochs 1, 2, 3 -> B = 8, 16, 32, min(64, 40) = 40, 40
    trace = _trace(5, subset=96, batch_size=8, lr=0.02, lr_schedule="multistep:1,2,3:0.5",
                   batch_schedule="smith:40")
    sizes = [8] * 12 + [16] * 6 + [32] * 3 + [40, 40, 16] * 2
    lrs = [0.02] * 21 + [0.02 * 0.125 * 40 / 8] * 6                 # once B_max is hit the LR decays
    assert [b for _, b, _ in trace] == sizes
    assert [lr for _, _, lr in trace] == pytest.approx(lrs, rel=1e-12, abs=0)
    # lr / B (logical B, not the short last batch) equals the baseline's lr_BL(e) / B0 at every update
    logical = [8] * 12 + [16] * 6 + [32] * 3 + [40] * 6
    for (epoch, _, lr), b in zip(trace, logical):
        assert lr / b == pytest.approx(0.02 * 0.5 ** min(epoch, 3) / 8, rel=1e-12)


def test_gg_with_step_decay():
    sched = SmithBatch(parse_lr_schedule("step:2:0.2", 0.1), 4, 1000)
    assert [sched.batch_size(ScheduleState(e, 0, 0, 0)) for e in range(6)] == [4, 4, 20, 20, 100, 100]


def test_hash_of_configs_without_the_new_fields_is_unchanged():
    # values computed before the large-batch fields existed: stored run folders keep their identity
    assert TrainConfig().config_hash() == "a00d010c377cbe4b"
    old = TrainConfig(model="mlp", dataset="synthetic", adversarial="fgsm", adv_ratio=0.5, lr_schedule="step:5:0.5",
                      track_lambda1=64)
    assert old.config_hash() == "a7942d6bfd65c95d"
    assert TrainConfig(max_physical_batch=64).config_hash() != TrainConfig().config_hash()


@pytest.mark.parametrize("fields,needle", [
    ({"batch_schedule": "smith:512"}, "needs lr_schedule step"),
    ({"batch_schedule": "smith:512", "lr_schedule": "step:5:2"}, "FACTOR < 1"),
    ({"batch_schedule": "smith:64", "batch_size": 128, "lr_schedule": "step:5:0.5"}, "BMAX 64"),
    ({"batch_schedule": "smith:x", "lr_schedule": "step:5:0.5"}, "BMAX"),
    ({"lr_schedule": "ratio:0.001", "lr_scale_ref": 32}, "ratio"),
    ({"lr_schedule": "ratio:0.001", "batch_schedule": "abs"}, "ratio"),
    ({"lr_warmup_epochs": 5.0}, "lr_scale_ref"),
    ({"lr_scale_ref": 0}, "lr_scale_ref"),
    ({"lr_scale_ref": 32, "lr_warmup_epochs": -1.0}, "lr_warmup_epochs"),
    ({"max_physical_batch": 0}, "max_physical_batch"),
    ({"abs_alpha": 3.0}, "abs_alpha: only used with batch_schedule abs"),
    ({"adv_tau": 5}, "adv_tau: only used with adversarial"),
    ({"adversarial": "fgsm", "adv_omega": 3.0}, "adv_omega: only used with batch_schedule abs"),
    ({"adversarial": "fgsm", "adv_tau": -1}, "adv_tau"),
    ({"batch_schedule": "abs", "abs_alpha": 1.0}, "abs_alpha"),
    ({"batch_schedule": "abs", "abs_beta": 0.5}, "abs_beta"),
    ({"batch_schedule": "abs", "abs_kappa": 0}, "abs_kappa"),
    ({"batch_schedule": "abs", "abs_every": 0}, "abs_every"),
    ({"batch_schedule": "abs", "abs_batch_min": 256}, "abs_batch_min"),
    ({"batch_schedule": "abs", "abs_batch_max": 64}, "abs_batch_max"),
    ({"batch_schedule": "abs", "abs_eig_samples": "some"}, "abs_eig_samples"),
    ({"batch_schedule": "abs", "abs_eig_tol": 0.0}, "abs_eig_tol"),
    ({"batch_schedule": "abs", "abs_eig_seed": -1}, "abs_eig_seed"),
    ({"batch_schedule": "abs", "abs_eig_params": "fc[1"}, "abs_eig_params"),
    ({"batch_schedule": "abs", "abs_eig_method": "arnoldi"}, "abs_eig_method"),
    ({"batch_schedule": "abs", "abs_eig_warm": "yes"}, "abs_eig_warm"),
    ({"batch_schedule": "abs", "abs_eig_chunk": 0}, "abs_eig_chunk"),
    ({"batch_schedule": "abs", "adversarial": "fgsm", "adv_omega": 0.5}, "adv_omega"),
    ({"batch_schedule": "grow"}, "batch_schedule"),
])
def test_bad_combinations_are_one_line_config_errors(fields, needle):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{"batch_size": 128, **fields})
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_good_large_batch_configs_validate():
    TrainConfig(lr_schedule="multistep:30,60,80:0.2", batch_schedule="smith:16384", lr_scale_ref=128,
                lr_warmup_epochs=5.0, max_physical_batch=256)
    TrainConfig(batch_schedule="abs", abs_batch_min=64, abs_batch_max=16384, abs_eig_samples="all",
                abs_eig_params=r"^fc3\.", adversarial="fgsm", adv_eps=0.005, adv_ratio=0.2, adv_omega=2.0,
                adv_tau=1000)


def test_cli_abs_eig_warm_and_chunk_flags_set_the_fields():
    import argparse

    from hessianlab.commands._training import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    base = ["--dataset", "synthetic", "--batch-schedule", "abs"]
    cold, warm = (config_from_args(parser.parse_args(base + extra))
                  for extra in ([], ["--abs-eig-warm", "--abs-eig-chunk", "2048"]))
    assert (cold.abs_eig_warm, warm.abs_eig_warm) == (False, True)
    assert (cold.abs_eig_chunk, warm.abs_eig_chunk) == (1024, 2048)
    assert warm.config_hash() != cold.config_hash()  # a warm run is a different run (its numbers differ)


@pytest.mark.parametrize("argv,needle", [
    (["--batch-schedule", "abs", "--abs-beta", "1"], "abs_beta"),
    (["--batch-schedule", "smith:64"], "batch_schedule smith"),
    (["--lr-warmup-epochs", "2"], "lr_scale_ref"),
    (["--max-physical-batch", "-4"], "max_physical_batch"),
    (["--abs-eig-samples", "many"], "abs-eig-samples"),
])
def test_cli_bad_large_batch_flags_are_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["train", "--out", "x", "--dataset", "synthetic", *argv]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]

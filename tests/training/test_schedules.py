import pytest

from hessianlab.errors import ConfigError
from hessianlab.training.schedules import (
    ConstantBatch, ConstantLR, RatioLR, ScheduleState, StepLR, parse_batch_schedule, parse_lr_schedule,
)


def _state(epoch=0, update=0, batch=128):
    return ScheduleState(epoch=epoch, update=update, samples_seen=update * batch, batch_size=batch)


def test_step_decay_halves_every_five_epochs():
    sched = parse_lr_schedule("step:5:0.5", 0.01)
    assert isinstance(sched, StepLR)
    values = [sched.lr(_state(epoch=e)) for e in range(16)]
    assert values[:5] == [0.01] * 5
    assert values[5:10] == [0.005] * 5
    assert values[10:15] == [0.0025] * 5
    assert values[15] == pytest.approx(0.00125, rel=0, abs=1e-15)


def test_ratio_policy_scales_with_batch_size():
    sched = parse_lr_schedule("ratio:0.00015625", 123.0)
    assert isinstance(sched, RatioLR)
    assert sched.lr(_state(batch=64)) == pytest.approx(0.01)
    assert sched.lr(_state(batch=2048)) == pytest.approx(0.32)
    # the base lr is ignored by the ratio policy
    assert sched.lr(_state(batch=1)) == pytest.approx(0.00015625)


def test_constant_policies():
    assert parse_lr_schedule("constant", 0.05).lr(_state(epoch=99, update=10**6)) == 0.05
    assert isinstance(parse_lr_schedule("constant", 0.05), ConstantLR)
    batch = parse_batch_schedule("constant", 256)
    assert isinstance(batch, ConstantBatch)
    assert batch.batch_size(_state(epoch=7)) == 256
    assert batch.state_dict() == {}


@pytest.mark.parametrize("spec", ["step:5", "step:0:0.5", "step:5:-1", "ratio:x", "cosine", "ratio:0"])
def test_bad_lr_specs_are_config_errors(spec):
    with pytest.raises(ConfigError) as info:
        parse_lr_schedule(spec, 0.01)
    assert "lr_schedule" in str(info.value)


def test_bad_batch_spec():
    with pytest.raises(ConfigError, match="batch_schedule"):
        parse_batch_schedule("grow", 64)

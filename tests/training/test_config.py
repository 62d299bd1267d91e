import pytest

from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig


def test_roundtrip_and_hash_stable():
    cfg = TrainConfig(model="m1", batch_size=64, lr=0.05)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()
    assert TrainConfig(batch_size=65).config_hash() != TrainConfig(batch_size=64).config_hash()


@pytest.mark.parametrize(
    "field,value,needle",
    [("batch_size", 0, "batch_size"), ("batch_size", 1.5, "batch_size"), ("lr", -1.0, "lr"),
     ("momentum", 1.0, "momentum"), ("target_loss", 0.0, "target_loss"), ("activation", "tanh", "activation"),
     ("lr_schedule", "step:a:b", "lr_schedule"), ("seed", -3, "seed"), ("lr", float("nan"), "lr"),
     ("subset", 0, "subset")],
)
def test_bad_values_name_the_field(field, value, needle):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{field: value})
    assert needle in str(info.value)


def test_unknown_field_lists_allowed():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"batchsize": 3})
    assert "batchsize" in str(info.value) and "batch_size" in str(info.value)

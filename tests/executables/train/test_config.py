"""train.yaml reading: defaults filled in, shared and unknown keys refused with the field named."""

import pytest

from executables.common.errors import InputError
from executables.train.config import DEFAULTS, read_config


def test_defaults_fill_missing_keys(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model:\n  layers: [1, 1]\n")
    config = read_config(path)
    assert config["model"]["layers"] == [1, 1]
    assert config["data"]["batch_size"] == DEFAULTS["data"]["batch_size"]


@pytest.mark.parametrize("text, field", [
    ("data:\n  sample_rate: 2048\n", "data.sample_rate"),
    ("kernel_length: 1.5\n", "kernel_length"),
    ("data:\n  batchsize: 3\n", "data.batchsize"),
    ("data:\n  waveform_prob: 1.5\n", "data.waveform_prob"),
])
def test_bad_keys_name_the_field(tmp_path, text, field):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_config(path)
    assert caught.value.field == field


def test_shipped_configs_are_valid():
    from pathlib import Path

    configs = Path(__file__).resolve().parents[3] / "aframe_dag" / "configs"
    for name in ("train.yaml", "train_tiny.yaml"):
        read_config(configs / name)

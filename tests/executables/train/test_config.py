"""train.yaml reading: defaults filled in, shared and unknown keys and bad values refused with the field named."""

import logging
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from executables.common.errors import InputError
from executables.train.config import DEFAULTS, read_config, set_values

from .conftest import cli_args

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_fill_missing_keys(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("model:\n  layers: [1, 1]\n")
    config = read_config(path)
    assert config["model"]["layers"] == [1, 1]
    assert config["data"]["batch_size"] == DEFAULTS["data"]["batch_size"]


@pytest.mark.parametrize("text, field, message", [
    ("data:\n  sample_rate: 2048\n", "data.sample_rate", "'sample_rate' is set once in run.ini ([data] sample_rate)"),
    ("kernel_length: 1.5\n", "kernel_length", "is set once in run.ini"),
    ("data:\n  batchsize: 3\n", "data.batchsize", "unknown key (did you mean 'batch_size'?)"),
    ("trainer:\n  max_epoch: 3\n", "trainer.max_epoch", "unknown key (did you mean 'max_epochs'?)"),
    ("optimizer:\n  learning_rate: fast\n", "optimizer.learning_rate", "must be a number > 0, got 'fast'"),
    ("data:\n  waveform_prob: 1.5\n", "data.waveform_prob", "must be a number in [0, 1], got 1.5"),
    ("trainer:\n  precision: bf16_mixed\n", "trainer.precision", "got 'bf16_mixed' (did you mean 'bf16-mixed'?)"),
    ("trainer:\n  precision: 32.0\n", "trainer.precision", "must be auto or a precision Lightning accepts"),
    ("trainer:\n  compile: fast\n", "trainer.compile", "must be true or false (True, False), got 'fast'"),
    ("model:\n  architecture: resnet2d\n", "model.architecture", "must be an architecture aframe-train builds"),
    ("data:\n  batch_size: 32.5\n", "data.batch_size", "must be an integer >= 1, got 32.5"),
    ("data:\n  snr:\n    minimum: 20\n    maximum: 10\n", "data.snr", "needs minimum < maximum"),
    ("data:\n  snr:\n    initial_minimum: 200\n", "data.snr.initial_minimum", "must lie in [minimum, maximum)"),
    ("data:\n  snr:\n    initial_minimum: 12\n", "data.snr.decay_steps", "must be at least 1"),
    ("model:\n  kernel_size: 4\n", "model.kernel_size", "must be odd"),
    ("model:\n  norm_groups: 12\n", "model.norm_groups", "must be a power of two"),
    ("data:\n  fftlength: 16\n", "data.fftlength", "must be at most data.psd_length"),
    ("model: [1, 2]\n", "model", "must be a mapping of architecture, layers"),
])
def test_bad_keys_and_values_name_the_field(tmp_path, text, field, message):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_config(path)
    assert caught.value.field == field and message in caught.value.message
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_a_number_yaml_reads_as_text_is_a_number(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("optimizer:\n  learning_rate: 1e-3\n")  # YAML 1.1: a string
    assert read_config(path)["optimizer"]["learning_rate"] == 1e-3


def test_the_node_exits_2_naming_file_and_key(tmp_path, caplog):
    from executables.train.train import main

    path = tmp_path / "train.yaml"
    path.write_text("trainer:\n  max_epoch: 3\n")
    inputs = {"config": path, "waveforms": tmp_path / "w", "validation": tmp_path / "v", "background": tmp_path / "b"}
    with caplog.at_level(logging.ERROR):
        result = CliRunner().invoke(main, cli_args(inputs, tmp_path / "run"))
    assert result.exit_code == 2
    assert f"{path}: trainer.max_epoch: unknown key (did you mean 'max_epochs'?)" in caplog.text
    assert not (tmp_path / "run").exists()


def test_set_values_suggests_the_setting(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("")
    with pytest.raises(InputError, match=r"is not a train.yaml setting \(did you mean 'optimizer.learning_rate'"):
        set_values(path, read_config(path), {"optimizer.learning_rte": 0.1})


def test_precisions_are_auto_and_lightnings():
    from lightning.fabric.connector import _PRECISION_INPUT

    from aframe_dag.config.train_schema import PRECISIONS

    accepted = {value for part in typing.get_args(_PRECISION_INPUT) for value in typing.get_args(part)}
    assert set(PRECISIONS) == {"auto"} | accepted


@pytest.mark.parametrize("path", ["aframe_dag/configs/train.yaml", "aframe_dag/configs/train_tiny.yaml",
                                  "tests/data/train_micro.yaml"])
def test_shipped_configs_are_valid(path):
    read_config(ROOT / path)


def test_a_file_that_is_not_text_is_an_input_error(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_bytes(b"model:\n  layers: [\xff]\n")
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_config(path)

"""train.yaml: read beside run.ini and checked as aframe-train checks it; no shared parameter may be repeated in it."""

import re

import pytest

from aframe_dag.cli.main import main
from aframe_dag.config import load_config
from aframe_dag.errors import ConfigError


@pytest.mark.parametrize("key", ["kernel_length", "sample_rate", "ifos", "inference_sampling_rate"])
def test_shared_key_in_train_yaml_is_an_error(sandbox_ini, key):
    train = sandbox_ini.with_name("train.yaml")
    train.write_text(train.read_text().replace("  batch_size: 384", f"  batch_size: 384\n  {key}: 1"))
    with pytest.raises(ConfigError, match=rf"train.yaml: data.{key}: '{key}' is set once in run.ini"):
        load_config(sandbox_ini)


def test_broken_yaml_names_the_line(sandbox_ini):
    sandbox_ini.with_name("train.yaml").write_text("model:\n  layers: [3, 4\noptimizer: {}\n")
    with pytest.raises(ConfigError, match=r"train.yaml: line \d+: not valid YAML"):
        load_config(sandbox_ini)


def test_missing_train_yaml(sandbox_ini):
    sandbox_ini.with_name("train.yaml").unlink()
    with pytest.raises(ConfigError, match=r"\[train\] config: cannot read train config"):
        load_config(sandbox_ini)


def test_tuned_key_must_exist(sandbox_ini):
    space = "tune.space=optimizer.learning_rte: uniform(0.1, 0.2)"
    with pytest.raises(ConfigError, match=r"\[tune\] space: tunes 'optimizer.learning_rte'"):
        load_config(sandbox_ini, ["tune.enabled=true", space])


def test_tuning_needs_a_space(sandbox_ini):
    with pytest.raises(ConfigError, match=r"\[tune\] space: must list at least one parameter"):
        load_config(sandbox_ini, ["tune.enabled=true"])


# Issue 20 (item 1): `build` refuses what aframe-train would refuse, before any data is generated.
BAD_TRAIN_YAML = [
    ("  max_epochs: 4", "  max_epoch: 4", "trainer.max_epoch: unknown key (did you mean 'max_epochs'?)"),
    ("  learning_rate: 0.003", "  learning_rate: fast", "optimizer.learning_rate: must be a number > 0, got 'fast'"),
    ("  swap_prob: 0.014", "  swap_prob: 1.4", "data.swap_prob: must be a number in [0, 1], got 1.4"),
    ("  precision: 32", "  precision: half", "trainer.precision: must be auto or a precision Lightning accepts"),
]


@pytest.mark.parametrize("old, new, message", BAD_TRAIN_YAML)
def test_build_refuses_what_the_train_node_would(micro_ini, run_env, capsys, old, new, message):
    train = micro_ini.with_name("train.yaml")
    assert old in train.read_text()
    train.write_text(train.read_text().replace(old, new))
    with pytest.raises(SystemExit) as exit_info:
        main(["build", str(micro_ini)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"aframe-dag: error: {train}: {message}")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (run_env / "condor").exists()


def test_the_shipped_and_micro_train_yamls_load(sandbox_ini, micro_ini):
    for ini in (sandbox_ini, micro_ini):
        assert load_config(ini).train["model"]["architecture"] == "resnet1d"


def test_numbers_yaml_reads_as_text_are_numbers(sandbox_ini):
    train = sandbox_ini.with_name("train.yaml")
    train.write_text(train.read_text().replace("learning_rate: 0.000585", "learning_rate: 1e-3"))
    assert load_config(sandbox_ini).train["optimizer"]["learning_rate"] == "1e-3"  # as written: the digest's input


def test_tuned_key_gets_a_suggestion(sandbox_ini):
    space = "tune.space=optimizer.learning_rte: uniform(0.1, 0.2)"
    suggestion = r"'optimizer.learning_rte', which is not a train.yaml setting \(did you mean 'optimizer.learning_rate"
    with pytest.raises(ConfigError, match=suggestion):
        load_config(sandbox_ini, ["tune.enabled=true", space])


@pytest.mark.parametrize("space, message", [
    ("data.waveform_prob: uniform(0.2, 1.5)", "tunes 'data.waveform_prob' to 1.5, but data.waveform_prob: must be a "
                                              "number in [0, 1]"),
    ("data.batch_size: uniform(16, 64)", "tunes 'data.batch_size' to 16.0, but data.batch_size: must be an integer"),
    ("data.snr.minimum: choice(8, 200)", "tunes 'data.snr.minimum' to 200, but data.snr: needs minimum < maximum"),
    ("trainer.precision: choice(32, half)", "tunes 'trainer.precision' to 'half'"),
    ("data.batch_size: int(16.5, 64)", "tunes 'data.batch_size' with int(16.5, 64): its values must be whole numbers"),
])
def test_tuned_values_must_pass_the_checks(sandbox_ini, space, message):
    with pytest.raises(ConfigError, match=r"\[tune\] space: " + re.escape(message)):
        load_config(sandbox_ini, ["tune.enabled=true", f"tune.space={space}"])


def test_tuning_a_key_the_file_leaves_to_its_default(sandbox_ini):
    config = load_config(sandbox_ini, ["tune.enabled=true", "tune.space=data.invert_prob: uniform(0.2, 0.8)"])
    assert "invert_prob" not in config.train["data"]

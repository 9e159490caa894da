"""train.yaml: read beside run.ini, and no shared parameter may be repeated in it."""

import pytest

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

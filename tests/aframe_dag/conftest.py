"""Fixtures for the light layer: a run environment with the AFRAME_* directories under tmp_path."""

import shutil
from importlib import resources
from pathlib import Path

import pytest

from aframe_dag.init.init import run_directories

CONFIGS = resources.files("aframe_dag") / "configs"
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def run_env(tmp_path, monkeypatch):
    """The AFRAME_* variables that run.sh would export, pointing under tmp_path."""
    for variable, value in run_directories(tmp_path, None).items():
        monkeypatch.setenv(variable, value)
    return tmp_path


@pytest.fixture
def sandbox_ini(run_env):
    """A copy of the shipped sandbox config (local site) and its train.yaml in tmp_path."""
    shutil.copy(CONFIGS / "train.yaml", run_env / "train.yaml")
    text = (CONFIGS / "sandbox.ini").read_text().replace("site = ldg", "site = local")
    path = run_env / "run.ini"
    path.write_text(text)
    return path


@pytest.fixture
def micro_ini(run_env):
    """The tests' micro run config (tests/data/micro.ini) with its micro train.yaml beside it."""
    shutil.copy(DATA / "train_micro.yaml", run_env / "train.yaml")
    path = run_env / "micro.ini"
    shutil.copy(DATA / "micro.ini", path)
    return path

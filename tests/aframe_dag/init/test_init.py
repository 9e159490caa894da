"""`init`: the three files, their directories, S3 layout, and never overwriting what a user made."""

import os
import subprocess
from pathlib import Path

import pytest

from aframe_dag.config import load_config
from aframe_dag.errors import UserError
from aframe_dag.init.init import init_run, next_steps, tmp_warning

VARIABLES = ["AFRAME_TRAIN_DATA_DIR", "AFRAME_TEST_DATA_DIR", "AFRAME_TRAIN_RUN_DIR", "AFRAME_CONDOR_DIR",
             "AFRAME_RESULTS_DIR", "AFRAME_TMPDIR"]


def source_run_sh(run_sh) -> dict[str, str]:
    """The environment after `source run.sh` in a clean bash (which must not build or submit anything)."""
    out = subprocess.run(["bash", "-c", f"source {run_sh} && env -0"], capture_output=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


@pytest.mark.parametrize("kind", ["sandbox", "tune"])
def test_init_writes_a_loadable_run(tmp_path, monkeypatch, kind):
    run = tmp_path / "first-run"
    files = init_run(kind, run, site="local", device="cpu")
    assert sorted(p.name for p in run.iterdir()) == ["run.ini", "run.sh", "train.yaml"]
    assert os.access(files["run.sh"], os.X_OK)
    env = source_run_sh(files["run.sh"])
    for variable in VARIABLES:
        assert env[variable].startswith(str(run) + "/")
        monkeypatch.setenv(variable, env[variable])
    config = load_config(files["run.ini"])
    assert config["run"]["name"] == "first-run"
    assert config["run"]["device"] == "cpu"
    assert config["condor"]["site"] == "local"
    assert config["run"]["condor_dir"] == str(run / "condor")
    assert config["tune"]["enabled"] == (kind == "tune")


def test_run_sh_ends_with_build_submit_and_local_alternative(tmp_path):
    text = init_run("sandbox", tmp_path / "r")["run.sh"].read_text()
    tail = [line for line in text.splitlines() if line and not line.startswith("export")][-3:]
    assert tail[0] == f"condor_submit_dag -batch-name r {tmp_path}/r/condor/aframe.dag"
    assert tail[-1] == f"# aframe-dag run {tmp_path}/r/condor --workers 5 --gpus 0,1"
    assert f"aframe-dag build {tmp_path}/r/run.ini" in text


def test_default_is_an_ldg_run_that_asks_for_accounting(tmp_path, monkeypatch):
    files = init_run("sandbox", tmp_path / "r")
    for variable, value in source_run_sh(files["run.sh"]).items():
        if variable.startswith("AFRAME_"):
            monkeypatch.setenv(variable, value)
    with pytest.raises(UserError, match=r"\[condor\] accounting_group: must be set for site 'ldg'"):
        load_config(files["run.ini"])
    assert load_config(files["run.ini"], ["condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe"])


def test_s3_bucket_puts_training_on_s3_and_kubernetes(tmp_path, monkeypatch):
    files = init_run("sandbox", tmp_path / "r", s3_bucket="s3://aframe-bucket/runs/one/")
    env = source_run_sh(files["run.sh"])
    assert env["AFRAME_TRAIN_DATA_DIR"] == "s3://aframe-bucket/runs/one/data/train"
    assert env["AFRAME_TRAIN_RUN_DIR"] == "s3://aframe-bucket/runs/one/training"
    assert env["AFRAME_TEST_DATA_DIR"] == f"{tmp_path}/r/data/test"
    for variable in VARIABLES:
        monkeypatch.setenv(variable, env[variable])
    overrides = ["condor.site=local", "kubernetes.image=ghcr.io/example/aframe:1"]
    config = load_config(files["run.ini"], overrides)
    assert config["train"]["remote"] == "kubernetes"
    assert config["s3"]["credentials_file"] == os.path.expanduser("~/.aws/credentials")


@pytest.mark.parametrize("bucket", ["aframe-bucket", "https://aframe-bucket", "s3://", "s3://UPPER/x"])
def test_bad_bucket_writes_nothing(tmp_path, bucket):
    with pytest.raises(UserError, match="--s3-bucket"):
        init_run("sandbox", tmp_path / "r", s3_bucket=bucket)
    assert not (tmp_path / "r").exists()


def test_refuses_to_overwrite_and_writes_nothing(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    (run / "train.yaml").write_text("my: edits\n")
    with pytest.raises(UserError, match=r"train.yaml already exist; nothing written"):
        init_run("sandbox", run)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt", "train.yaml"]
    assert (run / "train.yaml").read_text() == "my: edits\n"


def test_force_keeps_a_backup_of_each_replaced_file(tmp_path):
    run = tmp_path / "r"
    init_run("sandbox", run)
    (run / "run.ini").write_text("[run]\nname = edited\n")
    init_run("tune", run, force=True)
    init_run("tune", run, force=True)
    assert (run / "run.ini.~1~").read_text() == "[run]\nname = edited\n"
    assert (run / "run.ini.~2~").exists()
    assert "[tune]" in (run / "run.ini").read_text()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_directory_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        init_run("sandbox", tmp_path / "f")


def test_tiny_run_is_laptop_sized(tmp_path, monkeypatch):
    files = init_run("sandbox", tmp_path / "demo", site="local", device="cpu", tiny=True)
    for variable, value in source_run_sh(files["run.sh"]).items():
        if variable.startswith("AFRAME_"):
            monkeypatch.setenv(variable, value)
    config = load_config(files["run.ini"])
    assert config["data"]["test_stop"] - config["data"]["train_start"] < 12 * 3600
    assert config["waveforms"]["num_train"] == 2000
    assert config.train["model"]["layers"] == [1, 1]  # the tiny network that trains on a CPU in minutes
    assert max(config.stage(stage)["request_cpus"] for stage in ("train", "infer", "background")) <= 2
    assert "# What `aframe-dag init sandbox --tiny` changes" not in files["run.ini"].read_text()


def test_site_must_be_a_profile_and_nothing_is_written(tmp_path):
    with pytest.raises(UserError, match=r"--site 'lgd': no such site profile \(did you mean 'ldg'\?\); choose ldg, "):
        init_run("sandbox", tmp_path / "r", site="lgd")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("site, accounting", [("ldg", True), ("osg", True), ("local", False)])
def test_next_steps_ask_for_accounting_where_the_site_needs_it(tmp_path, site, accounting):
    files = init_run("sandbox", tmp_path / "r", site=site)
    steps = next_steps(files, site)
    assert steps[-2:] == [f"source {files['run.sh']}", f"aframe-dag build {files['run.ini']}"]
    assert steps[0].startswith(f"set [condor] accounting_group in {files['run.ini']}") == accounting


def test_a_pool_run_under_tmp_is_warned_of():
    """`build` refuses a submittable condor dir under /tmp (DAGMan's node log): init says so before the user builds."""
    under_tmp = {"run.ini": Path("/tmp/r/run.ini")}
    assert tmp_warning(under_tmp, "ldg").startswith("/tmp/r/condor is under /tmp, where DAGMan refuses")
    assert tmp_warning(under_tmp, "local") is None
    assert tmp_warning({"run.ini": Path("/home/me/r/run.ini")}, "ldg") is None

"""aframe-train end to end on tiny synthetic data: outputs, learning, resume after SIGKILL, exit 85, bad inputs."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from click.testing import CliRunner

from executables.common import trained as trained_for
from executables.train.train import main

from .conftest import IFOS, SAMPLE_RATE, TINY_CONFIG, cli_args, write_inputs


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def trained(tiny_inputs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = run(cli_args(tiny_inputs, run_dir))
    assert result.exit_code == 0, result.output
    return run_dir


def test_writes_every_output_and_model_runs_on_the_batch(trained):
    for name in ("model.pt", "last.ckpt", "best.ckpt", "batch.hdf5", "metrics.csv", "training.png"):
        assert (trained / name).is_file(), name
    with h5py.File(trained / "batch.hdf5", "r") as handle:
        X, y = torch.from_numpy(handle["X"][:]), torch.from_numpy(handle["y"][:])
    assert X.shape == (TINY_CONFIG["data"]["batch_size"], 2, 256) and y.shape == (X.shape[0], 1)
    extra = {trained_for.EXTRA_FILE: ""}
    model = torch.jit.load(str(trained / "model.pt"), _extra_files=extra)
    with torch.no_grad():
        assert model(X).shape == (X.shape[0], 1)
    assert trained_for.read_record(extra[trained_for.EXTRA_FILE]) == {
        "ifos": list(IFOS), "sample_rate": SAMPLE_RATE, "kernel_length": 1.0, "fduration": 0.5, "highpass": 16.0,
        "lowpass": None, "inference_sampling_rate": 4.0}


def test_short_fit_learns(trained):
    with open(trained / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(row["train_loss_epoch"]) for row in rows if row.get("train_loss_epoch")]
    aurocs = [float(row["valid_auroc"]) for row in rows if row.get("valid_auroc")]
    assert len(aurocs) == TINY_CONFIG["trainer"]["max_epochs"]
    assert losses[-1] < losses[0]
    assert aurocs[-1] > 0.6


def test_second_start_resumes_and_finishes_at_once(tiny_inputs, trained, tmp_path):
    before = weights(trained / "last.ckpt")
    result = run(cli_args(tiny_inputs, trained))
    assert result.exit_code == 0
    after = torch.load(trained / "last.ckpt", map_location="cpu", weights_only=False)
    assert after["global_step"] == 2 * TINY_CONFIG["data"]["batches_per_epoch"]
    assert all(torch.equal(before[key], after["state_dict"][key]) for key in before)


def test_killed_run_resumes_to_the_same_weights(tiny_inputs, trained, tmp_path):
    """SIGKILL mid-training (last.ckpt saved after every batch), restart: same step count and the same weights
    as the uninterrupted run (batches depend only on (seed, epoch, index), and the loop state is restored)."""
    run_dir = tmp_path / "run"
    args = cli_args(tiny_inputs, run_dir, **{"--checkpoint-minutes": "0.00001"})
    command = [sys.executable, "-c", "from executables.train.train import main; main()", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parents[3])
    deadline = time.monotonic() + 120
    try:
        while not (run_dir / "last.ckpt").exists():
            assert process.poll() is None, "training ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # at once: the tiny run may otherwise finish first
    finally:
        process.wait()
    assert not (run_dir / "model.pt").exists()
    killed_at = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert 0 < killed_at < 2 * TINY_CONFIG["data"]["batches_per_epoch"]
    result = run(cli_args(tiny_inputs, run_dir))
    assert result.exit_code == 0
    final = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    assert final["global_step"] == 2 * TINY_CONFIG["data"]["batches_per_epoch"]
    reference = weights(trained / "last.ckpt")
    for key, value in reference.items():
        assert torch.allclose(final["state_dict"][key], value, rtol=0, atol=1e-6), key


def test_max_wallclock_exits_85_then_completes(tiny_inputs, tmp_path):
    run_dir = tmp_path / "run"
    result = run(cli_args(tiny_inputs, run_dir, **{"--max-wallclock": "0"}))
    assert result.exit_code == 85
    assert (run_dir / "last.ckpt").is_file() and not (run_dir / "model.pt").exists()
    step = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert step == 1
    result = run(cli_args(tiny_inputs, run_dir))
    assert result.exit_code == 0 and (run_dir / "model.pt").is_file()
    with open(run_dir / "metrics.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("train_loss_step")]
    # every step after the requeue, none twice (Lightning logs a step after its callbacks, so the row of the step
    # that ended the first start is lost with it)
    assert steps == list(range(1, 2 * TINY_CONFIG["data"]["batches_per_epoch"]))


def test_checkpoints_of_another_config_are_kept_aside_and_training_starts_afresh(tiny_inputs, trained, tmp_path):
    """An edited train.yaml reruns the node on the old run dir: resuming would drag in the old epoch count and
    learning-rate schedule (Lightning refuses a OneCycle stepped past its end), so it starts afresh."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    config = tmp_path / "longer.yaml"
    longer = {**TINY_CONFIG, "trainer": {**TINY_CONFIG["trainer"], "max_epochs": 3, "patience": 3}}
    config.write_text(yaml.safe_dump(longer))
    result = run(cli_args(tiny_inputs, run_dir, **{"--config": str(config)}))
    assert result.exit_code == 0, result.output
    final = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    assert final["global_step"] == 3 * TINY_CONFIG["data"]["batches_per_epoch"]
    kept = sorted(path.name.split(".config-")[0] for path in run_dir.glob("*.config-*"))
    assert kept == ["best.ckpt", "last.ckpt", "logs"]


def test_corrupt_last_checkpoint_falls_back(tiny_inputs, trained, tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "best.ckpt").write_bytes((trained / "best.ckpt").read_bytes())
    (run_dir / "last.ckpt").write_bytes(b"torn write")
    result = run(cli_args(tiny_inputs, run_dir))
    assert result.exit_code == 0
    assert list(run_dir.glob("last.ckpt.corrupt-*"))
    assert (run_dir / "model.pt").is_file()


@pytest.fixture
def bad_inputs(tmp_path):
    return write_inputs(tmp_path / "inputs", background_seconds=6.0, count=4)


@pytest.mark.parametrize("case", ["no-background", "rate-flag", "ifo", "short-background", "missing-waveforms",
                                  "corrupt-waveforms", "shared-key", "cuda"])
def test_bad_input_exits_2(tiny_inputs, bad_inputs, tmp_path, case):
    override: dict[str, str | None] = {}
    if case == "no-background":
        override["--background"] = None
    elif case == "rate-flag":
        override["--sample-rate"] = "512"
    elif case == "ifo":
        override["--ifos"] = "H1,V1"
    elif case == "short-background":
        override["--background"] = str(bad_inputs["background"])
    elif case == "missing-waveforms":
        override["--waveforms"] = str(tmp_path / "absent.hdf5")
    elif case == "corrupt-waveforms":
        corrupt = tmp_path / "corrupt.hdf5"
        corrupt.write_bytes(b"not hdf5 at all")
        override["--waveforms"] = str(corrupt)
    elif case == "shared-key":
        config = tmp_path / "train.yaml"
        config.write_text(yaml.safe_dump({**TINY_CONFIG, "data": {**TINY_CONFIG["data"], "sample_rate": 256}}))
        override["--config"] = str(config)
    elif case == "cuda":
        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
        override["--device"] = "cuda"
    result = run(cli_args(tiny_inputs, tmp_path / "run", **override))
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "run" / "model.pt").exists()



"""aframe-infer (issue 10): timeslid branches -> whitened windows -> model -> integrated, clustered events."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from executables.formats.events import read_node_events
from executables.infer.infer import main
from executables.infer.outputs import cluster, integrate
from executables.infer.stream import Geometry, Settings
from tests.executables.infer.infer_inputs import (
    CLUSTER,
    IFOS,
    INTEGRATION,
    KERNEL,
    MODEL,
    PSD_LENGTH,
    RATE,
    SHIFTS,
    T0,
    bundle_arguments,
    livetime,
    make_bundle,
    write_file,
    write_repository,
)

pytestmark = pytest.mark.usefixtures("restore_logging")

INFER = str(Path(sys.executable).with_name("aframe-infer"))


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("infer"))


@pytest.fixture(scope="module")
def events(bundle):
    output = bundle["root"] / "events" / "infer-0000.hdf5"
    result = run(bundle_arguments(bundle, output))
    assert result.exit_code == 0, result.output
    return read_node_events(output), output


def test_loud_injections_are_recovered_at_their_time(events, bundle):
    found, _ = events
    foreground = found.foreground
    rows = bundle["rows"]
    assert len(foreground) == len(rows)
    np.testing.assert_array_equal(foreground.injection_time, rows.injection_time)
    np.testing.assert_array_equal(foreground.shift, rows.shift)
    np.testing.assert_array_equal(foreground.parameters["mass_1"], rows.parameters["mass_1"])
    # the integrated output peaks where the boxcar of kernels is centred on the signal: within the integration window
    assert np.all(np.abs(foreground.detection_time - foreground.injection_time) <= INTEGRATION)
    # loud signals stand far above every background event of the same data
    assert foreground.detection_statistic.min() > found.background.detection_statistic.max() + 1.0


def test_zero_lag_and_shifted_branches_are_booked_apart(events, bundle):
    found, _ = events
    labels = [(b.label, b.shift, b.background, b.injections) for b in found.branches]
    assert labels == [(f"{T0}-64:0", 0, False, 0), (f"{T0}-64:1", 1, True, 3), (f"{T0}-64:2", 2, True, 3),
                      (f"{T0 + 64}-64:1", 1, True, 0)]
    assert found.zero_lag.Tb == livetime(64, 0) == 64 - PSD_LENGTH
    assert found.background.Tb == pytest.approx(bundle["livetime"], abs=0)
    assert np.all(found.zero_lag.shift == 0)
    shifts = {tuple(row) for row in found.background.shift}
    assert shifts == {(0.0, 1.0), (0.0, 2.0)}
    # every event lies in its file's analysed span (a little before it: the first kernels start in the dead time)
    times = found.background.detection_time
    assert np.all((times > T0 + PSD_LENGTH - 2) & (times < T0 + 128))
    # clustering: events of one branch are more than half a cluster window apart
    for shift in ((0.0, 1.0), (0.0, 2.0)):
        chosen = np.sort(times[np.all(found.background.shift == shift, axis=1) & (times < T0 + 64)])
        assert np.all(np.diff(chosen) > CLUSTER / 2)


def test_rerun_writes_the_same_events(events, bundle, tmp_path):
    found, first = events
    again = tmp_path / "again.hdf5"
    assert run(bundle_arguments(bundle, again)).exit_code == 0
    assert again.read_bytes() == first.read_bytes()


def test_killed_mid_bundle_leaves_nothing_and_a_rerun_matches(events, bundle, tmp_path):
    _, reference = events
    output = tmp_path / "events" / "infer-0000.hdf5"
    command = [INFER, *bundle_arguments(bundle, output)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "branch 2 of 4" in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(60)
    assert process.returncode == -signal.SIGKILL
    assert not output.exists()
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert output.read_bytes() == reference.read_bytes()
    assert [p.name for p in output.parent.iterdir()] == [output.name]


def test_livetime_other_than_the_plan_exits_2(bundle, tmp_path):
    result = run(bundle_arguments(bundle, tmp_path / "out.hdf5", expected_livetime=bundle["livetime"] + 1))
    assert result.exit_code == 2
    assert "expected-livetime" in result.output
    assert not (tmp_path / "out.hdf5").exists()


def test_injections_other_than_the_plan_exit_2(bundle, tmp_path):
    result = run(bundle_arguments(bundle, tmp_path / "out.hdf5", expected_injections=bundle["count"] - 1))
    assert result.exit_code == 2
    assert "injections.hdf5" in result.output and "expected-injections" in result.output


def test_a_last_block_of_warm_up_outputs_reads_no_further_than_the_file(bundle, tmp_path):
    """40 s at shift 1 with 1.5 s integration: the last block starts after the last analysed output, where its PSD
    used to end past the data (and, one shift later, past the file)."""
    path = write_file(tmp_path, T0 + 1000, 40, seed=3)
    args = bundle_arguments(bundle, tmp_path / "out.hdf5", branches=[(1, path)], expected_livetime=livetime(40, 1),
                            expected_injections=0)
    args[args.index("--integration-length") + 1] = "1.5"
    result = run(args)
    assert result.exit_code == 0, result.output
    assert read_node_events(tmp_path / "out.hdf5").background.Tb == livetime(40, 1)


def test_short_file_exits_2_naming_it(bundle, tmp_path):
    short = write_file(tmp_path, T0 + 128, 64, seed=3, held=60)
    result = run(bundle_arguments(bundle, tmp_path / "out.hdf5", branches=[(1, short)],
                                  expected_livetime=livetime(64, 1), expected_injections=0))
    assert result.exit_code == 2
    assert str(short) in result.output and "duration 64.0 contradicts" in result.output
    assert "15360 samples = 60.0 s" in result.output


def test_wrong_model_shape_exits_2(bundle, tmp_path):
    repository = write_repository(tmp_path / "repo", kernel=128)
    args = bundle_arguments(bundle, tmp_path / "out.hdf5")
    args[args.index("--repository") + 1] = str(repository)
    result = run(args)
    assert result.exit_code == 2
    assert "[2, 128]" in result.output and "[2, 256]" in result.output


def test_missing_model_version_exits_2(bundle, tmp_path):
    repository = write_repository(tmp_path / "repo")
    shutil.rmtree(repository / MODEL / "1")
    args = bundle_arguments(bundle, tmp_path / "out.hdf5")
    args[args.index("--repository") + 1] = str(repository)
    result = run(args)
    assert result.exit_code == 2
    assert "model version 1 missing" in result.output


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_exits_2(bundle, tmp_path):
    args = bundle_arguments(bundle, tmp_path / "out.hdf5")
    args[args.index("--device") + 1] = "cuda"
    result = run(args)
    assert result.exit_code == 2
    assert "CUDA" in result.output


def test_torch_backend_finds_the_same_events(events, bundle, tmp_path):
    """model.pt and model.onnx compute the same logits to float32 round-off (1e-5 relative is ample)."""
    found, _ = events
    output = tmp_path / "torch.hdf5"
    args = bundle_arguments(bundle, output)
    args[args.index("--server") + 1] = "torch"
    assert run(args).exit_code == 0
    other = read_node_events(output)
    np.testing.assert_allclose(other.background.detection_statistic, found.background.detection_statistic,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(other.background.detection_time, found.background.detection_time)
    np.testing.assert_allclose(other.foreground.detection_statistic, found.foreground.detection_statistic,
                               rtol=1e-5, atol=1e-6)


def test_onnxruntime_runs_on_the_node_s_cpus(bundle, monkeypatch):
    from executables.infer.backends import OnnxBackend
    from executables.repository.contract import ModelShape

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what the plan sets for request_cpus = 1
    backend = OnnxBackend(bundle["repository"], MODEL, ModelShape(len(IFOS), round(KERNEL * RATE)), "cpu")
    assert backend.session.get_session_options().intra_op_num_threads == 1


def test_cluster_keeps_the_loudest_within_the_window():
    values = np.array([0.0, 5.0, 4.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 6.0, 6.0])
    assert cluster(values, 2).tolist() == [1, 5, 9]
    assert cluster(np.zeros(5), 1).tolist() == [0, 2, 4]


def test_integrate_is_a_boxcar_mean():
    raw = np.arange(6, dtype=np.float32)
    np.testing.assert_allclose(integrate(raw, 3), [1, 2, 3, 4])
    assert np.isnan(integrate(np.array([1.0, np.nan, 1.0, 1.0]), 2)[:2]).all()


def test_block_is_whole_batches_of_about_the_psd_length():
    settings = Settings(IFOS, 2048, 32, None, 1, 1.5, 4, SHIFTS, 128, 64, 2, 1.5, 8)
    geometry = Geometry.of(settings)
    assert (geometry.kernel, geometry.pad, geometry.stride, geometry.integration, geometry.block) == \
        (3072, 1024, 512, 6, 256)
    with pytest.raises(ValueError, match="inference_sampling_rate"):
        Geometry.of(Settings(IFOS, 2048, 32, None, 1, 1.5, 3, SHIFTS, 128, 64, 2, 1.5, 8))


@pytest.mark.parametrize(("option", "value", "hint"), [("--psd-length", "2", "--psd-length"),
                                                       ("--fftlength", "16", "--fftlength")])
def test_psd_settings_that_cannot_work_exit_2(bundle, tmp_path, option, value, hint):
    args = bundle_arguments(bundle, tmp_path / "out.hdf5")
    args[args.index(option) + 1] = value
    result = run(args)
    assert result.exit_code == 2 and hint in result.output

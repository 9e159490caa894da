"""`init --from-aframe config.yaml`: aframe's Snakemake pipeline config becomes run.ini/train.yaml; what cannot map is
reported, and a value we refuse is an error that names the file and key.

CONFIG_YAML has the layout and key names of ML4GW/aframe's `pipeline/config/config.yaml` (the Snakemake pipeline's
defaults, which a run directory's config.yaml overrides) with the spans and counts of its `pipeline/config/small.yaml`
preset, so the run it maps to plans in a second.
"""

import pytest
import yaml

from aframe_dag.config import load_config
from aframe_dag.config.schema import DATA
from aframe_dag.errors import UserError
from aframe_dag.init.from_aframe import translate
from aframe_dag.init.init import run_directories

from .commands import aframe_dag, assert_user_error, not_mapped
from .test_from_aframe import TRAIN_YAML as LAW_TRAIN_YAML

CONFIG_YAML = """\
# --- Output directories ---
run_dir: /home/albert.einstein/aframe/small
# background_dir: /path/to/other_run/data

# --- Interferometers ---
ifos:
  - H1
  - L1
channels:
  - H1
  - L1

# --- GPS time ranges ---
train_start: 1250917000
train_end: 1250925192
test_start: 1250925192
test_end: 1250933384

# --- Segment query ---
flags:
  - H1_DATA
  - L1_DATA
segment_server: https://segments.igwn.org
train_min_duration: 1024.0  # minimum train segment length (seconds)
test_min_duration: 128.0
max_duration: 2048.0
sample_rate: 2048.0

# --- Waveform generation ---
prior: &prior priors.priors.end_o3_ratesandpops
minimum_frequency: 20.0
reference_frequency: 50.0
waveform_duration: 8.0
waveform_approximant: IMRPhenomPv2
right_pad: 2.0
seed: 1122

# --- Training waveforms ---
num_training_signals: 2000
pregenerate_training_waveforms: true
num_train_waveform_jobs: 2

# --- Testing / validation waveforms ---
num_testing_signals: 500
num_validation_signals: 500
shift_steps:
  - 0.0
  - 1.0
jitter: 1.0
spacing: 16.0
buffer: 16.0
highpass: 32.0
lowpass: null
snr_threshold: 4.0
max_num_samples: 3000
num_validation_jobs: 2

# --- Training ---
train_config: TRAIN_CONFIG
remote_train: false

# --- Export & inference ---
analysis_type: hdf5
inference_mode: triton
inference_backend: export
branches_per_job: 2
psd_length: 64.0
kernel_length: 1.5
fduration: 1.0
fftlength: null
inference_sampling_rate: 4.0
inference_batch_size: 128
integration_window_length: 1.5
cluster_window_length: 8.0
Tb: 20000.0
zero_lag: true
return_timeseries: false
triton_image: /cvmfs/images/tritonserver_25.06.sif
streams_per_gpu: 6
triton_idle_timeout: 1200
rate_per_gpu: 70.0

# --- Plots ---
mass_combos:
  - [35, 35]
  - [35, 20]
  - [20, 20]
  - [20, 10]
source_prior: *prior
dt: null
vetos: []

# --- Containers ---
container_source: local
osdf_staging_dir: null

# --- Rule placement ---
gpu_rules_local: true
aggregate_rules_local: true

# --- Resources ---
resources:
  fetch_background: {mem_mb: 6144, runtime: 480}
  testing_waveforms_branch: {mem_mb: 8192, runtime: 60}
  aggregate_testing_waveforms: {mem_mb: 2048, runtime: 10}
  val_waveforms_branch: {mem_mb: 6144}
  aggregate_val_waveforms: {mem_mb: 2048}
  train: {mem_mb: 32000, runtime: 2880}
  compile_model: {mem_mb: 32000, runtime: 10}
  infer_group: {mem_mb: 8192}
  sensitive_volume: {mem_mb: 16384}

# --- GPUs ---
train_partition: gpuA40x4
train_gpus: auto
train_num_gpus: 2
inference_partition: gpuA40x4
inference_gpus: auto
inference_num_gpus: 1
gpu_min_capability: 7.0
gpu_min_memory_mb: 20000
aoti_gpu_capability: 8.6
epnfs: true
"""

# aframe's LightningCLI train config (the law tests' copy), with the fftlength the config.yaml's overrides.
TRAIN_YAML = LAW_TRAIN_YAML.replace("batch_size: 256", "batch_size: 256\n    fftlength: 4")

# The keys of CONFIG_YAML that init reports (one line each), with the word that says why.
UNMAPPED = {
    "run_dir": "--directory", "segment_server": "DEFAULT_SEGMENT_SERVER", "num_train_waveform_jobs": "per_node",
    "jitter": "no equivalent", "max_num_samples": "no equivalent", "num_validation_jobs": "per_node",
    "branches_per_job": "seconds_per_node", "zero_lag": "unblind", "streams_per_gpu": "one model per infer node",
    "triton_idle_timeout": "stops it", "inference_backend": "inference_mode: inprocess",
    "rate_per_gpu": "one model per infer node",
    "container_source": "container_image", "osdf_staging_dir": "container_image",
    "gpu_rules_local": "aframe-dag run", "aggregate_rules_local": "aframe-dag run",
    "resources.fetch_background.runtime": "wall-time", "resources.testing_waveforms_branch.runtime": "wall-time",
    "resources.aggregate_testing_waveforms.runtime": "wall-time", "resources.train.runtime": "wall-time",
    "resources.compile_model": "aotinductor", "train_partition": "Slurm", "inference_partition": "Slurm",
    "inference_num_gpus": "[stage:infer] request_gpus", "gpu_min_capability": "[condor] requirements",
    "aoti_gpu_capability": "aotinductor", "data.init_args.chunk_size": "no equivalent",
}


@pytest.fixture
def aframe_run(tmp_path):
    """A run directory as `aframe-init snakemake` leaves it: config.yaml, and the train config it names."""
    (tmp_path / "train.yaml").write_text(TRAIN_YAML)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG_YAML.replace("TRAIN_CONFIG", str(tmp_path / "train.yaml")))
    return config


def write_config(tmp_path, text: str, name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_yaml_maps_onto_a_run_that_builds(aframe_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    result = aframe_dag("init", "--from-aframe", aframe_run, "--directory", run, "--site", "local")
    assert result.returncode == 0, result.stderr
    for variable, value in run_directories(run, None).items():
        monkeypatch.setenv(variable, value)
    config = load_config(run / "run.ini")
    data, waveforms, testing, infer = config["data"], config["waveforms"], config["testing"], config["infer"]
    assert data["ifos"] == ("H1", "L1") and data["source"] == "gwosc"
    assert data["flag"] == DATA["flag"].type.parse("DATA")
    assert (data["train_start"], data["train_stop"], data["test_stop"]) == (1250917000, 1250925192, 1250933384)
    assert (data["min_train_segment_length"], data["min_test_segment_length"], data["max_segment_length"]) == (
        1024, 128, 2048)
    assert data["lowpass"] is None and data["highpass"] == 32
    assert (waveforms["num_train"], waveforms["num_val"], waveforms["prior"]) == (2000, 500, "end_o3_ratesandpops")
    assert waveforms["snr_threshold"] == testing["snr_threshold"] == 4  # one aframe key for both
    assert (testing["num_injections"], testing["Tb"], testing["shifts"]) == (500, 20000, (0, 1))
    assert (infer["server"], infer["triton_image"]) == ("triton", "/cvmfs/images/tritonserver_25.06.sif")
    assert infer["fftlength"] == 2.5  # null: kernel_length + fduration, as aframe computes it
    assert infer["integration_length"] == 1.5 and infer["cluster_length"] == 8
    assert config["sv"]["mass_combos"] == ((35, 35), (35, 20), (20, 20), (20, 10))
    assert config["condor"]["requirements"] == "TARGET.EPNFS =?= True"
    assert config.stage("background")["request_memory"] == 6144 and config.stage("merge")["request_memory"] == 2048
    assert config.stage("train")["request_memory"] == 32000 and config.stage("train")["request_gpus"] == 2
    assert config.stage("infer")["gpus_minimum_memory"] == 20000 and config.stage("sv")["request_memory"] == 16384
    train = yaml.safe_load((run / "train.yaml").read_text())
    assert train["model"]["layers"] == [2, 2, 2] and train["data"]["batch_size"] == 256
    assert train["data"]["fftlength"] is None  # the config's fftlength overrides its train config's, as in aframe
    unmapped = not_mapped(result)
    assert len(unmapped) == len(UNMAPPED), unmapped
    for key, why in UNMAPPED.items():
        lines = [line for line in unmapped if f": {key} = " in line]
        assert len(lines) == 1 and why in lines[0], (key, lines)

    segments = write_config(tmp_path, "1250917000 1250933384\n", "segments.txt")
    built = aframe_dag("build", run / "run.ini", "--segments", segments, "--dry-run")
    assert built.returncode == 0, built.stderr
    assert "dry run: nothing written" in built.stdout and not (run / "condor").exists()


def test_a_stub_keeps_the_shipped_values_and_train_yaml(tmp_path):
    """A run's config.yaml gives only what it changes (aframe-init snakemake writes a stub); aframe's default channels
    are open data."""
    stub = write_config(tmp_path, "Tb: 2592000.0\nnum_testing_signals: 100000\nintegration_window_length: 1.0\n")
    translation = translate(stub)
    assert translation.run_ini == {("data", "source"): "gwosc", ("testing", "Tb"): "2592000",
                                   ("testing", "num_injections"): "100000", ("infer", "integration_length"): "1"}
    assert translation.train == {} and translation.unmapped == []


@pytest.mark.parametrize("mode, backend, server, reported", [
    ("inprocess", "export", "torch", False),
    ("inprocess", "compile", "torch", False),
    ("inprocess", "aoti", "aotinductor", False),
    ("triton", "aoti", "triton", True),  # aframe ignores the backend of triton inference
])
def test_inference_mode_and_backend_choose_the_server(tmp_path, mode, backend, server, reported):
    config = write_config(tmp_path, f"inference_mode: {mode}\ninference_backend: {backend}\n")
    translation = translate(config)
    assert translation.run_ini[("infer", "server")] == server
    assert [": inference_backend = " in line for line in translation.unmapped] == ([True] if reported else [])


def test_frame_channels_and_dqsegdb_flags(tmp_path):
    text = ("ifos: [H1, V1]\nchannels: [H1:GDS-CALIB_STRAIN, V1:Hrec_hoft_16384Hz]\n"
            "flags: [V1:ITF_SCIENCE:1, H1:DMT-ANALYSIS_READY:1]\n")
    translation = translate(write_config(tmp_path, text))
    assert translation.run_ini[("data", "source")] == "frames"
    assert translation.run_ini[("data", "channels")] == "H1:GDS-CALIB_STRAIN, V1:Hrec_hoft_16384Hz"
    assert translation.run_ini[("data", "flag")] == "DMT-ANALYSIS_READY:1, ITF_SCIENCE:1"  # in [data] ifos order
    assert [line.split(": ", 2)[1] for line in translation.unmapped] == ["channels"]  # set [data] frame_type
    assert "frame_type" in translation.unmapped[0]


@pytest.mark.parametrize("text, key, why", [
    ("flags: [H1_DATA]\n", "flags", "each ifo of [data] ifos"),  # L1 has no flag
    ("flags: [DATA, L1_DATA]\n", "flags", "IFO_NAME or IFO:NAME"),
    ("flags: [H1:DMT-ANALYSIS_READY:1, L1:DMT-ANALYSIS_READY:1]\n", "flags", "GWOSC (IFO_NAME)"),  # open data
    ("channels: [H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN]\nflags: [H1_DATA, L1_DATA]\n", "flags", "DQSegDB"),
    ("train_end: 1250925192\ntest_start: 1250926000\n", "test_start", "[data] train_stop"),
    ("max_duration: -1\n", "max_duration", "always splits"),
    ("triton_image: tritonserver_25.06.sif\n", "triton_image", "AFRAME_CONTAINER_ROOT"),
    ("train_config: projects/train/train.yaml\n", "train_config", "--train-yaml"),
    ("vetos: [CAT1, GATES]\n", "vetos", "[testing] vetoes"),
    ("gpu_min_memory_mb: null\n", "gpu_min_memory_mb", "no minimum"),
    ("train_gpus: '2,3'\n", "train_gpus", "request_gpus"),
    ("remote_train: true\n", "remote_train", "--s3-bucket"),
])
def test_what_has_no_equivalent_is_reported(tmp_path, monkeypatch, text, key, why):
    monkeypatch.delenv("AFRAME_CONTAINER_ROOT", raising=False)
    translation = translate(write_config(tmp_path, text))
    lines = [line for line in translation.unmapped if f": {key} = " in line]
    assert len(lines) == 1 and why in lines[0], translation.unmapped


def test_triton_image_is_found_under_the_container_root(tmp_path, monkeypatch):
    monkeypatch.setenv("AFRAME_CONTAINER_ROOT", "/home/albert.einstein/images")
    translation = translate(write_config(tmp_path, "triton_image: tritonserver_25.06.sif\n"))
    assert translation.run_ini[("infer", "triton_image")] == "/home/albert.einstein/images/tritonserver_25.06.sif"


def test_train_yaml_option_wins_over_train_config(aframe_run, tmp_path):
    other = write_config(tmp_path, TRAIN_YAML.replace("batch_size: 256", "batch_size: 128"), "other.yaml")
    translation = translate(aframe_run, other)
    assert translation.train_source == other and translation.train["data.batch_size"] == 128
    assert not any(": train_config = " in line for line in translation.unmapped)


def test_a_yaml_file_is_told_from_a_cfg_by_its_content(tmp_path):
    config = write_config(tmp_path, "# my aframe run\nifos: [H1, L1]\ntest_end: 1250933384\n", "aframe-run")
    run_ini = translate(config).run_ini
    assert (run_ini[("data", "ifos")], run_ini[("data", "test_stop")]) == ("H1, L1", "1250933384")


@pytest.mark.parametrize("mangle, words", [
    (lambda text: text.replace("ifos:\n", "ifos: [H1\n", 1), ["config.yaml", "line", "not valid YAML"]),
    (lambda text: "- H1\n- L1\n", ["config.yaml", "not an aframe Snakemake config"]),
    (lambda text: text.replace("sample_rate: 2048.0", "sample_rate: fast"), ["config.yaml: sample_rate",
                                                                            "[data] sample_rate"]),
    (lambda text: text.replace("{mem_mb: 32000, runtime: 2880}", "{mem_mb: lots}"), [
        "config.yaml: resources.train.mem_mb", "[stage:train] request_memory"]),
    (lambda text: text.replace("  infer_group: {mem_mb: 8192}", "  infer_group: 8192"), [
        "config.yaml: resources.infer_group", "expected {mem_mb"]),
    (lambda text: text.replace("inference_mode: triton", "inference_mode: fast"), ["config.yaml: inference_mode",
                                                                                  "triton or inprocess"]),
    (lambda text: text.replace("ifos:\n  - H1\n  - L1", "ifos: H1"), ["config.yaml: ifos", "expected a list"]),
    (lambda text: text.replace("Tb: 20000.0", "Tb: -5"), ["config.yaml: Tb", "[testing] Tb"]),
])
def test_a_malformed_config_is_named_and_nothing_is_written(aframe_run, tmp_path, mangle, words):
    aframe_run.write_text(mangle(aframe_run.read_text()))
    result = aframe_dag("init", "--from-aframe", aframe_run, "--directory", tmp_path / "run")
    assert_user_error(result, *words)
    assert not (tmp_path / "run").exists()


def test_a_missing_config_is_named(tmp_path):
    with pytest.raises(UserError, match=r"--from-aframe .*absent.yaml: cannot read"):
        translate(tmp_path / "absent.yaml")

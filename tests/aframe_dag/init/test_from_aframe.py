"""`init --from-aframe`: an aframe law .cfg and train.yaml become run.ini/train.yaml; what cannot map is reported.

The aframe files below are cut down from upstream ML4GW/aframe @6a45a6e: `aframe/pipelines/sandbox/configs/base.cfg`
(its [luigi_base], [luigi_FetchTrain], [luigi_TestingWaveforms], [luigi_SandboxInfer], [luigi_SandboxSV] keys and
values), `aframe/pipelines/sandbox/configs/bbh.cfg` (`[core] inherit = $AFRAME_REPO/...`, [luigi_Train]) and
`projects/train/configs/bbh.yaml` (the LightningCLI model/data/trainer tree).
"""

import pytest
import yaml

from aframe_dag.config import load_config
from aframe_dag.config.schema import DATA
from aframe_dag.init.init import run_directories

from .commands import aframe_dag, assert_user_error, not_mapped

BASE_CFG = """\
# luigi level config
[luigi_core]
local_scheduler = true
module = aframe

[luigi_base]
ifos = ["H1", "L1"]
train_start = 1240579783
train_stop = 1241443783
test_stop = 1244035783
max_duration = 20000
Tb = 31536000
flag = DATA
channels =  &::ifos
shifts = [0, 1]
seed = 1122
streams_per_gpu = 6
waveform_approximant = IMRPhenomPv2
waveform_duration = 8
minimum_frequency = 20
reference_frequency = 50
right_pad = 2
kernel_length = 1.5
batch_size = 512
prior = priors.priors.end_o3_ratesandpops
fftlength =
sample_rate = 2048
fduration = 1
highpass = 32
lowpass =
inference_psd_length = 64
inference_sampling_rate = 4
inference_batch_size = 128

[luigi_FetchTrain]
workflow = htcondor
start = &::luigi_base::train_start
min_duration = 1024
request_memory = 16GB

[luigi_TestingWaveforms]
num_signals = 500_000
shifts = &::luigi_base::shifts
spacing = 16
buffer = 16
snr_threshold = 4

[luigi_SandboxInfer]
cluster_window_length = 8
integration_window_length = 1.5
Tb = &::luigi_base::Tb
rate_per_gpu = 70
triton_image = hermes/tritonserver:23.01

[luigi_SandboxSV]
mass_combos =  [[35, 35], [35, 20], [20, 20], [20,10]]
source_prior = &::luigi_base::prior
"""

BBH_CFG = """\
[core]
# this needs to be an absolute path
inherit = $AFRAME_REPO/aframe/pipelines/sandbox/configs/base.cfg

[luigi_base]
kernel_length = 1.25

[luigi_Train]
ifos = &::luigi_base::ifos
use_wandb = true
"""

TRAIN_YAML = """\
model:
  class_path: train.model.SupervisedAframe
  init_args:
    arch:
      class_path: architectures.supervised.SupervisedTimeDomainResNet
      init_args:
        layers: [2, 2, 2]
        norm_layer:
          class_path: ml4gw.nn.norm.GroupNorm1DGetter
          init_args:
            groups: 8
    metric:
      class_path: train.metrics.TimeSlideAUROC
      init_args:
        max_fpr: 1e-3
        pool_length: 8
    learning_rate: 0.000585
data:
  class_path: train.data.supervised.TimeDomainSupervisedAframeDataset
  init_args:
    batches_per_epoch: 150
    chunk_size: 10000
    batch_size: 256
    snr_sampler:
      class_path: ml4gw.distributions.PowerLaw
      init_args:
        minimum: 6
        maximum: 100
        index: -3
    valid_livetime: 57600
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.EarlyStopping
      init_args:
        monitor: "valid_auroc"
        mode: "max"
        patience: null
  max_epochs: 120
"""


@pytest.fixture
def aframe_repo(tmp_path, monkeypatch):
    """aframe's layout: configs under aframe/pipelines/sandbox/configs, AFRAME_REPO set as aframe's docs say."""
    configs = tmp_path / "aframe" / "aframe" / "pipelines" / "sandbox" / "configs"
    configs.mkdir(parents=True)
    (configs / "base.cfg").write_text(BASE_CFG)
    (configs / "bbh.cfg").write_text(BBH_CFG)
    (tmp_path / "aframe" / "bbh.yaml").write_text(TRAIN_YAML)
    monkeypatch.setenv("AFRAME_REPO", str(tmp_path / "aframe"))
    return configs


def test_cfg_and_train_yaml_map_onto_a_loadable_run(aframe_repo, tmp_path, monkeypatch):
    run = tmp_path / "run"
    result = aframe_dag("init", "--from-aframe", aframe_repo / "bbh.cfg", "--train-yaml",
                        aframe_repo.parents[3] / "bbh.yaml", "--directory", run, "--site", "local")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in run.iterdir()) == ["run.ini", "run.sh", "train.yaml"]
    for variable, value in run_directories(run, None).items():
        monkeypatch.setenv(variable, value)
    config = load_config(run / "run.ini")
    data, testing = config["data"], config["testing"]
    assert data["ifos"] == ("H1", "L1") and data["source"] == "gwosc"
    assert data["flag"] == DATA["flag"].type.parse("DATA")
    assert (data["train_start"], data["train_stop"], data["test_stop"]) == (1240579783, 1241443783, 1244035783)
    assert data["kernel_length"] == 1.25  # bbh.cfg overrides what it inherits
    assert data["max_segment_length"] == 20000 and data["min_train_segment_length"] == 1024
    assert data["lowpass"] is None
    assert testing["Tb"] == 31536000 and testing["num_injections"] == 500000 and testing["shifts"] == (0, 1)
    assert config["waveforms"]["prior"] == config["sv"]["source_prior"] == "end_o3_ratesandpops"
    assert config["sv"]["mass_combos"] == ((35, 35), (35, 20), (20, 20), (20, 10))
    assert config["infer"]["integration_length"] == 1.5 and config["infer"]["psd_length"] == 64
    assert config.stage("background")["request_memory"] == 16 * 1024
    train = yaml.safe_load((run / "train.yaml").read_text())
    assert train["model"]["layers"] == [2, 2, 2] and train["model"]["norm_groups"] == 8
    assert train["data"]["batch_size"] == 256 and train["data"]["batches_per_epoch"] == 150
    assert train["data"]["snr"]["minimum"] == 6 and train["data"]["fftlength"] is None
    assert train["trainer"]["max_epochs"] == 120 and train["trainer"]["patience"] == 120  # null: never stop early
    assert train["optimizer"]["weight_decay"] == 0.0  # not in aframe's file: the shipped value stays
    unmapped = not_mapped(result)
    expected = {"[luigi_core] local_scheduler", "[luigi_core] module", "[luigi_base] streams_per_gpu",
                "[luigi_base] batch_size", "[luigi_FetchTrain] workflow", "[luigi_SandboxInfer] rate_per_gpu",
                "[luigi_SandboxInfer] triton_image", "[luigi_Train] use_wandb", "data.init_args.chunk_size"}
    assert len(unmapped) == len(expected), unmapped
    for key in expected:
        assert sum(key + " " in line or key + ":" in line for line in unmapped) == 1, key
    assert not any("&::" in line for line in unmapped)  # references are covered by the keys they name


def test_never_overwrites_and_writes_nothing_on_refusal(aframe_repo, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.ini").write_text("# mine\n")
    result = aframe_dag("init", "--from-aframe", aframe_repo / "base.cfg", "--directory", run)
    assert_user_error(result, "run.ini already exist", "nothing written")
    assert sorted(p.name for p in run.iterdir()) == ["run.ini"] and (run / "run.ini").read_text() == "# mine\n"


@pytest.mark.parametrize("mangle, words", [
    (lambda text: "ifos = H1\n" + text, ["base.cfg", "not an aframe (law) config"]),
    (lambda text: text.replace('ifos = ["H1", "L1"]', 'ifos = ["H1", "L1"'), ["base.cfg", "[luigi_base] ifos",
                                                                             "not a JSON list"]),
    (lambda text: text.replace("&::luigi_base::prior", "&::luigi_base::priors"), ["[luigi_SandboxSV] source_prior",
                                                                                  "does not exist"]),
    (lambda text: text.replace("sample_rate = 2048", "sample_rate = fast"), ["[luigi_base] sample_rate",
                                                                             "[data] sample_rate"]),
])
def test_a_malformed_cfg_is_named_and_nothing_is_written(aframe_repo, tmp_path, mangle, words):
    (aframe_repo / "base.cfg").write_text(mangle(BASE_CFG))
    result = aframe_dag("init", "--from-aframe", aframe_repo / "bbh.cfg", "--directory", tmp_path / "run")
    assert_user_error(result, *words)
    assert not (tmp_path / "run").exists()


def test_a_missing_parent_or_variable_is_named(aframe_repo, tmp_path, monkeypatch):
    monkeypatch.delenv("AFRAME_REPO")
    assert_user_error(aframe_dag("init", "--from-aframe", aframe_repo / "bbh.cfg", "--directory", tmp_path / "r"),
                      "bbh.cfg", "[core] inherit", "AFRAME_REPO is not set")
    (aframe_repo / "bbh.cfg").write_text(BBH_CFG.replace("$AFRAME_REPO/aframe/pipelines/sandbox/configs/", ""))
    (aframe_repo / "base.cfg").unlink()
    assert_user_error(aframe_dag("init", "--from-aframe", aframe_repo / "bbh.cfg", "--directory", tmp_path / "r"),
                      "base.cfg does not exist")
    assert not (tmp_path / "r").exists()


def test_a_malformed_train_yaml_is_named(aframe_repo, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    result = aframe_dag("init", "--from-aframe", aframe_repo / "base.cfg", "--train-yaml", bad,
                        "--directory", tmp_path / "run")
    assert_user_error(result, "bad.yaml", "not valid YAML")
    assert not (tmp_path / "run").exists()


def test_aframe_s_snr_curriculum_maps_onto_the_snr_schedule(aframe_repo, tmp_path):
    sampler = """      class_path: train.augmentations.SnrSampler
      init_args:
        max_min_snr: 12
        min_min_snr: 4
        max_snr: 100
        alpha: -3
        decay_steps: 989
"""
    power_law = TRAIN_YAML[TRAIN_YAML.index("      class_path: ml4gw.distributions.PowerLaw"):
                           TRAIN_YAML.index("    valid_livetime")]
    (aframe_repo.parents[3] / "bbh.yaml").write_text(TRAIN_YAML.replace(power_law, sampler))
    result = aframe_dag("init", "--from-aframe", aframe_repo / "base.cfg", "--train-yaml",
                        aframe_repo.parents[3] / "bbh.yaml", "--directory", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    snr = yaml.safe_load((tmp_path / "run" / "train.yaml").read_text())["data"]["snr"]
    assert snr == {"minimum": 4, "maximum": 100, "index": -3, "initial_minimum": 12, "decay_steps": 989}
    assert not any("snr_sampler" in line for line in not_mapped(result))


def test_frame_channels_select_the_frames_source(aframe_repo, tmp_path, monkeypatch):
    text = BASE_CFG.replace("channels =  &::ifos", 'channels = ["H1:GDS-CALIB_STRAIN", "L1:GDS-CALIB_STRAIN"]')
    (aframe_repo / "base.cfg").write_text(text)
    result = aframe_dag("init", "--from-aframe", aframe_repo / "base.cfg", "--directory", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "[luigi_base] channels: set [data] frame_type" in result.stdout
    ini = (tmp_path / "run" / "run.ini").read_text()
    assert "source = frames" in ini and "channels = H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN" in ini


def test_train_yaml_needs_from_aframe(tmp_path):
    result = aframe_dag("init", "sandbox", "--train-yaml", tmp_path / "x.yaml", "--directory", tmp_path / "run")
    assert result.returncode == 2 and "--train-yaml needs --from-aframe" in result.stderr

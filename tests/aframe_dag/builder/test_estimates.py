"""Build-time estimates: the network size model against torch, disk and hours from the plan, and where they appear."""

import pytest

from aframe_dag.builder import gpu_figures
from aframe_dag.builder.build import build
from aframe_dag.builder.estimates import CPU_STEP_SAMPLES_PER_S, FORWARD_SHARE, estimate, resnet1d
from aframe_dag.builder.report import build_report
from aframe_dag.config import load_config
from aframe_dag.names import RESOLVED
from aframe_dag.plan import plan


@pytest.mark.parametrize("layers, ifos, kernel_size, samples", [
    ((3, 4, 6, 3), 2, 3, 3072), ((1, 1), 2, 3, 3072), ((1, 2, 1), 3, 5, 1000),
])
def test_resnet_size_matches_the_network_aframe_train_builds(layers, ifos, kernel_size, samples):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    import executables.common.torchcompat  # noqa: F401  (before ml4gw)
    from executables.train.model import build_resnet, count_parameters

    model = build_resnet(ifos, layers, 16, kernel_size).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, ifos, samples))
    network = resnet1d(layers, ifos, samples, kernel_size)
    assert network.parameters == count_parameters(model)
    assert network.macs == counter.get_total_flops() // 2  # torch counts a multiply-accumulate as two FLOPs


def micro(micro_ini, overrides=()):
    config = load_config(micro_ini, list(overrides))
    return config, plan(config)


def test_disk_follows_the_plan_s_files(micro_ini, run_env):
    config, workflow = micro(micro_ini)
    disk = estimate(config, workflow).disk
    # the micro run: 1200 s of training and 1200 s of testing strain, 2 ifos at its sample rate, float32
    rate = config["data"]["sample_rate"]
    assert disk["train_data_dir"]["background"] == 1200 * rate * 2 * 4
    assert disk["test_data_dir"]["background"] == 1200 * rate * 2 * 4
    bigger = estimate(*micro(micro_ini, ["waveforms.num_train=1024"])).disk
    assert bigger["train_data_dir"]["waveforms"] == 2 * disk["train_data_dir"]["waveforms"]
    assert set(disk) == {"train_data_dir", "test_data_dir", "train_run_dir", "results_dir"}


def test_a_third_detector_adds_its_strain_and_passes_more_draws(micro_ini, run_env):
    """Issue 24: H1, L1 and V1 store 3/2 of the strain, and the network SNR of three ifos passes more draws."""
    two = estimate(*micro(micro_ini))
    three = estimate(*micro(micro_ini, ["data.ifos=H1, L1, V1", "testing.shifts=0, 1, 2"]))
    for directory in ("train_data_dir", "test_data_dir"):
        assert three.disk[directory]["background"] == 1.5 * two.disk[directory]["background"]
    accepted = {n: next(a for a in e.assumptions if "of injection draws pass" in a) for n, e in ((2, two), (3, three))}
    fraction = {n: float(text.split()[0]) for n, text in accepted.items()}
    assert fraction[3] == pytest.approx(fraction[2] * 1.5**1.5, rel=1e-2)
    assert "(3 ifos / 2)^1.5" in accepted[3] and "ifos / 2" not in accepted[2]
    # fewer rejected draws per accepted injection
    assert three.disk["test_data_dir"]["rejected"] < two.disk["test_data_dir"]["rejected"]


def test_hours_scale_with_epochs_and_follow_the_cpu_calibration(micro_ini, run_env):
    config, workflow = micro(micro_ini)
    estimates = estimate(config, workflow)
    epochs = config.train["trainer"]["max_epochs"]
    config.train["trainer"]["max_epochs"] = 2 * epochs
    assert estimate(config, workflow).hours["training"] == pytest.approx(2 * estimates.hours["training"])
    # device = cpu: the CPU step figure, scaled from its [1, 1] network to the micro network by forward MACs
    layers = config.train["model"]["layers"]
    samples = round(config["data"]["kernel_length"] * config["data"]["sample_rate"])
    rate = CPU_STEP_SAMPLES_PER_S * resnet1d((1, 1), 2, 3072).macs / resnet1d(layers, 2, samples).macs
    windows = estimates.hours["inference"] * 3600 * rate / FORWARD_SHARE
    assert windows / config["infer"]["sampling_rate"] > workflow.totals["livetime"]
    assert estimates.nodes == {stage: len(nodes) for stage, nodes in workflow.by_stage().items()}


def test_a_train_yaml_without_a_key_says_what_it_assumed(micro_ini, run_env):
    config, workflow = micro(micro_ini)
    del config.train["trainer"]["max_epochs"]
    assumptions = estimate(config, workflow).assumptions
    assert "train.yaml has no trainer.max_epochs: taken as 200 (aframe-train's default)" in assumptions


def test_build_prints_estimates_and_writes_them_as_comments(micro_ini, run_env):
    result = build(micro_ini)
    report = build_report(result, dry_run=False)
    assert "disk train_data_dir" in report and "hours on a 2-core CPU" in report
    resolved = (run_env / "condor" / RESOLVED).read_text()
    comments = resolved[resolved.index("# Estimates"):]
    assert all(line.startswith("#") for line in comments.splitlines())
    assert "# Assumptions:" in comments and "BENCHMARKS.md" in comments
    assert load_config(run_env / "condor" / RESOLVED)["run"]["name"] == "micro"
    assert build(run_env / "condor" / RESOLVED).written == []  # same estimates: byte-identical rebuild


def test_a_reused_model_costs_no_training(micro_ini, run_env):
    model = run_env / "model.pt"
    model.write_bytes(b"torchscript")
    config, workflow = micro(micro_ini, [f"train.model={model}"])
    estimates = estimate(config, workflow)
    assert estimates.hours["training"] == 0
    assert estimates.disk["train_data_dir"]["waveforms"] == estimates.disk["train_run_dir"]["checkpoints"] == 0



def test_gpu_estimates_say_not_measured_until_a_gpu_run_sets_the_figures(micro_ini, run_env, monkeypatch):
    """Issue 23: cuda estimates name their source; once MEASURED holds a GPU run's figures they use them."""
    config, workflow = micro(micro_ini, ["run.device=cuda"])
    before = estimate(config, workflow)
    assert "not measured" in before.lines()[-1] and "not measured" in before.comment()
    assert any("2,800 samples/s for the default network in fp32/TF32 (trainer.precision 32), not measured" in line
               for line in before.assumptions)

    card = "NVIDIA H100 80GB HBM3 (2026-12-08, benchmarks/gpu_check.py)"
    monkeypatch.setattr(gpu_figures, "MEASURED", gpu_figures.GpuFigures(card, 5600.0, 9200.0, 40000.0))
    after = estimate(config, workflow)
    assert card in after.lines()[-1] and "not measured" not in after.comment()
    assert after.hours["training"] == pytest.approx(before.hours["training"] / 2)
    network = resnet1d(config.train["model"]["layers"], 2,
                       round(config["data"]["kernel_length"] * config["data"]["sample_rate"]))
    windows = 40000.0 * 4 * resnet1d((3, 4, 6, 3), 2, 3072).macs / network.macs
    assert after.hours["inference"] * 3600 * windows / config["infer"]["sampling_rate"] > workflow.totals["livetime"]
    assert any(f"40,000 s of data per second at 4 Hz for the default network, {card}" in line
               for line in after.assumptions)


def test_gpu_training_hours_use_the_bf16_figure_when_training_runs_in_bf16(micro_ini, run_env):
    """trainer.precision auto (bf16 autocast on the GPUs the figures are of) takes the bf16 rate, 32 the fp32 one."""
    config, workflow = micro(micro_ini, ["run.device=cuda"])
    fp32 = estimate(config, workflow)
    del config.train["trainer"]["precision"]  # aframe-train's default, auto
    bf16 = estimate(config, workflow)
    assert bf16.hours["training"] == pytest.approx(fp32.hours["training"] * 2800 / 4600)
    assert "train.yaml has no trainer.precision: taken as auto (aframe-train's default)" in bf16.assumptions
    assert any("4,600 samples/s for the default network in bf16 (trainer.precision auto)" in line
               for line in bf16.assumptions)

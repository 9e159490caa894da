"""What a planned run will cost before it runs: disk per directory, nodes per stage, GPU-hours, with assumptions.

Every rate is calibrated from a figure in BENCHMARKS.md (cited where the constant is defined); every guess that is
not a measurement is spelled out in `Estimates.assumptions`, which `build` prints and writes into run.ini.resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config.train_schema import SETTINGS
from ..plan.model import Workflow
from .gpu_figures import REFERENCE, REFERENCE_RATE, gpu_figures

FLOAT32, FLOAT64 = 4, 8
# BENCHMARKS.md, "Training step" table: "aframe-train step / bare step | 0.79 (350 vs 441 samples/s)", measured on
# the 2-core CPU machine with ResNet1D layers [1, 1], batch 32, input 2 ifos x 3072 samples.
CPU_STEP_SAMPLES_PER_S = 350.0
CPU_REFERENCE = ((1, 1), 2, 3072)
# A training step is a forward and a backward pass; the backward pass costs about twice the forward.
FORWARD_SHARE = 1 / 3
# BENCHMARKS.md, "Data generation": "1.6 % accepted" (end_o3 prior, SNR >= 8, design aLIGO). A population uniform in
# volume has P(SNR > x) ~ x^-3, so the accepted fraction at another threshold scales as (8 / threshold)^3.
ACCEPTED_AT_SNR8 = 0.016
# That figure is H1 and L1's. The network SNR^2 sums the ifos', so with every ifo as sensitive as one of them a source's
# SNR grows as sqrt(ifos / 2) and the accepted fraction as (ifos / 2)^(3/2) (an upper bound for a less sensitive ifo).
ACCEPTED_REFERENCE_IFOS = 2
# Parameters stored per waveform or injection row (the end_o3_ratesandpops prior draws 17, plus the SNRs).
PARAMETERS_PER_ROW = 20
# Lightning checkpoints hold the weights and AdamW's two moment estimates: three copies of the parameters.
CHECKPOINT_COPIES = 3


@dataclass(frozen=True)
class Network:
    """Size and cost of ml4gw's ResNet1D as aframe-train builds it (BasicBlocks, GroupNorm, one output)."""

    parameters: int
    macs: int  # multiply-accumulates of one forward pass over one sample


def resnet1d(layers, num_ifos: int, samples: int, kernel_size: int = 3) -> Network:
    """Parameter count and forward MACs of ResNet1D(in_channels=num_ifos, layers, classes=1, kernel_size)."""
    length = math.ceil(samples / 2)  # stem: 7-tap conv, stride 2
    parameters, macs = num_ifos * 64 * 7 + 2 * 64, num_ifos * 64 * 7 * length
    length = math.ceil(length / 2)  # max pool, stride 2
    inplanes = 64
    for index, blocks in enumerate(layers):
        planes, stride = 64 * 2**index, 1 if index == 0 else 2
        for block in range(blocks):
            first = block == 0
            into = inplanes if first else planes
            out_length = math.ceil(length / stride) if first else length
            parameters += (into + planes) * planes * kernel_size + 4 * planes
            macs += (into + planes) * planes * kernel_size * out_length
            if first and (stride != 1 or inplanes != planes):
                parameters += inplanes * planes + 2 * planes
                macs += inplanes * planes * out_length
            length = out_length
        inplanes = planes
    return Network(parameters + inplanes + 1, macs + inplanes)


@dataclass
class Estimates:
    """Bytes per directory, nodes per stage, device-hours, and the assumptions behind them."""

    disk: dict[str, dict[str, float]]
    nodes: dict[str, int]
    hours: dict[str, float]
    device: str
    assumptions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The estimates as the build summary prints them."""
        unit = f"GPU-hours ({gpu_figures().source})" if self.device == "cuda" else "hours on a 2-core CPU"
        lines = ["estimates (see the assumptions in run.ini.resolved):"]
        for directory, items in self.disk.items():
            detail = ", ".join(f"{name} {_size(size)}" for name, size in items.items())
            lines.append(f"  disk {directory:<15} {_size(sum(items.values())):>9}  ({detail})")
        for name, hours in self.hours.items():
            lines.append(f"  {name:<20} {hours:>9.3g} {unit}")
        return lines

    def comment(self) -> str:
        """The estimates and their assumptions as comment lines for run.ini.resolved (loading ignores them)."""
        lines = ["", "# Estimates made by `aframe-dag build` (not settings: loading this file ignores them)."]
        lines += [f"# {line}" for line in self.lines()[1:]]
        lines.append("#   nodes per stage: " + ", ".join(f"{stage} {count}" for stage, count in self.nodes.items()))
        lines += ["# Assumptions:"] + [f"#   - {item}" for item in self.assumptions]
        return "\n".join(lines) + "\n"


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{size:.0f} B"
        size /= 1000
    raise AssertionError("unreachable")


def _train_value(config, dotted: str, assumptions: list[str]):
    tree = config.train
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            default = SETTINGS[dotted].default
            assumptions.append(f"train.yaml has no {dotted}: taken as {default} (aframe-train's default)")
            return default
        tree = tree[part]
    return tree


def _file_seconds(workflow: Workflow, kind: str) -> list[int]:
    """Durations of the background files of one kind, from their nodes' --duration arguments."""
    seconds = []
    for node in workflow.nodes:
        if node.name.startswith(f"background-{kind}-"):
            seconds.append(int(node.arguments[node.arguments.index("--duration") + 1]))
    return seconds


#: train.yaml precisions that train in bf16 on a GPU (`auto` does on Ampere and later, the GPUs the figures are of).
BF16_PRECISIONS = ("auto", "bf16", "bf16-mixed", "bf16-true")


def _rate(network: Network, device: str, precision) -> tuple[float, str]:
    """Training samples per second for this network, scaled by forward MACs from the benchmark's network."""
    figures = gpu_figures()
    bf16 = precision in BF16_PRECISIONS
    measured, (layers, ifos, samples) = (
        (figures.training_bf16_samples_per_s if bf16 else figures.training_samples_per_s, REFERENCE)
        if device == "cuda" else (CPU_STEP_SAMPLES_PER_S, CPU_REFERENCE))
    reference = resnet1d(layers, ifos, samples)
    rate = measured * reference.macs / network.macs
    source = (f"{measured:,.0f} samples/s for the default network in {'bf16' if bf16 else 'fp32/TF32'} "
              f"(trainer.precision {precision}), {figures.source}" if device == "cuda"
              else "BENCHMARKS.md's CPU step (350 samples/s, layers [1, 1], 2-core machine)")
    return rate, (f"training steps take {rate:.4g} samples/s: {source}, scaled by forward MACs per sample "
                  f"({reference.macs:.3g} there, {network.macs:.3g} here)")


def _windows_per_s(network: Network, step_rate: float, device: str) -> tuple[float, str]:
    """Network evaluations per second at inference: on a GPU the measured rate of the default network scaled by
    forward MACs; otherwise a third of a training step (backward costs twice the forward)."""
    figures = gpu_figures()
    if device != "cuda" or figures.inference_data_s_per_s is None:
        rate = step_rate / FORWARD_SHARE
        return rate, (f"inference evaluates {rate:.4g} windows/s: a forward pass is about a third of a training "
                      "step (backward costs twice the forward)" + (f"; GPU inference {figures.source}"
                                                                    if device == "cuda" else ""))
    reference = resnet1d(*REFERENCE)
    rate = figures.inference_data_s_per_s * REFERENCE_RATE * reference.macs / network.macs
    return rate, (f"inference evaluates {rate:.4g} windows/s: {figures.inference_data_s_per_s:,.0f} s of data per "
                  f"second at {REFERENCE_RATE:g} Hz for the default network, {figures.source}, scaled by forward "
                  "MACs per window")


def estimate(config, workflow: Workflow) -> Estimates:
    """Disk, nodes and device-hours of a planned run; numbers are estimates, the assumptions say how."""
    data, waveforms, testing, infer = config["data"], config["waveforms"], config["testing"], config["infer"]
    assumptions: list[str] = []
    ifos, rate = len(data["ifos"]), data["sample_rate"]
    samples = round(data["kernel_length"] * rate)
    layers = _train_value(config, "model.layers", assumptions)
    network = resnet1d(layers, ifos, samples, int(_train_value(config, "model.kernel_size", assumptions)))
    device = config["run"]["device"]
    step_rate, calibration = _rate(network, device, _train_value(config, "trainer.precision", assumptions))
    assumptions.append(calibration)
    windows_rate, inference_calibration = _windows_per_s(network, step_rate, device)
    assumptions.append(inference_calibration)

    row = round(waveforms["duration"] * rate) * FLOAT32
    parameters = PARAMETERS_PER_ROW * FLOAT64
    network_gain = (ifos / ACCEPTED_REFERENCE_IFOS) ** 1.5
    accepted = min(1.0, ACCEPTED_AT_SNR8 * (8 / max(testing["snr_threshold"], 1e-9)) ** 3 * network_gain)
    injections = workflow.totals["injections"]
    rejected = injections * (1 - accepted) / accepted
    assumptions.append(f"{accepted:.3g} of injection draws pass SNR >= {testing['snr_threshold']:g}: BENCHMARKS.md's "
                       "1.6 % at SNR 8 for H1 and L1, scaled by (8 / threshold)^3"
                       + (f" and by ({ifos} ifos / 2)^1.5, every ifo taken as sensitive as a LIGO one"
                          if ifos != ACCEPTED_REFERENCE_IFOS else "")
                       + "; rejected draws keep only their parameters")
    assumptions.append("merge keeps its shards (until `aframe-dag clean --shards`): merged sets are counted twice")
    assumptions.append(f"each set row stores {PARAMETERS_PER_ROW} float64 parameters; strain and waveforms are "
                       "float32; HDF5 overhead is ignored")
    train_seconds, test_seconds = _file_seconds(workflow, "train"), _file_seconds(workflow, "test")
    trials = config["tune"]["num_trials"] if config["tune"]["enabled"] else 1
    trains = not config["train"]["model"]  # a reused model: no training data, checkpoints or training hours
    checkpoint = network.parameters * FLOAT32
    batch_size = _train_value(config, "data.batch_size", assumptions)
    assumptions.append(f"the network has {network.parameters:,} parameters; last.ckpt and best.ckpt hold "
                       f"{CHECKPOINT_COPIES} copies (weights and AdamW moments), model.pt and ONNX one each")
    disk = {
        "train_data_dir": {
            "background": sum(train_seconds) * rate * ifos * FLOAT32,
            "waveforms": trains * 2 * waveforms["num_train"] * (2 * row + parameters),
            "validation": trains * 2 * waveforms["num_val"] * (ifos * row + parameters),
        },
        "test_data_dir": {
            "background": sum(test_seconds) * rate * ifos * FLOAT32,
            "injections": 2 * injections * (ifos * row + parameters + (2 + ifos) * FLOAT64),
            "rejected": 2 * rejected * parameters,
        },
        "train_run_dir": {
            "checkpoints": trains * (trials * checkpoint * (2 * CHECKPOINT_COPIES + 1) + (trials > 1) * checkpoint),
            "batch": trains * trials * batch_size * ifos * samples * FLOAT32,
        },
        "results_dir": {
            "model_repo": checkpoint * (2 if device == "cuda" else 1),
            "events": 2 * workflow.totals["livetime"] / infer["cluster_length"] * (2 + ifos) * FLOAT64,
            "foreground": 2 * injections * (parameters + (4 + ifos) * FLOAT64),
        },
    }
    assumptions.append(f"clustering keeps about one background event per cluster_length ({infer['cluster_length']:g} "
                       "s) of livetime")
    if device == "cuda":
        assumptions.append("with a GPU, export also writes a TensorRT plan about the size of the ONNX model")

    epoch = _train_value(config, "data.batches_per_epoch", assumptions) * batch_size
    validation = (_train_value(config, "validation.livetime", assumptions)
                  / _train_value(config, "validation.stride", assumptions)
                  + waveforms["num_val"] * _train_value(config, "validation.num_views", assumptions))
    epochs = (config["tune"]["max_epochs"] * trials if config["tune"]["enabled"]
              else _train_value(config, "trainer.max_epochs", assumptions))
    train_hours = trains * epochs * (epoch + validation * FORWARD_SHARE) / step_rate / 3600
    assumptions.append(f"training runs all {epochs} epochs{' (all trials)' if trials > 1 else ''} of "
                       f"{epoch:,} samples plus {validation:,.0f} validation windows (early stopping ends sooner)")
    zero_lag = sum(max(0.0, s - infer["psd_length"]) for s in test_seconds)
    foreground = injections * min(testing["spacing"],
                                                 infer["cluster_length"] + infer["integration_length"])
    background = workflow.totals["livetime"]
    analysed = background + zero_lag + foreground
    infer_hours = analysed * infer["sampling_rate"] / windows_rate / 3600
    assumptions.append(f"inference analyses {analysed:.4g} s: the timeslid background ({background:.4g}"
                       f" s), zero-lag ({zero_lag:.4g} s) and cluster_length + integration_length around each "
                       f"injection ({foreground:.4g} s), at {infer['sampling_rate']:g} windows per second")
    hours = {"training": train_hours, "inference": infer_hours}
    nodes = {stage: len(members) for stage, members in workflow.by_stage().items()}
    return Estimates(disk=disk, nodes=nodes, hours=hours, device=device, assumptions=assumptions)

"""Data nodes: background strain per file, waveform shards and their merges, test injections."""

from __future__ import annotations

from .arguments import options, repeated
from .layout import Layout
from .model import Node
from .stages import node_device


def shard_sizes(total: int, per_node: int) -> list[int]:
    """How many items each of ceil(total / per_node) shards makes."""
    count = -(-total // per_node)
    return [total // count + (1 if k < total % count else 0) for k in range(count)]


def background_nodes(config, layout: Layout, kind: str, files) -> list[Node]:
    """One node per file of strain, simulated or fetched."""
    data = config["data"]
    common = options(
        ifos=data["ifos"], sample_rate=data["sample_rate"], source=data["source"], noise_psd=data["noise_psd"],
        channels=data["channels"], frame_type=data["frame_type"] or None,
        gwosc_host=data["gwosc_host"] if data["source"] == "gwosc" else None, seed=config["run"]["seed"],
        device=node_device(config, "background"),
    )
    nodes = []
    for start, duration in files:
        output = layout.background(kind, start, duration)
        arguments = options(start=start, duration=duration) + common + options(output=output)
        nodes.append(Node(f"background-{kind}-{start}-{duration}", "background", arguments, outputs=(output,)))
    return nodes


def _waveform_options(config, prior: str, stage: str) -> tuple[str, ...]:
    waveforms = config["waveforms"]
    return options(
        approximant=waveforms["approximant"], prior=prior, duration=waveforms["duration"],
        right_pad=waveforms["right_pad"], minimum_frequency=waveforms["minimum_frequency"],
        reference_frequency=waveforms["reference_frequency"], sample_rate=config["data"]["sample_rate"],
        seed=config["run"]["seed"], device=node_device(config, stage),
    )


def merge_node(name: str, kind: str, inputs, output: str, device: str) -> Node:
    """A fan-in that concatenates shards of one ledger kind; it never deletes them."""
    inputs = tuple(inputs)
    arguments = options(kind=kind, output=output, device=device) + repeated("input", inputs)
    return Node(name, "merge", arguments, inputs=inputs, outputs=(output,))


def training_waveform_nodes(config, layout: Layout) -> list[Node]:
    """Polarization shards for training, then their merge."""
    waveforms, nodes = config["waveforms"], []
    for index, count in enumerate(shard_sizes(waveforms["num_train"], waveforms["per_node"])):
        output = layout.waveform_shard("train", index)
        arguments = options(shard=index, num=count, output=output)
        arguments += _waveform_options(config, waveforms["prior"], "waveforms")
        nodes.append(Node(f"waveforms-train-{index:03d}", "waveforms", arguments, outputs=(output,)))
    merged = merge_node("waveforms-train-merge", "waveforms", [n.outputs[0] for n in nodes],
                        layout.waveforms("train"), node_device(config, "merge"))
    return nodes + [merged]


def validation_waveform_nodes(config, layout: Layout, psd_file: str) -> list[Node]:
    """Projected validation responses above the SNR threshold against a training PSD, then their merge."""
    waveforms, data, nodes = config["waveforms"], config["data"], []
    for index, count in enumerate(shard_sizes(waveforms["num_val"], waveforms["per_node"])):
        output = layout.waveform_shard("val", index)
        arguments = options(
            validation=True, shard=index, num=count, background=psd_file, ifos=data["ifos"],
            highpass=data["highpass"], snr_threshold=waveforms["snr_threshold"],
            psd_length=config["infer"]["psd_length"], output=output,
        ) + _waveform_options(config, waveforms["prior"], "waveforms-val")
        nodes.append(Node(f"waveforms-val-{index:03d}", "waveforms-val", arguments, inputs=(psd_file,),
                          outputs=(output,)))
    merged = merge_node("waveforms-val-merge", "waveforms", [n.outputs[0] for n in nodes],
                        layout.waveforms("val"), node_device(config, "merge"))
    return nodes + [merged]


def injection_nodes(config, layout: Layout, branches) -> list[Node]:
    """One node per test file: accepted injections at the planned times and shifts, plus every rejected draw."""
    data, testing, nodes = config["data"], config["testing"], []
    common = options(
        ifos=data["ifos"], shifts=testing["shifts"], dead_time=config["infer"]["psd_length"],
        spacing=testing["spacing"], buffer=testing["buffer"], snr_threshold=testing["snr_threshold"],
        highpass=data["highpass"],
    ) + _waveform_options(config, testing["prior"], "injections")
    by_file: dict[tuple[int, int], list] = {}
    for branch in branches:
        if branch.injections:
            by_file.setdefault((branch.start, branch.duration), []).append(branch)
    for (start, duration), file_branches in by_file.items():
        background = layout.background("test", start, duration)
        output, rejected = layout.injection_shard(start, duration), layout.rejected_shard(start, duration)
        arguments = options(
            background=background, shift_indices=[b.shift for b in file_branches],
            expected_slots=sum(b.injections for b in file_branches), output=output, rejected=rejected,
        ) + common
        nodes.append(Node(f"injections-{start}-{duration}", "injections", arguments, inputs=(background,),
                          outputs=(output, rejected)))
    device = node_device(config, "merge")
    merged = [
        merge_node("injections-merge", "injections", [n.outputs[0] for n in nodes], layout.injections, device),
        merge_node("rejected-merge", "rejected", [n.outputs[1] for n in nodes], layout.rejected, device),
    ]
    return nodes + merged

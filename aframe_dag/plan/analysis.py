"""Analysis nodes: inference bundles over timeslid branches, their aggregation, the sensitive volume, the summary."""

from __future__ import annotations

from ..errors import ConfigError
from ..inference import SERVER_PRECISIONS, precision_of, server_for
from ..timeslides import Branch
from .arguments import options, repeated
from .layout import Layout
from .model import Node
from .stages import node_device

DAG_STATUS_ARGUMENTS = ("--dag-status", "$(DAG_STATUS)", "--failed-count", "$(FAILED_COUNT)")


def infer_nodes(config, layout: Layout, bundles: list[list[Branch]]) -> list[Node]:
    """One node per bundle of (file, shift) branches; each asserts the livetime the plan expects of it."""
    shared, infer, testing = config.shared(), config["infer"], config["testing"]
    server = server_for(infer["server"], node_device(config, "infer"))
    precision = infer_precision(config, server)
    common = options(
        repository=layout.model_repository, model_name=config["export"]["model_name"],
        injections=layout.injections, ifos=shared["ifos"], shifts=testing["shifts"],
        sample_rate=shared["sample_rate"], kernel_length=shared["kernel_length"], fduration=shared["fduration"],
        highpass=shared["highpass"], lowpass=shared["lowpass"],
        inference_sampling_rate=shared["inference_sampling_rate"], batch_size=infer["batch_size"],
        psd_length=infer["psd_length"], fftlength=infer["fftlength"],
        integration_length=infer["integration_length"], cluster_length=infer["cluster_length"],
        server=server, precision=precision,
        triton_image=infer["triton_image"] or None, device=node_device(config, "infer"),
        tritonserver=(infer["tritonserver"] or None) if server == "triton" else None,
    )
    width = max(4, len(str(len(bundles) - 1)))
    nodes = []
    for index, bundle in enumerate(bundles):
        name = f"infer-{index:0{width}d}"
        files = [layout.background("test", b.start, b.duration) for b in bundle]
        expected = sum(b.livetime for b in bundle if b.background)
        arguments = common + options(
            expected_livetime=expected, expected_injections=sum(b.injections for b in bundle),
            output=layout.events(name),
        ) + repeated("branch", [f"{b.shift}:{path}" for b, path in zip(bundle, files, strict=True)])
        inputs = (layout.model_repository, layout.injections, *dict.fromkeys(files))
        nodes.append(Node(name, "infer", arguments, inputs, (layout.events(name),)))
    return nodes


def infer_precision(config, server: str) -> str:
    """``[infer] precision`` (``tensorrt_fp16 = true`` its alias for fp16), one ``server`` can run."""
    infer = config["infer"]
    if infer["tensorrt_fp16"] and infer["precision"] not in ("fp32", "fp16"):
        raise ConfigError(f"tensorrt_fp16 = true means precision = fp16, but precision = {infer['precision']}: "
                          "drop tensorrt_fp16", config.path, "infer", "tensorrt_fp16")
    precision = precision_of(infer["precision"], infer["tensorrt_fp16"])
    if precision not in SERVER_PRECISIONS[server]:
        raise ConfigError(f"{precision} cannot run on server {server} (it runs {' or '.join(SERVER_PRECISIONS[server])}"
                          "; torch and aotinductor run fp16 and bf16)", config.path, "infer", "precision")
    return precision


def aggregate_node(config, layout: Layout, infers: list[Node], livetime: float, injections: int,
                   vetoes: list[tuple[str, str]], vetoed: dict[str, float]) -> Node:
    """Merges the event sets and asserts their livetime and injection count equal the plan's totals.

    With ``vetoes`` ((ifo, file) pairs: its inputs, so file transfer sends them) it also removes what they veto
    and asserts the seconds and injections removed equal the plan's ``vetoed`` totals.
    """
    events = tuple(node.outputs[0] for node in infers)
    outputs = (layout.background_events, layout.foreground_events, layout.zero_lag_events)
    arguments = options(
        expected_livetime=livetime, expected_injections=injections, background=outputs[0],
        foreground=outputs[1], zero_lag=outputs[2], device=node_device(config, "aggregate"),
    )
    if vetoes:
        arguments += options(shifts=config["testing"]["shifts"], expected_vetoed_livetime=vetoed["vetoed"],
                             expected_vetoed_injections=vetoed["vetoed_injections"])
        arguments += repeated("veto", [f"{ifo}:{path}" for ifo, path in vetoes])
    arguments += repeated("input", events)
    inputs = (*events, *dict.fromkeys(path for _, path in vetoes))
    return Node("aggregate", "aggregate", arguments, inputs, outputs)


def sv_node(config, layout: Layout, vetoed_injections: int) -> Node:
    """Sensitive volume against false-alarm rate, from the aggregated events and the rejected draws."""
    sv = config["sv"]
    inputs = (layout.background_events, layout.foreground_events, layout.rejected)
    arguments = options(
        background=inputs[0], foreground=inputs[1], rejected=inputs[2],
        mass_combos=[f"{a:g}:{b:g}" for a, b in sv["mass_combos"]], source_prior=sv["source_prior"],
        max_far=sv["max_far"], vetoed_injections=vetoed_injections or None, output=layout.sensitive_volume,
        device=node_device(config, "sv"),
    )
    return Node("sv", "sv", arguments, inputs, layout.sensitive_volume_outputs)


def summary_node(config, layout: Layout, train_run: str) -> Node:
    """The FINAL node: always runs, reports every node and what the run found, and fails when the DAG did.

    `train_run` is the directory of the model the run exports, where its training curve is (a reused model's own).
    """
    arguments = options(
        condor_dir=layout.condor, results_dir=layout.results, train_run_dir=train_run,
        injections=layout.injections, unblind=config["sv"]["unblind"], output=layout.summary,
    ) + DAG_STATUS_ARGUMENTS
    return Node("summary", "summary", arguments, final=True)

"""[reference] matched_filter in the plan: a bank, one filter node per test file over the network's own branches,
and the network's aggregate and sv programs on their events, with the same expected totals."""

from __future__ import annotations

from aframe_dag.builder.render import Site
from aframe_dag.config import load_config
from aframe_dag.plan import plan

ON = ("reference.matched_filter=true", "reference.environment=/opt/reference")


def values(node, flag: str) -> list[str]:
    arguments = node.arguments
    return [arguments[k + 1] for k, item in enumerate(arguments) if item == flag]


def test_no_reference_nodes_by_default(sandbox_ini):
    stages = {node.stage for node in plan(load_config(sandbox_ini)).nodes}
    assert not any(stage.startswith("reference") for stage in stages)


def test_reference_nodes_search_the_network_branches_with_its_totals(sandbox_ini):
    workflow = plan(load_config(sandbox_ini, ON))
    by_stage = workflow.by_stage()
    files = len(by_stage["background"]) - sum(1 for n in by_stage["background"] if "-train-" in n.name)
    assert len(by_stage["reference-bank"]) == 1
    assert len(by_stage["reference-filter"]) == files
    filters = by_stage["reference-filter"]
    network = sorted(branch for node in by_stage["infer"] for branch in values(node, "--branch"))
    assert sorted(branch for node in filters for branch in values(node, "--branch")) == network
    for node in filters:  # one file per node
        assert len({branch.partition(":")[2] for branch in values(node, "--branch")}) == 1
    assert sum(float(values(n, "--expected-livetime")[0]) for n in filters) == workflow.totals["livetime"]
    assert sum(int(values(n, "--expected-injections")[0]) for n in filters) == workflow.totals["injections"]
    (aggregate,), (ours,) = by_stage["aggregate"], by_stage["reference-aggregate"]
    assert values(ours, "--expected-livetime") == values(aggregate, "--expected-livetime")
    assert values(ours, "--expected-injections") == values(aggregate, "--expected-injections")
    assert values(ours, "--input") == [node.outputs[0] for node in filters]
    (sv,) = by_stage["reference-sv"]
    assert sv.inputs[0] == ours.outputs[0] and sv.outputs[0].endswith("/reference/sensitive_volume.h5")
    assert set(workflow.parents["reference-sv"]) == {"reference-aggregate", *workflow.parents["sv"]} - {"aggregate"}
    bank = by_stage["reference-bank"][0]
    assert all(bank.outputs[0] in node.inputs for node in filters)
    assert values(filters[0], "--cluster-length") == values(by_stage["infer"][0], "--cluster-length")


def test_pycbc_programs_come_from_the_reference_environment(sandbox_ini):
    stages = plan(load_config(sandbox_ini, ON)).stages
    assert stages["reference-filter"].program == "/opt/reference/bin/aframe-reference-filter"
    assert stages["reference-bank"].program == "/opt/reference/bin/aframe-reference-bank"
    assert stages["reference-aggregate"].program == "aframe-aggregate"
    site = Site({"executable_dir": "/software/bin"}, "/here/bin")
    program = stages["reference-filter"].program
    assert site.executable(program, "vanilla") == "/opt/reference/bin/aframe-reference-filter"
    assert site.executable(stages["reference-aggregate"].program, "vanilla") == "/software/bin/aframe-aggregate"

"""[reference] matched_filter in the plan: a bank, one filter node per test file over the network's own branches,
and the network's aggregate and sv programs on their events, with the same expected totals."""

from __future__ import annotations

import importlib.util

import pytest

from aframe_dag.builder.render import Site
from aframe_dag.config import load_config
from aframe_dag.config.checks import REFERENCE_PROGRAMS
from aframe_dag.errors import ConfigError
from aframe_dag.plan import plan


@pytest.fixture
def environment(tmp_path):
    """A Python environment whose bin/ holds the reference programs (what `make reference` installs)."""
    (bin_dir := tmp_path / "reference-env" / "bin").mkdir(parents=True)
    for name in REFERENCE_PROGRAMS:
        (bin_dir / name).write_text("#!/bin/sh\n")
    return bin_dir.parent


@pytest.fixture
def on(environment):
    return ("reference.matched_filter=true", f"reference.environment={environment}")


def values(node, flag: str) -> list[str]:
    arguments = node.arguments
    return [arguments[k + 1] for k, item in enumerate(arguments) if item == flag]


def test_no_reference_nodes_by_default(sandbox_ini):
    stages = {node.stage for node in plan(load_config(sandbox_ini)).nodes}
    assert not any(stage.startswith("reference") for stage in stages)


def test_reference_nodes_search_the_network_branches_with_its_totals(sandbox_ini, on):
    workflow = plan(load_config(sandbox_ini, on))
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


def test_pycbc_programs_come_from_the_reference_environment(sandbox_ini, on, environment):
    stages = plan(load_config(sandbox_ini, on)).stages
    assert stages["reference-filter"].program == f"{environment}/bin/aframe-reference-filter"
    assert stages["reference-bank"].program == f"{environment}/bin/aframe-reference-bank"
    assert stages["reference-aggregate"].program == "aframe-aggregate"
    site = Site({"executable_dir": "/software/bin"}, "/here/bin")
    program = stages["reference-filter"].program
    assert site.executable(program, "vanilla") == f"{environment}/bin/aframe-reference-filter"
    assert site.executable(stages["reference-aggregate"].program, "vanilla") == "/software/bin/aframe-aggregate"


def test_a_relative_environment_is_taken_from_run_ini(sandbox_ini, environment):
    relative = environment.relative_to(sandbox_ini.parent)
    config = load_config(sandbox_ini, ("reference.matched_filter=true", f"reference.environment={relative}"))
    assert config["reference"]["environment"] == str(environment)


@pytest.mark.parametrize("missing", REFERENCE_PROGRAMS)
def test_an_environment_without_the_programs_is_refused(sandbox_ini, environment, missing):
    (environment / "bin" / missing).unlink()
    with pytest.raises(ConfigError) as refused:
        load_config(sandbox_ini, ("reference.matched_filter=true", f"reference.environment={environment}"))
    assert (refused.value.section, refused.value.key) == ("reference", "environment")
    assert missing in str(refused.value)


@pytest.mark.skipif(importlib.util.find_spec("pycbc") is not None, reason="PyCBC is installed beside aframe-dag")
def test_the_reference_needs_pycbc_somewhere(sandbox_ini):
    """Without PyCBC beside aframe-dag (its numpy pin keeps it out of this package's environment), an empty
    environment is refused."""
    with pytest.raises(ConfigError, match="PyCBC is not beside aframe-dag") as refused:
        load_config(sandbox_ini, ("reference.matched_filter=true",))
    assert (refused.value.section, refused.value.key) == ("reference", "environment")
    assert load_config(sandbox_ini, ("reference.environment=/nowhere",))  # unchecked while the reference is off

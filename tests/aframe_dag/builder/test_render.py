"""Rendering: golden files for the shipped configs, submit files HTCondor parses, and hostile values refused.

Regenerate the golden files after an intended change with AFRAME_DAG_UPDATE_GOLDEN=1.
"""

import os
import re
import shlex
import subprocess
from importlib import resources
from pathlib import Path

import htcondor2
import pytest

from aframe_dag.builder.render import render
from aframe_dag.config import load_config
from aframe_dag.dagfile import parse_dag
from aframe_dag.errors import UserError
from aframe_dag.holds import memory_expression, release_expression, remove_expression
from aframe_dag.init.init import run_ini_text
from aframe_dag.plan import plan

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
BIN = "/opt/aframe/bin"
ACCOUNTING = ["condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe", "condor.accounting_group_user=albert.einstein"]


@pytest.fixture
def golden_env(monkeypatch, tmp_path):
    """Fixed directories, so golden files do not depend on where the tests run."""
    for name in ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]:
        monkeypatch.setenv(f"AFRAME_{name}", f"/srv/aframe/golden/{name.lower()}")
    (tmp_path / "train.yaml").write_text((resources.files("aframe_dag") / "configs" / "train.yaml").read_text())
    return tmp_path


def rendered(directory, kind, overrides=()):
    ini = directory / f"{kind}.ini"
    ini.write_text(run_ini_text(kind, "golden", "ldg", "cuda", None))
    config = load_config(ini, list(ACCOUNTING) + list(overrides))
    files = render(plan(config), config["condor"], BIN)
    return config, {name: text.replace(str(directory), "/srv/aframe/golden/init") for name, text in files.items()}


def without_hashes(text):
    """Node hashes cover train.yaml's path, which is a tmp path here; test_plan covers what they follow."""
    return re.sub(r"\b[0-9a-f]{16}\b", "HASH", text)


def submit_ad(text):
    """A submit file's commands as HTCondor reads them (comments and layout do not matter)."""
    return dict(htcondor2.Submit(text).items())


@pytest.mark.parametrize("kind", ["sandbox", "tune"])
def test_golden_files(golden_env, kind):
    _, files = rendered(golden_env, kind)
    folder = GOLDEN / kind
    if os.environ.get("AFRAME_DAG_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if name != "run_local.sh":
                (folder / name).write_text(without_hashes(text))
    expected = {path.name for path in folder.iterdir()}
    assert expected == set(files) - {"run_local.sh"}
    assert without_hashes(files["aframe.dag"]) == (folder / "aframe.dag").read_text()
    assert files["dagman.config"] == (folder / "dagman.config").read_text()
    for name in expected - {"aframe.dag", "dagman.config"}:
        assert submit_ad(files[name]) == submit_ad((folder / name).read_text()), name


def test_every_submit_file_parses_and_asks_for_what_the_stage_needs(golden_env):
    _, files = rendered(golden_env, "sandbox")
    for name, text in files.items():
        if name.endswith(".sub"):
            ad = submit_ad(text)
            assert ad["accounting_group"] == "ligo.dev.o4.cbc.allsky.aframe"
            assert ad["arguments"] == '"$(nodeargs)"'
            assert "getenv" not in ad
            assert ad["executable"].startswith(BIN + "/aframe-")
    train, background = submit_ad(files["train.sub"]), submit_ad(files["background.sub"])
    assert train["request_gpus"] == "1" and train["gpus_minimum_memory"] == "24576M"
    assert train["checkpoint_exit_code"] == "85"
    assert train["environment"] == ('"OMP_NUM_THREADS=8 MKL_NUM_THREADS=8 PYTHONUNBUFFERED=1 '
                                    'MPLCONFIGDIR=/srv/aframe/golden/tmpdir/matplotlib"')
    assert "request_gpus" not in background and "checkpoint_exit_code" not in background


def test_dag_has_every_dagman_feature(golden_env):
    _, files = rendered(golden_env, "sandbox")
    text = files["aframe.dag"]
    dag = parse_dag(text)
    assert dag.config == ["/srv/aframe/golden/condor_dir/dagman.config"]
    assert dag.status_file.endswith("aframe.status") and dag.jobstate_log and dag.dot
    assert "NODE_STATUS_FILE /srv/aframe/golden/condor_dir/aframe.status 30 ALWAYS-UPDATE" in text
    assert dag.maxjobs == {"gpu": 8}
    assert set(dag.save_points) == {"train", "export"}
    final = dag.final
    assert final.name == "summary" and final.pre is None and "$(DAG_STATUS)" in final.variables["nodeargs"]
    for node in dag.nodes.values():
        if node.final:
            continue
        assert node.retries == 2 and node.unless_exit == 2 and node.pre_skip == 99
        assert node.pre.executable == f"{BIN}/aframe-node-check"
        assert node.pre.arguments[:2] == ["/srv/aframe/golden/condor_dir", node.name]
        arguments = shlex.split(node.variables["nodeargs"])
        assert arguments[arguments.index("--node-hash") + 1] == node.pre.arguments[2]
        assert node.variables["node"] == node.name
    assert dag.nodes["infer-0000"].category == "gpu" and dag.nodes["background-test-1241443783-19938"].category is None


def test_old_pools_get_require_gpus(golden_env):
    _, files = rendered(golden_env, "sandbox", ["condor.htcondor_version=23.0"])
    ad = submit_ad(files["infer.sub"])
    assert "gpus_minimum_memory" not in ad and ad["require_gpus"] == "GlobalMemoryMb >= 16384"


def test_container_universe_uses_the_image_s_scripts(golden_env):
    _, files = rendered(golden_env, "sandbox", ["condor.universe=container",
                                                "condor.container_image=/cvmfs/images/aframe:1"])
    ad = submit_ad(files["infer.sub"])
    assert ad["universe"] == "container" and ad["container_image"] == "/cvmfs/images/aframe:1"
    assert ad["executable"] == "aframe-infer"


def test_remote_training_runs_in_the_local_universe(golden_env, monkeypatch):
    monkeypatch.setenv("AFRAME_TRAIN_DATA_DIR", "s3://bucket/data")
    monkeypatch.setenv("AFRAME_TRAIN_RUN_DIR", "s3://bucket/training")
    _, files = rendered(golden_env, "sandbox", ["train.remote=kubernetes", "kubernetes.image=img"])
    assert submit_ad(files["remote-train.sub"])["universe"] == "local"


def test_stage_template_override(golden_env):
    template = golden_env / "custom.sub.j2"
    template.write_text("# custom {{ stage }}\n{% for key, value in commands %}{{ key }} = {{ value }}\n{% endfor %}"
                        "+MyGroup = \"aframe\"\nqueue\n")
    _, files = rendered(golden_env, "sandbox", [f"stage:sv.template={template}"])
    assert files["sv.sub"].startswith("# custom sv\n")
    assert submit_ad(files["sv.sub"])["MY.MyGroup"] == '"aframe"'


@pytest.mark.parametrize("override, message", [
    ("condor.requirements=(Machine == \"x\")", "contains a quote"),
    ("condor.use_oauth_services=scitokens$$(x)", r"contains '\$\('"),
    ("kubernetes.namespace=a'b", None),
])
def test_hostile_values_are_build_errors(golden_env, override, message):
    if message is None:  # a value no submit or DAG file carries is not refused
        rendered(golden_env, "sandbox", [override])
        return
    with pytest.raises(UserError, match=message):
        rendered(golden_env, "sandbox", [override])


def test_hostile_paths_are_refused(golden_env, monkeypatch):
    monkeypatch.setenv("AFRAME_RESULTS_DIR", "/srv/it's/results")
    with pytest.raises(UserError, match=r"node export: \"/srv/it's/results/model_repo\" contains a quote"):
        rendered(golden_env, "sandbox")


def test_paths_with_spaces_survive_both_quoting_layers(golden_env, monkeypatch):
    monkeypatch.setenv("AFRAME_RESULTS_DIR", "/srv/my results")
    _, files = rendered(golden_env, "sandbox")
    sv = parse_dag(files["aframe.dag"]).nodes["sv"]
    assert "'/srv/my results/sensitive_volume.h5'" in sv.variables["nodeargs"]
    assert "/srv/my results/sensitive_volume.h5" in shlex.split(sv.variables["nodeargs"])



def test_run_local_sh_keeps_values_with_spaces(golden_env, monkeypatch, tmp_path):
    """run_local.sh runs a node by hand with the DAG's environment and arguments, spaces included."""
    monkeypatch.setenv("AFRAME_TMPDIR", "/srv/my tmp")
    monkeypatch.setenv("AFRAME_RESULTS_DIR", "/srv/my results")
    ini = golden_env / "sandbox.ini"
    ini.write_text(run_ini_text("sandbox", "golden", "local", "cpu", None))
    config = load_config(ini)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    probe = bin_dir / "aframe-sv"  # stands in for the node program: prints what it was given
    probe.write_text('#!/bin/sh\nprintf "%s\\n" "$MPLCONFIGDIR" "$@"\n')
    probe.chmod(0o755)
    script = tmp_path / "run_local.sh"
    script.write_text(render(plan(config), config["condor"], str(bin_dir))["run_local.sh"])
    result = subprocess.run(["bash", str(script), "sv"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "/srv/my tmp/matplotlib"
    assert lines[lines.index("--output") + 1] == "/srv/my results/sensitive_volume.h5"


def test_expressions_are_classads():
    import classad2

    assert classad2.ExprTree(memory_expression(4096)).eval() == 4096
    classad2.ExprTree(release_expression())
    ad = classad2.ClassAd({"NumHoldsByReason": classad2.ClassAd({"JobOutOfResources": 2})})
    assert classad2.ExprTree(memory_expression(1000)).eval(ad) == 4000
    ad["NumHoldsByReason"]["JobOutOfResources"] = 9
    assert classad2.ExprTree(memory_expression(1000)).eval(ad) == 4000


@pytest.mark.parametrize("code, holds, held_for, released, removed", [
    (34, 1, 0, True, False),  # a memory hold: released at once, with more memory
    (13, 3, 400, True, False),  # a transfer hold, the third: released after five minutes
    (13, 3, 100, False, False),  # ... not before
    (34, 4, 0, False, True),  # held again after the last release: removed, so DAGMan retries or fails the node
    (13, 4, 400, False, True),
    (7, 1, 3600, False, False),  # a hold no release applies to: removed only after [condor] max_held_hours
    (7, 1, 2 * 3600 + 1, False, True),
    (1, 9, 10 * 3600, False, False),  # a user's own hold: never released, never removed
])
def test_a_held_job_is_released_a_few_times_then_removed(code, holds, held_for, released, removed):
    """Issue 20 (item 4): a job held for ever hung the DAG; now its periodic_remove ends it."""
    import classad2

    ad = classad2.ClassAd({"JobStatus": 5, "HoldReasonCode": code, "NumHolds": holds})
    ad["EnteredCurrentStatus"] = classad2.ExprTree(f"time() - {held_for}")
    assert bool(classad2.ExprTree(release_expression()).eval(ad)) is released
    assert bool(classad2.ExprTree(remove_expression(2)).eval(ad)) is removed
    ad["JobStatus"] = 2  # running again: nothing to remove
    assert not classad2.ExprTree(remove_expression(2)).eval(ad)


def test_every_submit_file_has_the_periodic_remove(golden_env):
    _, files = rendered(golden_env, "sandbox", ["condor.max_held_hours=1.5"])
    for name, text in files.items():
        if name.endswith(".sub"):
            assert submit_ad(text)["periodic_remove"] == remove_expression(1.5), name
    assert "(time() - EnteredCurrentStatus) > 5400" in remove_expression(1.5)

"""File-transfer mode (`[condor] filesystem = transfer`): each job is sent exactly its plan inputs, names only its
sandbox, sends its outputs back to their run-directory paths, and a POST script lands its done-marker."""

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from aframe_dag.builder.build import build
from aframe_dag.check import check_run
from aframe_dag.cli.main import main
from aframe_dag.dagfile import parse_dag
from aframe_dag.errors import ConfigError
from aframe_dag.sandbox import MARKER, OUT_DIR

TRANSFER = ("condor.filesystem=transfer", "condor.executable_dir=/opt/aframe/bin")
ACCOUNTING = "condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe"


@pytest.fixture
def off_tmp():
    """A condor dir outside /tmp, where pool sites refuse to build (DAGMan's node-log rule)."""
    directory = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="aframe-dag-test-"))
    yield directory / "condor"
    shutil.rmtree(directory)


def nodes_of(result):
    return {node.name: node for node in parse_dag(result.files["aframe.dag"], result.condor_dir / "aframe.dag")
            .nodes.values()}


def test_every_job_is_sent_its_plan_inputs_and_names_only_its_sandbox(micro_ini, run_env):
    result = build(micro_ini, TRANSFER, dry_run=True)
    dag = nodes_of(result)
    for node in result.workflow.nodes:
        if node.final:
            continue
        variables = dag[node.name].variables
        assert variables["inputs"].split(",") == list(dict.fromkeys(node.inputs)) if node.inputs else [""]
        assert str(run_env) not in variables["nodeargs"], node.name
        remaps = dict(pair.split(" = ") for pair in variables["remaps"].split(";"))
        assert remaps[OUT_DIR] == f"{result.condor_dir}/transfer/{node.name}"
        assert remaps[MARKER] == f"{result.condor_dir}/done/{node.name}.landed.json"
        for output in node.outputs:  # each output comes back to its path, or inside a directory that does
            assert any(output == here or output.startswith(here + "/") for here in remaps.values()), output
        post = dag[node.name].post
        assert post.arguments[:4] == ["--landed", str(result.condor_dir), node.name, node.hash]
        assert post.arguments[4] == "$RETURN"
        assert post.debug == (f"logs/{node.name}.post", "ALL")  # what it prints is kept for `why`
    train = dag["train"].variables
    assert "--run-dir aframe-out/training" in train["nodeargs"]
    assert train["inputs"].endswith(f"{run_env}/train.yaml")  # the train node reads its train.yaml: it is sent


def test_submit_files_transfer_and_the_summary_runs_on_the_access_point(micro_ini, run_env):
    files = build(micro_ini, TRANSFER, dry_run=True).files
    infer = files["infer.sub"]
    for line in ["should_transfer_files = YES", "when_to_transfer_output = ON_EXIT",
                 "transfer_input_files = $(inputs)", f"transfer_output_files = {OUT_DIR}",
                 'transfer_output_remaps = "$(remaps)"', "executable = /opt/aframe/bin/aframe-infer",
                 "transfer_executable = false", "MPLCONFIGDIR=.matplotlib"]:
        assert line in infer, line
    assert "transfer_checkpoint_files = aframe-out" in files["train.sub"]
    assert "checkpoint_exit_code = 85" in files["train.sub"]
    assert "universe = local" in files["summary.sub"] and "should_transfer_files" not in files["summary.sub"]


def test_shared_and_transfer_builds_agree_on_node_hashes_and_ldg_is_unchanged(micro_ini, run_env, off_tmp):
    shared = build(micro_ini, dry_run=True)
    transfer = build(micro_ini, TRANSFER, dry_run=True)
    assert [n.hash for n in shared.workflow.nodes] == [n.hash for n in transfer.workflow.nodes]
    assert not any("should_transfer_files" in text or "--landed" in text for text in shared.files.values())
    ldg = build(micro_ini, ["condor.site=ldg", ACCOUNTING, f"run.condor_dir={off_tmp}"], dry_run=True)
    assert not any("should_transfer_files" in text for text in ldg.files.values())


def test_url_map_sends_inputs_by_osdf_url(micro_ini, run_env):
    data = run_env / "data"
    result = build(micro_ini, (*TRANSFER, f"condor.url_map={data}=osdf:///igwn/cit/aframe/data"), dry_run=True)
    inputs = nodes_of(result)["train"].variables["inputs"].split(",")
    assert "osdf:///igwn/cit/aframe/data/train/train_waveforms.hdf5" in inputs
    assert not [item for item in inputs if item.startswith(str(data))]


def test_igwn_profile_is_a_container_transfer_profile(micro_ini, run_env, off_tmp):
    image = "/cvmfs/singularity.opensciencegrid.org/ml4gw/aframe:latest"
    result = build(micro_ini, ["condor.site=igwn", ACCOUNTING, f"condor.container_image={image}",
                               f"run.condor_dir={off_tmp}"], dry_run=True)
    infer = result.files["infer.sub"]
    for line in ["universe = container", f"container_image = {image}", "transfer_container = false",
                 "executable = aframe-infer", "use_oauth_services = igwn", "should_transfer_files = YES"]:
        assert line in infer, line


def test_the_s3_credentials_file_travels_as_an_input_and_is_never_rendered(micro_ini, run_env):
    credentials = run_env / "aws-credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIAEXAMPLEKEY00\naws_secret_access_key = s3cr3tvalue\n")
    result = build(micro_ini, (*TRANSFER, f"s3.credentials_file={credentials}", "s3.endpoint_url=http://127.0.0.1:9"),
                   dry_run=True)
    assert nodes_of(result)["export"].variables["inputs"].split(",")[-1] == str(credentials)
    assert "AWS_SHARED_CREDENTIALS_FILE=aws-credentials" in result.files["export.sub"]
    assert not any("s3cr3tvalue" in text or "AKIAEXAMPLEKEY00" in text for text in result.files.values())


@pytest.mark.parametrize(("overrides", "key", "message"), [
    (("condor.filesystem=transfer",), "[condor] filesystem", "universe = container with container_image, or "
     "executable_dir"),
    ((*TRANSFER, "tune.enabled=true"), "[tune] enabled", "share one study journal"),
    ((*TRANSFER, "condor.url_map=/data=gsiftp://host/data"), "[condor] url_map", "not a URL HTCondor can fetch"),
])
def test_transfer_config_errors_name_the_key(micro_ini, run_env, overrides, key, message):
    with pytest.raises(ConfigError) as raised:
        build(micro_ini, overrides, dry_run=True)
    assert key in str(raised.value) and message in str(raised.value)
    assert not (run_env / "condor").exists()


def test_check_catches_an_access_point_path_slipped_into_a_template(micro_ini, run_env, off_tmp):
    condor = off_tmp
    build(micro_ini, (*TRANSFER, f"run.condor_dir={condor}"))
    assert not [f for f in check_run(condor) if f.severity == "error"]
    text = (condor / "infer.sub").read_text()
    (condor / "infer.sub").write_text(text.replace('arguments = "$(nodeargs)"',
                                                   f'arguments = "$(nodeargs) --psd {run_env}/results/psd.hdf5"'))
    errors = [str(f) for f in check_run(condor) if f.severity == "error"]
    assert any(re.search(rf"infer\.sub:\d+: arguments \(node 'infer-0000'\) names {run_env}", e) for e in errors), \
        errors
    (condor / "infer.sub").write_text(text.replace("transfer_input_files = $(inputs)", "transfer_input_files = "))
    errors = [str(f) for f in check_run(condor) if f.severity == "error"]
    assert any("reads injections.hdf5, which transfer_input_files does not send" in e for e in errors), errors


def test_build_creates_where_outputs_land(micro_ini, run_env):
    condor = run_env / "condor"
    result = build(micro_ini, (*TRANSFER, f"run.condor_dir={condor}"))
    assert (condor / "transfer").is_dir()
    for node in result.workflow.nodes:
        for output in node.outputs:
            assert Path(output).parent.is_dir(), output


def test_config_show_lists_the_transfer_keys(micro_ini, run_env, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["config", "show", str(micro_ini), *(word for pair in TRANSFER for word in ("--set", pair))])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "filesystem = transfer" in shown and "url_map =" in shown and "executable_dir =" in shown

"""The command line as a user meets it: exit codes, one-line errors, tracebacks only with --debug."""

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from aframe_dag import __version__
from aframe_dag.config.schema import SECTIONS
from aframe_dag.init.init import run_directories

AFRAME_DAG = shutil.which("aframe-dag", path=str(Path(sys.executable).parent)) or "aframe-dag"


def aframe_dag(*args, env=None, cwd=None):
    """Run the installed console script, as a user would."""
    return subprocess.run([AFRAME_DAG, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)


def assert_user_error(result, message):
    assert result.returncode == 2, result
    assert result.stderr.startswith("aframe-dag: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_lists_every_command():
    result = aframe_dag("--help")
    assert result.returncode == 0
    for command in ["init", "build", "check", "graph", "run", "status", "why", "resubmit", "config", "node-check"]:
        assert f"  {command} " in result.stdout


def test_version():
    assert aframe_dag("--version").stdout.strip() == f"aframe-dag, version {__version__}"


def test_init_then_config_show(tmp_path):
    run = tmp_path / "run"
    result = aframe_dag("init", "sandbox", "--directory", run, "--site", "local", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert f"source {run}/run.sh" in result.stdout
    names = ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]
    env = dict(os.environ, **{f"AFRAME_{name}": str(run / name.lower()) for name in names})
    shown = aframe_dag("config", "show", run / "run.ini", "--set", "testing.Tb=1000", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "\nTb = 1000\n" in shown.stdout
    assert f"\ncondor_dir = {run}/condor_dir\n" in shown.stdout
    assert "\n[stage:infer]\nrequest_cpus = 4\n" in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["config", "show", "missing.ini"], "missing.ini: cannot read: No such file or directory"),
    (["config", "show", "run.ini", "--set", "data.ifos"], "--set 'data.ifos': expected section.key=value"),
    (["init", "sandbox", "--directory", "r", "--s3-bucket", "bucket"], "expected s3://bucket[/prefix]"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "run.ini").write_text("[run]\n")
    assert_user_error(aframe_dag(*args, cwd=tmp_path), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ini"]


def test_config_error_in_a_file(tmp_path):
    (tmp_path / "run.ini").write_text("[data]\nkernel_lenght = 2\n")
    assert_user_error(aframe_dag("config", "show", tmp_path / "run.ini"),
                      f"{tmp_path}/run.ini: [data] kernel_lenght: unknown key (did you mean 'kernel_length'?)")


@pytest.mark.parametrize("text, message", [
    ("", "run.ini: [run] train_data_dir: environment variable AFRAME_TRAIN_DATA_DIR is not set"),
    ("[condor]\nsite = local\n[data]\nifos = H1, X1\n", "run.ini: [data] ifos: 'X1' is not one of C1, "),
    ("[condor]\nrequirements = 100%\nuse_oauth_services = $scitokens\n",
     "run.ini: [condor] use_oauth_services: a lone '$'"),
])
def test_a_bad_run_ini_is_one_line_and_exit_2(tmp_path, text, message):
    """Issue 20: an empty run.ini was an internal error (exit 1), an unknown ifo was accepted."""
    (tmp_path / "run.ini").write_text(text)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AFRAME_")}
    if "AFRAME_" not in message:
        env.update(run_directories(tmp_path, None))
    assert_user_error(aframe_dag("config", "show", tmp_path / "run.ini", env=env), message)
    assert_user_error(aframe_dag("build", tmp_path / "run.ini", env=env), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ini"]


def test_an_empty_run_ini_shows_aframe_defaults_and_build_says_what_to_set(tmp_path):
    (tmp_path / "run.ini").write_text("")
    env = dict(os.environ, **run_directories(tmp_path, None))
    (tmp_path / "train.yaml").write_text((resources.files("aframe_dag") / "configs" / "train.yaml").read_text())
    shown = aframe_dag("config", "show", tmp_path / "run.ini", env=env)
    assert shown.returncode == 0 and "\nTb = 31557600\n" in shown.stdout, shown.stderr
    assert_user_error(aframe_dag("build", tmp_path / "run.ini", env=env),
                      "run.ini: [condor] accounting_group: must be set for site 'ldg'")


def test_init_for_a_pool_says_what_to_set_and_config_show_marks_it(tmp_path):
    """Issue 20: init said nothing of accounting or /tmp, and config show printed nothing until accounting was set."""
    run = tmp_path / "run"
    result = aframe_dag("init", "sandbox", "--directory", run)
    assert result.returncode == 0, result.stderr
    assert f"next:\n  set [condor] accounting_group in {run}/run.ini (site 'ldg' requires it" in result.stdout
    assert ("is under /tmp, where DAGMan refuses" in result.stderr) == (Path("/tmp") in run.parents)
    env = dict(os.environ, **run_directories(run, None))
    shown = aframe_dag("config", "show", run / "run.ini", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "\n# MISSING: must be set for site 'ldg' (e.g. ligo.dev.o4.cbc.allsky.aframe;" in shown.stdout
    assert "or use site = local\naccounting_group =\n" in shown.stdout
    assert shown.stderr == (f"aframe-dag: warning: {run}/run.ini: [condor] accounting_group still to set (marked "
                            "MISSING above); build refuses the config until then\n")
    assert_user_error(aframe_dag("build", run / "run.ini", env=env), "[condor] accounting_group: must be set")


def test_init_site_must_be_a_profile(tmp_path):
    assert_user_error(aframe_dag("init", "sandbox", "-d", tmp_path / "r", "--site", "lgd"),
                      "--site 'lgd': no such site profile (did you mean 'ldg'?)")
    assert not (tmp_path / "r").exists()


def test_init_into_existing_run_refuses(tmp_path):
    assert aframe_dag("init", "sandbox", "-d", tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert_user_error(aframe_dag("init", "tune", "-d", tmp_path), "already exist; nothing written")
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_debug_shows_the_traceback(tmp_path):
    result = aframe_dag("--debug", "config", "show", tmp_path / "missing.ini")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "cannot read" in result.stderr


def test_usage_errors_exit_2():
    result = aframe_dag("init", "galaxy", "--directory", "x")
    assert result.returncode == 2 and "Invalid value" in result.stderr


def test_config_docs_documents_every_key():
    docs = aframe_dag("config", "docs").stdout
    for section, keys in SECTIONS.items():
        assert f"[{section}]" in docs
        for key, spec in keys.items():
            assert f"\n{key} =" in docs and spec.doc in docs


def test_readme_config_reference_is_current():
    """README's key reference is `config docs` verbatim; `make docs` refreshes it."""
    from scripts.readme_config import README, block

    assert block() in README.read_text()


def test_readme_names_every_command_and_option():
    """The README's command table is where a newcomer looks: a command or option missing there is one they never
    find (the shared --condor-dir/-C is described once, below the table)."""
    import click

    from aframe_dag.cli.main import cli
    from scripts.readme_config import README

    text = README.read_text()
    table = text[text.index("## Command line"):text.index("## The run directory")]
    missing = []
    commands = list(cli.commands.items())
    while commands:
        name, command = commands.pop()
        if isinstance(command, click.Group):
            commands += [(f"{name} {sub}", item) for sub, item in command.commands.items()]
            continue
        if f"aframe-dag {name}" not in table:
            missing.append(name)
        for parameter in command.params:
            options = [option for option in parameter.opts if option.startswith("--")]
            if options and options[0] not in ("--help", "--condor-dir") and options[0] not in table:
                missing.append(f"{name} {options[0]}")
    assert missing == []


def test_build_check_and_node_check_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    assert aframe_dag("init", "sandbox", "-d", run, "--site", "local", "--device", "cpu").returncode == 0
    names = ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]
    env = dict(os.environ, **{f"AFRAME_{name}": str(run / name.lower()) for name in names})
    built = aframe_dag("build", run / "run.ini", env=env)
    assert built.returncode == 0, built.stderr
    assert f"submit:        condor_submit_dag -batch-name run {run}/condor_dir/aframe.dag" in built.stdout
    assert "  infer              19" in built.stdout
    checked = aframe_dag("check", run / "condor_dir", "--local")
    assert checked.returncode == 0 and ": 0 errors, 0 warnings; " in checked.stdout, checked.stdout
    node = aframe_dag("node-check", run / "condor_dir", "export")
    assert node.returncode == 0 and node.stdout.strip() == "export: must run: no done-marker"
    again = aframe_dag("build", run / "run.ini", "--set", "sv.max_far=1", env=env)
    assert_user_error(again, "already holds a different DAG: changed [sv] max_far: 1000 -> 1; nothing written")


def test_build_submit_without_a_schedd_is_an_error(tmp_path):
    """Issue 20 (item 3): `build --submit` with no schedd exited 0 after "could not submit"."""
    run = tmp_path / "run"
    assert aframe_dag("init", "sandbox", "-d", run, "--site", "local", "--device", "cpu").returncode == 0
    names = ["TRAIN_DATA_DIR", "TEST_DATA_DIR", "TRAIN_RUN_DIR", "CONDOR_DIR", "RESULTS_DIR", "TMPDIR"]
    env = dict(os.environ, CONDOR_CONFIG="ONLY_ENV", **{f"AFRAME_{name}": str(run / name.lower()) for name in names})
    built = aframe_dag("build", run / "run.ini", "--submit", env=env)
    assert_user_error(built, "not submitted: this machine is not an HTCondor access point")
    assert f"or run it on this machine with `aframe-dag run {run}/condor_dir`" in built.stderr
    assert (run / "condor_dir" / "aframe.dag").is_file() and "submit:" in built.stdout


def test_check_reports_problems_on_stderr_with_exit_2(tmp_path):
    (tmp_path / "aframe.dag").write_text("JOB a a.sub\nPARENT a CHILD b\n")
    result = aframe_dag("check", tmp_path, "--local", "--no-htcondor-tools")
    assert result.returncode == 2
    assert "error: aframe.dag:2: PARENT/CHILD names node 'b'" in result.stderr


def test_nodes_doc_is_current():
    """docs/nodes.md is what the plan really passes to each program; `make docs` refreshes it."""
    from scripts.nodes_doc import DOC, text

    assert DOC.read_text() == text()

"""`aframe-dag check`: a valid rendered run has no findings; each rule catches its own broken variant of one.

Broken runs are made from a freshly rendered sandbox run in tmp_path, one edit each. HTCondor's own tools
(condor_dag_checker, condor_submit) come from PATH or from the HTCondor tarball in ../shared/htcondor (or
$AFRAME_DAG_HTCONDOR); the tests that need them are skipped with a reason when neither has them.
"""

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from aframe_dag import check
from aframe_dag.builder.render import find_bin_dir, render
from aframe_dag.check import check_run, format_findings, tools
from aframe_dag.check.rules import find_cycle
from aframe_dag.check.run import Finding, read_submit
from aframe_dag.config import load_config, resolved_text
from aframe_dag.names import RESOLVED
from aframe_dag.plan import plan

REPO_ROOT = Path(__file__).resolve().parents[3]
TOOLS = ("condor_dag_checker", "condor_submit")
TUNE = ["tune.enabled=true", "tune.space=optimizer.learning_rate: uniform(0.0001, 0.01)"]
ACCOUNTING = ["condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe", "condor.accounting_group_user=albert.einstein"]


@pytest.fixture(scope="session")
def htcondor_bin(tmp_path_factory):
    """A directory holding condor_dag_checker and condor_submit, or None: PATH first, else the tarball unpacked."""
    found = [shutil.which(tool) for tool in TOOLS]
    if all(found):
        return Path(found[0]).parent
    shared = Path(os.environ.get("AFRAME_DAG_HTCONDOR", REPO_ROOT.parent / "shared" / "htcondor"))
    tarballs = sorted(shared.glob("htcondor-*.tar.gz"))
    if not tarballs:
        return None
    target = tmp_path_factory.mktemp("htcondor")
    wanted = {f"htcondor/bin/{tool}" for tool in TOOLS}
    with tarfile.open(tarballs[-1]) as archive:
        members = [m for m in archive.getmembers() if m.name in wanted or m.name.startswith("htcondor/lib/lib")]
        archive.extractall(target, members, filter="data")
    return target / "htcondor" / "bin"


@pytest.fixture
def condor_tools(htcondor_bin, monkeypatch):
    """HTCondor's tools on PATH for this test; skipped with a reason without them."""
    if htcondor_bin is None:
        pytest.skip("no HTCondor tools: put condor_submit on PATH or set AFRAME_DAG_HTCONDOR to the tarball's dir")
    monkeypatch.setenv("PATH", f"{htcondor_bin}{os.pathsep}{os.environ['PATH']}")
    return htcondor_bin


@pytest.fixture
def tools_if_any(htcondor_bin, monkeypatch):
    """HTCondor's tools on PATH when there are any (the valid-run tests run with or without them)."""
    if htcondor_bin is not None:
        monkeypatch.setenv("PATH", f"{htcondor_bin}{os.pathsep}{os.environ['PATH']}")


def build_run(ini: Path, overrides=()) -> Path:
    """Render a run as `aframe-dag build` writes it (with run.ini.resolved); returns its condor dir."""
    config = load_config(ini, list(overrides))
    files = render(plan(config), config["condor"], find_bin_dir())
    files[RESOLVED] = resolved_text(config)
    condor_dir = Path(config["run"]["condor_dir"])
    condor_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (condor_dir / name).write_text(text)
    return condor_dir


@pytest.fixture
def run_dir(sandbox_ini):
    return build_run(sandbox_ini)


@pytest.fixture
def ldg_run_dir(sandbox_ini):
    sandbox_ini.write_text(sandbox_ini.read_text().replace("site = local", "site = ldg"))
    return build_run(sandbox_ini, ACCOUNTING)


def lint(condor_dir, **options):
    options.setdefault("submittable", False)
    options.setdefault("htcondor_tools", False)
    return check_run(condor_dir, **options)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def append(path: Path, *lines: str) -> int:
    """Append lines to a file; returns the line number of the first."""
    text = path.read_text()
    path.write_text(text + "".join(f"{line}\n" for line in lines))
    return len(text.splitlines()) + 1


def line_of(path: Path, start: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def only(findings) -> Finding:
    assert len(findings) == 1, format_findings(findings)
    return findings[0]


# ---- valid runs


@pytest.mark.parametrize("overrides", [[], TUNE], ids=["sandbox", "tune"])
def test_a_rendered_run_has_no_findings(sandbox_ini, tools_if_any, overrides):
    condor_dir = build_run(sandbox_ini, overrides)
    assert lint(condor_dir, htcondor_tools=True) == []
    assert not list(condor_dir.glob("*.condor.sub")), "the checks must not write into the condor dir"


def test_an_ldg_run_with_accounting_has_no_findings(ldg_run_dir, tools_if_any):
    assert lint(ldg_run_dir, htcondor_tools=True) == []


def test_submittable_refuses_only_tmp(run_dir):
    finding = only(lint(run_dir, submittable=True))
    assert finding.severity == "error" and finding.where == str(run_dir)
    assert "under /tmp" in finding.message


def test_missing_dir_and_missing_dag_are_findings(tmp_path):
    finding = only(lint(tmp_path / "nowhere"))
    assert finding.where == str(tmp_path / "nowhere") and "no such directory" in finding.message
    finding = only(lint(tmp_path))
    assert finding.where == str(tmp_path / "aframe.dag") and "no DAG here" in finding.message


def test_an_unreadable_dag_is_a_finding(run_dir):
    (run_dir / "aframe.dag").write_bytes(b"JOB a \xff\xfe\n")
    assert "cannot read the DAG" in only(errors(lint(run_dir))).message


def test_format_findings():
    findings = [Finding("error", "aframe.dag:12", "cycle: a -> b -> a"), Finding("warning", "x.sub", "hm")]
    assert format_findings(findings) == "error: aframe.dag:12: cycle: a -> b -> a\nwarning: x.sub: hm"


# ---- the DAG


def test_undefined_node_in_parent(run_dir):
    line = append(run_dir / "aframe.dag", "PARENT train CHILD nosuch")
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and "'nosuch'" in finding.message


def test_duplicate_job(run_dir):
    line = append(run_dir / "aframe.dag", f"JOB train {run_dir}/train.sub")
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and "defined twice" in finding.message


def test_cycle(run_dir):
    line = append(run_dir / "aframe.dag", "PARENT export CHILD train")
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and finding.message == "cycle: train -> export -> train"


def test_find_cycle_reports_one_path():
    assert find_cycle("abcd", {"a": ["b"], "b": ["c"], "c": ["d", "b"]}) == ["b", "c", "b"]
    assert find_cycle("abc", {"a": ["b", "c"], "b": ["c"]}) is None


def test_two_finals(run_dir):
    line = append(run_dir / "aframe.dag", f"FINAL summary2 {run_dir}/summary.sub",
                  'VARS summary2 node="summary2" nodeargs="x"')
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and "second FINAL node 'summary2'" in finding.message


def test_final_as_a_parent(run_dir):
    line = append(run_dir / "aframe.dag", "PARENT summary CHILD train")
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and "FINAL node 'summary' in PARENT/CHILD" in finding.message


@pytest.mark.parametrize("name", ["bad.name", "bad+name"])
def test_bad_node_name(run_dir, name):
    line = append(run_dir / "aframe.dag", f"JOB {name} {run_dir}/sv.sub", f'VARS {name} node="{name}" nodeargs="x"')
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line}" and f"'{name}' has characters outside" in finding.message


def test_no_config_line(run_dir):
    edit(run_dir / "aframe.dag", f"CONFIG {run_dir}/dagman.config\n", "")
    finding = only(lint(run_dir))
    assert finding.where == "aframe.dag" and "no CONFIG line" in finding.message


def test_two_config_lines(run_dir):
    (run_dir / "other.config").write_text("DAGMAN_MAX_JOBS_IDLE = 10\n")
    line = append(run_dir / "aframe.dag", f"CONFIG {run_dir}/other.config")
    assert [(f.where, f.message) for f in lint(run_dir)] == [
        ("aframe.dag", "htcondor2.Submit.from_dag: Multiple (2) configuration files provided."),
        (f"aframe.dag:{line}", "second CONFIG line (the first is line 4)"),
    ]


def test_missing_config_file(run_dir):
    (run_dir / "dagman.config").unlink()
    found = lint(run_dir)
    ours = [f for f in found if "from_dag" not in f.message]
    assert only(ours).where == f"aframe.dag:{line_of(run_dir / 'aframe.dag', 'CONFIG')}"
    assert "does not exist" in ours[0].message


def test_missing_submit_file(run_dir):
    (run_dir / "sv.sub").unlink()
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line_of(run_dir / 'aframe.dag', 'JOB sv ')}"
    assert "sv.sub of node 'sv' does not exist" in finding.message


def test_unused_submit_file_is_a_warning(run_dir):
    shutil.copy(run_dir / "sv.sub", run_dir / "old.sub")
    finding = only(lint(run_dir))
    assert finding.severity == "warning" and finding.where == "old.sub"


def test_dag_syntax_errors_are_all_reported(run_dir):
    first = append(run_dir / "aframe.dag", 'VARS train node="train', "FROB train", "DOT")
    assert [(f.where, f.message.split(":")[0]) for f in lint(run_dir)] == [
        (f"aframe.dag:{first}", "cannot read VARS (unbalanced quote?) at 'node=\"train'"),
        (f"aframe.dag:{first + 1}", "htcondor2.Submit.from_dag"),
        (f"aframe.dag:{first + 1}", "unknown DAG command 'FROB'"),
        (f"aframe.dag:{first + 2}", "DOT is missing an argument"),
    ]


def test_vars_without_nodeargs(run_dir):
    line = append(run_dir / "aframe.dag", f"JOB extra {run_dir}/sv.sub", 'VARS extra node="extra"')
    found = lint(run_dir)
    assert [f.where for f in found] == [f"aframe.dag:{line}", f"sv.sub:{line_of(run_dir / 'sv.sub', 'arguments')}"]
    assert "node 'extra' has no VARS nodeargs" in found[0].message
    assert "$(nodeargs) is undefined" in found[1].message and "'extra'" in found[1].message



def test_a_failing_rule_leaves_no_parser_running(run_dir, monkeypatch):
    """HTCondor's parser starts before our rules run; whatever they do, it is ended and reaped."""
    started = []

    def recording(run, name, argv, env):
        real_start(run, name, argv, env)
        started.append(run.started[name])

    def broken(run):
        raise RuntimeError("boom")

    real_start = tools._start
    monkeypatch.setattr(tools, "_start", recording)
    monkeypatch.setattr(check, "RULES", [broken])
    assert only(lint(run_dir)).message == "rule broken failed: RuntimeError: boom"
    assert started and all(process.returncode is not None for process in started)


def test_the_real_dag_parser_catches_what_ours_does_not(run_dir):
    config = f"CONFIG {run_dir}/dagman.config"
    edit(run_dir / "aframe.dag", config, f"{config} extra")
    finding = only(lint(run_dir))
    assert finding.where == f"aframe.dag:{line_of(run_dir / 'aframe.dag', 'CONFIG')}"
    assert finding.message == "htcondor2.Submit.from_dag: Failed to parse CONFIG command: Unexpected token 'extra'"


# ---- submit files


def test_read_submit_lines_and_continuations():
    commands = read_submit("# c\nexecutable = x\narguments = a \\\n  b\n\n+Foo = 1\nqueue\n")
    assert [(c.key, c.value, c.line) for c in commands] == [
        ("executable", "x", 2), ("arguments", "a b", 3), ("+Foo", "1", 6)]


def test_unparseable_submit_file(run_dir):
    edit(run_dir / "train.sub", "queue\n", "this is not a command\nqueue\n")
    line = line_of(run_dir / "train.sub", "this is")
    finding = only(lint(run_dir))
    assert finding.where == f"train.sub:{line}" and "htcondor2.Submit cannot parse" in finding.message


@pytest.mark.parametrize("command", ["requirements = (TARGET.Memory > 5 &&", "+AframeStage = (3 +",
                                     "request_memory = min({1, 2}"])
def test_bad_expression(run_dir, command):
    sub = run_dir / "train.sub"
    key = command.split(" =")[0]
    if key == "request_memory":
        edit(sub, "request_memory = min(", "request_memory_old = min(")
    edit(sub, "queue\n", f"{command}\nqueue\n")
    found = [f for f in lint(run_dir) if "expression" in f.message]
    assert only(found).where == f"train.sub:{line_of(sub, key + ' =')}"
    assert found[0].message.startswith(f"{key}: not a ClassAd expression")


def test_misspelt_submit_command(run_dir):
    edit(run_dir / "train.sub", "request_memory =", "request_memroy =")
    finding = only(lint(run_dir))
    assert finding.where == f"train.sub:{line_of(run_dir / 'train.sub', 'request_memroy')}"
    assert finding.message == "unknown submit command 'request_memroy' (did you mean 'request_memory'?)"


def test_custom_resource_request_is_a_warning(run_dir):
    edit(run_dir / "train.sub", "queue\n", "request_licenses = 1\nqueue\n")
    assert only(lint(run_dir)).severity == "warning"


def test_user_macros_and_attributes_are_not_unknown_commands(run_dir):
    edit(run_dir / "train.sub", "queue\n", "stage = train\n+AframeStage = \"$(stage)\"\nMY.Other = 1\nqueue\n")
    assert lint(run_dir) == []


def test_missing_accounting_group_on_ldg(ldg_run_dir):
    edit(ldg_run_dir / "infer.sub", "accounting_group = ligo.dev.o4.cbc.allsky.aframe\n", "")
    finding = only(lint(ldg_run_dir))
    assert finding.where == "infer.sub" and finding.message.startswith("no accounting_group (")


def test_missing_accounting_group_user_on_ldg(ldg_run_dir):
    edit(ldg_run_dir / "sv.sub", "accounting_group_user = albert.einstein\n", "")
    finding = only(lint(ldg_run_dir))
    assert finding.where == "sv.sub" and finding.message.startswith("no accounting_group_user")


def test_accounting_is_required_without_run_ini_resolved(run_dir):
    (run_dir / RESOLVED).unlink()
    finding = only(lint(run_dir))
    assert finding.where == "aframe.dag" and "no submit file sets accounting_group" in finding.message


def test_getenv_true(run_dir):
    edit(run_dir / "sv.sub", "queue\n", "getenv = true\nqueue\n")
    finding = only(lint(run_dir))
    assert finding.where == f"sv.sub:{line_of(run_dir / 'sv.sub', 'getenv')}"
    assert finding.message.startswith("getenv = true: LVK pools reject it")


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("line, message", [
    ("environment = \"AWS_SECRET_ACCESS_KEY=$ENV(AWS_SECRET_ACCESS_KEY)\"", "$ENV(AWS_SECRET_ACCESS_KEY) copies"),
    ("+AwsKey = \"$ENV(aws_access_key_id)\"", "$ENV(aws_access_key_id) copies"),
    ("environment = \"OMP_NUM_THREADS=1 AWS_ACCESS_KEY_ID=AKIAEXAMPLE\"", "sets AWS_ACCESS_KEY_ID:"),
    ("environment = \"AWS_SESSION_TOKEN='x y'\"", "sets AWS_SESSION_TOKEN:"),
], ids=["env-macro", "env-macro-attribute", "access-key", "session-token"])
def test_credentials_in_a_submit_file(run_dir, line, message):
    edit(run_dir / "train.sub", "queue\n", f"{line}\nqueue\n")
    finding = only([f for f in lint(run_dir) if "copies" in f.message or "sets AWS_" in f.message])
    assert finding.severity == "error" and finding.message.startswith(message)
    assert finding.where == f"train.sub:{len((run_dir / 'train.sub').read_text().splitlines()) - 1}"


def test_the_value_of_a_secret_variable_anywhere_in_the_dag(run_dir, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert lint(run_dir) == []
    line = append(run_dir / "aframe.dag", f'VARS sv extra="{SECRET}"')
    found = [f for f in lint(run_dir) if "AWS_SECRET_ACCESS_KEY" in f.message]
    assert [f.where for f in found] == [f"aframe.dag:{line}"]
    assert found[0].message == ("holds the value of $AWS_SECRET_ACCESS_KEY (not shown): credentials must never be "
                                "rendered")
    assert SECRET not in format_findings(lint(run_dir))


def test_the_value_of_a_secret_variable_in_a_submit_file(run_dir, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET + "token")
    edit(run_dir / "export.sub", "queue\n", f'+Token = "{SECRET}token"\nqueue\n')
    finding = only(lint(run_dir))
    assert finding.where == f"export.sub:{line_of(run_dir / 'export.sub', '+Token')}"
    assert "$AWS_SESSION_TOKEN" in finding.message and SECRET not in str(finding)


def test_getenv_of_aws_variables_is_caught(run_dir):
    edit(run_dir / "sv.sub", "queue\n", "getenv = AWS_*\nqueue\n")
    assert only(lint(run_dir)).message.startswith("getenv = AWS_*: LVK pools reject it")


def test_an_s3_run_renders_credential_paths_only(sandbox_ini, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    credentials = tmp_path / "credentials"
    condor_dir = build_run(sandbox_ini, ["run.train_data_dir=s3://bucket/data", "run.train_run_dir=s3://bucket/run",
                                         f"s3.credentials_file={credentials}", "s3.endpoint_url=https://s3.example"])
    assert lint(condor_dir) == []
    text = (condor_dir / "background.sub").read_text()
    assert f"AWS_SHARED_CREDENTIALS_FILE={credentials}" in text and "AWS_ENDPOINT_URL=https://s3.example" in text


def test_log_under_tmp_outside_the_condor_dir(run_dir):
    edit(run_dir / "sv.sub", f"log = {run_dir}/logs/sv.log", "log = /tmp/sv.log")
    found = lint(run_dir, submittable=True)
    assert [f.where for f in found] == [str(run_dir), f"sv.sub:{line_of(run_dir / 'sv.sub', 'log =')}"]
    assert found[1].message == "log /tmp/sv.log is under /tmp"


def test_undefined_macro(run_dir):
    edit(run_dir / "merge.sub", "$(node).err", "$(node_name).err")
    finding = only(lint(run_dir))
    assert finding.where == f"merge.sub:{line_of(run_dir / 'merge.sub', 'error =')}"
    assert finding.message.startswith("$(node_name) is undefined")


# ---- HTCondor's tools


def tool_findings(condor_dir, tool):
    return [f for f in lint(condor_dir, htcondor_tools=True) if f.message.startswith(f"{tool}:")]


def test_condor_dag_checker_catches_an_undefined_node(run_dir, condor_tools):
    line = append(run_dir / "aframe.dag", "PARENT train CHILD nosuch")
    finding = only(tool_findings(run_dir, "condor_dag_checker"))
    assert finding.where == f"aframe.dag:{line}"
    assert finding.message == "condor_dag_checker: PARENT: References to undefined nodes: Children [nosuch]"


def test_condor_dag_checker_catches_a_cycle(run_dir, condor_tools):
    append(run_dir / "aframe.dag", "PARENT export CHILD train")
    finding = only(tool_findings(run_dir, "condor_dag_checker"))
    assert finding.where == "aframe.dag" and finding.message.startswith("condor_dag_checker: cycle detected: ")
    assert "train -> export -> train" in finding.message


def test_condor_dag_checker_catches_a_second_final(run_dir, condor_tools):
    line = append(run_dir / "aframe.dag", f"FINAL summary2 {run_dir}/summary.sub")
    finding = only(tool_findings(run_dir, "condor_dag_checker"))
    assert finding.where == f"aframe.dag:{line}" and "Final node is already defined" in finding.message


def test_condor_submit_catches_a_bad_expression(run_dir, condor_tools):
    edit(run_dir / "train.sub", "queue\n", "periodic_hold = (NumJobStarts >\nqueue\n")
    finding = only(tool_findings(run_dir, "condor_submit"))
    assert finding.severity == "error" and finding.where == "train.sub"
    assert finding.message.startswith("condor_submit: Parse error in expression: PeriodicHold = (NumJobStarts >")


def test_condor_submit_catches_a_misspelt_command(run_dir, condor_tools):
    edit(run_dir / "train.sub", "notification =", "notificaton =")
    finding = only(tool_findings(run_dir, "condor_submit"))
    assert finding.severity == "warning" and finding.where == f"train.sub:{line_of(run_dir / 'train.sub', 'notif')}"
    assert "the line 'notificaton = never' was unused by condor_submit" in finding.message


def test_condor_submit_catches_a_missing_executable(run_dir, condor_tools):
    edit(run_dir / "sv.sub", "aframe-sv\n", "aframe-nope\n")
    finding = only(tool_findings(run_dir, "condor_submit"))
    assert finding.where == "sv.sub" and "Can't access executable file" in finding.message

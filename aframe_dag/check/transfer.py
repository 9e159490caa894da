"""`check`'s rules for jobs without a shared filesystem (`should_transfer_files = YES`): nothing names a path of the
access point, what the arguments read is transferred, URLs are ones HTCondor fetches, a container has its image.

They hold any DAG to them, so an access-point path slipped into a template (or a hand-edited submit file) is caught
before the jobs fail on a machine that cannot see it.
"""

from __future__ import annotations

import configparser
import re
import sys
from collections.abc import Callable, Iterator

from ..dagfile import DagNode
from ..names import RESOLVED
from ..sandbox import OUT_DIR, URL_SCHEMES, input_name, url_scheme
from .run import Command, Finding, Rule, Run, SubmitFile, error, registering

RULES: list[Rule] = []
rule = registering(RULES)

JOB_COMMANDS = ("executable", "arguments", "environment", "initialdir")
RUN_DIRECTORIES = ("train_data_dir", "test_data_dir", "train_run_dir", "results_dir", "tmp_dir", "condor_dir")
MACRO = re.compile(r"\$\((\w+)\)")
# An argument that names a data file in the sandbox: a relative name with one of the extensions our nodes read.
DATA_FILE = re.compile(r"(?:\d+:)?([\w.+-]+\.(?:hdf5|h5|hdf|gwf|yaml|yml|json|pt|ckpt|onnx|txt|xml|csv|ini))")


def transfer_submits(run: Run) -> Iterator[SubmitFile]:
    """The submit files whose jobs get their files by transfer."""
    for submit in run.readable_submits():
        setting = submit.get("should_transfer_files")
        if setting and setting.value.strip().upper() == "YES":
            yield submit


def access_point_roots(run: Run) -> list[str]:
    """Directories only the access point sees: the condor dir, this Python environment and the run's directories
    named in run.ini.resolved, less any that holds [condor] executable_dir, which the execute nodes are said to see."""
    roots = {str(run.condor_dir), sys.prefix}
    visible = ""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(run.condor_dir / RESOLVED)
        roots.update(parser.get("run", key) for key in RUN_DIRECTORIES if parser.has_option("run", key))
        visible = parser.get("condor", "executable_dir", fallback="").rstrip("/")
    except (OSError, UnicodeDecodeError, configparser.Error):
        pass  # the accounting rule reports an unreadable run.ini.resolved
    roots = {root.rstrip("/") for root in roots if root.startswith("/")}
    return sorted(root for root in roots if not visible or not (visible + "/").startswith(root + "/"))


def _expanded(value: str, variables: dict[str, str]) -> str:
    """A submit value with the node's VARS put in (other macros stay as written)."""
    return MACRO.sub(lambda match: variables.get(match.group(1), match.group(0)), value)


def _names_root(text: str, roots: list[str]) -> str | None:
    """The first access-point root a value names as a path, or None."""
    for root in roots:
        for match in re.finditer(re.escape(root) + r"(?=/|\s|$|['\";,])", text):
            if match.start() == 0 or text[match.start() - 1] in " \t'\"=:,;":
                return root
    return None


def _sent_executable(submit: SubmitFile) -> bool:
    """Whether condor_submit sends the executable with the job (vanilla, transfer_executable not false)."""
    sent = submit.get("transfer_executable")
    universe = submit.get("universe")
    return (not sent or sent.value.strip().lower() not in ("false", "no", "0")) and (
        not universe or universe.value.strip().lower() == "vanilla")


@rule
def no_access_point_paths(run: Run) -> Iterator[Finding]:
    """No access-point path in a transfer job's executable, arguments, environment or initialdir (an executable
    HTCondor sends is fine, unless it is a script of this environment, whose interpreter stays behind)."""
    roots = access_point_roots(run)
    for submit in transfer_submits(run):
        for key in JOB_COMMANDS:
            command = submit.get(key)
            if command is None:
                continue
            checked = [root for root in roots if root == sys.prefix] if key == "executable" and _sent_executable(
                submit) else roots
            for node in submit.nodes or [None]:
                value = _expanded(command.value, node.variables if node else {})
                root = _names_root(value, checked)
                if root:
                    whose = f" (node '{node.name}')" if node else ""
                    yield error(run.where(submit.path, command.line),
                                f"{key}{whose} names {root}, a path of the access point that execute nodes without "
                                "a shared filesystem cannot see: transfer the file, or use the image's or "
                                "[condor] executable_dir's path")
                    break


def _transfer_items(submit: SubmitFile, key: str, variables: dict[str, str]) -> list[str]:
    command = submit.get(key)
    text = _expanded(command.value, variables) if command else ""
    return [item.strip() for item in text.split(",") if item.strip()]


def _first_problem(run: Run, key: str, problem: Callable[[SubmitFile, Command, DagNode], str | None]) \
        -> Iterator[Finding]:
    """For each transfer submit file that sets ``key``: the first of its nodes whose ``problem`` is not None (one
    finding per file, however many thousand nodes share it)."""
    for submit in transfer_submits(run):
        command = submit.get(key)
        for node in submit.nodes if command else ():
            message = problem(submit, command, node)
            if message:
                yield error(run.where(submit.path, command.line), f"node '{node.name}' {message}")
                break


def _unsent_read(submit: SubmitFile, arguments: Command, node: DagNode) -> str | None:
    sent = {input_name(item) for item in _transfer_items(submit, "transfer_input_files", node.variables)}
    words = _expanded(arguments.value, node.variables).strip('"').split()
    missing = [match.group(1) for word in words if (match := DATA_FILE.fullmatch(word)) and match.group(1) not in sent]
    return f"reads {missing[0]}, which transfer_input_files does not send (outputs go under {OUT_DIR}/)" \
        if missing else None


def _unknown_url(submit: SubmitFile, inputs: Command, node: DagNode) -> str | None:
    unknown = [item for item in _transfer_items(submit, "transfer_input_files", node.variables)
               if (scheme := url_scheme(item)) and scheme not in URL_SCHEMES]
    return f"is sent {unknown[0]}: HTCondor has no plugin for its scheme (known: {', '.join(URL_SCHEMES)})" \
        if unknown else None


@rule
def inputs_declared(run: Run) -> Iterator[Finding]:
    """Every data file a transfer job's arguments name in its sandbox is one it is sent (transfer_input_files) or
    one it writes (under the outputs directory)."""
    yield from _first_problem(run, "arguments", _unsent_read)


@rule
def known_url_schemes(run: Run) -> Iterator[Finding]:
    """Every URL a transfer job is sent has a scheme HTCondor's transfer plugins fetch."""
    yield from _first_problem(run, "transfer_input_files", _unknown_url)


@rule
def container_image_given(run: Run) -> Iterator[Finding]:
    """A container-universe job names its image."""
    for submit in run.readable_submits():
        universe = submit.get("universe")
        image = submit.get("container_image")
        if universe and universe.value.strip().lower() == "container" and not (image and image.value.strip()):
            yield error(run.where(submit.path, universe.line), "universe = container without a container_image")

"""`aframe-dag check CONDOR_DIR`: lint a built condor dir before DAGMan sees it.

`check_run` loads the run once (the DAG, every submit file its JOB lines name, run.ini.resolved) and hands it to
each rule in `RULES`; a rule is a small function that yields `Finding`s. Nothing here raises for a broken run dir,
and nothing is written into it.

What each layer was seen to catch (HTCondor 25.0.13 tools, htcondor 25.14.1 wheel):

* Our own rules: DAG syntax with file:line (the `dagfile` parser: undefined or duplicate nodes, unknown commands,
  inline comments, unterminated quotes), node names outside ``[A-Za-z0-9_-]``, FINAL misuse, cycles (one path),
  CONFIG, missing submit files, unknown submit commands (with did-you-mean, including a misspelt ``request_*``,
  which HTCondor reads as a custom-resource request), ClassAd expressions, accounting, getenv, ``/tmp``,
  node VARS and undefined ``$(macros)``.
* ``htcondor2.Submit(text)``: only lines that are neither ``key = value``, a queue statement nor a directive; it
  says "parse_up_to_q_line() failed" without a line, so the line is found by parsing growing prefixes. It accepts
  unknown commands, broken expressions and undefined macros.
* ``htcondor2.Submit.from_dag`` (condor_submit_dag's own pre-parse, with a stub ``condor_dagman`` on PATH): unknown
  DAG commands (file:line), CONFIG problems (a second CONFIG, a missing config file, extra words after the file
  name), SET_JOB_ATTR and ENV syntax. Not undefined or duplicate nodes, cycles, FINAL misuse or VARS quoting:
  condor_dagman itself parses those. It writes ``<dag>.condor.sub`` beside the DAG, so it reads a link in scratch.
* ``condor_dag_checker -json`` (HTCondor >= 24.10): DAGMan's parser and graph checks: undefined nodes in
  PARENT/CHILD, a node defined twice, a second FINAL, FINAL in PARENT/CHILD, ``+`` in a node name, VARS quoting,
  inline comments (as "Unexpected token '#'"), CONFIG problems, cycles (the cycle path, or "No initial nodes
  discovered", at line 0). Not missing submit files, anything inside a submit file, or ``/tmp``.
* ``condor_submit -dry-run``: ClassAd parse errors (requirements, periodic_*, ``+Attr``), a missing executable,
  bad values for universe / notification / should_transfer_files / environment, and "the line 'k = v' was unused
  by condor_submit. Is it a typo?" warnings for unknown commands. Not a misspelt ``request_*``, ``getenv = true``,
  a missing accounting_group or an undefined macro (it expands to nothing).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .condordir.dag import dag_path
from .condordir.names import CONDOR_SUB, DAG_FILE, RESOLVED
from .dagfile import SUBDAG, Dag, DagNode, DagSyntaxError, parse_dag
from .errors import UserError, did_you_mean
from .plan.model import NODE_NAME, RESERVED_NAMES

NODE_VARS = ("node", "nodeargs")
TOOL_TIMEOUT = 120
STANDARD_CONFIGS = ("/etc/condor/condor_config", "/usr/local/etc/condor_config", "~condor/condor_config")

# Submit commands condor_submit 25.0.13 knows: none of these draws its "was unused ... Is it a typo?" warning
# (some only in their context: gpus_* with request_gpus, cron_* and deferral_* together, grid_resource in the grid
# universe). `+Attr`, `MY.Attr`, `<service>_oauth_*` and user macros used as $(name) are accepted separately.
SUBMIT_COMMANDS = frozenset("""
    universe executable arguments arguments2 environment env getenv input output error log log_xml
    stream_input stream_output stream_error initialdir initial_dir iwd notification notify_user email_attributes
    priority prio nice_user job_lease_duration batch_name description
    request_cpus request_memory request_disk request_gpus gpus_minimum_capability gpus_maximum_capability
    gpus_minimum_memory gpus_minimum_runtime require_gpus requirements rank cuda_version
    accounting_group accounting_group_user concurrency_limits concurrency_limits_expr
    periodic_hold periodic_hold_reason periodic_hold_subcode periodic_release periodic_remove periodic_vacate
    on_exit_hold on_exit_hold_reason on_exit_hold_subcode on_exit_remove max_retries retry_until success_exit_code
    allowed_execute_duration allowed_job_duration max_job_retirement_time job_max_vacate_time kill_sig
    kill_sig_timeout remove_kill_sig hold_kill_sig want_graceful_removal leave_in_queue next_job_start_delay hold
    job_machine_attrs job_machine_attrs_history_length job_ad_information_attrs ulog_execute_attrs
    deferral_time deferral_window deferral_prep_time
    cron_minute cron_hour cron_day_of_month cron_month cron_day_of_week cron_prep_time cron_window
    checkpoint_exit_code checkpoint_destination transfer_checkpoint_files
    should_transfer_files when_to_transfer_output transfer_input_files transfer_output_files transfer_output_remaps
    transfer_executable transfer_input transfer_output transfer_error transfer_plugins transfer_container
    preserve_relative_paths max_transfer_input_mb max_transfer_output_mb output_destination
    encrypt_input_files encrypt_output_files dont_encrypt_input_files dont_encrypt_output_files
    encrypt_execute_directory erase_output_and_error_on_restart skip_filechecks
    container_image container_service_names container_target_dir mount_under_scratch
    docker_image docker_network_type docker_pull_policy docker_override_entrypoint
    use_oauth_services use_scitokens scitokens_file x509userproxy use_x509userproxy
    aws_access_key_id_file aws_secret_access_key_file aws_region s3_access_key_id_file s3_secret_access_key_file
    gs_access_key_id_file gs_secret_access_key_file
    coresize copy_to_spool image_size machine_count max_materialize materialize_max_idle max_idle keep_claim_idle
    load_profile run_as_owner submit_event_notes match_list_length stack_size starter_debug want_io_proxy
    buffer_size buffer_block_size append_files compress_files fetch_files local_files file_remaps
    jar_files java_vm_args grid_resource batch_queue batch_project batch_runtime batch_extra_submit_args
    vm_type vm_memory vm_disk vm_networking vm_networking_type vm_checkpoint vm_vcpus vm_macaddr vm_no_output_vm
    noop_job noop_job_exit_code noop_job_exit_signal dagman_log manifest manifest_dir
""".split())
REQUESTS = [command[8:] for command in SUBMIT_COMMANDS if command.startswith("request_")]
OAUTH_COMMAND = re.compile(r"\w+_oauth_(permissions|resource)(_\w+)?", re.IGNORECASE)
# Values that are ClassAd expressions (request_* too, unless a plain size such as 4096, 16384MB or 4 GB).
EXPRESSION_COMMANDS = frozenset("""
    requirements rank require_gpus periodic_hold periodic_hold_reason periodic_hold_subcode periodic_release
    periodic_remove periodic_vacate on_exit_hold on_exit_hold_reason on_exit_hold_subcode on_exit_remove
    concurrency_limits_expr
""".split())
PLAIN_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGTP]i?B?)?", re.IGNORECASE)
# Macros a node's submit file may use without defining: condor_submit's own and those DAGMan gives its nodes.
BUILTIN_MACROS = frozenset(name.lower() for name in """
    Cluster ClusterId Process ProcId Node Step Item ItemIndex Row Year Month Day SUBMIT_FILE SUBMIT_TIME
    SUBMIT_CONDOR_PLATFORM SUBMIT_CONDOR_VERSION Arch OpSys OpSysAndVer OpSysMajorVer OpSysVer DOLLAR
    JOB RETRY DAG_STATUS FAILED_COUNT DAGManJobId
""".split())
MACRO_USE = re.compile(r"(?<!\$)\$(F[A-Za-z]*|INT|REAL|SUBSTR)?\(([A-Za-z_][\w.]*)(:?)")
ANY_MACRO = re.compile(r"\$\$?\([^)]*\)|\$(?:ENV|RANDOM_CHOICE|RANDOM_INTEGER|CHOICE)\([^)]*\)")
ASSIGNMENT = re.compile(r"([A-Za-z_+][\w.+-]*)\s*=(.*)$")
MULTILINE = re.compile(r"([A-Za-z_+][\w.+-]*)\s*@=\s*(\S+)\s*$")
UNUSED_LINE = re.compile(r"the line '([^=']+?)\s*=.*' was unused by condor_submit")
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem: severity "error" or "warning", where ("file:line" or "file", relative to the condor dir)."""

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclass
class Command:
    """One `key = value` of a submit file and its line."""

    key: str
    value: str
    line: int


@dataclass
class SubmitFile:
    """A submit file that JOB lines name, its commands, and the nodes that use it."""

    path: Path
    nodes: list[DagNode]
    text: str | None = None
    commands: list[Command] = field(default_factory=list)
    read_error: str | None = None
    parses: bool = True

    def get(self, key: str) -> Command | None:
        """The command that sets key (case-insensitive; the last one wins, as in condor_submit)."""
        found = [command for command in self.commands if command.key.lower() == key]
        return found[-1] if found else None


@dataclass
class Run:
    """Everything the rules look at, loaded once."""

    condor_dir: Path
    dag_file: Path
    scratch: Path
    submittable: bool
    htcondor_tools: bool
    dag: Dag | None = None
    dag_text: str = ""
    dag_problems: list[DagSyntaxError] = field(default_factory=list)
    dag_error: str | None = None
    submits: dict[Path, SubmitFile] = field(default_factory=dict)
    require_accounting: bool = True
    resolved_error: str | None = None
    started: dict[str, subprocess.Popen | OSError] = field(default_factory=dict)

    def where(self, path, line: int | None = None) -> str:
        """A path as findings show it: relative to the condor dir when inside it, with :line when known."""
        path = Path(path)
        if not path.is_absolute():
            path = self.dag_file.parent / path
        try:
            shown = str(path.relative_to(self.condor_dir))
        except ValueError:
            shown = str(path)
        return f"{shown}:{line}" if line else shown

    @property
    def built(self) -> bool:
        """Whether `aframe-dag build` wrote the DAG: its conventions (CONFIG, VARS node/nodeargs, names, a FINAL
        summary, accounting) are checked only then; any other DAG is held to DAGMan's rules alone."""
        return self.dag_text.startswith("# aframe-dag ")

    def node_where(self, node: DagNode) -> str:
        """Where a node is defined: the DAG, or the INCLUDE or SPLICE file it came from."""
        return self.where(node.source or self.dag_file, node.line)

    def submit_path(self, node: DagNode) -> Path:
        """Where DAGMan finds a node's submit file (relative paths start at the DAG's dir, or its DIR)."""
        path = Path(node.submit)
        if path.is_absolute():
            return path
        base = self.dag_file.parent / node.directory if node.directory else self.dag_file.parent
        return base / path

    def readable_submits(self) -> Iterator[SubmitFile]:
        return (submit for submit in self.submits.values() if submit.text is not None)


Rule = Callable[[Run], Iterable[Finding]]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    """Register a rule; check_run runs them in this order."""
    RULES.append(function)
    return function


def _error(where: str, message: str) -> Finding:
    return Finding("error", where, message)


def _warning(where: str, message: str) -> Finding:
    return Finding("warning", where, message)


def _under_tmp(path: Path) -> bool:
    candidates = {Path(os.path.abspath(path)), path.resolve()}
    return any(p == Path("/tmp") or Path("/tmp") in p.parents for p in candidates)


# ---- loading


def read_submit(text: str) -> list[Command]:
    """The `key = value` commands of a submit file with their lines (queue statements and directives left out)."""
    commands: list[Command] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].strip()
        index += 1
        while line.endswith("\\") and index < len(lines):
            line = line[:-1].rstrip() + " " + lines[index].strip()
            index += 1
        if not line or line.startswith("#"):
            continue
        if match := MULTILINE.match(line):
            body = []
            while index < len(lines) and lines[index].strip() != f"@{match.group(2)}":
                body.append(lines[index])
                index += 1
            index += 1
            commands.append(Command(match.group(1), "\n".join(body), number))
        elif match := ASSIGNMENT.match(line):
            commands.append(Command(match.group(1), match.group(2).strip(), number))
    return commands


def _require_accounting(run: Run) -> None:
    path = run.condor_dir / RESOLVED
    if not path.exists():
        return
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text(), str(path))
        value = parser.get("condor", "require_accounting", fallback="true")
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        run.resolved_error = str(exc).splitlines()[0]
        return
    run.require_accounting = value.strip().lower() not in ("false", "no", "0", "off")


def load_run(run: Run) -> None:
    """Read the DAG, the submit files its JOB lines name, and run.ini.resolved into run."""
    try:
        run.dag_text = run.dag_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        run.dag_error = f"cannot read the DAG: {exc}"
        return
    run.dag = parse_dag(run.dag_text, run.dag_file, run.dag_problems)
    by_name: dict[tuple[str, str | None], SubmitFile] = {}  # thousands of nodes share a handful of submit files
    for node in run.dag.nodes.values():
        if node.inline is not None or node.kind == SUBDAG:
            continue  # a description in the DAG itself, or a sub-DAG: no submit file to read
        submit = by_name.get((node.submit, node.directory))
        if submit is None:
            path = run.submit_path(node)
            submit = by_name[node.submit, node.directory] = run.submits.setdefault(path, SubmitFile(path, []))
        submit.nodes.append(node)
    for submit in run.submits.values():
        try:
            submit.text = submit.path.read_text()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            submit.read_error = str(exc)
            continue
        submit.commands = read_submit(submit.text)
    _require_accounting(run)


# ---- the DAG


@rule
def dag_parses(run: Run) -> Iterator[Finding]:
    """The DAG reads and parses (undefined or duplicate nodes, unknown commands, quoting, inline comments)."""
    if run.dag_error:
        yield _error(run.where(run.dag_file), run.dag_error)
    prefix = f"{run.dag_file}:"
    for problem in run.dag_problems:
        text = str(problem)
        match = re.match(r"(\d+): (.*)", text[len(prefix):], re.DOTALL) if text.startswith(prefix) else None
        if match:
            yield _error(run.where(run.dag_file, int(match.group(1))), match.group(2))
        else:
            yield _error(run.where(run.dag_file), text)


@rule
def node_names(run: Run) -> Iterator[Finding]:
    """Node names use only [A-Za-z0-9_-] (DAGMan reserves '+' for splices; '.' breaks our file names)."""
    for node in run.dag.nodes.values() if run.dag and run.built else ():
        if not NODE_NAME.fullmatch(node.name):
            yield _error(run.where(run.dag_file, node.line),
                         f"node name '{node.name}' has characters outside [A-Za-z0-9_-]")
        elif node.name.upper() in RESERVED_NAMES:
            yield _error(run.where(run.dag_file, node.line), f"node name '{node.name}' is a DAGMan keyword")


@rule
def final_node(run: Run) -> Iterator[Finding]:
    """One FINAL node, never in PARENT/CHILD (it runs last, by itself); aframe DAGs end with the summary."""
    if run.dag is None:
        return
    finals = [node for node in run.dag.nodes.values() if node.final]
    if not finals and run.built:
        yield _warning(run.where(run.dag_file), "no FINAL node (an aframe DAG ends with its summary FINAL node)")
    for extra in finals[1:]:
        yield _error(run.where(run.dag_file, extra.line),
                     f"second FINAL node '{extra.name}' (the first is '{finals[0].name}' at line "
                     f"{finals[0].line}); DAGMan allows one")
    names = {node.name for node in finals}
    lines = {(name, line) for (parent, child), line in run.dag.edge_lines.items()
             for name in (parent, child) if name in names}
    for name, line in sorted(lines, key=lambda found: found[1]):
        yield _error(run.where(run.dag_file, line),
                     f"FINAL node '{name}' in PARENT/CHILD: a FINAL node can have no parents or children")


def find_cycle(names: Iterable[str], children: dict[str, list[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts (a -> b -> a), or None; iterative depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in names:
        if start in state:
            continue
        path, stack = [start], [iter(children.get(start, ()))]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(children.get(child, ())))
    return None


@rule
def no_cycles(run: Run) -> Iterator[Finding]:
    """PARENT/CHILD edges form no cycle (one cycle is reported, at the line of the edge that closes it)."""
    if run.dag is None:
        return
    nodes = run.dag.nodes
    if all(nodes[parent].line < nodes[child].line for child, parents in run.dag.parents.items() for parent in parents):
        return  # every edge points down the file, as in every DAG build writes: no cycle can close
    cycle = find_cycle(nodes, run.dag.children())
    if cycle:
        line = run.dag.edge_lines.get((cycle[-2], cycle[-1]))
        yield _error(run.where(run.dag_file, line), "cycle: " + " -> ".join(cycle))


@rule
def one_config(run: Run) -> Iterator[Finding]:
    """Exactly one CONFIG line, naming a file that exists."""
    if run.dag is None:
        return
    lines = run.dag.setting_lines("CONFIG")
    if not lines and run.built:
        yield _error(run.where(run.dag_file), "no CONFIG line (the DAG must name its dagman.config)")
    for number, _ in lines[1:]:
        yield _error(run.where(run.dag_file, number), f"second CONFIG line (the first is line {lines[0][0]})")
    for number, words in lines[:1]:
        if len(words) > 1 and not (run.dag_file.parent / words[1]).is_file():
            yield _error(run.where(run.dag_file, number), f"config file {words[1]} does not exist")


@rule
def submit_files_exist(run: Run) -> Iterator[Finding]:
    """Every JOB's submit file exists and reads."""
    for submit in run.submits.values():
        first = submit.nodes[0]
        others = f" and {len(submit.nodes) - 1} more" if len(submit.nodes) > 1 else ""
        if submit.read_error:
            yield _error(run.where(submit.path), f"cannot read: {submit.read_error}")
        elif submit.text is None:
            yield _error(run.where(run.dag_file, first.line),
                         f"submit file {submit.path} of node '{first.name}'{others} does not exist")


@rule
def unused_submit_files(run: Run) -> Iterator[Finding]:
    """Submit files in the condor dir that no node uses are left over from an earlier build."""
    if run.dag is None:
        return
    used = {path.resolve() for path in run.submits}
    for path in sorted(run.condor_dir.glob("*.sub")):
        if path.resolve() not in used and not path.name.endswith(CONDOR_SUB):
            yield _warning(run.where(path), "no node uses this submit file (left over from an earlier build?)")


@rule
def splice_dagman_loses(run: Run) -> Iterator[Finding]:
    """DAGMan 25.0.13 does not find a splice named in PARENT/CHILD when the DAG also has an INCLUDE or a submit
    description in braces ("Unknown Node"; docs/design-notes.md), though the manual allows both."""
    if run.dag is None or not run.dag.splices:
        return
    rows = [(number, line.split()) for number, line in enumerate(run.dag_text.splitlines(), 1)]
    trigger = next((words[0] for _, words in rows if words and (words[0].upper() == "INCLUDE" or words[-1] == "{")),
                   None)
    for number, words in rows if trigger else ():
        if words and words[0].upper() == "PARENT" and set(words) & set(run.dag.splices):
            yield _warning(run.where(run.dag_file, number),
                           f"HTCondor 25.0's DAGMan fails on a splice in PARENT/CHILD in a DAG that also has "
                           f"{'an INCLUDE' if trigger.upper() == 'INCLUDE' else 'a submit description in braces'}"
                           " (Unknown Node): name the splice's nodes instead, or drop that command")


@rule
def not_under_tmp(run: Run) -> Iterator[Finding]:
    """Nothing DAGMan logs to lies under /tmp (production DAGMan refuses a node log there): only when submittable."""
    if not run.submittable:
        return
    if _under_tmp(run.condor_dir):
        yield _error(str(run.condor_dir), "the condor dir is under /tmp, where DAGMan refuses node logs "
                     "(DAGMAN_AVOID_SLASH_TMP); build the run on a home or shared filesystem")

    def inside(path: Path) -> bool:  # already reported with the condor dir
        return run.condor_dir == path or run.condor_dir in path.parents

    for command in ("NODE_STATUS_FILE", "JOBSTATE_LOG"):
        for number, words in run.dag.setting_lines(command) if run.dag else ():
            path = Path(os.path.abspath(run.dag_file.parent / words[1])) if len(words) > 1 else None
            if path and _under_tmp(path) and not inside(path):
                yield _error(run.where(run.dag_file, number), f"{command} {words[1]} is under /tmp")
    for submit in run.readable_submits():
        log = submit.get("log")
        if log and log.value:
            path = Path(os.path.abspath(submit.path.parent / log.value))
            if _under_tmp(path) and not inside(path):
                yield _error(run.where(submit.path, log.line), f"log {log.value} is under /tmp")


@rule
def node_vars(run: Run) -> Iterator[Finding]:
    """Every node's VARS gives node (its own name) and nodeargs, which the submit files use."""
    for node in run.dag.nodes.values() if run.dag and run.built else ():
        missing = [name for name in NODE_VARS if name not in node.variables]
        if missing:
            yield _error(run.where(run.dag_file, node.line), f"node '{node.name}' has no VARS " + ", ".join(missing))
        elif node.variables["node"] != node.name:
            yield _error(run.where(run.dag_file, node.line),
                         f"node '{node.name}' has VARS node=\"{node.variables['node']}\", not its own name")


# ---- submit files


def _failing_line(text: str, parse: Callable[[str], object]) -> int | None:
    """The first line whose prefix parse refuses (parse errors carry no line)."""
    lines = text.splitlines()
    for number in range(1, len(lines) + 1):
        try:
            parse("\n".join(lines[:number]) + "\n")
        except Exception:  # noqa: BLE001 - htcondor2 raises ValueError or HTCondorException
            return number
    return None


@rule
def submit_files_parse(run: Run) -> Iterator[Finding]:
    """Every submit file parses with htcondor2.Submit."""
    try:
        import htcondor2
    except ImportError as exc:
        yield _warning(run.where(run.dag_file), f"htcondor2 is not importable ({exc}); submit files not parsed")
        return
    for submit in run.readable_submits():
        try:
            htcondor2.Submit(submit.text)
        except Exception as exc:  # noqa: BLE001
            submit.parses = False
            line = _failing_line(submit.text, htcondor2.Submit)
            shown = f": {submit.text.splitlines()[line - 1].strip()!r}" if line else ""
            yield _error(run.where(submit.path, line), f"htcondor2.Submit cannot parse this{shown} ({exc})")


def _is_expression(key: str, value: str) -> bool:
    key = key.lower()
    if key.startswith(("+", "my.")) or key in EXPRESSION_COMMANDS:
        return True
    return key.startswith("request_") and not PLAIN_SIZE.fullmatch(value)


@rule
def expressions_parse(run: Run) -> Iterator[Finding]:
    """Every ClassAd expression value parses with classad2 ($(macros) stand in as attribute references)."""
    try:
        import classad2
    except ImportError as exc:
        yield _warning(run.where(run.dag_file), f"classad2 is not importable ({exc}); expressions not parsed")
        return
    for submit in run.readable_submits():
        for command in submit.commands:
            if not command.value or not _is_expression(command.key, command.value):
                continue
            try:
                classad2.ExprTree(ANY_MACRO.sub("aframe_macro", command.value))
            except Exception:  # noqa: BLE001 - classad2 raises ClassAdException
                yield _error(run.where(submit.path, command.line),
                             f"{command.key}: not a ClassAd expression: {command.value}")


def _macro_names(submit: SubmitFile) -> set[str]:
    """Names the file uses as $(name) (lower case)."""
    return {match.group(2).lower() for command in submit.commands for match in MACRO_USE.finditer(command.value)}


@rule
def known_commands(run: Run) -> Iterator[Finding]:
    """Every key is a submit command HTCondor knows, a +Attr / MY.Attr, or a macro the file uses."""
    for submit in run.readable_submits():
        macros = _macro_names(submit)
        for command in submit.commands:
            key = command.key.lower()
            if (key in SUBMIT_COMMANDS or key.startswith(("+", "my.")) or key in macros
                    or OAUTH_COMMAND.fullmatch(key)):
                continue
            where = run.where(submit.path, command.line)
            if key.startswith("request_") and not did_you_mean(key[8:], REQUESTS):
                yield _warning(where, f"{command.key} requests a custom machine resource; no pool may offer it")
            else:
                yield _error(where, f"unknown submit command '{command.key}'{did_you_mean(key, SUBMIT_COMMANDS)}")


@rule
def accounting(run: Run) -> Iterator[Finding]:
    """accounting_group on every submit file (and accounting_group_user on all if on any), unless not required."""
    if run.resolved_error:
        yield _warning(run.where(run.condor_dir / RESOLVED),
                       f"cannot read it ({run.resolved_error}); accounting is checked as required")
    if not run.require_accounting or not run.built:
        return
    submits = list(run.readable_submits())
    with_user = [s for s in submits if (c := s.get("accounting_group_user")) and c.value]
    lacking = [s for s in submits if not ((c := s.get("accounting_group")) and c.value)]
    advice = "LVK pools refuse jobs without one; set [condor] accounting_group, or site = local for a personal pool"
    if submits and len(lacking) == len(submits):
        yield _error(run.where(run.dag_file), f"no submit file sets accounting_group ({advice})")
    for submit in submits:
        if submit in lacking and len(lacking) < len(submits):
            yield _error(run.where(submit.path), f"no accounting_group ({advice})")
        if with_user and submit not in with_user:
            yield _error(run.where(submit.path),
                         f"no accounting_group_user, which {run.where(with_user[0].path)} sets")


@rule
def no_getenv(run: Run) -> Iterator[Finding]:
    """No getenv other than false: LVK pools reject jobs that copy the submitter's environment."""
    for submit in run.readable_submits():
        for command in submit.commands:
            if command.key.lower() == "getenv" and command.value.strip().lower() != "false":
                yield _error(run.where(submit.path, command.line),
                             f"getenv = {command.value}: LVK pools reject it; set environment explicitly")


SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
SECRET_ASSIGNMENT = re.compile(r"\b(" + "|".join(SECRET_VARIABLES) + r")\s*=")
# The same without its leading \b, which makes re try every position of a 100 MB DAG (seconds, not ms).
SECRET_HINT = re.compile("(" + "|".join(SECRET_VARIABLES) + r")\s*=")
ENV_MACRO = re.compile(r"\$ENV\(\s*(AWS_\w*)", re.IGNORECASE)
MIN_SECRET_LENGTH = 8  # shorter values of those variables (test stubs) would match by chance


def _secret_lines(text: str, values: dict[str, str]) -> Iterator[tuple[int, str]]:
    """(line, message) for each line that would hand a job a secret (its first problem); a value found is named,
    never shown."""
    if not (ENV_MACRO.search(text) or SECRET_HINT.search(text) or any(v in text for v in values.values())):
        return  # the usual case, decided in one pass over the file instead of one per line
    for number, line in enumerate(text.splitlines(), 1):
        found = [name for name, value in values.items() if value in line]
        if match := ENV_MACRO.search(line):
            yield number, (f"$ENV({match[1]}) copies the submitter's value into the job ClassAd; give jobs "
                           "AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE ([s3] credentials_file, profile) instead")
        elif match := SECRET_ASSIGNMENT.search(line):
            yield number, (f"sets {match[1]}: credentials reach jobs only as the path of a credentials file "
                           "(AWS_SHARED_CREDENTIALS_FILE)")
        elif found:
            yield number, f"holds the value of ${found[0]} (not shown): credentials must never be rendered"


@rule
def no_secrets(run: Run) -> Iterator[Finding]:
    """No DAG or submit file holds AWS credentials: no $ENV(AWS_...), no AWS_SECRET_ACCESS_KEY=/AWS_ACCESS_KEY_ID=/
    AWS_SESSION_TOKEN= and not the values those variables have here (getenv is the no_getenv rule's)."""
    values = {name: os.environ[name] for name in SECRET_VARIABLES
              if len(os.environ.get(name, "").strip()) >= MIN_SECRET_LENGTH}
    files = [(run.dag_file, run.dag_text)] + [(submit.path, submit.text) for submit in run.readable_submits()]
    for path, text in files:
        for number, message in _secret_lines(text, values):
            yield _error(run.where(path, number), message)


@rule
def macros_defined(run: Run) -> Iterator[Finding]:
    """Every $(name) a submit file uses is built in, defined in the file, or given by each user node's VARS."""
    for submit in run.readable_submits():
        defined = {command.key.lower() for command in submit.commands}
        reported = set()
        for command in submit.commands:
            for match in MACRO_USE.finditer(command.value):
                name = match.group(2).lower()
                if match.group(3) or name in BUILTIN_MACROS or name in defined or name in reported:
                    continue
                lacking = [node for node in submit.nodes if name not in {k.lower() for k in node.variables}]
                if not lacking:
                    continue
                reported.add(name)
                node = lacking[0]
                others = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
                yield _error(run.where(submit.path, command.line),
                             f"$({match.group(2)}) is undefined: neither this file, HTCondor nor the VARS of node "
                             f"'{node.name}' ({run.node_where(node)}){others} define it")


# ---- HTCondor's parsers


def _tool_env(run: Run, path_first: Path | None = None) -> dict[str, str]:
    """The environment for HTCondor's tools: an empty config when no HTCondor config is installed."""
    env = dict(os.environ)
    # os.path.expanduser leaves ~condor alone where no such user exists; Path.expanduser raises there.
    if "CONDOR_CONFIG" not in env and not any(os.path.exists(os.path.expanduser(p)) for p in STANDARD_CONFIGS):
        empty = run.scratch / "condor_config"
        empty.touch()
        env["CONDOR_CONFIG"] = str(empty)
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env


_FROM_DAG = """
import sys
try:
    import htcondor2
except ImportError as exc:
    print(exc)
    sys.exit(3)
try:
    htcondor2.Submit.from_dag(sys.argv[1], {})
except Exception as exc:
    print(exc)
    sys.exit(1)
"""


def _located(run: Run, text: str) -> tuple[str, str]:
    """Split 'path:line message' into (where, message)."""
    match = re.match(r"(\S+?):(\d+):? (.*)", text, re.DOTALL)
    if match:
        return run.where(match.group(1), int(match.group(2))), match.group(3).strip()
    return run.where(run.dag_file), text.strip()


def _start(run: Run, name: str, argv: list[str], env: dict[str, str]) -> None:
    """Launch one of HTCondor's DAG parsers now; its rule collects it after our own rules have run."""
    try:
        run.started[name] = subprocess.Popen(argv, cwd=run.dag_file.parent, env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        run.started[name] = exc


def _finish(run: Run, name: str) -> subprocess.CompletedProcess:
    """Wait for a started tool (raising OSError or TimeoutExpired, as subprocess.run does)."""
    process = run.started.pop(name)
    if isinstance(process, OSError):
        raise process
    try:
        stdout, stderr = process.communicate(timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _stop_started(run: Run) -> None:
    """End tools a rule never collected (a rule failed, or the DAG could not be read)."""
    for process in run.started.values():
        if isinstance(process, subprocess.Popen):
            process.kill()
            process.communicate()
    run.started.clear()


def start_parsers(run: Run) -> None:
    """HTCondor's DAG parsers read the file on the other core while our own parser and rules run."""
    stub_dir = run.scratch / "stub"
    stub_dir.mkdir()
    stub = stub_dir / "condor_dagman"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    # from_dag writes <dag>.condor.sub beside the file it reads: give it a link in scratch, not the run's DAG.
    (run.scratch / "dag").mkdir()
    link = run.scratch / "dag" / run.dag_file.name
    link.symlink_to(run.dag_file)
    _start(run, "from_dag", [sys.executable, "-c", _FROM_DAG, str(link)], _tool_env(run, stub_dir))
    checker = shutil.which("condor_dag_checker") if run.htcondor_tools else None
    if checker:
        _start(run, "condor_dag_checker", [checker, "-json", str(run.dag_file)], _tool_env(run))


@rule
def real_dag_parser(run: Run) -> Iterator[Finding]:
    """condor_submit_dag's own pre-parse (htcondor2.Submit.from_dag with a stub condor_dagman), through a link."""
    if "from_dag" not in run.started or run.dag_error:
        return
    link = run.scratch / "dag" / run.dag_file.name
    try:
        result = _finish(run, "from_dag")
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield _warning(run.where(run.dag_file), f"htcondor2.Submit.from_dag did not run: {exc}")
        return
    if result.returncode == 3:
        yield _warning(run.where(run.dag_file), f"htcondor2 is not importable ({result.stdout.strip()}); "
                       "the real DAG parser was skipped")
        return
    if result.returncode == 0:
        return
    # Its stderr names the cause ("Unable to read config file ..."); the exception sometimes only the effect.
    messages = [line[len("ERROR: "):] for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    for message in messages or [result.stdout.strip() or f"exit status {result.returncode}"]:
        where, text = _located(run, message.replace(str(link), str(run.dag_file)))
        yield _error(where, f"htcondor2.Submit.from_dag: {text}")


def tools_note(htcondor_tools: bool) -> str:
    """Which of HTCondor's command-line checkers check ran, in words: a run without them must say so."""
    tools = {"condor_dag_checker": "condor_dag_checker", "condor_submit": "condor_submit -dry-run"}
    if not htcondor_tools:
        return f"{' and '.join(tools.values())} skipped (--no-htcondor-tools)"
    missing = [words for name, words in tools.items() if shutil.which(name) is None]
    if not missing:
        return f"also checked by {' and '.join(tools.values())}"
    return f"{' and '.join(missing)} skipped: not on PATH (HTCondor's tools are not installed here)"


def _checker_findings(run: Run, results: list[dict]) -> Iterator[Finding]:
    for result in results:
        dag_where = run.where(result.get("DagFile", run.dag_file))
        for key, severity in (("Errors", "error"), ("Warnings", "warning")):
            for problem in result.get(key, []):
                line = problem.get("SourceLine") or None
                where = run.where(problem.get("SourceFile", run.dag_file), line)
                command = f"{problem['DagCommand']}: " if problem.get("DagCommand") else ""
                yield Finding(severity, where, f"condor_dag_checker: {command}{problem.get('Reason', problem)}")
        if result.get("IsCyclic"):
            yield _error(dag_where, f"condor_dag_checker: cycle detected: {result.get('DetectedCycle', '')}")


@rule
def condor_dag_checker(run: Run) -> Iterator[Finding]:
    """HTCondor's condor_dag_checker (>= 24.10), when asked for and on PATH."""
    if "condor_dag_checker" not in run.started or run.dag_error:
        return
    try:
        result = _finish(run, "condor_dag_checker")
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield _warning(run.where(run.dag_file), f"condor_dag_checker did not run: {exc}")
        return
    try:
        results = json.loads(result.stdout)
    except ValueError:
        results = None
    findings = list(_checker_findings(run, results)) if isinstance(results, list) else []
    if result.returncode != 0 and not findings:
        output = " ".join((result.stdout + result.stderr).split())[-500:]
        findings.append(_error(run.where(run.dag_file),
                               f"condor_dag_checker: exit status {result.returncode}: {output}"))
    yield from findings


def _submit_messages(stderr: str) -> Iterator[tuple[str, str]]:
    """condor_submit's ERROR/WARNING messages (continuation lines joined), as (severity, text)."""
    current: list[str] | None = None
    severity = ""
    for line in stderr.splitlines():
        head = re.match(r"(ERROR|WARNING):\s*(.*)", line)
        if head:
            if current is not None:
                yield severity, " ".join(" ".join(current).split())
            severity = "error" if head.group(1) == "ERROR" else "warning"
            current = [head.group(2)]
        elif current is not None:
            current.append(line)
    if current is not None:
        yield severity, " ".join(" ".join(current).split())


@rule
def condor_submit_dry_run(run: Run) -> Iterator[Finding]:
    """condor_submit -dry-run on each submit file, with the VARS of its first node (as DAGMan would submit it)."""
    program = shutil.which("condor_submit") if run.htcondor_tools else None
    if program is None:
        return
    env = _tool_env(run)
    for submit in run.readable_submits():
        if not submit.parses:
            continue
        node = submit.nodes[0]
        assignments = [f"{name}={value}" for name, value in node.variables.items()]
        cwd = submit.path.parent if node.directory is None else run.dag_file.parent / node.directory
        try:
            result = subprocess.run([program, "-dry-run", "-", str(submit.path), *assignments], cwd=cwd, env=env,
                                    capture_output=True, text=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            yield _warning(run.where(submit.path), f"condor_submit -dry-run did not run: {exc}")
            continue
        found = False
        for severity, text in _submit_messages(result.stderr):
            unused = UNUSED_LINE.search(text)
            if unused and unused.group(1).strip().lower() in {name.lower() for name in node.variables}:
                continue  # a VARS value the file does not use: DAGMan does not mind
            command = submit.get(unused.group(1).strip().lower()) if unused else None
            found = found or severity == "error"
            yield Finding(severity, run.where(submit.path, command.line if command else None),
                          f"condor_submit: {text[:400]}")
        if result.returncode != 0 and not found:
            output = " ".join(result.stderr.split())[-400:]
            yield _error(run.where(submit.path), f"condor_submit: exit status {result.returncode}: {output}")


# ---- entry points


def _order(finding: Finding) -> tuple:
    file, _, line = finding.where.rpartition(":")
    if not line.isdigit():
        file, line = finding.where, "0"
    severity = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else len(SEVERITIES)
    return severity, file, int(line), finding.message


def check_run(condor_dir, *, submittable: bool = True, htcondor_tools: bool = True) -> list[Finding]:
    """Lint a built condor dir (or any DAG file): every rule's findings, errors first, then by file and line; never
    raises."""
    place = Path(os.path.abspath(condor_dir))
    if not place.exists():
        return [_error(str(place), "no such directory")]
    try:
        dag_file = dag_path(place)
    except UserError as exc:
        return [_error(str(place), str(exc).split(": ", 1)[-1])]
    condor_dir = dag_file.parent
    if not dag_file.is_file():
        return [_error(str(dag_file), "no DAG here (build one with `aframe-dag build RUN.ini`)")]
    findings: set[Finding] = set()
    with tempfile.TemporaryDirectory(prefix="aframe-check-") as scratch:
        run = Run(condor_dir, dag_file, Path(scratch), submittable, htcondor_tools)
        try:
            start_parsers(run)
            load_run(run)
            for check in RULES:
                try:
                    findings.update(check(run))
                except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others' findings
                    findings.add(_error(DAG_FILE, f"rule {check.__name__} failed: {type(exc).__name__}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a run dir broken in a way we did not foresee is still a finding
            return [_error(DAG_FILE, f"cannot load the run: {type(exc).__name__}: {exc}")]
        finally:
            _stop_started(run)
    return sorted(findings, key=_order)


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding: `error: aframe.dag:12: ...`."""
    return "\n".join(str(finding) for finding in findings)

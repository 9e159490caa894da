"""`check`'s own rules, in the order they run: the DAG (syntax, names, FINAL, cycles, CONFIG, submit files, /tmp,
VARS), then each submit file (parsing, expressions, commands, accounting, getenv, secrets, macros)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import did_you_mean
from ..names import CONDOR_SUB, RESOLVED
from ..plan.model import NODE_NAME, RESERVED_NAMES
from .run import Finding, Rule, Run, SubmitFile, error, registering, warning

NODE_VARS = ("node", "nodeargs")

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

RULES: list[Rule] = []
rule = registering(RULES)


# ---- the DAG


@rule
def dag_parses(run: Run) -> Iterator[Finding]:
    """The DAG reads and parses (undefined or duplicate nodes, unknown commands, quoting, inline comments)."""
    if run.dag_error:
        yield error(run.where(run.dag_file), run.dag_error)
    prefix = f"{run.dag_file}:"
    for problem in run.dag_problems:
        text = str(problem)
        match = re.match(r"(\d+): (.*)", text[len(prefix):], re.DOTALL) if text.startswith(prefix) else None
        if match:
            yield error(run.where(run.dag_file, int(match.group(1))), match.group(2))
        else:
            yield error(run.where(run.dag_file), text)


@rule
def node_names(run: Run) -> Iterator[Finding]:
    """Node names use only [A-Za-z0-9_-] (DAGMan reserves '+' for splices; '.' breaks our file names)."""
    for node in run.dag.nodes.values() if run.dag and run.built else ():
        if not NODE_NAME.fullmatch(node.name):
            yield error(run.where(run.dag_file, node.line),
                         f"node name '{node.name}' has characters outside [A-Za-z0-9_-]")
        elif node.name.upper() in RESERVED_NAMES:
            yield error(run.where(run.dag_file, node.line), f"node name '{node.name}' is a DAGMan keyword")


@rule
def final_node(run: Run) -> Iterator[Finding]:
    """One FINAL node, never in PARENT/CHILD (it runs last, by itself); aframe DAGs end with the summary."""
    if run.dag is None:
        return
    finals = [node for node in run.dag.nodes.values() if node.final]
    if not finals and run.built:
        yield warning(run.where(run.dag_file), "no FINAL node (an aframe DAG ends with its summary FINAL node)")
    for extra in finals[1:]:
        yield error(run.where(run.dag_file, extra.line),
                     f"second FINAL node '{extra.name}' (the first is '{finals[0].name}' at line "
                     f"{finals[0].line}); DAGMan allows one")
    names = {node.name for node in finals}
    lines = {(name, line) for (parent, child), line in run.dag.edge_lines.items()
             for name in (parent, child) if name in names}
    for name, line in sorted(lines, key=lambda found: found[1]):
        yield error(run.where(run.dag_file, line),
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
        yield error(run.where(run.dag_file, line), "cycle: " + " -> ".join(cycle))


@rule
def one_config(run: Run) -> Iterator[Finding]:
    """Exactly one CONFIG line, naming a file that exists."""
    if run.dag is None:
        return
    lines = run.dag.setting_lines("CONFIG")
    if not lines and run.built:
        yield error(run.where(run.dag_file), "no CONFIG line (the DAG must name its dagman.config)")
    for number, _ in lines[1:]:
        yield error(run.where(run.dag_file, number), f"second CONFIG line (the first is line {lines[0][0]})")
    for number, words in lines[:1]:
        if len(words) > 1 and not (run.dag_file.parent / words[1]).is_file():
            yield error(run.where(run.dag_file, number), f"config file {words[1]} does not exist")


@rule
def submit_files_exist(run: Run) -> Iterator[Finding]:
    """Every JOB's submit file exists and reads."""
    for submit in run.submits.values():
        first = submit.nodes[0]
        others = f" and {len(submit.nodes) - 1} more" if len(submit.nodes) > 1 else ""
        if submit.read_error:
            yield error(run.where(submit.path), f"cannot read: {submit.read_error}")
        elif submit.text is None:
            yield error(run.where(run.dag_file, first.line),
                         f"submit file {submit.path} of node '{first.name}'{others} does not exist")


@rule
def unused_submit_files(run: Run) -> Iterator[Finding]:
    """Submit files in the condor dir that no node uses are left over from an earlier build."""
    if run.dag is None:
        return
    used = {path.resolve() for path in run.submits}
    for path in sorted(run.condor_dir.glob("*.sub")):
        if path.resolve() not in used and not path.name.endswith(CONDOR_SUB):
            yield warning(run.where(path), "no node uses this submit file (left over from an earlier build?)")


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
            yield warning(run.where(run.dag_file, number),
                           f"HTCondor 25.0's DAGMan fails on a splice in PARENT/CHILD in a DAG that also has "
                           f"{'an INCLUDE' if trigger.upper() == 'INCLUDE' else 'a submit description in braces'}"
                           " (Unknown Node): name the splice's nodes instead, or drop that command")


def _under_tmp(path: Path) -> bool:
    candidates = {Path(os.path.abspath(path)), path.resolve()}
    return any(p == Path("/tmp") or Path("/tmp") in p.parents for p in candidates)


@rule
def not_under_tmp(run: Run) -> Iterator[Finding]:
    """Nothing DAGMan logs to lies under /tmp (production DAGMan refuses a node log there): only when submittable."""
    if not run.submittable:
        return
    if _under_tmp(run.condor_dir):
        yield error(str(run.condor_dir), "the condor dir is under /tmp, where DAGMan refuses node logs "
                     "(DAGMAN_AVOID_SLASH_TMP); build the run on a home or shared filesystem")

    def inside(path: Path) -> bool:  # already reported with the condor dir
        return run.condor_dir == path or run.condor_dir in path.parents

    for command in ("NODE_STATUS_FILE", "JOBSTATE_LOG"):
        for number, words in run.dag.setting_lines(command) if run.dag else ():
            path = Path(os.path.abspath(run.dag_file.parent / words[1])) if len(words) > 1 else None
            if path and _under_tmp(path) and not inside(path):
                yield error(run.where(run.dag_file, number), f"{command} {words[1]} is under /tmp")
    for submit in run.readable_submits():
        log = submit.get("log")
        if log and log.value:
            path = Path(os.path.abspath(submit.path.parent / log.value))
            if _under_tmp(path) and not inside(path):
                yield error(run.where(submit.path, log.line), f"log {log.value} is under /tmp")


@rule
def node_vars(run: Run) -> Iterator[Finding]:
    """Every node's VARS gives node (its own name) and nodeargs, which the submit files use."""
    for node in run.dag.nodes.values() if run.dag and run.built else ():
        missing = [name for name in NODE_VARS if name not in node.variables]
        if missing:
            yield error(run.where(run.dag_file, node.line), f"node '{node.name}' has no VARS " + ", ".join(missing))
        elif node.variables["node"] != node.name:
            yield error(run.where(run.dag_file, node.line),
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
        yield warning(run.where(run.dag_file), f"htcondor2 is not importable ({exc}); submit files not parsed")
        return
    for submit in run.readable_submits():
        try:
            htcondor2.Submit(submit.text)
        except Exception as exc:  # noqa: BLE001
            submit.parses = False
            line = _failing_line(submit.text, htcondor2.Submit)
            shown = f": {submit.text.splitlines()[line - 1].strip()!r}" if line else ""
            yield error(run.where(submit.path, line), f"htcondor2.Submit cannot parse this{shown} ({exc})")


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
        yield warning(run.where(run.dag_file), f"classad2 is not importable ({exc}); expressions not parsed")
        return
    for submit in run.readable_submits():
        for command in submit.commands:
            if not command.value or not _is_expression(command.key, command.value):
                continue
            try:
                classad2.ExprTree(ANY_MACRO.sub("aframe_macro", command.value))
            except Exception:  # noqa: BLE001 - classad2 raises ClassAdException
                yield error(run.where(submit.path, command.line),
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
                yield warning(where, f"{command.key} requests a custom machine resource; no pool may offer it")
            else:
                yield error(where, f"unknown submit command '{command.key}'{did_you_mean(key, SUBMIT_COMMANDS)}")


@rule
def accounting(run: Run) -> Iterator[Finding]:
    """accounting_group on every submit file (and accounting_group_user on all if on any), unless not required."""
    if run.resolved_error:
        yield warning(run.where(run.condor_dir / RESOLVED),
                       f"cannot read it ({run.resolved_error}); accounting is checked as required")
    if not run.require_accounting or not run.built:
        return
    submits = list(run.readable_submits())
    with_user = [s for s in submits if (c := s.get("accounting_group_user")) and c.value]
    lacking = [s for s in submits if not ((c := s.get("accounting_group")) and c.value)]
    advice = "LVK pools refuse jobs without one; set [condor] accounting_group, or site = local for a personal pool"
    if submits and len(lacking) == len(submits):
        yield error(run.where(run.dag_file), f"no submit file sets accounting_group ({advice})")
    for submit in submits:
        if submit in lacking and len(lacking) < len(submits):
            yield error(run.where(submit.path), f"no accounting_group ({advice})")
        if with_user and submit not in with_user:
            yield error(run.where(submit.path),
                         f"no accounting_group_user, which {run.where(with_user[0].path)} sets")


@rule
def no_getenv(run: Run) -> Iterator[Finding]:
    """No getenv other than false: LVK pools reject jobs that copy the submitter's environment."""
    for submit in run.readable_submits():
        for command in submit.commands:
            if command.key.lower() == "getenv" and command.value.strip().lower() != "false":
                yield error(run.where(submit.path, command.line),
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
            yield error(run.where(path, number), message)


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
                yield error(run.where(submit.path, command.line),
                             f"$({match.group(2)}) is undefined: neither this file, HTCondor nor the VARS of node "
                             f"'{node.name}' ({run.node_where(node)}){others} define it")

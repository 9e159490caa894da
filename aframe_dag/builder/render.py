"""Workflow -> files: aframe.dag, one submit file per stage, dagman.config, run_local.sh (no science here)."""

from __future__ import annotations

import shlex
import shutil
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jinja2

from .. import __version__
from ..bulk import without_cyclic_gc
from ..errors import UserError
from ..holds import memory_expression, release_expression, remove_expression
from ..names import (
    AFTER_DATA,
    AFTER_TRAINING,
    DAG_FILE,
    DAGMAN_CONFIG,
    DOT_FILE,
    JOBSTATE_LOG,
    RUN_LOCAL,
    STATUS_FILE,
    marker_name,
    node_error,
    node_output,
    post_output,
    stage_log,
    submit_file,
)
from ..plan.model import Stage, Workflow
from ..sandbox import OUT_DIR
from . import quoting
from .templating import environment
from .transfer import Sandboxed, access_point_dirs, sandboxed

NODE_CHECK = "aframe-node-check"
SKIP_EXIT = 99


@dataclass(frozen=True)
class Site:
    """The [condor] settings the files need, with the places node programs are found."""

    condor: dict
    bin_dir: str | None

    @property
    def transfer(self) -> bool:
        """Whether jobs get their files by HTCondor's file transfer (no shared filesystem)."""
        return self.condor.get("filesystem") == "transfer"

    def executable(self, program: str, universe: str = "local") -> str:
        """Where a console script is for a job of ``universe`` (local: the access point, as PRE scripts): its bare
        name inside a container image, under [condor] executable_dir on execute nodes, else this environment's."""
        if universe == "container":
            return program
        if program.startswith("/"):  # a program of another environment ([reference] environment)
            return program
        if universe != "local" and self.condor.get("executable_dir"):
            return f"{self.condor['executable_dir'].rstrip('/')}/{program}"
        return program if self.bin_dir is None else f"{self.bin_dir}/{program}"


def find_bin_dir() -> str:
    """The directory holding this environment's console scripts (those of the Python that runs build)."""
    here = Path(sys.executable).parent
    if (here / NODE_CHECK).exists():
        return str(here)
    found = shutil.which(NODE_CHECK)
    if found is None:
        raise UserError(f"cannot find {NODE_CHECK} beside {sys.executable} or on PATH; install aframe-dag first")
    return str(Path(found).parent)


def _version_at_least(version: str, wanted: tuple[int, ...]) -> bool:
    return tuple(int(part) for part in version.split(".")) >= wanted


def submit_commands(stage: Stage, site: Site, condor_dir: str) -> list[tuple[str, str]]:
    """Every submit command of one stage, in file order; the one place that decides them."""
    condor = site.condor
    what = f"[stage:{stage.name}]"
    universe = "local" if stage.local else condor["universe"]
    commands = [("universe", universe)]
    if universe == "container":
        commands.append(("container_image", quoting.checked(condor["container_image"], "[condor] container_image")))
    if universe == "container" or (universe == "vanilla" and condor.get("executable_dir")):
        # The program is in the image or a software area the execute nodes see: condor_submit must not send it.
        commands.append(("transfer_executable", "false"))
    commands += [
        ("executable", quoting.checked(site.executable(stage.program, universe), what)),
        ("arguments", '"$(nodeargs)"'),
        ("environment", quoting.environment(stage.environment, what)),
        ("request_cpus", str(stage.request_cpus)),
        ("request_memory", memory_expression(stage.request_memory)),
        ("request_disk", f"{stage.request_disk}MB"),
    ]
    if stage.request_gpus:
        commands.append(("request_gpus", str(stage.request_gpus)))
        if _version_at_least(condor["htcondor_version"], (23, 5)):
            commands.append(("gpus_minimum_memory", f"{stage.gpus_minimum_memory}M"))
        else:
            commands.append(("require_gpus", f"GlobalMemoryMb >= {stage.gpus_minimum_memory}"))
    for key in ("requirements", "accounting_group", "accounting_group_user", "use_oauth_services"):
        if condor[key]:
            commands.append((key, quoting.checked(condor[key], f"[condor] {key}")))
    if stage.checkpoint:
        commands.append(("checkpoint_exit_code", "85"))
    if site.transfer and universe != "local":
        commands += transfer_commands(stage, condor["container_image"] if universe == "container" else "")
    commands += [
        ("periodic_release", release_expression()),
        ("periodic_remove", remove_expression(condor["max_held_hours"])),
        ("log", f"{condor_dir}/{stage_log(stage.name)}"),
        ("output", f"{condor_dir}/{node_output('$(node)')}"),
        ("error", f"{condor_dir}/{node_error('$(node)')}"),
        ("notification", "never"),
    ]
    return commands


def transfer_commands(stage: Stage, image: str) -> list[tuple[str, str]]:
    """File transfer: the node's inputs in, its outputs directory back through the node's remaps (VARS), and for a
    self-checkpointing stage the same directory kept across its restarts (HTCondor's recipe for exit 85)."""
    commands = [("transfer_container", "false")] if image.startswith("/cvmfs/") else []  # CVMFS serves it
    commands += [
        ("should_transfer_files", "YES"),
        ("when_to_transfer_output", "ON_EXIT"),
        ("transfer_input_files", "$(inputs)"),
        ("transfer_output_files", OUT_DIR),
        ("transfer_output_remaps", '"$(remaps)"'),
    ]
    if stage.checkpoint:
        commands.append(("transfer_checkpoint_files", OUT_DIR))
    return commands


def _stage_template(stage: Stage) -> jinja2.Template:
    if stage.template:
        try:
            return environment().from_string(Path(stage.template).read_text())
        except OSError as exc:
            raise UserError(f"[stage:{stage.name}] template: cannot read {stage.template}: {exc.strerror}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise UserError(f"{stage.template}: line {exc.lineno}: {exc.message}") from None
    return environment().get_template("job.sub.j2")


def full_arguments(workflow: Workflow, node) -> tuple[str, ...]:
    """A node's arguments plus the node contract's (name, hash, done-marker); FINAL has none of those."""
    if node.final:
        return node.arguments
    return node.arguments + ("--node", node.name, "--node-hash", node.hash,
                             "--done-marker", f"{workflow.condor_dir}/{marker_name(node.name)}")


def _dag_block(workflow: Workflow, node, submit: str, node_check: str, job: Sandboxed | None = None) -> str:
    """A node's lines of aframe.dag: JOB (or FINAL) and VARS, then the retry policy and PRE check of a non-FINAL;
    a file-transfer job (``job``) also gets its files in VARS and the POST script that lands its outputs."""
    stage, name = workflow.stages[node.stage], node.name
    args = quoting.arguments(job.arguments if job else full_arguments(workflow, node), f"node {name}")
    head = f"FINAL {name} {submit}" if node.final else f"JOB {name} {submit}"
    values = f"node={quoting.dag_value(name)} nodeargs={quoting.dag_value(args)}"
    if job:
        remaps = ";".join(f"{there} = {here}" for there, here in job.remaps)
        values += f" inputs={quoting.dag_value(','.join(job.inputs))} remaps={quoting.dag_value(remaps)}"
    lines = [head, f"VARS {name} {values}"]
    if node.final:
        return "\n".join(lines)
    lines += [f"RETRY {name} {stage.retries} UNLESS-EXIT 2",
              f"SCRIPT PRE {name} {node_check} {workflow.condor_dir} {name} {node.hash}",
              f"PRE_SKIP {name} {SKIP_EXIT}"]
    if job:
        lines.append(f"SCRIPT DEBUG {post_output(name)} ALL POST {name} {node_check} --landed {workflow.condor_dir} "
                     f"{name} {node.hash} $RETURN " + " ".join(job.roots))
    if stage.priority:
        lines.append(f"PRIORITY {name} {stage.priority}")
    if stage.category:
        lines.append(f"CATEGORY {name} {stage.category}")
    return "\n".join(lines)


def _sandboxed_jobs(workflow: Workflow, site: Site) -> dict[str, Sandboxed]:
    """Each file-transfer node's job by name (none in shared mode, nor for local-universe stages)."""
    if not site.transfer:
        return {}
    ap_dirs = access_point_dirs(workflow)
    jobs = {}
    for node in workflow.nodes:
        stage = workflow.stages[node.stage]
        if not stage.local:
            jobs[node.name] = sandboxed(workflow, node, full_arguments(workflow, node), site.condor["url_map"],
                                        stage.transfer_inputs, ap_dirs)
            quoting.transfer_list(jobs[node.name].inputs + tuple(here for _, here in jobs[node.name].remaps),
                                  f"node {node.name}")
    return jobs


class LocalCommand(NamedTuple):
    """One node of run_local.sh: its name, its environment as NAME=value words, and its command line."""

    name: str
    environment: str
    command: str


def _edges(workflow: Workflow) -> list[dict]:
    """PARENT ... CHILD lines, children that share the same parents grouped on one line."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for node in workflow.nodes:
        if workflow.parents.get(node.name):
            groups.setdefault(workflow.parents[node.name], []).append(node.name)
    return [{"parents": parents, "children": children} for parents, children in groups.items()]


def submit_line(workflow: Workflow) -> str:
    """The command that submits this run's DAG (batch name = run name, as `status` expects)."""
    return f"condor_submit_dag -batch-name {workflow.name} {workflow.condor_dir}/{DAG_FILE}"


def _save_points(workflow: Workflow) -> list[str]:
    """Save files when training starts (data done) and when export starts (training done)."""
    names = [node.name for node in workflow.nodes]
    first_training = next((n for n in names if n in ("train", "remote-train") or n.startswith("tune-trial-")), None)
    points = [(first_training, AFTER_DATA), ("export" if "export" in names else None, AFTER_TRAINING)]
    return [f"SAVE_POINT_FILE {node} {file}" for node, file in points if node]


def _by_hand(argument: str) -> str:
    """A FINAL node run by hand reports as if the DAG succeeded."""
    return "0" if argument in quoting.DAGMAN_MACROS else argument


# What shlex.quote leaves alone, plus the space that joins words: bytes deleted to test a line in one C call.
_SHELL_SAFE = (string.ascii_letters + string.digits + "_@%+=:,./- ").encode()


def shell_command(words) -> str:
    """shlex.join, with a fast path for the common case of words that need no quoting."""
    words = list(words)
    plain = " ".join(words)
    safe = plain.isascii() and not plain.encode().translate(None, _SHELL_SAFE)  # so its only whitespace is " "
    if safe and quoting.joined_plainly(plain, words):
        return plain
    return shlex.join(words)


@without_cyclic_gc
def render(workflow: Workflow, condor: dict, bin_dir: str | None) -> dict[str, str]:
    """Every file of the condor dir, by name; nothing is written here."""
    site = Site(condor, bin_dir)
    files: dict[str, str] = {}
    for stage in workflow.stages.values():
        files[submit_file(stage.name)] = _stage_template(stage).render(
            version=__version__, run=workflow.name, stage=stage.name, program=stage.program,
            commands=submit_commands(stage, site, workflow.condor_dir),
        )
    node_check = site.executable(NODE_CHECK)  # PRE scripts run on the access point, outside any container
    submits = {name: f"{workflow.condor_dir}/{submit_file(name)}" for name in workflow.stages}
    jobs = _sandboxed_jobs(workflow, site)
    blocks = {node.name: _dag_block(workflow, node, submits[node.stage], node_check, jobs.get(node.name))
              for node in workflow.nodes}
    final = workflow.final
    used = {stage.category for stage in workflow.stages.values()}
    categories = {name: limit for name, limit in workflow.limits.items() if name in used}
    files[DAG_FILE] = environment().get_template("aframe.dag.j2").render(
        version=__version__, run=workflow.name, submit_command=submit_line(workflow),
        config_file=f"{workflow.condor_dir}/{DAGMAN_CONFIG}", status_file=f"{workflow.condor_dir}/{STATUS_FILE}",
        jobstate_log=f"{workflow.condor_dir}/{JOBSTATE_LOG}", dot_file=f"{workflow.condor_dir}/{DOT_FILE}",
        jobs=[block for name, block in blocks.items() if name != final.name], edges=_edges(workflow),
        categories=categories, save_points=_save_points(workflow), final=blocks[final.name],
    )
    files[DAGMAN_CONFIG] = environment().get_template("dagman.config.j2").render(
        version=__version__, run=workflow.name,
        settings={"DAGMAN_MAX_JOBS_IDLE": condor["max_idle"], "DAGMAN_MAX_PRE_SCRIPTS": 20},
    )
    files[RUN_LOCAL] = environment().get_template("run_local.sh.j2").render(
        run=workflow.name, nodes=_local_commands(workflow, site),
    )
    return files


def _local_commands(workflow: Workflow, site: Site) -> list[LocalCommand]:
    """run_local.sh's entries: each node's command as the executor would run it (FINAL as if the DAG succeeded)."""
    programs = {name: site.executable(stage.program) for name, stage in workflow.stages.items()}
    environments = {name: shell_command(f"{key}={value}" for key, value in stage.environment.items())
                    for name, stage in workflow.stages.items()}
    return [LocalCommand(node.name, environments[node.stage],
                         shell_command([programs[node.stage], *(map(_by_hand, node.arguments) if node.final
                                                                else full_arguments(workflow, node))]))
            for node in workflow.nodes]

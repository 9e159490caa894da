"""The run `check` lints, loaded once: its DAG, the submit files its JOB lines name and run.ini.resolved, with the
Finding a rule yields (nothing here raises for a broken run dir)."""

from __future__ import annotations

import configparser
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..dagfile import SUBDAG, Dag, DagNode, DagSyntaxError, parse_dag
from ..names import RESOLVED

ASSIGNMENT = re.compile(r"([A-Za-z_+][\w.+-]*)\s*=(.*)$")
MULTILINE = re.compile(r"([A-Za-z_+][\w.+-]*)\s*@=\s*(\S+)\s*$")


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


def registering(rules: list[Rule]) -> Callable[[Rule], Rule]:
    """A decorator that adds a rule to `rules`: check_run runs them in the order they are defined."""

    def rule(function: Rule) -> Rule:
        rules.append(function)
        return function

    return rule


def error(where: str, message: str) -> Finding:
    return Finding("error", where, message)


def warning(where: str, message: str) -> Finding:
    return Finding("warning", where, message)


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

"""Read DAGMan files (the DAG, rescue files) into one model for check, status and the local executor (stdlib)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# DAGMan's own no-op nodes that join many-to-many PARENT/CHILD lines; rescue files list them as DONE.
JOIN_NODE_PREFIX = "_condor_join_node"
_VARS = re.compile(r'\s*([A-Za-z_+][\w.+-]*)\s*=\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
_ESCAPE = re.compile(r"\\(.)")


class DagSyntaxError(ValueError):
    """A line DAGMan would refuse: the message carries file:line."""


@dataclass
class Script:
    """A PRE or POST script: its executable and arguments."""

    executable: str
    arguments: list[str]


@dataclass
class DagNode:
    """One JOB or FINAL node with everything the DAG says about it."""

    name: str
    submit: str
    line: int
    final: bool = False
    directory: str | None = None
    noop: bool = False
    done: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    unless_exit: int | None = None
    pre: Script | None = None
    post: Script | None = None
    pre_skip: int | None = None
    category: str | None = None
    priority: int = 0
    abort_on: dict[int, int | None] = field(default_factory=dict)


@dataclass
class Dag:
    """A parsed DAG file: nodes in file order, edges, categories and the file-level settings."""

    path: Path
    nodes: dict[str, DagNode] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    maxjobs: dict[str, int] = field(default_factory=dict)
    config: list[str] = field(default_factory=list)
    status_file: str | None = None
    jobstate_log: str | None = None
    dot: str | None = None
    save_points: dict[str, str | None] = field(default_factory=dict)
    references: list[tuple[str, int, str]] = field(default_factory=list)
    edge_lines: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def final(self) -> DagNode | None:
        return next((node for node in self.nodes.values() if node.final), None)

    def children(self) -> dict[str, list[str]]:
        """Each node's children (the inverse of parents)."""
        children: dict[str, list[str]] = {name: [] for name in self.nodes}
        for child, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, []).append(child)
        return children


def _node(dag: Dag, name: str, where: str, line: int) -> DagNode:
    dag.references.append((name, line, where))
    if name not in dag.nodes:
        raise DagSyntaxError(f"{dag.path}:{line}: {where} names node '{name}' before (or without) its JOB line")
    return dag.nodes[name]


def _parse_vars(text: str, where: str) -> dict[str, str]:
    values, position = {}, 0
    while position < len(text.rstrip()):
        match = _VARS.match(text, position)
        if not match:
            raise DagSyntaxError(f"{where}: cannot read VARS (unbalanced quote?) at {text[position:position + 30]!r}")
        value = match.group(2)
        values[match.group(1)] = _ESCAPE.sub(r"\1", value) if "\\" in value else value
        position = match.end()
    return values


def _job(dag: Dag, words: list[str], number: int, final: bool) -> None:
    where = f"{dag.path}:{number}"
    if len(words) < 3:
        raise DagSyntaxError(f"{where}: {words[0]} needs a node name and a submit file")
    name = words[1]
    if name in dag.nodes:
        raise DagSyntaxError(f"{where}: node '{name}' is defined twice (first at line {dag.nodes[name].line})")
    node = DagNode(name, words[2], number, final=final)
    rest = [w.upper() for w in words[3:]]
    if "DIR" in rest:
        node.directory = words[3 + rest.index("DIR") + 1]
    node.noop, node.done = "NOOP" in rest, "DONE" in rest
    dag.nodes[name] = node


def _script(dag: Dag, words: list[str], number: int) -> None:
    where = f"{dag.path}:{number}"
    rest = words[1:]
    if rest and rest[0].upper() == "DEFER":
        rest = rest[3:]
    if len(rest) < 3 or rest[0].upper() not in ("PRE", "POST"):
        raise DagSyntaxError(f"{where}: expected SCRIPT [DEFER status time] PRE|POST node executable [args]")
    node = _node(dag, rest[1], "SCRIPT", number)
    script = Script(rest[2], rest[3:])
    if rest[0].upper() == "PRE":
        node.pre = script
    else:
        node.post = script


def _int(word: str, where: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise DagSyntaxError(f"{where}: '{word}' is not an integer") from None


def _apply(dag: Dag, command: str, words: list[str], raw: str, number: int) -> None:
    where = f"{dag.path}:{number}"
    if command in ("JOB", "FINAL"):
        _job(dag, words, number, final=command == "FINAL")
    elif command == "VARS":
        node = _node(dag, words[1], "VARS", number)
        node.variables.update(_parse_vars(raw.split(None, 2)[2] if len(words) > 2 else "", where))
    elif command == "PARENT":
        upper = [w.upper() for w in words]
        if "CHILD" not in upper:
            raise DagSyntaxError(f"{where}: PARENT without CHILD")
        split = upper.index("CHILD")
        parents, children = words[1:split], words[split + 1:]
        for name in parents + children:
            _node(dag, name, "PARENT/CHILD", number)
        for child in children:
            known = dag.parents.setdefault(child, [])
            seen = set(known)
            known.extend(p for p in dict.fromkeys(parents) if p not in seen)
            for parent in parents:
                dag.edge_lines.setdefault((parent, child), number)
    elif command == "RETRY":
        node = _node(dag, words[1], "RETRY", number)
        node.retries = _int(words[2], where)
        if len(words) > 4 and words[3].upper() == "UNLESS-EXIT":
            node.unless_exit = _int(words[4], where)
    elif command == "SCRIPT":
        _script(dag, words, number)
    elif command == "PRE_SKIP":
        _node(dag, words[1], "PRE_SKIP", number).pre_skip = _int(words[2], where)
    elif command == "CATEGORY":
        _node(dag, words[1], "CATEGORY", number).category = words[2]
    elif command == "MAXJOBS":
        dag.maxjobs[words[1]] = _int(words[2], where)
    elif command == "PRIORITY":
        _node(dag, words[1], "PRIORITY", number).priority = _int(words[2], where)
    elif command == "ABORT-DAG-ON":
        node = _node(dag, words[1], "ABORT-DAG-ON", number)
        returns = _int(words[4], where) if len(words) > 4 and words[3].upper() == "RETURN" else None
        node.abort_on[_int(words[2], where)] = returns
    elif command == "DONE":
        _node(dag, words[1], "DONE", number).done = True
    elif command == "CONFIG":
        dag.config.append(words[1])
    elif command == "NODE_STATUS_FILE":
        dag.status_file = words[1]
    elif command == "JOBSTATE_LOG":
        dag.jobstate_log = words[1]
    elif command == "DOT":
        dag.dot = words[1]
    elif command == "SAVE_POINT_FILE":
        _node(dag, words[1], "SAVE_POINT_FILE", number)
        dag.save_points[words[1]] = words[2] if len(words) > 2 else None
    else:
        raise DagSyntaxError(f"{where}: unknown DAG command '{words[0]}'")


def _parse_line(dag: Dag, line: str, number: int) -> None:
    path = dag.path
    words = line.split()  # DAGMan splits on whitespace; only VARS values are quoted (read by _parse_vars)
    if "#" in line and words[0].upper() != "VARS":
        raise DagSyntaxError(f"{path}:{number}: inline comment (DAGMan only allows comments on their own line)")
    try:
        _apply(dag, words[0].upper(), words, line, number)
    except IndexError:
        raise DagSyntaxError(f"{path}:{number}: {words[0]} is missing an argument") from None


def parse_dag(text: str, path="aframe.dag", problems: list[DagSyntaxError] | None = None) -> Dag:
    """Parse DAG text; raises DagSyntaxError with file:line for anything DAGMan would refuse.

    With a `problems` list, each refused line is appended to it and skipped instead (a linter sees them all).
    """
    dag = Dag(Path(path))
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            _parse_line(dag, line, number)
        except DagSyntaxError as exc:
            if problems is None:
                raise
            problems.append(exc)
    return dag


def read_dag(path, problems: list[DagSyntaxError] | None = None) -> Dag:
    """Parse a DAG file from disk."""
    return parse_dag(Path(path).read_text(), path, problems)


def rescue_files(dag_path) -> list[Path]:
    """The DAG's rescue files, oldest first (aframe.dag.rescue001, ...)."""
    dag_path = Path(dag_path)
    found = [p for p in dag_path.parent.glob(f"{dag_path.name}.rescue[0-9][0-9][0-9]")]
    return sorted(found)


def apply_rescue(dag: Dag, rescue_path) -> Dag:
    """Mark the nodes a rescue file lists as DONE and take its RETRY counts, as DAGMan does on resubmission."""
    for number, raw in enumerate(Path(rescue_path).read_text().splitlines(), 1):
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        command = words[0].upper()
        if command in ("DONE", "RETRY") and not words[1].startswith(JOIN_NODE_PREFIX):
            _apply(dag, command, words, raw, number)
    return dag

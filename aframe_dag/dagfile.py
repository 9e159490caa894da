"""Read DAGMan files (the DAG, rescue files) into one model for check, status and the local executor (stdlib)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .bulk import without_cyclic_gc

# DAGMan's own no-op nodes that join many-to-many PARENT/CHILD lines; rescue files list them as DONE.
JOIN_NODE_PREFIX = "_condor_join_node"
_VARS = re.compile(r'\s*([A-Za-z_+][\w.+-]*)\s*=\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
_VARS_NAME = re.compile(r'\s*([A-Za-z_+][\w.+-]*)\s*=\s*"')
_ESCAPE = re.compile(r"\\(.)")


class DagSyntaxError(ValueError):
    """A line DAGMan would refuse: the message carries file:line."""


@dataclass
class Script:
    """A PRE or POST script: its executable and arguments."""

    executable: str
    arguments: list[str]


@dataclass(slots=True)
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
    settings: list[tuple[int, list[str]]] = field(default_factory=list)
    save_points: dict[str, str | None] = field(default_factory=dict)
    edge_lines: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def final(self) -> DagNode | None:
        return next((node for node in self.nodes.values() if node.final), None)

    def setting_lines(self, command: str) -> list[tuple[int, list[str]]]:
        """The (line, words) of each file-level command (CONFIG, NODE_STATUS_FILE, JOBSTATE_LOG, DOT)."""
        return [(number, words) for number, words in self.settings if words[0].upper() == command]

    def _setting(self, command: str) -> str | None:
        lines = self.setting_lines(command)
        return lines[-1][1][1] if lines else None

    @property
    def config(self) -> list[str]:
        return [words[1] for _, words in self.setting_lines("CONFIG")]

    @property
    def status_file(self) -> str | None:
        return self._setting("NODE_STATUS_FILE")

    @property
    def jobstate_log(self) -> str | None:
        return self._setting("JOBSTATE_LOG")

    @property
    def dot(self) -> str | None:
        return self._setting("DOT")

    def children(self) -> dict[str, list[str]]:
        """Each node's children (the inverse of parents)."""
        children: dict[str, list[str]] = {name: [] for name in self.nodes}
        for child, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, []).append(child)
        return children


def _node(dag: Dag, name: str, where: str, number: int) -> DagNode:
    try:
        return dag.nodes[name]
    except KeyError:
        raise _refused(dag, number, f"{where} names node '{name}' before (or without) its JOB line") from None


def _refused(dag: Dag, number: int, message: str) -> DagSyntaxError:
    return DagSyntaxError(f"{dag.path}:{number}: {message}")


def _parse_vars(text: str, into: dict[str, str]) -> None:
    """Read `name="value" ...` into a dict; the usual value (no backslash) is found with str.find, not a regex."""
    position = 0
    while head := _VARS_NAME.match(text, position):
        start = head.end()
        close = text.find('"', start)
        if close >= 0 and text.find("\\", start, close) < 0:
            into[head.group(1)], position = text[start:close], close + 1
            continue
        match = _VARS.match(text, position)  # a backslash escapes what follows it, a quote included
        if not match:
            break
        into[match.group(1)] = _ESCAPE.sub(r"\1", match.group(2))
        position = match.end()
    if text[position:].strip():
        raise ValueError(f"cannot read VARS (unbalanced quote?) at {text[position:position + 30].strip()!r}")


def _int(dag: Dag, word: str, number: int) -> int:
    try:
        return int(word)
    except ValueError:
        raise _refused(dag, number, f"'{word}' is not an integer") from None


def _job(dag: Dag, words: list[str], number: int) -> None:
    if len(words) < 3:
        raise _refused(dag, number, f"{words[0]} needs a node name and a submit file")
    name = words[1]
    if name in dag.nodes:
        raise _refused(dag, number, f"node '{name}' is defined twice (first at line {dag.nodes[name].line})")
    node = dag.nodes[name] = DagNode(name, words[2], number, final=words[0].upper() == "FINAL")
    if len(words) > 3:
        rest = [w.upper() for w in words[3:]]
        if "DIR" in rest:
            node.directory = words[3 + rest.index("DIR") + 1]
        node.noop, node.done = "NOOP" in rest, "DONE" in rest


def _vars(dag: Dag, words: list[str], number: int) -> None:
    node = _node(dag, words[1], "VARS", number)
    try:
        _parse_vars(words[2] if len(words) > 2 else "", node.variables)
    except ValueError as exc:
        raise _refused(dag, number, str(exc)) from None


def _parent(dag: Dag, words: list[str], number: int) -> None:
    upper = [w.upper() for w in words]
    if "CHILD" not in upper:
        raise _refused(dag, number, "PARENT without CHILD")
    split = upper.index("CHILD")
    parents, children = list(dict.fromkeys(words[1:split])), words[split + 1:]
    for name in parents + children:
        _node(dag, name, "PARENT/CHILD", number)
    for child in children:
        known = dag.parents.setdefault(child, [])
        seen = set(known)
        known.extend(p for p in parents if p not in seen)
        for parent in parents:
            dag.edge_lines.setdefault((parent, child), number)


def _retry(dag: Dag, words: list[str], number: int) -> None:
    node = _node(dag, words[1], "RETRY", number)
    node.retries = _int(dag, words[2], number)
    if len(words) > 4 and words[3].upper() == "UNLESS-EXIT":
        node.unless_exit = _int(dag, words[4], number)


def _script(dag: Dag, words: list[str], number: int) -> None:
    rest = words[1:]
    if rest and rest[0].upper() == "DEFER":
        rest = rest[3:]
    if len(rest) < 3 or rest[0].upper() not in ("PRE", "POST"):
        raise _refused(dag, number, "expected SCRIPT [DEFER status time] PRE|POST node executable [args]")
    node = _node(dag, rest[1], "SCRIPT", number)
    script = Script(rest[2], rest[3:])
    if rest[0].upper() == "PRE":
        node.pre = script
    else:
        node.post = script


def _pre_skip(dag: Dag, words: list[str], number: int) -> None:
    _node(dag, words[1], "PRE_SKIP", number).pre_skip = _int(dag, words[2], number)


def _category(dag: Dag, words: list[str], number: int) -> None:
    _node(dag, words[1], "CATEGORY", number).category = words[2]


def _maxjobs(dag: Dag, words: list[str], number: int) -> None:
    dag.maxjobs[words[1]] = _int(dag, words[2], number)


def _priority(dag: Dag, words: list[str], number: int) -> None:
    _node(dag, words[1], "PRIORITY", number).priority = _int(dag, words[2], number)


def _abort_on(dag: Dag, words: list[str], number: int) -> None:
    node = _node(dag, words[1], "ABORT-DAG-ON", number)
    returns = _int(dag, words[4], number) if len(words) > 4 and words[3].upper() == "RETURN" else None
    node.abort_on[_int(dag, words[2], number)] = returns


def _done(dag: Dag, words: list[str], number: int) -> None:
    _node(dag, words[1], "DONE", number).done = True


def _setting(dag: Dag, words: list[str], number: int) -> None:
    if len(words) < 2:
        raise _refused(dag, number, f"{words[0]} is missing an argument")
    dag.settings.append((number, words))


def _save_point(dag: Dag, words: list[str], number: int) -> None:
    _node(dag, words[1], "SAVE_POINT_FILE", number)
    dag.save_points[words[1]] = words[2] if len(words) > 2 else None


_COMMANDS = {
    "JOB": _job, "FINAL": _job, "VARS": _vars, "PARENT": _parent, "RETRY": _retry, "SCRIPT": _script,
    "PRE_SKIP": _pre_skip, "CATEGORY": _category, "MAXJOBS": _maxjobs, "PRIORITY": _priority,
    "ABORT-DAG-ON": _abort_on, "DONE": _done, "SAVE_POINT_FILE": _save_point,
    "CONFIG": _setting, "NODE_STATUS_FILE": _setting, "JOBSTATE_LOG": _setting, "DOT": _setting,
}


def _apply(dag: Dag, command: str, words: list[str], line: str, number: int) -> None:
    handler = _COMMANDS.get(command)
    if handler is None:
        raise _refused(dag, number, f"unknown DAG command '{words[0]}'")
    if "#" in line and command != "VARS":  # only VARS values are quoted (read by _parse_vars)
        raise _refused(dag, number, "inline comment (DAGMan only allows comments on their own line)")
    try:
        handler(dag, words, number)
    except IndexError:
        raise _refused(dag, number, f"{words[0]} is missing an argument") from None


@without_cyclic_gc
def parse_dag(text: str, path="aframe.dag", problems: list[DagSyntaxError] | None = None) -> Dag:
    """Parse DAG text; raises DagSyntaxError with file:line for anything DAGMan would refuse.

    With a `problems` list, each refused line is appended to it and skipped instead (a linter sees them all).
    """
    dag = Dag(Path(path))
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split(None, 2)  # DAGMan splits on whitespace, except VARS values (read by _parse_vars)
        if not words or words[0][0] == "#":
            continue
        command = words[0].upper()
        if len(words) > 2 and command != "VARS":
            words = line.split()
        try:
            _apply(dag, command, words, line, number)
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

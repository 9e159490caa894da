"""What a DAG file says, as objects: its nodes, edges, splices and file-level settings (stdlib)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# DAGMan's own no-op nodes that join many-to-many PARENT/CHILD lines; rescue files list them as DONE.
JOIN_NODE_PREFIX = "_condor_join_node"
SPLICE_SEPARATOR = "+"
# Node kinds beside plain JOB nodes (DAGMan 25 "DAGMan Workflows": node types).
JOB, FINAL, SUBDAG, SERVICE, PROVISIONER = "job", "final", "subdag", "service", "provisioner"


class DagSyntaxError(ValueError):
    """A line DAGMan would refuse: the message carries file:line."""


class NotYetDefined(LookupError):
    """A command names a node (or ALL_NODES) before every JOB line has been read: it waits for the second pass."""


@dataclass
class Script:
    """A PRE, POST or HOLD script: its executable, arguments, DEFER (status, seconds) and DEBUG (file, stream)."""

    executable: str
    arguments: list[str]
    line: int = 0
    defer: tuple[int, int] | None = None
    debug: tuple[str, str] | None = None


@dataclass(slots=True)
class DagNode:
    """One node with everything the DAG says about it.

    `submit` is the submit file (or SUBMIT-DESCRIPTION name, or sub-DAG file) as written; `inline` holds the submit
    description text when the DAG gives it in braces or by name. `variables` holds every VARS value; `placed` says
    PREPEND or APPEND for those whose VARS line said so (the others follow DAGMAN_DEFAULT_APPEND_VARS).
    """

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
    kind: str = JOB
    inline: str | None = None
    placed: dict[str, str] = field(default_factory=dict)
    hold: Script | None = None
    source: str | None = None  # the file that defines it, when not the DAG itself (INCLUDE, SPLICE)

    @property
    def stage(self) -> str:
        """What the node is one of: its submit file's stem (a SUBMIT-DESCRIPTION's name), or "inline"."""
        return Path(self.submit).stem or "inline"

    @property
    def where(self) -> str:
        """file:line of its definition, for messages."""
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"


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
    descriptions: dict[str, str] = field(default_factory=dict)
    splices: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # name: (initial, terminal)
    environment: dict[str, str] = field(default_factory=dict)  # ENV SET
    inherited: list[str] = field(default_factory=list)  # ENV GET
    job_attributes: dict[str, str] = field(default_factory=dict)  # SET_JOB_ATTR
    rejected: int | None = None  # the REJECT line
    complete: bool = True  # False while the parser may still meet JOB lines (a forward reference waits)

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

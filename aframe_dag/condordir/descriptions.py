"""A node's submit description as DAGMan submits it: its text (a file, braces in the DAG, or a SUBMIT-DESCRIPTION),
its VARS set before (PREPEND, DAGMan's default) or after it (APPEND), then DAGMan's own macros."""

from __future__ import annotations

from pathlib import Path

from ..dagfile import DagNode


def node_dir(node: DagNode, dag_dir: Path) -> Path:
    """Where DAGMan submits a node from and runs its scripts: its DIR, relative to the DAG's directory."""
    return dag_dir / node.directory if node.directory else dag_dir


def submit_source(node: DagNode, dag_dir: Path) -> Path | None:
    """The node's submit file, or None when the DAG itself holds its description."""
    if node.inline is not None:
        return None
    path = Path(node.submit)
    return path if path.is_absolute() else node_dir(node, dag_dir) / path


def expand(description, key: str, default: str | None = None) -> str | None:
    """A submit command's value with its macros expanded; `default` when it is absent or expands to nothing."""
    try:
        return description.expand(key) if key in description else default
    except KeyError:  # htcondor2's answer for a value that expands to nothing
        return default


class Descriptions:
    """Each submit description's text, read once however many nodes share it."""

    def __init__(self, dag_dir: Path, moved: bool = False):
        self.dag_dir = Path(dag_dir)
        self.moved = moved  # a reader of a copied condor dir: a submit file gone from its path is read from here
        self.texts: dict[Path, str] = {}

    def key(self, node: DagNode) -> Path | str:
        """What nodes with the same description share: its file, or (in the DAG) the node itself."""
        return submit_source(node, self.dag_dir) or node.name

    def text(self, node: DagNode) -> str:
        """The node's submit description (OSError when its file cannot be read)."""
        path = submit_source(node, self.dag_dir)
        if path is None:
            return node.inline
        if path not in self.texts:
            here = self.dag_dir / path.name
            self.texts[path] = (here if self.moved and not path.exists() and here.exists() else path).read_text()
        return self.texts[path]

    def describe(self, node: DagNode, macros: dict[str, str], append_by_default: bool = False):
        """The node's htcondor2.Submit: VARS placed as DAGMan places them, then `macros` (JOB, RETRY, ...)."""
        import htcondor2

        default = "APPEND" if append_by_default else "PREPEND"
        before = {name: value for name, value in node.variables.items() if node.placed.get(name, default) != "APPEND"}
        description = htcondor2.Submit("".join(f"{name} = {value}\n" for name, value in before.items())
                                       + self.text(node))
        for name, value in node.variables.items():
            if name not in before:
                description[name] = value
        for name, value in macros.items():
            description[name] = value
        return description

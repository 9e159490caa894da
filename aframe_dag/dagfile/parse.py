"""Parse DAG files as DAGMan does: nodes first (JOB, FINAL, SUBDAG, SPLICE, ...), then every other command in order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..bulk import without_cyclic_gc
from ..names import DAG_FILE, rescue_pattern
from .commands import COMMANDS, NODE_COMMANDS, QUOTED, refused
from .lines import Statement, statements
from .model import JOIN_NODE_PREFIX, SPLICE_SEPARATOR, SUBDAG, Dag, DagSyntaxError, NotYetDefined


def _apply(dag: Dag, st: Statement, handler) -> None:
    if "#" in st.line and st.command not in QUOTED:
        raise refused(dag, st, "inline comment (DAGMan only allows comments on their own line)")
    try:
        handler(dag, st)
    except IndexError:
        raise refused(dag, st, f"{st.words[0]} is missing an argument") from None


def _scoped(splice: str, category: str | None) -> str | None:
    """A splice's category is its own unless its name starts with '+' (DAGMan's global categories)."""
    if category is None or category.startswith(SPLICE_SEPARATOR):
        return category
    return f"{splice}{SPLICE_SEPARATOR}{category}"


def _splice(dag: Dag, st: Statement, base: Path, problems, depth: int) -> None:
    """SPLICE name file [DIR d]: the file's nodes join this DAG as name+node; its paths are relative to d."""
    words = st.words
    if len(words) not in (3, 5) or (len(words) == 5 and words[3].upper() != "DIR"):
        raise refused(dag, st, "expected SPLICE name dag-file [DIR directory]")
    name, directory = words[1], words[4] if len(words) == 5 else None
    if name in dag.splices or name in dag.nodes:
        raise refused(dag, st, f"'{name}' is defined twice")
    if depth > 20:
        raise refused(dag, st, "splices nested more than 20 deep (a loop?)")
    where = base / directory if directory else base
    path = Path(words[2]) if Path(words[2]).is_absolute() else where / words[2]
    try:
        text = path.read_text()
    except OSError as exc:
        raise refused(dag, st, f"cannot read SPLICE file {path}: {exc.strerror}") from None
    inner = _parse(text, path, problems, where, depth + 1)
    if inner.final is not None:
        raise refused(dag, st, f"splice {path} has a FINAL node ('{inner.final.name}'); only the top DAG may")
    _merge(dag, inner, name, directory, st.number)


def _merge(dag: Dag, inner: Dag, name: str, directory: str | None, number: int) -> None:
    prefix = f"{name}{SPLICE_SEPARATOR}"
    for node in inner.nodes.values():
        within = str(Path(directory) / node.directory) if directory and node.directory else directory or node.directory
        dag.nodes[prefix + node.name] = dataclasses.replace(
            node, name=prefix + node.name, directory=within, category=_scoped(name, node.category),
            source=node.source or str(inner.path))
    for child, parents in inner.parents.items():
        dag.parents[prefix + child] = [prefix + parent for parent in parents]
        for parent in parents:
            dag.edge_lines[(prefix + parent, prefix + child)] = number
    for category, limit in inner.maxjobs.items():
        dag.maxjobs[_scoped(name, category)] = limit
    for splice, (initial, terminal) in inner.splices.items():
        dag.splices[prefix + splice] = ([prefix + n for n in initial], [prefix + n for n in terminal])
    children = inner.children()
    dag.splices[name] = ([prefix + n for n in inner.nodes if not inner.parents.get(n)],
                         [prefix + n for n in inner.nodes if not children.get(n)])


def _parse(text: str, path, problems: list[DagSyntaxError] | None, base: Path, depth: int = 0) -> Dag:
    dag = Dag(Path(path), complete=False)
    later: list[Statement] = []  # from the first command that names a node not defined yet on, in file order
    for st in statements(text, path, base, problems):
        handler = COMMANDS.get(st.command)
        try:
            if handler is None:
                _define(dag, st, base, problems, depth)
            elif later:
                later.append(st)
            else:
                try:
                    _apply(dag, st, handler)
                except NotYetDefined:
                    later.append(st)
        except DagSyntaxError as exc:
            if problems is None:
                raise
            problems.append(exc)
    dag.complete = True
    _describe(dag)
    for st in later:
        try:
            _apply(dag, st, COMMANDS[st.command])
        except DagSyntaxError as exc:
            if problems is None:
                raise
            problems.append(exc)
    return dag


def _define(dag: Dag, st: Statement, base: Path, problems, depth: int) -> None:
    """The first pass's commands: those that define nodes (and SUBMIT-DESCRIPTION, which JOB lines may name)."""
    if st.command in NODE_COMMANDS:
        _apply(dag, st, NODE_COMMANDS[st.command])
    elif st.command == "SPLICE":
        _splice(dag, st, base, problems, depth)
    else:
        raise refused(dag, st, f"unknown DAG command '{st.words[0]}'")


def _describe(dag: Dag) -> None:
    """Nodes that name a SUBMIT-DESCRIPTION take its text, as DAGMan prefers a description to a file of that name."""
    if dag.descriptions:
        for node in dag.nodes.values():
            if node.inline is None and node.submit in dag.descriptions and node.kind != SUBDAG:
                node.inline = dag.descriptions[node.submit]


@without_cyclic_gc
def parse_dag(text: str, path=DAG_FILE, problems: list[DagSyntaxError] | None = None, base=None) -> Dag:
    """Parse DAG text; raises DagSyntaxError with file:line for anything DAGMan would refuse.

    INCLUDE and SPLICE files are read relative to `base` (default: the DAG file's directory). With a `problems`
    list, each refused line is appended to it and skipped instead (a linter sees them all).
    """
    return _parse(text, path, problems, Path(base) if base is not None else Path(path).parent)


def read_dag(path, problems: list[DagSyntaxError] | None = None) -> Dag:
    """Parse a DAG file from disk."""
    return parse_dag(Path(path).read_text(), path, problems)


def rescue_files(dag_path) -> list[Path]:
    """The DAG's rescue files, oldest first (aframe.dag.rescue001, ...)."""
    dag_path = Path(dag_path)
    return sorted(dag_path.parent.glob(rescue_pattern(dag_path)))


def rescue_done(path) -> set[str]:
    """Nodes a rescue file marks DONE (DAGMan's own join nodes left out)."""
    done = set()
    for raw in Path(path).read_text().splitlines():
        words = raw.split()
        if len(words) >= 2 and words[0].upper() == "DONE" and not words[1].startswith(JOIN_NODE_PREFIX):
            done.add(words[1])
    return done


def apply_rescue(dag: Dag, rescue_path) -> Dag:
    """Mark the nodes a rescue file lists as DONE and take its RETRY counts, as DAGMan does on resubmission."""
    path = Path(rescue_path)
    for st in statements(path.read_text(), path, path.parent):
        if st.command in ("DONE", "RETRY") and not st.words[1].startswith(JOIN_NODE_PREFIX):
            _apply(dag, st, COMMANDS[st.command])
    return dag


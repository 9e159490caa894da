"""File-transfer mode (`[condor] filesystem = transfer`): what a node's job is sent, what it sends back, and its
arguments in the names its sandbox gives the files.

A job runs on a machine that does not see the access point's files. Its inputs are exactly the plan's (the same
file edges that make the DAG), each at the sandbox's top under its base name or fetched by URL where `[condor]
url_map` maps its prefix; its outputs are written under ``sandbox.OUT_DIR`` and remapped to their run-directory
paths; its done-marker comes back beside the real one for the POST script (landing.py) to check. The node hash
stays the plan's, computed from access-point paths, so shared and transfer builds of one config agree on what is
done.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..names import TRANSFER, landed_marker_name
from ..plan.model import Node, Workflow
from ..sandbox import MARKER, OUT_DIR, input_name, output_name


@dataclass(frozen=True)
class Sandboxed:
    """One node as its transfer-mode job sees it."""

    arguments: tuple[str, ...]  # the node's arguments with sandbox names
    inputs: tuple[str, ...]  # transfer_input_files: access-point paths or URLs
    remaps: tuple[tuple[str, str], ...]  # transfer_output_remaps: sandbox name -> access-point path
    roots: tuple[str, ...]  # the access-point paths the remaps bring outputs back to, for the POST script


def access_point_dirs(workflow: Workflow) -> tuple[str, ...]:
    """The directories of the run's files: an argument naming a path below one must be a declared input or output."""
    dirs = {workflow.condor_dir}
    for node in workflow.nodes:
        dirs.update(posixpath.dirname(path) for path in (*node.inputs, *node.outputs) if path.startswith("/"))
    return tuple(sorted(dirs))


def fetched_as(path: str, url_map) -> str:
    """An input's transfer_input_files entry: the URL its prefix maps to, else its access-point path."""
    for prefix, url in url_map:
        if path == prefix or path.startswith(prefix + "/"):
            return url + path[len(prefix):]
    return path


def _output_roots(node: Node, candidates) -> list[str]:
    """What comes back: each output, or the directory argument that holds it (train's run dir), once."""
    roots = []
    for output in node.outputs:
        holder = next((path for path in candidates if output.startswith(path + "/")), output)
        if holder not in roots and not output.startswith("s3://"):
            roots.append(holder)
    return roots


def _path_words(arguments) -> list[str]:
    """Every absolute path an argument names, alone or after a `N:` prefix (infer's --branch SHIFT:FILE)."""
    words = []
    for word in arguments:
        path = word.partition(":")[2] if ":" in word and not word.startswith("/") else word
        if path.startswith("/"):
            words.append(path)
    return words


def sandboxed(workflow: Workflow, node: Node, arguments, url_map, stage_inputs, ap_dirs) -> Sandboxed:
    """The node's job in transfer mode; ``arguments`` are its full arguments (the node contract's included)."""
    roots = _output_roots(node, [word for word in _path_words(arguments) if word not in node.inputs])
    names = {path: input_name(path) for path in (*node.inputs, *stage_inputs)}
    names.update({root: output_name(root) for root in roots})
    names[arguments[arguments.index("--done-marker") + 1]] = MARKER
    if len(set(names.values())) != len(names):
        raise ValueError(f"node {node.name}: two of its files share a base name, so its sandbox cannot hold both")
    rewritten = tuple(_rewritten(word, names, ap_dirs, node.name) for word in arguments)
    remaps = ((OUT_DIR, f"{workflow.condor_dir}/{TRANSFER}/{node.name}"),
              *((output_name(root), root) for root in roots),
              (MARKER, f"{workflow.condor_dir}/{landed_marker_name(node.name)}"))
    inputs = tuple(fetched_as(path, url_map) for path in (*dict.fromkeys(node.inputs), *stage_inputs))
    return Sandboxed(rewritten, inputs, remaps, tuple(roots))


def _rewritten(word: str, names: dict[str, str], ap_dirs, node: str) -> str:
    """One argument in sandbox names; an undeclared access-point path is a bug in the plan, never rendered."""
    if word in names:
        return names[word]
    prefix, colon, path = word.partition(":")
    if colon and path in names and not word.startswith("/"):
        return f"{prefix}:{names[path]}"
    for candidate in (word, path if colon else None):
        if candidate and candidate.startswith("/") and any(candidate == d or candidate.startswith(d + "/")
                                                           for d in ap_dirs):
            raise ValueError(f"node {node}: argument {word} names an access-point path the plan does not declare "
                             "as an input or output")
    return word


def landing_directories(workflow: Workflow) -> list[str]:
    """What must exist on the access point before outputs come back: HTCondor creates a remapped directory but not
    its parent, and holds the job when a remap's parent is missing."""
    dirs = {f"{workflow.condor_dir}/{TRANSFER}"}
    for node in workflow.nodes:
        if not workflow.stages[node.stage].local:
            dirs.update(posixpath.dirname(path) for path in node.outputs if path.startswith("/"))
    return sorted(dirs)

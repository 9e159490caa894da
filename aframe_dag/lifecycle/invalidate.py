"""`aframe-dag invalidate`: make chosen nodes run again, without deleting any data file.

A node counts as done through two records: its done-marker (read by its PRE script) and a DONE line in the newest
rescue file (read by DAGMan, which then runs no PRE script at all). Invalidating removes the marker and writes the
next rescue file (aframe.dag.rescueNNN+1) as a copy of the newest one without the nodes' DONE lines. The original
stays as it was, DAGMan and `aframe-dag run` both pick the newest number by themselves, and `resubmit --from N`
can still go back to it. DAGMan's own join nodes lose their DONE lines too: a join left DONE would release the
children of an invalidated node before it reran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..condordir.dag import load_dag
from ..condordir.running import refuse_while_running
from ..dagfile import JOIN_NODE_PREFIX, Dag, rescue_done, rescue_files
from ..errors import UserError, did_you_mean
from ..names import DAG_FILE, marker_path, rescue_number, rescue_path
from ..nodecheck import read_done_marker
from ..status.sources import continue_command
from .stale import descendants

MAX_RESCUE = 100  # DAGMan's MAX_RESCUE_DAG_NUM default: it looks no further
LISTED = 12


@dataclass
class Invalidation:
    """What `invalidate` did: the nodes made to rerun, and the records it changed."""

    condor_dir: Path
    targets: list[str]
    markers: list[str] = field(default_factory=list)
    rescue_from: Path | None = None
    rescue_written: Path | None = None
    still_done: list[str] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"will rerun {len(self.targets)} node(s): {_listing(self.targets)}"]
        if self.upstream:
            lines.append(f"  including {_listing(self.upstream)}: `aframe-dag clean` removed outputs of theirs that "
                         "an invalidated node reads")
        lines.append(f"  removed done-markers: {_listing(self.markers) if self.markers else 'none (there were none)'}")
        if self.rescue_written is not None:
            lines.append(f"  wrote {self.rescue_written.name}: {self.rescue_from.name} without their DONE lines "
                         f"({self.rescue_from.name} is kept as it was)")
        elif self.rescue_from is not None:
            lines.append(f"  {self.rescue_from.name} marks none of them DONE: left as it is")
        if self.still_done:
            lines.append(f"still done, not rerun (add --downstream to rerun them too): {_listing(self.still_done)}")
        lines.append(f"no data file was deleted; continue with `{continue_command(self.condor_dir)}`")
        return "\n".join(lines)


def _listing(nodes: list[str]) -> str:
    if len(nodes) <= LISTED:
        return ", ".join(nodes)
    return ", ".join(nodes[:LISTED]) + f" and {len(nodes) - LISTED} more"


def _check_names(condor_dir: Path, dag: Dag, nodes: list[str]) -> None:
    for node in nodes:
        if node not in dag.nodes:
            raise UserError(f"{condor_dir}: no node '{node}' in {DAG_FILE}{did_you_mean(node, dag.nodes)}; "
                            "nothing changed")
        if dag.nodes[node].final:
            raise UserError(f"{node} is the FINAL node: it runs at the end of every run, there is nothing to "
                            "invalidate; nothing changed")


def _cleaned_parents(condor_dir: Path, dag: Dag, targets: list[str]) -> list[str]:
    """Parents whose outputs `clean` removed, that a target (or such a parent, in turn) needs again."""
    added, stack = [], list(targets)
    while stack:
        for parent in dag.parents.get(stack.pop(), []):
            if parent in targets or parent in added:
                continue
            marker = read_done_marker(marker_path(condor_dir, parent))
            if marker and marker.get("cleaned"):
                added.append(parent)
                stack.append(parent)
    return [name for name in dag.nodes if name in added]


def _rescue_without(rescue: Path, nodes: set[str]) -> str | None:
    """The rescue file's text without the DONE lines of `nodes` (and of DAGMan's join nodes); None if none is there."""
    kept, dropped, header = [], [], True
    for line in rescue.read_text().splitlines():
        words = line.split()
        if header and words and not words[0].startswith("#"):
            header = False
            kept.append(f"# aframe-dag invalidate: {rescue.name} without the DONE lines of the nodes it "
                        "invalidated and of DAGMan's join nodes")
        if len(words) >= 2 and words[0].upper() == "DONE" and (words[1] in nodes
                                                               or words[1].startswith(JOIN_NODE_PREFIX)):
            dropped.append(words[1])
            continue
        kept.append(line)
    if not any(name in nodes for name in dropped):
        return None
    return "\n".join(kept) + "\n"


def _write_new(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.invalidate-{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def invalidate(condor_dir, nodes: list[str], downstream: bool = False) -> Invalidation:
    """Remove the done-markers of `nodes` (and their descendants with `downstream`) and their rescue DONE lines."""
    condor_dir = Path(condor_dir)
    if not nodes:
        raise UserError("name at least one node to invalidate")
    dag = load_dag(condor_dir)
    _check_names(condor_dir, dag, nodes)
    refuse_while_running(condor_dir, "invalidate nodes")
    chosen = {name for name in set(nodes) | (set(descendants(dag, nodes)) if downstream else set())
              if not dag.nodes[name].final}
    upstream = _cleaned_parents(condor_dir, dag, [name for name in dag.nodes if name in chosen])
    result = Invalidation(condor_dir, [name for name in dag.nodes if name in chosen or name in upstream],
                          upstream=upstream)

    rescues = rescue_files(condor_dir / DAG_FILE)
    if rescues:
        result.rescue_from = rescues[-1]
        text = _rescue_without(rescues[-1], set(result.targets))
        if text is not None:
            number = rescue_number(rescues[-1]) + 1
            if number > MAX_RESCUE:
                raise UserError(f"{rescues[-1]}: DAGMan reads no rescue file numbered above {MAX_RESCUE}; move old "
                                "rescue files away (DAGMan only uses the newest); nothing changed")
            result.rescue_written = rescue_path(condor_dir / DAG_FILE, number)
            _write_new(result.rescue_written, text)
    done = rescue_done(result.rescue_written or result.rescue_from) if result.rescue_from else set()
    for name in result.targets:
        marker = marker_path(condor_dir, name)
        if marker.exists():
            marker.unlink()
            result.markers.append(name)
    below = descendants(dag, result.targets)
    result.still_done = [name for name in below if name not in result.targets and not dag.nodes[name].final
                         and (name in done or marker_path(condor_dir, name).exists())]
    return result


"""Reuse at build: nodes that earlier runs ([run] reuse) finished with this plan's node hash are marked done here.

A node's hash covers its program, arguments (so every path it reads and writes) and its parents' hashes, so a node
done in another condor dir with the same hash wrote exactly the files this run would, in the same place. Its
done-marker, checked as the PRE script checks it (hash and every output still on disk with its recorded size), is
copied into this run's done/ so that the PRE script skips the node. The earlier run is only read, never changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..names import marker_path
from ..nodecheck import why_not_done
from ..plan.model import Workflow


@dataclass
class Reuse:
    """What a build takes from earlier runs: the model it exports, nodes done elsewhere, and why others are not."""

    model: str | None = None
    sources: tuple[Path, ...] = ()
    found: dict[str, Path] = field(default_factory=dict)  # node -> the condor dir whose marker shows it done
    refused: dict[str, str] = field(default_factory=dict)  # node -> why a marker there does not count

    def lines(self, workflow: Workflow) -> list[str]:
        """One line per reused stage (how many of its nodes, from where), then each source that gave nothing."""
        lines = [f"train: reused model {self.model} (no training-data, train or tune nodes)"] if self.model else []
        for stage, nodes in workflow.by_stage().items():
            names = [node.name for node in nodes]
            reused = [name for name in names if name in self.found]
            refused = [name for name in names if name in self.refused]
            if not reused and not refused:
                continue
            where = ", ".join(dict.fromkeys(str(self.found[name]) for name in reused))
            line = (f"{stage}: {len(reused)} of {len(names)} nodes done in {where}" if reused
                    else f"{stage}: 0 of {len(names)} nodes reused")
            if refused:
                line += f"; {len(refused)} run again ({refused[0]}: {self.refused[refused[0]]})"
            lines.append(line)
        used = set(self.found.values())
        lines += [f"{source}: no node of this plan is done there (node hashes cover every path and argument: "
                  "point the data dirs at that run's)" for source in self.sources if source not in used]
        return lines


def find_reusable(workflow: Workflow, sources, model: str | None = None) -> Reuse:
    """Each planned node's first source whose done-marker passes the PRE script's check for this plan's hash."""
    reuse = Reuse(model=model, sources=tuple(Path(source) for source in sources))
    for node in workflow.nodes:
        if node.final:
            continue
        for source in reuse.sources:
            if not marker_path(source, node.name).exists():
                continue
            reason = why_not_done(source, node.name, node.hash)
            if reason is None:
                reuse.found[node.name] = source
                reuse.refused.pop(node.name, None)
                break
            reuse.refused.setdefault(node.name, f"{reason} in {source}")
    return reuse


def copy_markers(reuse: Reuse, workflow: Workflow, condor_dir) -> list[str]:
    """Copy each reusable marker into condor_dir/done (atomically) unless the node is done there already."""
    hashes = {node.name: node.hash for node in workflow.nodes}
    copied = []
    for node, source in reuse.found.items():
        if why_not_done(condor_dir, node, hashes[node]) is None:
            continue
        target = marker_path(condor_dir, node)
        temporary = target.with_name(f".{target.name}.reuse-{os.getpid()}")
        temporary.write_bytes(marker_path(source, node).read_bytes())
        os.replace(temporary, target)
        copied.append(node)
    return copied

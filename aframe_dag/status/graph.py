"""`aframe-dag graph`: the DAG as a picture, one box per stage (or per node), via graphviz when installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..dagfile import Dag


def dot_text(dag: Dag, every_node: bool = False) -> str:
    """Graphviz source: stages with their node counts, or every node when asked."""
    label = (lambda name: name) if every_node else (lambda name: dag.nodes[name].stage)
    counts: dict[str, int] = {}
    for name in dag.nodes:
        counts[label(name)] = counts.get(label(name), 0) + 1
    edges = sorted({(label(parent), label(child)) for child, parents in dag.parents.items() for parent in parents
                    if label(parent) != label(child)})
    lines = ["digraph aframe {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Helvetica"];']
    for box, count in counts.items():
        text = box if count == 1 else f"{box}\\n×{count}"
        lines.append(f'  "{box}" [label="{text}"];')
    lines += [f'  "{parent}" -> "{child}";' for parent, child in edges]
    return "\n".join(lines + ["}"]) + "\n"


def draw(dag: Dag, output: Path, every_node: bool = False) -> Path:
    """Write output (.dot always possible; .png/.svg/.pdf through graphviz's dot); returns what was written."""
    text = dot_text(dag, every_node)
    if output.suffix == ".dot":
        output.write_text(text)
        return output
    dot = shutil.which("dot")
    if dot is None:
        fallback = output.with_suffix(".dot")
        fallback.write_text(text)
        return fallback
    subprocess.run([dot, f"-T{output.suffix.lstrip('.')}", "-o", str(output)], input=text, text=True, check=True)
    return output

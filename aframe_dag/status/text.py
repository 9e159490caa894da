"""`aframe-dag status` as text: the per-stage table, a progress bar and the nodes that need a look."""

from __future__ import annotations

import time

from .model import NodeState, RunStatus
from .sources import continue_command


def duration(seconds: float | None) -> str:
    """1h02m, 3m05s, 12s; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def clock(timestamp) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(timestamp)))


def progress_bar(run: RunStatus, width: int = 40) -> str:
    """`[#####.....] 12/40 done (30%)` with what runs and what failed."""
    totals = run.totals()
    share = totals.done / totals.total if totals.total else 0.0
    filled = int(round(share * width))
    extra = [f"{getattr(totals, key)} {key}" for key in ("running", "idle", "held", "failed") if getattr(totals, key)]
    return (f"[{'#' * filled}{'.' * (width - filled)}] {totals.done}/{totals.total} done ({share:.0%})"
            + (" · " + ", ".join(extra) if extra else ""))


def _node_line(node: NodeState) -> str:
    facts = []
    if node.exit_code is not None and node.status != "done":
        facts.append(f"exit {node.exit_code}")
    if node.signal is not None:
        facts.append(f"signal {node.signal}")
    if node.hold_reason and node.status == "held":
        facts.append(f"hold: {node.hold_reason}")
    if node.retries or node.status == "failed":
        facts.append(f"{node.retries} of {node.max_retries} retries")
    if node.host and node.status in ("running", "failed", "held"):
        facts.append(f"on {node.host}")
    if node.elapsed is not None and node.status in ("running", "failed", "held", "done"):
        facts.append(duration(node.elapsed))
    if node.holds and node.status != "held":
        facts.append(f"held {node.holds}x before")
    if node.pre_skipped:
        facts.append("skipped by its PRE script")
    return f"  {node.name:<32} {node.status:<11} " + ", ".join(facts)


def format_status(run: RunStatus, every_node: bool = False, limit: int = 10) -> str:
    """The per-stage table, the totals, then the nodes that need a look (every node with `every_node`)."""
    title = f'run "{run.name}"' if run.name else "run"
    updated = f", status file of {clock(run.updated)}" if run.updated else ""
    live = ", live from the schedd" if run.live else ""
    lines = [f"{title} in {run.where}: {run.dag_status}{updated}{live}", ""]
    header = f"  {'stage':<16} {'done':>6} {'running':>7} {'idle':>6} {'held':>5} {'failed':>6} {'waiting':>7}" \
             f" {'total':>6} {'retries':>7} {'elapsed':>8}"
    lines.append(header)
    for row in [*run.stages(), run.totals()]:
        if row.stage == "total":
            lines.append("  " + "-" * (len(header) - 2))
        lines.append(f"  {row.stage:<16} {row.done:>6} {row.running:>7} {row.idle:>6} {row.held:>5} {row.failed:>6}"
                     f" {row.waiting:>7} {row.total:>6} {row.retries:>7} {duration(row.elapsed):>8}")
    lines += ["", progress_bar(run)]
    nodes = list(run.nodes.values())
    if every_node:
        lines += ["", "nodes:"] + [_node_line(node) for node in nodes]
    else:
        for status in ("failed", "held", "futile", "running", "idle", "pre", "post"):
            chosen = [node for node in nodes if node.status == status]
            if chosen:
                lines += ["", f"{status}:"] + [_node_line(node) for node in chosen[:limit]]
                if len(chosen) > limit:
                    lines.append(f"  ... and {len(chosen) - limit} more (--nodes lists them all)")
    lines += [f"note: {note}" for note in run.notes]
    failed = [node.name for node in nodes if node.status in ("failed", "held")]
    if failed:
        lines.append(f"\nwhy: aframe-dag why {failed[0]} {run.where}")
    if run.finished and run.dag_status != "done":
        lines.append(f"continue once fixed: {continue_command(run.dag or run.condor_dir)}")
    return "\n".join(lines)

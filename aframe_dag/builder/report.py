"""What `build` prints: the run's shape, its totals and the command that submits it."""

from __future__ import annotations

from .render import submit_line

SECONDS_PER_YEAR = 31557600
SECONDS_PER_DAY = 86400


def _livetime(seconds: float) -> str:
    if seconds >= 0.1 * SECONDS_PER_YEAR:
        return f"{seconds / SECONDS_PER_YEAR:.3g} yr"
    return f"{seconds / SECONDS_PER_DAY:.3g} days"


def build_report(result, dry_run: bool) -> str:
    """Nodes per stage, GPU nodes, livetime and injections, what is reused, what was written, and how to run it."""
    workflow = result.workflow
    stages = workflow.by_stage()
    lines = [f'run "{workflow.name}": {len(workflow.nodes)} nodes in {result.condor_dir}', ""]
    lines.append(f"  {'stage':<14} {'nodes':>6}  {'cpus':>4} {'memory':>8} {'gpus':>4}")
    for name, nodes in stages.items():
        stage = workflow.stages[name]
        lines.append(f"  {name:<14} {len(nodes):>6}  {stage.request_cpus:>4} {stage.request_memory:>6}MB"
                     f" {stage.request_gpus:>4}")
    gpu_nodes = sum(len(nodes) for name, nodes in stages.items() if workflow.stages[name].request_gpus)
    totals = workflow.totals
    live = totals["livetime"] - totals.get("vetoed", 0.0)
    lines += ["", f"  GPU nodes: {gpu_nodes}",
              f"  background livetime: {live:.0f} s ({_livetime(live)})"
              f" over {totals['shifts']} timeslides of {totals['test_files']} test files",
              f"  injections: {totals['injections']:.0f}"]
    if totals.get("vetoes"):
        lines.append(f"  vetoes: {totals['vetoed']:.0f} s of the {totals['livetime']:.0f} s of background analysed "
                     f"vetoed, {totals['vetoed_injections']} of the injections dropped")
    lines.append("")
    if result.estimates is not None:
        lines += result.estimates.lines() + [""]
    if result.reused:
        lines += ["reused:"] + [f"  {line}" for line in result.reused] + [""]
    if dry_run:
        lines.append("dry run: nothing written")
    elif result.written:
        lines.append(f"wrote {', '.join(result.written)}")
    else:
        lines.append("unchanged: the condor dir already holds exactly this build")
    lines += [f"note: {note}" for note in result.notes]
    lines += ["", f"submit:        {submit_line(workflow)}",
              f"or run here:   aframe-dag run {result.condor_dir} --workers 4"]
    return "\n".join(lines)

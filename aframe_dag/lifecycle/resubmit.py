"""`aframe-dag resubmit`: which rescue file DAGMan will use, and whether it still may (no click here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..condordir.dag import load_dag
from ..condordir.running import refuse_while_running
from ..dagfile import rescue_done, rescue_files
from ..errors import UserError
from ..names import DAG_FILE, RESOLVED, STATUS_FILE, rescue_number
from ..status.sources import DAG_STATUS, in_condor_dir, read_status_file, run_name
from .stale import stale_refusal


@dataclass
class ResubmitPlan:
    """What `resubmit` will do: which rescue file DAGMan uses and what it already counts as done."""

    condor_dir: Path
    name: str | None
    rescue: Path | None
    from_number: int | None
    done: set[str]
    total: int
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.rescue is None:
            lines = [f"no rescue file in {self.condor_dir}: DAGMan runs the whole DAG, and each node's PRE script "
                     "skips it when its done-marker still matches"]
        else:
            how = f"-DoRescueFrom {self.from_number}" if self.from_number is not None else "the newest"
            lines = [f"DAGMan will use {self.rescue.name} ({how}): {len(self.done)} of {self.total} nodes DONE there;"
                     " the rest run again, skipped by their PRE script where their outputs are already done"]
            if self.from_number is not None:
                lines.append("  (rescue files numbered above it are renamed to .old by DAGMan)")
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def resubmit_plan(condor_dir, from_number: int | None = None) -> ResubmitPlan:
    """Check that the DAG can be resubmitted and say which rescue file DAGMan will use (UserError if it can't)."""
    condor_dir = Path(condor_dir)
    dag = load_dag(condor_dir)
    name = run_name(condor_dir)
    notes: list[str] = []
    refuse_while_running(condor_dir, "resubmit", notes)
    rescues = {rescue_number(path): path for path in rescue_files(condor_dir / DAG_FILE)}
    if from_number is not None:
        if from_number not in rescues:
            have = ", ".join(str(n) for n in sorted(rescues)) or "none"
            raise UserError(f"{condor_dir}: no rescue file number {from_number} (there are: {have})")
        rescue = rescues[from_number]
    else:
        rescue = rescues[max(rescues)] if rescues else None
    done = rescue_done(rescue) if rescue else set()
    missing = sorted(done - set(dag.nodes))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UserError(f"{rescue} marks nodes DONE that {DAG_FILE} no longer has ({shown}): the DAG was rebuilt "
                        "with different nodes; move the rescue files away to start afresh (done-markers still "
                        "skip finished nodes)")
    if rescue is not None:
        refusal = stale_refusal(condor_dir, dag, rescue, then="resubmit")
        if refusal:
            raise UserError(refusal)
    if name is None:
        notes.append(f"no {RESOLVED} here: submitting without a batch name")
    file = read_status_file(in_condor_dir(condor_dir, dag.status_file, STATUS_FILE))
    if file is not None and DAG_STATUS.get(int(file[0].get("DagStatus", 3))) == "done":
        notes.append("the last run finished successfully: DAGMan skips the DONE nodes, and the PRE scripts every "
                     "node whose done-marker still matches")
    return ResubmitPlan(condor_dir, name, rescue, from_number, done, len(dag.nodes), notes)


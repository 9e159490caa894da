"""`aframe-dag clean`: free the space of merged shards and scratch, never anything a node still needs.

What is a shard, who reads it and whether they are done all come from the condor dir itself: the DAG that DAGMan
runs (a merge node's `--input` arguments are its shards; a node reads a file when its arguments name it) and the
done-markers the nodes wrote (checked as the PRE script checks them). Rebuilding the plan from run.ini.resolved
would depend on train.yaml, the environment and this package's version all being as they were at build time;
the DAG and the markers are what actually ran.

A removed shard moves, in its producer's done-marker, from `outputs` to `cleaned`, so the producer still counts as
done (the PRE script checks only `outputs`) and `invalidate` knows to rerun it when a reader must run again.
Scratch is the run's tmp dir ([run] tmp_dir), the `.cache` download dirs of training run dirs, and the
`.NAME.tmp-PID-*` temporaries that killed node programs left beside their outputs in the run's directories (those
whose writer still runs on this host are kept), and the job sandboxes a killed `aframe-dag run` left.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..condordir.dag import load_dag, node_arguments
from ..condordir.running import running_reason
from ..dagfile import Dag
from ..errors import UserError
from ..names import RESOLVED, SANDBOXES, marker_path
from ..nodecheck import describe_output, process_running, read_done_marker, temporary_of
from ..status.sources import valid_marker

RUN_DIRS = ("train_data_dir", "test_data_dir", "train_run_dir", "condor_dir", "results_dir")
CACHE = ".cache"


@dataclass
class Item:
    """A file or directory `clean` would remove, its size, why it may go, and the markers that record it."""

    path: Path
    size: int
    why: str
    producers: list[str] = field(default_factory=list)


@dataclass
class CleanPlan:
    """What `clean` would remove, what it keeps and why, and what forbids removing anything now."""

    condor_dir: Path
    what: str
    remove: list[Item] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(item.size for item in self.remove)

    def describe(self) -> str:
        if not self.remove:
            lines = [f"{self.what}: nothing to remove in {self.condor_dir}"]
        else:
            lines = [f"{self.what}: {len(self.remove)} to remove, {human(self.size)}:"]
            lines += [f"  {human(item.size):>9}  {item.path}  ({item.why})" for item in self.remove]
        lines += [f"kept: {reason}" for reason in self.kept]
        lines += [f"blocked: {reason}" for reason in self.blockers]
        if self.blockers:
            lines.append("--yes removes nothing while anything is blocked")
        return "\n".join(lines)


def human(size: int) -> str:
    """A byte count for people: 512 B, 3.2 MiB, 1.5 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _size(path: Path) -> int:
    if path.is_symlink():
        return 0
    described = describe_output(path, digest=False)
    return described["size"] if described else 0


def _readers(dag: Dag) -> dict[str, set[str]]:
    """{path: nodes whose arguments name it} (also as the value of `shift:path` or `key=path` words)."""
    readers: dict[str, set[str]] = {}
    for name, node in dag.nodes.items():
        if node.final:
            continue
        for word in node_arguments(dag, name):
            for value in {word, word.split(":", 1)[-1], word.split("=", 1)[-1]}:
                readers.setdefault(value, set()).add(name)
    return readers


def _inputs(dag: Dag, node: str) -> list[str]:
    words = node_arguments(dag, node)
    return [value for flag, value in zip(words, words[1:], strict=False) if flag == "--input"]


def shard_plan(condor_dir) -> CleanPlan:
    """Every merge node's existing shards: to remove when the merge and every reader of the shard are done."""
    condor_dir = Path(condor_dir)
    dag = load_dag(condor_dir)
    plan = CleanPlan(condor_dir, "merged shards")
    readers = _readers(dag)
    done = {name for name in dag.nodes if valid_marker(condor_dir, dag, name) is not None}
    merges = [name for name, node in dag.nodes.items() if Path(node.submit).stem == "merge"]
    remote = 0
    for merge in merges:
        parents = set(dag.parents.get(merge, []))
        for shard in _inputs(dag, merge):
            if shard.startswith("s3://"):
                remote += 1
                continue
            path = Path(shard)
            if not path.exists():
                continue
            producers = sorted(readers.get(shard, set()) & parents)
            waiting = sorted(readers.get(shard, set()) - parents - done)
            if waiting:
                plan.blockers.append(f"{path} is still needed: {', '.join(waiting)} not DONE")
            else:
                plan.remove.append(Item(path, _size(path), f"merged by {merge}", producers))
    if remote:
        plan.kept.append(f"{remote} shard(s) on S3: remove them with your S3 tools once their merge is done")
    return _unless_running(plan)


def _unless_running(plan: CleanPlan) -> CleanPlan:
    """Block the plan while anything runs the DAG: a node may be reading what it would remove."""
    reason = running_reason(plan.condor_dir)
    if reason:
        plan.blockers.append(f"the DAG is still running: {reason}")
    return plan


def _resolved_run(condor_dir: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(condor_dir / RESOLVED, encoding="utf-8")
    return dict(parser["run"]) if parser.has_section("run") else {}


def _local_run_dirs(run: dict[str, str]) -> list[Path]:
    """The run's directories that are on this filesystem (not s3://)."""
    return [Path(run[key]) for key in RUN_DIRS if run.get(key) and not run[key].startswith("s3://")]


def _shared_place(tmp: Path, run: dict[str, str], condor_dir: Path) -> str | None:
    """Why a tmp dir is not the run's own (shared with other programs, or holding the run's other dirs), or None."""
    tmp = tmp.resolve()
    shared = {Path("/"), Path.home().resolve(), Path(tempfile.gettempdir()).resolve(), Path("/tmp"), Path("/var/tmp"),
              Path("/dev/shm")}
    if tmp in shared:
        return f"tmp_dir = {tmp} is shared with other programs"
    for other in [condor_dir, *_local_run_dirs(run)]:
        other = other.resolve()
        if other == tmp or tmp in other.parents:
            return f"tmp_dir = {tmp} holds {other}"
    return None


def _tmp_dir_items(plan: CleanPlan, run: dict[str, str]) -> None:
    """Everything in the run's own tmp dir; a shared or missing one is kept, saying why."""
    tmp = run.get("tmp_dir", "")
    if not tmp:
        plan.kept.append(f"the tmp dir: {plan.condor_dir / RESOLVED} does not name one")
    elif tmp.startswith("s3://"):
        plan.kept.append(f"tmp_dir = {tmp} is on S3")
    elif Path(tmp).is_dir():
        shared = _shared_place(Path(tmp), run, plan.condor_dir)
        if shared:
            plan.kept.append(f"the tmp dir: {shared}; only a run's own tmp dir is cleaned")
        else:
            plan.remove += [Item(entry, _size(entry), "tmp dir") for entry in sorted(Path(tmp).iterdir())]


def _cache_items(plan: CleanPlan, dag: Dag) -> None:
    """The `.cache` download dir of each training run dir whose node is done (a restart would fetch it again)."""
    for name in dag.nodes:
        words = node_arguments(dag, name)
        for run_dir in [value for flag, value in zip(words, words[1:], strict=False) if flag == "--run-dir"]:
            cache = Path(run_dir) / CACHE
            if run_dir.startswith("s3://") or not cache.is_dir():
                continue
            if valid_marker(plan.condor_dir, dag, name) is None:
                plan.kept.append(f"{cache}: {name} is not DONE (a restart would download its inputs again)")
            else:
                plan.remove.append(Item(cache, _size(cache), f"downloads of {name}"))


def _temporaries(roots: list[Path]) -> list[tuple[Path, int]]:
    """Every temporary (file or directory, not entered) under ``roots``, with its writer's PID, in order."""
    found: dict[Path, int] = {}
    for root in roots:
        for top, directories, files in os.walk(root):
            for name in directories + files:
                parsed = temporary_of(name)
                if parsed is not None:
                    found[Path(top, name)] = parsed[1]
            directories[:] = [name for name in directories if temporary_of(name) is None]
    return sorted(found.items())


def _temporary_items(plan: CleanPlan, run: dict[str, str]) -> None:
    """Temporaries left in the run's local directories by writers that no longer run (not already listed)."""
    listed = [item.path for item in plan.remove]
    for path, pid in _temporaries(list(dict.fromkeys([plan.condor_dir, *_local_run_dirs(run)]))):
        if any(path == other or other in path.parents for other in listed):
            continue
        if process_running(pid):
            plan.kept.append(f"{path}: its writer (pid {pid}) still runs")
        else:
            plan.remove.append(Item(path, _size(path), f"temporary of a killed writer, pid {pid}"))


def _sandbox_items(plan: CleanPlan) -> None:
    """The job sandboxes a killed `aframe-dag run` left (a run removes each when its job ends, and a killed run's
    when it starts)."""
    sandboxes = plan.condor_dir / SANDBOXES
    if sandboxes.is_dir():
        plan.remove += [Item(entry, _size(entry), "job sandbox a killed `aframe-dag run` left")
                        for entry in sorted(sandboxes.iterdir())]


def scratch_plan(condor_dir) -> CleanPlan:
    """The run's tmp dir contents, the `.cache` download dirs of training nodes that are done, temporaries killed
    node programs left beside their outputs, and job sandboxes killed runs left."""
    condor_dir = Path(condor_dir)
    dag = load_dag(condor_dir)
    plan = CleanPlan(condor_dir, "scratch")
    run = _resolved_run(condor_dir)
    _tmp_dir_items(plan, run)
    _cache_items(plan, dag)
    _temporary_items(plan, run)
    _sandbox_items(plan)
    return _unless_running(plan)


def _forget_output(condor_dir: Path, node: str, path: Path) -> None:
    """Move `path` from the `outputs` of the node's done-marker to its `cleaned` list (atomically)."""
    marker = marker_path(condor_dir, node)
    record = read_done_marker(marker)
    if record is None:
        return
    gone = [entry for entry in record.get("outputs", []) if Path(str(entry.get("path", ""))) == path.absolute()]
    if not gone:
        return
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record["outputs"] = [entry for entry in record["outputs"] if entry not in gone]
    record["cleaned"] = record.get("cleaned", []) + [{**entry, "removed": stamp} for entry in gone]
    temporary = marker.with_name(f".{marker.name}.clean-{os.getpid()}")
    temporary.write_text(json.dumps(record, sort_keys=True, indent=1) + "\n")
    os.replace(temporary, marker)


def remove(plan: CleanPlan) -> int:
    """Remove what the plan lists (refused with its blockers: nothing changed); returns the bytes freed."""
    if plan.blockers:
        raise UserError(f"{plan.condor_dir}: not cleaning {plan.what}: " + "; ".join(plan.blockers)
                        + "; nothing removed")
    freed = 0
    for item in plan.remove:
        for producer in item.producers:  # the marker first: a crash in between leaves a harmless extra file
            _forget_output(plan.condor_dir, producer, item.path)
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path)
        else:
            item.path.unlink(missing_ok=True)
        freed += item.size
    return freed

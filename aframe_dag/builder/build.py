"""`aframe-dag build`: config -> plan -> files in the condor dir, written whole or not at all."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..check import check_run, format_findings
from ..condordir.running import refuse_while_running
from ..config import load_config, resolved_text
from ..config.checks import node_log_refusal
from ..config.text import changed_keys
from ..dagfile import apply_rescue, parse_dag, rescue_files
from ..errors import ConfigError, UserError
from ..lifecycle.stale import stale_refusal
from ..names import DAG_FILE, DONE, LOCK, LOGS, RESOLVED, SEGMENT_CACHE, beside
from ..plan import Workflow, plan
from ..plan.segments import query_segments, read_segments, segments_text
from .estimates import Estimates, estimate
from .render import find_bin_dir, render
from .reuse import copy_markers, find_reusable
from .transfer import landing_directories

SHOWN_CHANGES = 3  # changed keys a refusal names; it counts the rest
VERSIONED = ("aframe-dag", "htcondor", "click", "jinja2", "igwn-segments")


@dataclass
class BuildResult:
    """What a build planned and what it did with the condor dir."""

    workflow: Workflow
    condor_dir: Path
    files: dict[str, str]
    estimates: Estimates | None = None
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def package_versions() -> dict[str, str]:
    """Versions recorded in run.ini.resolved, so a rebuild can be matched to its environment."""
    return {name: metadata.version(name) for name in VERSIONED}


def _segments(config, segments_file, condor_dir: Path):
    """The available-data segment list: from --segments, else the condor dir's cache, else a query (then cached)."""
    if config["data"]["source"] == "simulated":
        return None, None
    if segments_file is not None:
        return read_segments(segments_file), Path(segments_file).read_text()
    cache = condor_dir / SEGMENT_CACHE
    if cache.exists():
        return read_segments(cache), cache.read_text()
    segments = query_segments(config)
    return segments, segments_text(segments)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.build-{os.getpid()}")
    temporary.write_text(text)
    if path.suffix == ".sh":
        temporary.chmod(0o755)
    os.replace(temporary, path)


def _rescue_note(condor_dir: Path, files: dict[str, str]) -> str | None:
    """After a forced rebuild: does the newest rescue file still fit the new DAG?"""
    rescues = rescue_files(condor_dir / DAG_FILE)
    if not rescues:
        return None
    dag = parse_dag(files[DAG_FILE], condor_dir / DAG_FILE)
    try:
        apply_rescue(dag, rescues[-1])
    except ValueError as exc:
        return f"{rescues[-1].name} names nodes the new DAG lacks ({exc}); resubmitting would fail"
    return f"{rescues[-1].name} still applies: its DONE nodes all exist in the new DAG"


def _stale_rescue(condor_dir: Path, files: dict[str, str]) -> str | None:
    """A forced rebuild must not leave DAGMan a rescue file whose DONE nodes the new DAG would run again."""
    return stale_refusal(condor_dir, parse_dag(files[DAG_FILE], condor_dir / DAG_FILE), then="build --force")


def _refusal(condor_dir: Path, files: dict[str, str], force: bool) -> str | None:
    """Why the condor dir's files must stay as they are: a DAG runs there (UserError, also with --force), or it
    holds a different DAG and there is no --force."""
    dag = condor_dir / DAG_FILE
    if not dag.exists():
        return None
    if all((condor_dir / name).exists() and (condor_dir / name).read_text() == text for name, text in files.items()):
        return None
    refuse_while_running(condor_dir, "replace its files")
    if force:
        return None
    lock = beside(dag, LOCK)
    running = f" (and {lock.name} says DAGMan may be running it)" if lock.exists() else ""
    return (f"{condor_dir} already holds a different DAG{running}: {_differences(condor_dir, files)}; nothing "
            "written. Use --force to replace it (node names stay the same, so an existing rescue file still "
            "applies), or --outdir for a new one")


def _differences(condor_dir: Path, files: dict[str, str]) -> str:
    """What makes the condor dir's DAG another one: the resolved-config keys that changed, else the files."""
    try:
        changed = changed_keys((condor_dir / RESOLVED).read_text(), files[RESOLVED])
    except (OSError, configparser.Error):
        changed = None
    if changed:
        rest = len(changed) - SHOWN_CHANGES
        return "changed " + "; ".join(changed[:SHOWN_CHANGES]) + (f"; and {rest} more key(s)" if rest > 0 else "")
    differ = [name for name, text in files.items()
              if not (condor_dir / name).exists() or (condor_dir / name).read_text() != text]
    config = "the same config" if changed == [] else f"no readable {RESOLVED} to compare configs"
    return f"{config}, but these files differ: {', '.join(differ)}"


def build(run_ini, overrides=(), outdir=None, segments_file=None, force=False, dry_run=False) -> BuildResult:
    """Plan and render a run; unless dry_run, write its condor dir (refusing to replace a different DAG)."""
    overrides = list(overrides) + ([f"run.condor_dir={Path(outdir).absolute()}"] if outdir else [])
    config = load_config(run_ini, overrides)
    condor_dir = Path(config["run"]["condor_dir"])
    available, segment_text = _segments(config, segments_file, condor_dir)
    workflow = plan(config, available)
    files = render(workflow, config["condor"], find_bin_dir())
    estimates = estimate(config, workflow)
    files[RESOLVED] = resolved_text(config, package_versions()) + estimates.comment()
    if segment_text is not None:
        files[SEGMENT_CACHE] = segment_text
    reuse = find_reusable(workflow, config["run"]["reuse"], config["train"]["model"])
    result = BuildResult(workflow, condor_dir, files, estimates, reused=reuse.lines(workflow))
    submittable = config["condor"]["site"] != "local"
    log_refusal = node_log_refusal(condor_dir, config["condor"]["site"])
    if log_refusal:
        raise ConfigError(f"{log_refusal}; choose another directory (or site = local to run it only with "
                          "`aframe-dag run`)", config.path, "run", "condor_dir")
    if dry_run:
        return result
    refusal = _refusal(condor_dir, files, force) or (_stale_rescue(condor_dir, files) if force else None)
    if refusal:
        raise UserError(refusal)
    try:
        for directory in (condor_dir, condor_dir / LOGS, condor_dir / DONE):
            directory.mkdir(parents=True, exist_ok=True)
        # The DAG goes last: until it is replaced, the old one and its submit files stay a consistent pair.
        for name in sorted(files, key=lambda name: name == DAG_FILE):
            path = condor_dir / name
            if not path.exists() or path.read_text() != files[name]:
                _write(path, files[name])
                result.written.append(name)
        if config["condor"]["filesystem"] == "transfer":
            for directory in landing_directories(workflow):
                Path(directory).mkdir(parents=True, exist_ok=True)
        copied = copy_markers(reuse, workflow, condor_dir)
    except OSError as exc:
        raise UserError(f"cannot write the condor dir: {exc.filename}: {exc.strerror}") from None
    if copied:
        result.notes.append(f"copied {len(copied)} done-marker(s) of earlier runs into {condor_dir / DONE}: "
                            "those nodes are skipped")
    note = _rescue_note(condor_dir, files) if force else None
    if note:
        result.notes.append(note)
    errors = [f for f in check_run(condor_dir, submittable=submittable) if f.severity == "error"]
    if errors:  # what build renders must always pass check: this is a bug in aframe-dag, not in the config
        raise RuntimeError("the files just built fail `aframe-dag check`:\n" + format_findings(errors))
    return result

"""HTCondor's own parsers as rules of `check`: htcondor2.Submit.from_dag (condor_submit_dag's pre-parse),
condor_dag_checker and condor_submit -dry-run, started early so they read the DAG on the other core."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from .run import Finding, Rule, Run, error, registering, warning

TOOL_TIMEOUT = 120
STANDARD_CONFIGS = ("/etc/condor/condor_config", "/usr/local/etc/condor_config", "~condor/condor_config")
UNUSED_LINE = re.compile(r"the line '([^=']+?)\s*=.*' was unused by condor_submit")

RULES: list[Rule] = []
rule = registering(RULES)


def _tool_env(run: Run, path_first: Path | None = None) -> dict[str, str]:
    """The environment for HTCondor's tools: an empty config when no HTCondor config is installed."""
    env = dict(os.environ)
    # os.path.expanduser leaves ~condor alone where no such user exists; Path.expanduser raises there.
    if "CONDOR_CONFIG" not in env and not any(os.path.exists(os.path.expanduser(p)) for p in STANDARD_CONFIGS):
        empty = run.scratch / "condor_config"
        empty.touch()
        env["CONDOR_CONFIG"] = str(empty)
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env


_FROM_DAG = """
import sys
try:
    import htcondor2
except ImportError as exc:
    print(exc)
    sys.exit(3)
try:
    htcondor2.Submit.from_dag(sys.argv[1], {})
except Exception as exc:
    print(exc)
    sys.exit(1)
"""


def _located(run: Run, text: str) -> tuple[str, str]:
    """Split 'path:line message' into (where, message)."""
    match = re.match(r"(\S+?):(\d+):? (.*)", text, re.DOTALL)
    if match:
        return run.where(match.group(1), int(match.group(2))), match.group(3).strip()
    return run.where(run.dag_file), text.strip()


def _start(run: Run, name: str, argv: list[str], env: dict[str, str]) -> None:
    """Launch one of HTCondor's DAG parsers now; its rule collects it after our own rules have run."""
    try:
        run.started[name] = subprocess.Popen(argv, cwd=run.dag_file.parent, env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        run.started[name] = exc


def _finish(run: Run, name: str) -> subprocess.CompletedProcess:
    """Wait for a started tool (raising OSError or TimeoutExpired, as subprocess.run does)."""
    process = run.started.pop(name)
    if isinstance(process, OSError):
        raise process
    try:
        stdout, stderr = process.communicate(timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def stop_started(run: Run) -> None:
    """End tools a rule never collected (a rule failed, or the DAG could not be read)."""
    for process in run.started.values():
        if isinstance(process, subprocess.Popen):
            process.kill()
            process.communicate()
    run.started.clear()


def start_parsers(run: Run) -> None:
    """HTCondor's DAG parsers read the file on the other core while our own parser and rules run."""
    stub_dir = run.scratch / "stub"
    stub_dir.mkdir()
    stub = stub_dir / "condor_dagman"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    # from_dag writes <dag>.condor.sub beside the file it reads: give it a link in scratch, not the run's DAG.
    (run.scratch / "dag").mkdir()
    link = run.scratch / "dag" / run.dag_file.name
    link.symlink_to(run.dag_file)
    _start(run, "from_dag", [sys.executable, "-c", _FROM_DAG, str(link)], _tool_env(run, stub_dir))
    checker = shutil.which("condor_dag_checker") if run.htcondor_tools else None
    if checker:
        _start(run, "condor_dag_checker", [checker, "-json", str(run.dag_file)], _tool_env(run))


@rule
def real_dag_parser(run: Run) -> Iterator[Finding]:
    """condor_submit_dag's own pre-parse (htcondor2.Submit.from_dag with a stub condor_dagman), through a link."""
    if "from_dag" not in run.started or run.dag_error:
        return
    link = run.scratch / "dag" / run.dag_file.name
    try:
        result = _finish(run, "from_dag")
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield warning(run.where(run.dag_file), f"htcondor2.Submit.from_dag did not run: {exc}")
        return
    if result.returncode == 3:
        yield warning(run.where(run.dag_file), f"htcondor2 is not importable ({result.stdout.strip()}); "
                       "the real DAG parser was skipped")
        return
    if result.returncode == 0:
        return
    # Its stderr names the cause ("Unable to read config file ..."); the exception sometimes only the effect.
    messages = [line[len("ERROR: "):] for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    for message in messages or [result.stdout.strip() or f"exit status {result.returncode}"]:
        where, text = _located(run, message.replace(str(link), str(run.dag_file)))
        yield error(where, f"htcondor2.Submit.from_dag: {text}")


def tools_note(htcondor_tools: bool) -> str:
    """Which of HTCondor's command-line checkers check ran, in words: a run without them must say so."""
    tools = {"condor_dag_checker": "condor_dag_checker", "condor_submit": "condor_submit -dry-run"}
    if not htcondor_tools:
        return f"{' and '.join(tools.values())} skipped (--no-htcondor-tools)"
    missing = [words for name, words in tools.items() if shutil.which(name) is None]
    if not missing:
        return f"also checked by {' and '.join(tools.values())}"
    return f"{' and '.join(missing)} skipped: not on PATH (HTCondor's tools are not installed here)"


def _checker_findings(run: Run, results: list[dict]) -> Iterator[Finding]:
    for result in results:
        dag_where = run.where(result.get("DagFile", run.dag_file))
        for key, severity in (("Errors", "error"), ("Warnings", "warning")):
            for problem in result.get(key, []):
                line = problem.get("SourceLine") or None
                where = run.where(problem.get("SourceFile", run.dag_file), line)
                command = f"{problem['DagCommand']}: " if problem.get("DagCommand") else ""
                yield Finding(severity, where, f"condor_dag_checker: {command}{problem.get('Reason', problem)}")
        if result.get("IsCyclic"):
            yield error(dag_where, f"condor_dag_checker: cycle detected: {result.get('DetectedCycle', '')}")


@rule
def condor_dag_checker(run: Run) -> Iterator[Finding]:
    """HTCondor's condor_dag_checker (>= 24.10), when asked for and on PATH."""
    if "condor_dag_checker" not in run.started or run.dag_error:
        return
    try:
        result = _finish(run, "condor_dag_checker")
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield warning(run.where(run.dag_file), f"condor_dag_checker did not run: {exc}")
        return
    try:
        results = json.loads(result.stdout)
    except ValueError:
        results = None
    findings = list(_checker_findings(run, results)) if isinstance(results, list) else []
    if result.returncode != 0 and not findings:
        output = " ".join((result.stdout + result.stderr).split())[-500:]
        findings.append(error(run.where(run.dag_file),
                               f"condor_dag_checker: exit status {result.returncode}: {output}"))
    yield from findings


def _submit_messages(stderr: str) -> Iterator[tuple[str, str]]:
    """condor_submit's ERROR/WARNING messages (continuation lines joined), as (severity, text)."""
    current: list[str] | None = None
    severity = ""
    for line in stderr.splitlines():
        head = re.match(r"(ERROR|WARNING):\s*(.*)", line)
        if head:
            if current is not None:
                yield severity, " ".join(" ".join(current).split())
            severity = "error" if head.group(1) == "ERROR" else "warning"
            current = [head.group(2)]
        elif current is not None:
            current.append(line)
    if current is not None:
        yield severity, " ".join(" ".join(current).split())


@rule
def condor_submit_dry_run(run: Run) -> Iterator[Finding]:
    """condor_submit -dry-run on each submit file, with the VARS of its first node (as DAGMan would submit it)."""
    program = shutil.which("condor_submit") if run.htcondor_tools else None
    if program is None:
        return
    env = _tool_env(run)
    for submit in run.readable_submits():
        if not submit.parses:
            continue
        node = submit.nodes[0]
        assignments = [f"{name}={value}" for name, value in node.variables.items()]
        cwd = submit.path.parent if node.directory is None else run.dag_file.parent / node.directory
        try:
            result = subprocess.run([program, "-dry-run", "-", str(submit.path), *assignments], cwd=cwd, env=env,
                                    capture_output=True, text=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            yield warning(run.where(submit.path), f"condor_submit -dry-run did not run: {exc}")
            continue
        found = False
        for severity, text in _submit_messages(result.stderr):
            unused = UNUSED_LINE.search(text)
            if unused and unused.group(1).strip().lower() in {name.lower() for name in node.variables}:
                continue  # a VARS value the file does not use: DAGMan does not mind
            command = submit.get(unused.group(1).strip().lower()) if unused else None
            found = found or severity == "error"
            yield Finding(severity, run.where(submit.path, command.line if command else None),
                          f"condor_submit: {text[:400]}")
        if result.returncode != 0 and not found:
            output = " ".join(result.stderr.split())[-400:]
            yield error(run.where(submit.path), f"condor_submit: exit status {result.returncode}: {output}")

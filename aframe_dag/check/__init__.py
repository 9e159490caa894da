"""`aframe-dag check CONDOR_DIR`: lint a built condor dir before DAGMan sees it.

`check_run` loads the run once (the DAG, every submit file its JOB lines name, run.ini.resolved) and hands it to
each rule in `RULES`; a rule is a small function that yields `Finding`s. Nothing here raises for a broken run dir,
and nothing is written into it.

What each layer was seen to catch (HTCondor 25.0.13 tools, htcondor 25.14.1 wheel):

* Our own rules: DAG syntax with file:line (the `dagfile` parser: undefined or duplicate nodes, unknown commands,
  inline comments, unterminated quotes), node names outside ``[A-Za-z0-9_-]``, FINAL misuse, cycles (one path),
  CONFIG, missing submit files, unknown submit commands (with did-you-mean, including a misspelt ``request_*``,
  which HTCondor reads as a custom-resource request), ClassAd expressions, accounting, getenv, ``/tmp``,
  node VARS and undefined ``$(macros)``.
* ``htcondor2.Submit(text)``: only lines that are neither ``key = value``, a queue statement nor a directive; it
  says "parse_up_to_q_line() failed" without a line, so the line is found by parsing growing prefixes. It accepts
  unknown commands, broken expressions and undefined macros.
* ``htcondor2.Submit.from_dag`` (condor_submit_dag's own pre-parse, with a stub ``condor_dagman`` on PATH): unknown
  DAG commands (file:line), CONFIG problems (a second CONFIG, a missing config file, extra words after the file
  name), SET_JOB_ATTR and ENV syntax. Not undefined or duplicate nodes, cycles, FINAL misuse or VARS quoting:
  condor_dagman itself parses those. It writes ``<dag>.condor.sub`` beside the DAG, so it reads a link in scratch.
* ``condor_dag_checker -json`` (HTCondor >= 24.10): DAGMan's parser and graph checks: undefined nodes in
  PARENT/CHILD, a node defined twice, a second FINAL, FINAL in PARENT/CHILD, ``+`` in a node name, VARS quoting,
  inline comments (as "Unexpected token '#'"), CONFIG problems, cycles (the cycle path, or "No initial nodes
  discovered", at line 0). Not missing submit files, anything inside a submit file, or ``/tmp``.
* ``condor_submit -dry-run``: ClassAd parse errors (requirements, periodic_*, ``+Attr``), a missing executable,
  bad values for universe / notification / should_transfer_files / environment, and "the line 'k = v' was unused
  by condor_submit. Is it a typo?" warnings for unknown commands. Not a misspelt ``request_*``, ``getenv = true``,
  a missing accounting_group or an undefined macro (it expands to nothing).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..condordir.dag import dag_path
from ..errors import UserError
from ..names import DAG_FILE
from . import rules, tools, transfer
from .run import Finding, Run, error, load_run
from .tools import start_parsers, stop_started

SEVERITIES = ("error", "warning")
# Ours first: condor_submit -dry-run skips the submit files that submit_files_parse found broken.
RULES = [*rules.RULES, *transfer.RULES, *tools.RULES]


def _order(finding: Finding) -> tuple:
    file, _, line = finding.where.rpartition(":")
    if not line.isdigit():
        file, line = finding.where, "0"
    severity = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else len(SEVERITIES)
    return severity, file, int(line), finding.message


def check_run(condor_dir, *, submittable: bool = True, htcondor_tools: bool = True) -> list[Finding]:
    """Lint a built condor dir (or any DAG file): every rule's findings, errors first, then by file and line; never
    raises."""
    place = Path(os.path.abspath(condor_dir))
    if not place.exists():
        return [error(str(place), "no such directory")]
    try:
        dag_file = dag_path(place)
    except UserError as exc:
        return [error(str(place), str(exc).split(": ", 1)[-1])]
    condor_dir = dag_file.parent
    if not dag_file.is_file():
        return [error(str(dag_file), "no DAG here (build one with `aframe-dag build RUN.ini`)")]
    findings: set[Finding] = set()
    with tempfile.TemporaryDirectory(prefix="aframe-check-") as scratch:
        run = Run(condor_dir, dag_file, Path(scratch), submittable, htcondor_tools)
        try:
            start_parsers(run)
            load_run(run)
            for check in RULES:
                try:
                    findings.update(check(run))
                except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others' findings
                    findings.add(error(DAG_FILE, f"rule {check.__name__} failed: {type(exc).__name__}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a run dir broken in a way we did not foresee is still a finding
            return [error(DAG_FILE, f"cannot load the run: {type(exc).__name__}: {exc}")]
        finally:
            stop_started(run)
    return sorted(findings, key=_order)


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding: `error: aframe.dag:12: ...`."""
    return "\n".join(str(finding) for finding in findings)

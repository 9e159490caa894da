"""DAGMan's macros as the local executor gives them: `$(JOB)`-style submit macros and `$JOB`-style script arguments.

Seen on HTCondor 25.0.13 (tests/condor/test_any_dag.py holds the executor to it): every node's job gets $(JOB),
$(RETRY), $(DAGManJobId), $(DAG_STATUS) and $(FAILED_COUNT) (the DAG's state when the job is submitted), beside
condor_submit's own $(Cluster)/$(ClusterId)/$(Process)/$(ProcId). A script argument that is exactly `$NAME` is
replaced for the names below; DAGMan refuses (DAGMAN_USE_STRICT) one it does not know.
"""

from __future__ import annotations

import functools
import re

DAGMAN_SUBMIT_MACROS = ("JOB", "RETRY", "DAGManJobId", "DAG_STATUS", "FAILED_COUNT")
JOB_ID_MACROS = ("Cluster", "ClusterId", "Process", "ProcId")
SCRIPT_MACROS = frozenset({"JOB", "RETRY", "MAX_RETRIES", "FAILED_COUNT", "DAG_STATUS", "NODE_COUNT",
                           "QUEUED_COUNT", "DAGID", "JOB_COUNT"})
POST_SCRIPT_MACROS = frozenset({"JOBID", "RETURN", "PRE_SCRIPT_RETURN", "SUCCESS", "EXIT_CODES",
                                "JOB_ABORT_COUNT"})
_SCRIPT_MACRO = re.compile(r"\$([A-Z_]+)")
# $(name) without a default; $$(name) is a match-time reference, $(name:default) always has a value.
_REFERENCE = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_.]*)\)")


def references(text: str) -> set[str]:
    """The macro names a submit value refers to without a default."""
    return set(_REFERENCE.findall(text)) if "$(" in text else set()


@functools.cache
def predefined(name: str) -> bool:
    """Whether condor_submit itself gives the macro a value (its built-ins and the HTCondor configuration)."""
    import htcondor2

    try:
        return bool(htcondor2.Submit(f"probe = $({name})\n").expand("probe"))
    except KeyError:  # htcondor2 says so for a value that expands to nothing
        return False


def undefined_macros(text: str, given) -> list[str]:
    """The macros a submit description refers to that neither it, `given` (VARS and DAGMan's), nor condor_submit
    define: HTCondor would expand them to nothing."""
    import htcondor2

    description = htcondor2.Submit(text)
    defined = {key.lower() for key in description.keys()} | {name.lower() for name in given}
    wanted = set()
    for key in description.keys():
        wanted |= references(description.get(key) or "")
    return sorted(name for name in wanted if name.lower() not in defined and not predefined(name))


def unknown_script_macros(arguments: list[str]) -> list[str]:
    """`$NAME` arguments DAGMan does not know (with DAGMAN_USE_STRICT it stops the DAG on them)."""
    return [word for word in arguments if (match := _SCRIPT_MACRO.fullmatch(word))
            and match.group(1) not in SCRIPT_MACROS | POST_SCRIPT_MACROS]


def script_arguments(arguments: list[str], values: dict[str, str], post: bool) -> list[str]:
    """A script's arguments with each `$NAME` replaced; POST-only names stay as written in a PRE script."""
    known = SCRIPT_MACROS | POST_SCRIPT_MACROS if post else SCRIPT_MACROS
    replaced = []
    for word in arguments:
        match = _SCRIPT_MACRO.fullmatch(word)
        replaced.append(values[match.group(1)] if match and match.group(1) in known and match.group(1) in values
                        else word)
    return replaced

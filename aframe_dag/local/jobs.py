"""A node's job as HTCondor would run it: its submit description expanded with the node's VARS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..condordir.descriptions import Descriptions, expand, node_dir, submit_source
from ..config.types import BadValue, Size
from ..dagfile import Dag, DagNode
from ..errors import UserError
from .transfer import Transfer, described_transfer, sandbox_executable

TRUE = ("true", "1", "yes")


@dataclass(frozen=True)
class Job:
    """What the executor needs to start one node's job, and what it may ask of the machine."""

    node: str
    argv: list[str]
    environment: dict[str, str]
    output: Path | None
    error: Path | None
    log: Path | None
    cwd: Path
    cpus: int = 1
    memory: int = 0
    gpus: int = 0
    checkpoint_exit_code: int | None = None
    universe: str = "vanilla"
    transfer: Transfer | None = None  # should_transfer_files = YES: the job runs in a sandbox (transfer.py)


def split_arguments(text: str) -> list[str]:
    """HTCondor's argument syntax: new ("...", 'quoted words', '' and "" escapes) or old (whitespace-separated)."""
    text = text.strip()
    if not (text.startswith('"') and text.endswith('"') and len(text) >= 2):
        return text.split()
    body, words, word, quoted, started = text[1:-1].replace('""', '"'), [], [], False, False
    index = 0
    while index < len(body):
        char = body[index]
        if char == "'":
            if quoted and body[index + 1:index + 2] == "'":
                word.append("'")
                index += 1
            else:
                quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if word or started:
                words.append("".join(word))
            word, started = [], False
        else:
            word.append(char)
        index += 1
    if quoted:
        raise ValueError(f"unbalanced single quote in arguments {text!r}")
    if word or started:
        words.append("".join(word))
    return words


def split_environment(text: str) -> dict[str, str]:
    """HTCondor's environment syntax: new ("NAME=value NAME='a b'") or old (NAME=value;NAME=value)."""
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        pairs = split_arguments(text)
    else:
        pairs = [pair for pair in re.split(r"[;\s]+", text) if pair]
    environment = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"environment entry {pair!r} is not NAME=value")
        environment[name] = value
    return environment


def _memory(text: str) -> int:
    """request_memory in MiB: a plain size, or a ClassAd expression evaluated as on a fresh job."""
    try:
        return Size().parse(text)
    except BadValue:
        import classad2

        value = classad2.ExprTree(text).eval()
        if not isinstance(value, (int, float)):
            raise ValueError(f"request_memory {text!r} does not evaluate to a number") from None
        return int(value)


def appends_vars(dag: Dag, dag_dir: Path) -> bool:
    """DAGMAN_DEFAULT_APPEND_VARS from the DAG's CONFIG file, else HTCondor's configuration (default: false)."""
    value = None
    for name in dag.config:
        path = Path(name) if Path(name).is_absolute() else dag_dir / name
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, sep, setting = line.partition("=")
            if sep and key.strip().upper() == "DAGMAN_DEFAULT_APPEND_VARS":
                value = setting.strip()
    if value is None:
        import htcondor2

        value = str(htcondor2.param.get("DAGMAN_DEFAULT_APPEND_VARS", "false"))
    return value.lower() in TRUE


def expand_job(node: DagNode, dag_dir: Path, macros: dict[str, str], descriptions: Descriptions,
               append_by_default: bool = False) -> Job:
    """Expand the node's submit description as DAGMan submits it (descriptions.Descriptions.describe)."""
    source = submit_source(node, dag_dir) or f"{node.where} (in the DAG)"
    try:
        description = descriptions.describe(node, macros, append_by_default)
    except OSError as exc:
        raise UserError(f"{source}: cannot read the submit file of node {node.name}: {exc.strerror}") from None

    def get(key: str, default: str | None = None) -> str | None:
        return expand(description, key, default)

    home = node_dir(node, dag_dir)
    cwd = home / get("initialdir") if get("initialdir") else home
    paths = {key: cwd / value if value else None for key in ("output", "error", "log") for value in [get(key)]}
    checkpoint = get("checkpoint_exit_code")
    transfer = described_transfer(get)
    executable = get("executable")
    if transfer is not None and executable and get("transfer_executable", "true").lower() in TRUE:
        executable = sandbox_executable(executable, cwd)
    try:
        return Job(
            node=node.name,
            argv=[executable, *split_arguments(get("arguments", ""))],
            environment=split_environment(get("environment", "")),
            output=paths["output"], error=paths["error"], log=paths["log"], cwd=cwd,
            cpus=int(get("request_cpus", "1")), memory=_memory(get("request_memory")) if get("request_memory") else 0,
            gpus=int(get("request_gpus", "0")), checkpoint_exit_code=int(checkpoint) if checkpoint else None,
            universe=get("universe", "vanilla"), transfer=transfer,
        )
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: node {node.name}: {exc}") from None

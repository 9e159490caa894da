"""A DAG file as DAGMan reads it, statement by statement: comments dropped, INCLUDEs and brace blocks resolved."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .model import DagSyntaxError

# Commands whose submit description may follow in braces: `JOB A {` ... `} [DIR d] [NOOP]`.
BLOCK_COMMANDS = frozenset({"JOB", "FINAL", "SUBMIT-DESCRIPTION", "SERVICE", "PROVISIONER"})
MAX_INCLUDE_DEPTH = 20
_new = tuple.__new__  # a Statement without NamedTuple's Python-level __new__ (a DAG has 500k of them)


class Statement(NamedTuple):
    """One DAG command: where it is, its text, its words (VARS keeps its values unsplit) and any brace block."""

    source: str | None  # the INCLUDEd file it came from; None for the DAG file itself
    number: int
    line: str
    words: list[str]
    command: str
    block: str | None = None


def refusal(path, source: str | None, number: int, message: str) -> DagSyntaxError:
    return DagSyntaxError(f"{source or path}:{number}: {message}")


def _block(path, source, number: int, words: list[str], rows) -> tuple[list[str], str]:
    """Read a brace block's lines up to its closing `}`; the words after the brace join the command's words."""
    body = []
    for _, raw in rows:
        stripped = raw.strip()
        if stripped.startswith("}"):
            return words[:words.index("{")] + stripped[1:].split(), "\n".join(body) + "\n"
        body.append(raw)
    raise refusal(path, source, number, f"{words[0]} {words[1] if len(words) > 1 else ''}: no closing '}}'")


def statements(text: str, path, base: Path, problems: list | None = None, source: str | None = None,
               depth: int = 0) -> list[Statement]:
    """The DAG's statements in order; an INCLUDEd file's stand in its place (paths relative to base).

    With a `problems` list, an unreadable INCLUDE or an unclosed block is appended there and ends the reading.
    """
    found: list[Statement] = []
    add = found.append
    rows = enumerate(text.splitlines(), 1)
    try:
        for number, line in rows:
            words = line.split(None, 2)  # DAGMan splits on whitespace, except VARS values (read by their handler)
            if not words or words[0][0] == "#":
                continue
            command = words[0].upper()
            if command != "VARS" and len(words) > 2:
                words = line.split()
            if command == "INCLUDE":
                found += _include(path, base, source, number, words, depth)
            elif command in BLOCK_COMMANDS and "{" in words:
                words, block = _block(path, source, number, words, rows)
                add(_new(Statement, (source, number, line, words, command, block)))
            else:
                add(_new(Statement, (source, number, line, words, command, None)))
    except DagSyntaxError as exc:
        if problems is None:
            raise
        problems.append(exc)
    return found


def _include(path, base: Path, source, number: int, words: list[str], depth: int) -> list[Statement]:
    if len(words) != 2:
        raise refusal(path, source, number, "INCLUDE takes one file name")
    if depth >= MAX_INCLUDE_DEPTH:
        raise refusal(path, source, number, f"INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)")
    included = Path(words[1]) if Path(words[1]).is_absolute() else base / words[1]
    try:
        text = included.read_text()
    except OSError as exc:
        raise refusal(path, source, number, f"cannot read INCLUDE file {included}: {exc.strerror}") from None
    return statements(text, path, base, None, str(included), depth + 1)

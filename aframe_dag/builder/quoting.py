"""Values that go into DAG and submit files: quoted for HTCondor, or refused when they cannot be safe."""

from __future__ import annotations

import re

from ..errors import UserError

# The FINAL node's arguments name these DAGMan macros on purpose; any other $( is refused.
DAGMAN_MACROS = ("$(DAG_STATUS)", "$(FAILED_COUNT)")


def checked(value: str, what: str) -> str:
    """A value fit for one line of a DAG or submit file: no newline, no quote, no macro reference."""
    text = str(value)
    stripped = text
    for macro in DAGMAN_MACROS:
        stripped = stripped.replace(macro, "")
    problem = ("a newline" if "\n" in text or "\r" in text
               else "a quote" if '"' in text or "'" in text
               else "'$(' (an HTCondor macro)" if "$(" in stripped
               else None)
    if problem:
        raise UserError(f"{what}: {text!r} contains {problem}, which HTCondor would misread; change that value")
    return text


_SPACE = re.compile(r"\s")


def _word(text: str) -> str:
    return f"'{text}'" if _SPACE.search(text) or text == "" else text


def _unsafe(text: str) -> bool:
    """Whether text holds a newline, a quote or `$(`: substring tests, many times faster than one regex here."""
    return "\n" in text or "\r" in text or '"' in text or "'" in text or "$(" in text


def joined_plainly(plain: str, words) -> bool:
    """Whether every space in `plain` (the words joined by spaces) is a joining one and no word is empty; the caller
    has made sure no other whitespace is there. (Counting split() words is not enough: "a b" and "" cancel out.)"""
    return plain.count(" ") == len(words) - 1 and "" not in words


def arguments(values, what: str) -> str:
    """HTCondor's quoted argument list (without the outer double quotes): args with spaces single-quoted."""
    values = tuple(values)
    try:
        plain = " ".join(values)
    except TypeError:  # numbers among the strings
        values = tuple(map(str, values))
        plain = " ".join(values)
    if _unsafe(plain):  # the slow path only to find and name the offending value
        for value in values:
            checked(value, what)
    if plain.isprintable() and joined_plainly(plain, values):  # isprintable() is False for any other whitespace
        return plain
    return " ".join(_word(value) for value in values)


def environment(mapping: dict[str, str], what: str) -> str:
    """HTCondor's quoted environment (with the outer double quotes): NAME=value, values with spaces quoted."""
    for name in mapping:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UserError(f"{what}: {name!r} is not an environment variable name")
    return '"' + " ".join(f"{name}={_word(checked(value, what))}" for name, value in mapping.items()) + '"'


def transfer_list(paths, what: str) -> None:
    """Refuse paths that transfer_input_files or transfer_output_remaps cannot hold: they have no quoting."""
    for path in paths:
        if any(char in path for char in ",;=\"'$") or _SPACE.search(path):
            raise UserError(f"{what}: {path!r} holds a comma, semicolon, '=', quote, '$' or space, which HTCondor's "
                            "file-transfer lists cannot carry; use a path without them (filesystem = transfer)")


def dag_value(text: str) -> str:
    """A DAG VARS value in double quotes (DAGMan reads backslash escapes there)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

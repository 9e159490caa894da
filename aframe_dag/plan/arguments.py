"""Command-line arguments of node programs, spelled one way: --some-option VALUE, lists comma-joined."""

from __future__ import annotations


def fmt(value) -> str:
    """A number as a node program reads it back exactly: 2048.0 -> '2048', 1.5 -> '1.5'."""
    if type(value) is str:
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(fmt(item) for item in value)
    return str(value)


def options(**values) -> tuple[str, ...]:
    """`--name value` pairs in the order given; None is left out, True becomes a bare flag."""
    arguments = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        arguments.append("--" + name.replace("_", "-"))
        if value is not True:
            arguments.append(fmt(value))
    return tuple(arguments)


def repeated(name: str, values) -> tuple[str, ...]:
    """`--name a --name b ...` for options that take one value per use (files, branches)."""
    return tuple(item for value in values for item in ("--" + name.replace("_", "-"), fmt(value)))

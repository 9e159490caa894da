"""How every command takes the condor dir: an optional last argument or `--condor-dir`, else $AFRAME_CONDOR_DIR.

One convention so that no command needs its own: `aframe-dag why NODE [CONDOR_DIR]`, `aframe-dag run [CONDOR_DIR]`,
`aframe-dag check --condor-dir DIR`, ... A condor dir given where a node name belongs (`invalidate DIR train`) is
recognised by its shape, taken for what it is, and said so.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from ..errors import UserError

CONDOR_DIR_VARIABLE = "AFRAME_CONDOR_DIR"
ANY_DAG = "[CONDOR_DIR|DAG_FILE]"


def condor_dir_or_default(condor_dir: str | None) -> str:
    """CONDOR_DIR as given, else $AFRAME_CONDOR_DIR (what run.sh exports)."""
    chosen = condor_dir or os.environ.get(CONDOR_DIR_VARIABLE)
    if not chosen:
        raise UserError(f"give the condor dir (CONDOR_DIR or --condor-dir), or set ${CONDOR_DIR_VARIABLE} (source "
                        "your run.sh)")
    return chosen


def looks_like_condor_dir(word: str) -> bool:
    """Whether a command-line word names a condor dir or DAG file rather than a node: a path (node names never hold
    a '/'), a DAG file, or a directory holding one."""
    path = Path(word)
    return os.sep in word or word.endswith(".dag") or (path.is_dir() and any(path.glob("*.dag")))


def _chosen(positional: str | None, option: str | None) -> str:
    if positional and option and Path(positional) != Path(option):
        raise click.UsageError(f"two condor dirs: {positional} and --condor-dir {option}")
    return condor_dir_or_default(positional or option)


condor_dir_flag = click.option(
    "--condor-dir", "-C", "condor_dir_option", type=click.Path(), metavar="DIR",
    help=f"The condor dir (default: ${CONDOR_DIR_VARIABLE}); also taken as the last argument.")


def takes_condor_dir(metavar: str = "[CONDOR_DIR]"):
    """Give a command the convention: an optional last argument and --condor-dir; the command's `condor_dir` gets
    the one given, else $AFRAME_CONDOR_DIR."""

    def decorate(function):
        @functools.wraps(function)
        def command(*args, condor_dir=None, condor_dir_option=None, **kwargs):
            return function(*args, condor_dir=_chosen(condor_dir, condor_dir_option), **kwargs)

        command = click.argument("condor_dir", required=False, type=click.Path(), metavar=metavar)(command)
        return condor_dir_flag(command)

    return decorate


def split_condor_dir(words, option: str | None, say_so: bool = True) -> tuple[list[str], str]:
    """(the other words, the condor dir) of `WORD... [CONDOR_DIR]` (with --condor-dir as `option`): the last word
    when it looks like a condor dir; failing that, the first (the order `node-check` had, and a common slip), which
    is said on stderr when `say_so`. A path anywhere else is refused: it cannot be a node."""
    words = list(words)
    given = words.pop() if len(words) > 1 and looks_like_condor_dir(words[-1]) else None
    if given is None and len(words) > 1 and looks_like_condor_dir(words[0]):
        given = words.pop(0)
        if say_so:
            click.echo(f"aframe-dag: note: took {given} as the condor dir and {' '.join(words)} as the node(s) (the "
                       "condor dir goes last, or after --condor-dir)", err=True)
    strays = [word for word in words if os.sep in word]
    if strays:
        raise UserError(f"'{strays[0]}' is a path, not a node name: give the condor dir last or with --condor-dir")
    return words, _chosen(given, option)

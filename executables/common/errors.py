"""Exit codes and the exceptions that choose them, so DAGMan retries only what a retry can fix.

Raised in a node body -> exit status -> what DAGMan does:

- returns normally -> 0 -> done
- ``TransientError``; other ``OSError`` (ENOSPC, EIO, ``ConnectionError``, ``TimeoutError``) -> 1 -> retried
- any other exception (``ValueError``, ``KeyError``, a bug) -> 1 -> retried, a bounded number of times
- ``PermanentError``, ``InputError``; ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``,
  ``NotADirectoryError`` (an input is missing or unreadable) -> 2 -> not retried (``RETRY N UNLESS-EXIT 2``)
- ``CheckpointAndRequeue`` -> 85 -> started again (``checkpoint_exit_code = 85``)

Unexpected exceptions count as transient: a node cannot tell a flaky library from a bug, and DAGMan's RETRY is
bounded, so a real bug costs a few retries while a flake costs nothing. A node that *knows* its input is bad raises
``InputError`` (or ``PermanentError``) so the run stops at once with a message naming the file and field.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The exit statuses of a node program; the DAG's RETRY and submit files rely on these values."""

    SUCCESS = 0
    TRANSIENT = 1
    PERMANENT = 2
    CHECKPOINT = 85


class NodeError(Exception):
    """Base of the failures a node program raises on purpose; ``exit_code`` says what DAGMan should do."""

    exit_code: ClassVar[ExitCode] = ExitCode.TRANSIENT


class TransientError(NodeError):
    """A failure a later attempt may not meet (a busy server, a full scratch disk): exit 1, DAGMan retries."""

    exit_code = ExitCode.TRANSIENT


class PermanentError(NodeError):
    """A failure no retry can fix (bad arguments, no usable device): exit 2, DAGMan does not retry."""

    exit_code = ExitCode.PERMANENT


class InputError(PermanentError):
    """An input file is wrong; the message names the file and the field or dataset so the user can fix it."""

    def __init__(self, path: object, field: str | None, message: str) -> None:
        super().__init__(path, field, message)
        self.path = path
        self.field = field
        self.message = message

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.field}: {self.message}"


class CheckpointAndRequeue(NodeError):
    """The node saved its state and asks to be started again: exit 85, HTCondor's ``checkpoint_exit_code``."""

    exit_code = ExitCode.CHECKPOINT


_PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def exit_code_for(exc: BaseException) -> int:
    """Map an exception to the node's exit status (see the module table)."""
    if isinstance(exc, NodeError):
        return int(exc.exit_code)
    if isinstance(exc, _PERMANENT_OS_ERRORS):
        return int(ExitCode.PERMANENT)
    return int(ExitCode.TRANSIENT)

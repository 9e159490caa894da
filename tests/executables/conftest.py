"""Fixtures for the node-program tests."""

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo ``setup_logging``: its handler holds the stream of one test (CliRunner's, a StringIO, a pty)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

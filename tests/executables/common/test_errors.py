"""Tests for executables/common/errors.py: the exception -> exit-code table DAGMan's RETRY relies on."""

import errno
import pickle

import pytest

from executables.common.errors import (
    CheckpointAndRequeue,
    ExitCode,
    InputError,
    NodeError,
    PermanentError,
    TransientError,
    exit_code_for,
)


def test_exit_code_values_match_the_dag():
    assert [(code.name, int(code)) for code in ExitCode] == [
        ("SUCCESS", 0),
        ("TRANSIENT", 1),
        ("PERMANENT", 2),
        ("CHECKPOINT", 85),
    ]


def test_input_error_names_file_and_field():
    exc = InputError("/data/background.hdf5", "H1", "dataset missing")
    assert str(exc) == "/data/background.hdf5: H1: dataset missing"
    assert (exc.path, exc.field, exc.message) == ("/data/background.hdf5", "H1", "dataset missing")
    assert isinstance(exc, PermanentError) and isinstance(exc, NodeError)


def test_input_error_about_the_whole_file():
    assert str(InputError("/data/x.hdf5", None, "not an HDF5 file")) == "/data/x.hdf5: not an HDF5 file"


def test_input_error_survives_pickling():
    exc = pickle.loads(pickle.dumps(InputError("/a.hdf5", "t0", "negative")))
    assert str(exc) == "/a.hdf5: t0: negative"
    assert exc.field == "t0"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TransientError("busy"), 1),
        (PermanentError("no CUDA device"), 2),
        (InputError("f", "k", "bad"), 2),
        (CheckpointAndRequeue("saved"), 85),
        (OSError(errno.ENOSPC, "No space left on device"), 1),
        (OSError(errno.EIO, "Input/output error"), 1),
        (ConnectionResetError(), 1),
        (TimeoutError(), 1),
        (OSError(errno.ENOENT, "No such file or directory"), 2),
        (FileNotFoundError("x"), 2),
        (PermissionError("x"), 2),
        (IsADirectoryError("x"), 2),
        (NotADirectoryError("x"), 2),
        (ValueError("unexpected"), 1),
        (KeyError("unexpected"), 1),
        (RuntimeError("a bug"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_exit_code_for(exc, code):
    assert exit_code_for(exc) == code

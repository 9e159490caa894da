"""Tests for executables/common/atomic.py: a failed or killed writer never leaves a complete-looking output."""

import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from executables.common.atomic import atomic_directory, atomic_file, atomic_path, cleanup_stale_temporaries
from tests.fixtures.writers import DEAD_PID

REPO = Path(__file__).resolve().parents[3]


class Boom(Exception):
    pass


def listing(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def test_atomic_file_writes_and_leaves_no_temporary(tmp_path):
    final = tmp_path / "deep" / "er" / "out.bin"
    with atomic_file(final) as handle:
        handle.write(b"abc")
        assert not final.exists()
        assert len(listing(final.parent)) == 1 and listing(final.parent)[0].startswith(".out.bin.tmp-")
    assert final.read_bytes() == b"abc"
    assert listing(final.parent) == ["out.bin"]


def test_atomic_file_text_mode_is_utf8(tmp_path):
    with atomic_file(tmp_path / "t.txt", "w") as handle:
        handle.write("Hanford–Livingston\n")
    assert (tmp_path / "t.txt").read_bytes() == "Hanford–Livingston\n".encode()


def test_atomic_file_refuses_append(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_file(tmp_path / "a", "ab"):
        pass
    assert listing(tmp_path) == []


def test_atomic_file_exception_leaves_nothing(tmp_path):
    with pytest.raises(Boom), atomic_file(tmp_path / "out.bin") as handle:
        handle.write(b"partial")
        raise Boom
    assert listing(tmp_path) == []


def test_atomic_file_replaces_existing_only_on_success(tmp_path):
    final = tmp_path / "out.bin"
    final.write_bytes(b"old")
    with pytest.raises(Boom), atomic_file(final) as handle:
        handle.write(b"new")
        raise Boom
    assert final.read_bytes() == b"old"
    with atomic_file(final) as handle:
        handle.write(b"new")
        assert final.read_bytes() == b"old"
    assert final.read_bytes() == b"new"
    assert listing(tmp_path) == ["out.bin"]


def test_atomic_path_for_h5py(tmp_path):
    final = tmp_path / "background.hdf5"
    with atomic_path(final) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".background.hdf5.tmp-")
        with h5py.File(temporary, "w") as f:
            f["H1"] = np.arange(4.0)
    with h5py.File(final, "r") as f:
        np.testing.assert_array_equal(f["H1"][:], np.arange(4.0))
    assert listing(tmp_path) == ["background.hdf5"]


def test_atomic_path_exception_leaves_nothing(tmp_path):
    with pytest.raises(Boom), atomic_path(tmp_path / "x.hdf5") as temporary:
        temporary.write_bytes(b"partial")
        raise Boom
    assert listing(tmp_path) == []


def test_atomic_path_with_nothing_written_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="nothing was written"), atomic_path(tmp_path / "x.hdf5"):
        pass
    assert listing(tmp_path) == []


def test_atomic_directory_success(tmp_path):
    final = tmp_path / "model"
    with atomic_directory(final) as temporary:
        assert temporary.is_dir() and not final.exists()
        (temporary / "sub").mkdir()
        (temporary / "sub" / "weights.onnx").write_bytes(b"w")
    assert (final / "sub" / "weights.onnx").read_bytes() == b"w"
    assert listing(tmp_path) == ["model"]


def test_atomic_directory_replaces_previous_output_only_on_success(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(Boom), atomic_directory(final) as temporary:
        (temporary / "new.txt").write_text("new")
        raise Boom
    assert listing(final) == ["old.txt"]
    assert listing(tmp_path) == ["model"]
    with atomic_directory(final) as temporary:
        (temporary / "new.txt").write_text("new")
    assert listing(final) == ["new.txt"]
    assert listing(tmp_path) == ["model"]


def test_atomic_directory_replaces_a_file(tmp_path):
    final = tmp_path / "model"
    final.write_text("a file from an older layout")
    with atomic_directory(final) as temporary:
        (temporary / "x").write_text("x")
    assert listing(final) == ["x"]
    assert listing(tmp_path) == ["model"]


WRITE_FOREVER = """
import sys, time
from executables.common.atomic import atomic_directory, atomic_file
if sys.argv[2] == "file":
    with atomic_file(sys.argv[1]) as handle:
        handle.write(b"x" * 65536)
        handle.flush()
        print("writing", flush=True)
        while True:
            handle.write(b"x" * 65536)
            handle.flush()
            time.sleep(0.01)
else:
    with atomic_directory(sys.argv[1]) as directory:
        for i in range(10**6):
            (directory / f"part-{i}").write_bytes(b"x" * 4096)
            if i == 2:
                print("writing", flush=True)
            time.sleep(0.01)
"""


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_killed_writer_leaves_no_final_name(tmp_path, kind):
    final = tmp_path / "out"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE_FOREVER, str(final), kind], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert not final.exists()
    leftovers = listing(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(f".out.tmp-{writer.pid}-")
    if kind == "file":  # the rerun writes the same output, and sweeps what the killed attempt left
        with atomic_file(final) as handle:
            handle.write(b"done")
    else:
        with atomic_directory(final) as directory:
            (directory / "part").write_bytes(b"done")
    assert listing(tmp_path) == ["out"]


def stale(directory: Path, name: str, pid: int, as_directory: bool = False) -> Path:
    path = directory / f".{name}.tmp-{pid}-0123abcd"
    if as_directory:
        path.mkdir()
        (path / "part").write_bytes(b"x")
    else:
        path.write_bytes(b"x")
    return path


def test_cleanup_keeps_running_writers_temporaries_and_other_files(tmp_path, live_pid):
    stale_file = stale(tmp_path, "a.hdf5", DEAD_PID)
    stale_dir = stale(tmp_path, "model", DEAD_PID, as_directory=True)
    running = stale(tmp_path, "c.hdf5", live_pid)
    (tmp_path / ".hidden").write_text("not ours")
    (tmp_path / "a.hdf5.tmp-1-ab").write_text("not hidden, not ours")
    with atomic_file(tmp_path / "b.hdf5") as handle:
        handle.write(b"mine")
        assert cleanup_stale_temporaries(tmp_path) == [stale_file, stale_dir]
    assert (tmp_path / "b.hdf5").read_bytes() == b"mine"
    assert listing(tmp_path) == sorted([".hidden", running.name, "a.hdf5.tmp-1-ab", "b.hdf5"])


def test_a_write_sweeps_dead_temporaries_of_its_own_name_only(tmp_path, live_pid):
    """Issue 19: a killed node's temporary goes when it writes that output again; a running writer's stays."""
    killed = stale(tmp_path, "a.hdf5", DEAD_PID)
    running = stale(tmp_path, "a.hdf5", live_pid)
    other = stale(tmp_path, "b.hdf5", DEAD_PID)
    with atomic_path(tmp_path / "a.hdf5") as temporary:
        assert not killed.exists()
        temporary.write_bytes(b"again")
    assert listing(tmp_path) == sorted([running.name, other.name, "a.hdf5"])


def test_cleanup_limited_to_named_outputs(tmp_path):
    mine = stale(tmp_path, "a.hdf5", DEAD_PID)
    sibling = stale(tmp_path, "b.hdf5", DEAD_PID)
    assert cleanup_stale_temporaries(tmp_path, names=["a.hdf5"]) == [mine]
    assert listing(tmp_path) == [sibling.name]


def test_cleanup_of_missing_directory(tmp_path):
    assert cleanup_stale_temporaries(tmp_path / "absent") == []

"""HTCondor's file transfer for the local executor: a job whose submit description says `should_transfer_files = YES`
runs in a fresh sandbox that holds only what was transferred in, and only what it names comes back.

As HTCondor 25.0.13 was seen doing it (tests/aframe_dag/local/test_transfer.py holds the executor to it):
- Each transfer_input_files item lands at the sandbox's top under its basename (a directory with its tree, `dir/` its
  contents); relative paths start at the initialdir. Inputs are copied with their mode and the time of transfer as
  mtime, not hard-linked: a hard link shares the content, and a job writing into an input in place was seen changing
  the access point's file through it; a copy costs about 0.3 s per GiB here (ext4), a link nothing.
- `file://` URLs are copied, `http(s)://` fetched with urllib; other schemes need HTCondor's plugins (`refusal`).
- The job runs in the sandbox, which _CONDOR_SCRATCH_DIR, TMPDIR, TMP and TEMP name. On exit, whatever the exit code,
  each transfer_output_files item is copied out with its mode and the time of transfer as mtime, as HTCondor lands it
  (a copy, not a rename: nothing a symlink in the sandbox points at is moved away): where its remap says, else into
  the initialdir under its basename; below a directory item, the most specific remap wins. Without
  transfer_output_files, the files (not directories) at the sandbox's top that the job created or changed come back.
- What HTCondor holds the job for (a missing input or output, a remap destination whose parent directory is missing:
  the shadow creates only the remapped directory itself) is a TransferError, with HTCondor's hold reason.
- checkpoint_exit_code: transfer_checkpoint_files (default: the outputs) are kept, and the job starts again in a fresh
  sandbox with its inputs and them. HTCondor restarts it in the same sandbox unless it was evicted meanwhile
  (measured); a fresh one is what an evicted job gets, the stricter case: a job that resumes here resumes anywhere.
- Sandboxes live in <condor dir>/.aframe-run/sandboxes and are removed when their job is done, whatever its outcome;
  a run removes those a killed run left, and so does `aframe-dag clean`.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from ..names import SANDBOXES
from ..sandbox import url_scheme

SCRATCH_VARIABLES = ("_CONDOR_SCRATCH_DIR", "TMPDIR", "TMP", "TEMP")
FETCHED = ("http", "https")
FETCH_TIMEOUT = 300


class TransferError(Exception):
    """Why HTCondor would hold the job: the local executor fails its node with it."""

    def __str__(self) -> str:
        return f"HTCondor would hold the job: {super().__str__()}"


@dataclass(frozen=True)
class Transfer:
    """What a submit description says about moving files between the access point and the job's sandbox."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] | None = None  # None: the files the job created or changed at the sandbox's top
    remaps: tuple[tuple[str, str], ...] = ()
    checkpoint_files: tuple[str, ...] | None = None  # None: as the outputs


def _items(text: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def _name(item: str) -> str:
    """A sandbox path as remaps name it: `out/`, `./out` and `out` are one."""
    return str(PurePosixPath(item))


def _remaps(text: str | None) -> tuple[tuple[str, str], ...]:
    """`src = dst; src = dst`, quoted or not, whitespace around `=` ignored."""
    pairs = []
    for pair in (text or "").strip().strip('"').split(";"):
        source, sep, destination = pair.partition("=")
        if sep and source.strip() and destination.strip():
            pairs.append((_name(source.strip()), destination.strip()))
    return tuple(pairs)


def described_transfer(get: Callable[..., str | None]) -> Transfer | None:
    """File transfer as a submit description asks it (`get` expands a command); None unless it says YES: IF_NEEDED
    shares the filesystem here, as NO does."""
    if (get("should_transfer_files") or "").strip().upper() != "YES":
        return None
    outputs, checkpoint = get("transfer_output_files"), get("transfer_checkpoint_files")
    return Transfer(_items(get("transfer_input_files")), None if outputs is None else _items(outputs),
                    _remaps(get("transfer_output_remaps")), None if checkpoint is None else _items(checkpoint))


def refusal(transfer: Transfer) -> str | None:
    """Why the local executor cannot stage these inputs (a URL scheme only HTCondor's plugins fetch), or None."""
    for item in transfer.inputs:
        scheme = url_scheme(item)
        if scheme and scheme not in ("file", *FETCHED):
            return (f"transfer_input_files names {item}: HTCondor fetches {scheme}:// URLs with its file "
                    f"transfer plugins, which `aframe-dag run` does not have (it takes paths, file:// and http(s)://)")
    return None


def _fetch(url: str, sandbox: Path) -> None:
    target = sandbox / (Path(unquote(urlsplit(url).path)).name or "index.html")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, OSError) as exc:
        raise TransferError(f"Transfer input files failure: fetching {url}: {exc}") from None


def _stage(item: str, initialdir: Path, sandbox: Path) -> None:
    """Copy one input to the sandbox's top under its basename (a directory's contents for `dir/`)."""
    scheme = url_scheme(item)
    if scheme in FETCHED:
        _fetch(item, sandbox)
        return
    path = Path(unquote(urlsplit(item).path)) if scheme == "file" else initialdir / item
    if path.is_dir():
        target = sandbox if item.endswith("/") else sandbox / path.name
        shutil.copytree(path, target, copy_function=shutil.copy, dirs_exist_ok=True)
    else:
        shutil.copy(path, sandbox / path.name)


def _top_files(sandbox: Path) -> dict[str, tuple[int, int]]:
    """The sandbox's top-level files with their mtime and size: what a job changed differs from them."""
    return {entry.name: (entry.stat().st_mtime_ns, entry.stat().st_size) for entry in sandbox.iterdir()
            if entry.is_file()}


def _changed(sandbox: Path, before: dict[str, tuple[int, int]]) -> tuple[str, ...]:
    return tuple(name for name, stamp in sorted(_top_files(sandbox).items()) if before.get(name) != stamp)


def _deliver(source: Path, name: str, destination: Path, remaps: dict[str, Path]) -> None:
    """A file, or a directory entry by entry: what lies below goes where a more specific remap says, else below."""
    if not source.is_dir():
        shutil.copy(source, destination)  # mode kept, mtime now; its parent must exist
        return
    destination.mkdir(exist_ok=True)  # the shadow creates a remapped directory, never its parents
    for entry in sorted(source.iterdir()):
        below = f"{name}/{entry.name}"
        _deliver(entry, below, remaps.get(below, destination / entry.name), remaps)


def _collect(transfer: Transfer, sandbox: Path, initialdir: Path, before: dict[str, tuple[int, int]]) -> None:
    remaps = {source: initialdir / destination for source, destination in transfer.remaps}
    for item in transfer.outputs if transfer.outputs is not None else _changed(sandbox, before):
        source, name = sandbox / item, _name(item)
        if not source.exists():
            raise TransferError(f"Transfer output files failure: the job did not create {item} (transfer_output_"
                                f"files): reading from file {source}: (errno 2) No such file or directory")
        try:
            _deliver(source, name, remaps.get(name, initialdir / source.name), remaps)
        except OSError as exc:
            raise TransferError(f"Transfer output files failure: writing to file {exc.filename2 or exc.filename}: "
                                f"(errno {exc.errno}) {exc.strerror}") from None


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Sandboxes:
    """The scratch directories of one run's jobs, each job's own, as HTCondor's execute nodes give them."""

    def __init__(self, condor_dir: Path):
        self.root = Path(condor_dir) / SANDBOXES
        self.before: dict[Path, dict[str, tuple[int, int]]] = {}

    def clear(self) -> None:
        """Remove the sandboxes and checkpoints a killed run left (its jobs have been ended: they were removed)."""
        _remove(self.root)

    def _places(self, node: str, cluster: int) -> tuple[Path, Path]:
        """A job's sandbox and where its checkpoint waits for its next start."""
        sandbox = self.root / f"{node}.{cluster}"
        return sandbox, sandbox.with_name(f"{sandbox.name}.checkpoint")

    def enter(self, job, cluster: int) -> Path:
        """Where the job runs: a fresh sandbox with its inputs and its last checkpoint, or, for a job that transfers
        no files, its initialdir. TransferError when an input cannot be staged (HTCondor holds the job)."""
        if job.transfer is None:
            return job.cwd
        sandbox, checkpoint = self._places(job.node, cluster)
        _remove(sandbox)
        sandbox.mkdir(parents=True)
        try:
            for item in job.transfer.inputs:
                _stage(item, job.cwd, sandbox)
            if checkpoint.is_dir():
                shutil.copytree(checkpoint, sandbox, copy_function=shutil.copy, dirs_exist_ok=True)
        except OSError as exc:
            _remove(sandbox)
            raise TransferError(f"Transfer input files failure: reading from file {exc.filename}: "
                                f"(errno {exc.errno}) {exc.strerror}") from None
        except TransferError:
            _remove(sandbox)
            raise
        self.before[sandbox] = _top_files(sandbox)
        return sandbox

    def checkpointed(self, job, cluster: int) -> None:
        """Keep the job's checkpoint files for its next start, as HTCondor spools them, and drop its sandbox."""
        if job.transfer is None:
            return
        sandbox, checkpoint = self._places(job.node, cluster)
        transfer = job.transfer
        items = transfer.checkpoint_files if transfer.checkpoint_files is not None else transfer.outputs
        try:
            _remove(checkpoint)
            for item in items if items is not None else _changed(sandbox, self.before.get(sandbox, {})):
                if not (sandbox / item).exists():
                    raise TransferError(f"Transfer checkpoint files failure: the job did not create {item} "
                                        f"(transfer_checkpoint_files)")
                (checkpoint / item).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(sandbox / item, checkpoint / item)
        except TransferError:
            _remove(checkpoint)
            raise
        finally:
            _remove(sandbox)

    def exited(self, job, cluster: int, transfer_outputs: bool = True) -> None:
        """Bring the outputs of an exited job back (ON_EXIT: any exit code; not when it was stopped), then remove its
        sandbox and checkpoint. TransferError when an output cannot land (HTCondor holds the job)."""
        if job.transfer is None:
            return
        sandbox, checkpoint = self._places(job.node, cluster)
        try:
            if transfer_outputs:
                _collect(job.transfer, sandbox, job.cwd, self.before.get(sandbox, {}))
        finally:
            self.before.pop(sandbox, None)
            _remove(sandbox)
            _remove(checkpoint)


def scratch_environment(job, sandbox: Path) -> dict[str, str]:
    """What HTCondor's starter tells a job about its sandbox (nothing for a job that transfers no files)."""
    return {name: str(sandbox) for name in SCRATCH_VARIABLES} if job.transfer is not None else {}


def sandbox_executable(executable: str, initialdir: Path) -> str:
    """The executable a sandboxed job runs when HTCondor transfers it (transfer_executable, the default): a relative
    one comes from the initialdir, not the sandbox (a name that is no file there stays a command on PATH)."""
    local = initialdir / executable
    return str(local) if not Path(executable).is_absolute() and local.exists() else executable

"""An ``s3://`` train run dir worked on through a local copy (DESIGN §6 Train, Remote; issue 12).

Training writes into a local directory; ``RemoteRunDir`` fills it from S3 before a start (``last.ckpt``,
``best.ckpt`` and each earlier start's ``logs/version_N/metrics.csv``, so a preempted pod resumes where the last
checkpoint left off), sends every checkpoint to S3 as soon as it is saved (an S3 PUT is atomic: a reader sees the
previous checkpoint or the new one, never part of one), and uploads the finished outputs in order, ``model.pt`` last:
its presence on S3 means the run is complete. Every upload is verified (``storage.upload``), so the done-marker can
record the objects.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from executables.common import storage
from executables.train.checkpoints import BEST, LAST

log = logging.getLogger(__name__)

#: Logged metrics of start N, relative to the run dir (CSVLogger(run_dir / "logs", name="")).
METRICS_LOG = "logs/version_{}/metrics.csv"


class RemoteRunDir:
    """The local working copy ``local`` of the run dir ``url``."""

    def __init__(self, url: str, local: Path) -> None:
        self.url = url.rstrip("/")
        self.local = Path(local)

    def remote(self, path: Path) -> str:
        """The URL of a file under the local copy."""
        return str(storage.join(self.url, path.relative_to(self.local).as_posix()))

    def pull(self) -> None:
        """Copy the checkpoints and metric logs already on S3 into the local copy."""
        downloads = self.local.parent / f"{self.local.name}.downloads"
        names = [LAST, BEST]
        for version in itertools.count():
            if not storage.exists(storage.join(self.url, METRICS_LOG.format(version))):
                break
            names.append(METRICS_LOG.format(version))
        for name in names:
            url = str(storage.join(self.url, name))
            if name in (LAST, BEST) and not storage.exists(url):
                continue
            target = self.local / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(storage.local_copy(url, downloads), target)
            log.info("%s: taken from %s", target.name, url)
        shutil.rmtree(downloads, ignore_errors=True)

    def publish(self, path: Path) -> None:
        """Upload a checkpoint just saved; before ``last.ckpt``, the metrics logged so far (a resume keeps them)."""
        if path.name == LAST:
            for log_file in sorted(self.local.glob(METRICS_LOG.format("*"))):
                storage.upload(log_file, self.remote(log_file))
        storage.upload(path, self.remote(path))

    def push(self, outputs: Sequence[Path]) -> list[str]:
        """Upload the finished outputs in order (``model.pt`` is last) and return their URLs."""
        return [storage.upload(path, self.remote(path))["path"] for path in outputs]

    def verified(self, names: Sequence[str]) -> list[str]:
        """The URLs of the outputs another rank uploaded, checked on S3 (for this process's done-marker)."""
        urls = [str(storage.join(self.url, name)) for name in names]
        return [storage.check_object(url)["path"] for url in urls if storage.exists(url)]


@contextlib.contextmanager
def working_copy(run_dir: Path | str) -> Iterator[tuple[Path, RemoteRunDir | None]]:
    """The directory to train in: a local run dir itself, or a pulled local copy of an ``s3://`` one (in the job's
    scratch, removed afterwards) with the ``RemoteRunDir`` that uploads from it."""
    if not storage.is_remote(run_dir):
        yield Path(run_dir), None
        return
    with storage.scratch() as scratch:
        remote = RemoteRunDir(str(run_dir), scratch / "run")
        remote.pull()
        yield remote.local, remote

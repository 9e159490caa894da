"""Logging for node programs: one format on stderr, and progress lines with rate and ETA for long loops."""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UTCFormatter(logging.Formatter):
    """Stamp records in UTC ISO-8601 with milliseconds, so logs from hosts in different zones line up."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = datetime.fromtimestamp(record.created, timezone.utc)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class _NodeHandler(logging.StreamHandler):
    """The stderr handler ``setup_logging`` installs; its type lets a second call find and replace it."""


def setup_logging(verbose: bool) -> None:
    """Send log records to the current stderr at INFO (DEBUG when ``verbose``); calling again replaces, never adds."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _NodeHandler)]:
        root.removeHandler(handler)
    handler = _NodeHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def format_duration(seconds: float) -> str:
    """Format seconds as ``1h02m03s``, ``2m03s`` or ``3.0s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _tqdm_wanted() -> bool:
    """A progress bar only helps a person watching a terminal, and tqdm is optional."""
    return sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None


class Progress:
    """Report progress of a long loop: a log line at most every ``every`` seconds, or a tqdm bar on a terminal."""

    def __init__(
        self,
        total: int,
        what: str = "samples",
        logger: logging.Logger | None = None,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.what = what
        self.logger = logger or logging.getLogger(__name__)
        self.every = every
        self.clock = clock
        self.done = 0
        self.start = self.last = clock()
        self.closed = False
        self._bar: Any = None
        if _tqdm_wanted():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {what}", file=sys.stderr)

    def line(self) -> str:
        """The current status: done/total, rate per second and ETA."""
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.what}: {self.done}/{self.total} ({percent:.1f}%), {rate:.1f}/s, ETA {eta}"

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items and log a line if ``every`` seconds passed since the last one."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.logger.info("%s", self.line())

    def close(self) -> None:
        """Close the bar, if any, and log the final count, elapsed time and mean rate (once)."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self.logger.info("%s: %d/%d in %s, %.1f/s", self.what, self.done, self.total, format_duration(elapsed), rate)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

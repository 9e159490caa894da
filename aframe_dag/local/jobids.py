"""Job ids for the local executor: one counter per condor dir, so ids never repeat across runs (as a schedd's)."""

from __future__ import annotations

from pathlib import Path

from ..names import LAST_CLUSTER


class JobIds:
    """Hands out cluster ids, the last one kept in <condor dir>/.aframe-run/last-cluster."""

    def __init__(self, condor_dir: Path):
        self.path = Path(condor_dir) / LAST_CLUSTER
        try:
            self.last = int(self.path.read_text())
        except (OSError, ValueError):
            self.last = 0

    def peek(self) -> int:
        """The id the next job will get."""
        return self.last + 1

    def take(self) -> int:
        """A new id, written down before it is used so a killed executor's successor never reuses it."""
        self.last += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(str(self.last))
        return self.last

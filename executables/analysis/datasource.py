"""Which data the run's background is, read from ``run.ini.resolved``'s ``[data]``: a comparison with results measured
on real data must say whether this run's curve is one."""

from __future__ import annotations

import configparser
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_dag.names import RESOLVED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSource:
    """``[data] source`` (simulated, gwosc, frames; None when the resolved config does not say) and, for simulated
    noise, the PSD that colours it."""

    source: str | None
    noise_psd: str | None = None

    @classmethod
    def read(cls, condor_dir: Path) -> DataSource:
        """From the condor dir's ``run.ini.resolved``; an unreadable file or a missing key leaves the source unknown."""
        path = Path(condor_dir) / RESOLVED
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            log.warning("%s cannot be read (%s): the background's source is unknown", path, exc)
            return cls(None)
        source = parser.get("data", "source", fallback=None)
        psd = parser.get("data", "noise_psd", fallback=None) if source == "simulated" else None
        return cls(source, psd and _per_ifo(psd, parser.get("data", "ifos", fallback="")))

    @property
    def simulated(self) -> bool:
        return self.source == "simulated"

    def describe(self) -> str:
        """The background in words."""
        if self.source is None:
            return f"unknown ({RESOLVED} gives no [data] source)"
        if self.simulated:
            return f"simulated Gaussian noise coloured by the {self.noise_psd or 'unrecorded'} PSD"
        return f"real detector data ([data] source = {self.source})"

    def record(self) -> dict[str, Any]:
        """For summary.json."""
        return {"source": self.source, "noise_psd": self.noise_psd, "simulated": self.simulated}


def _per_ifo(noise_psd: str, ifos: str) -> str:
    """``[data] noise_psd`` in words: one name, or each name with the ifos it colours (one per ifo in ifos order)."""
    names, detectors = ([item.strip() for item in text.split(",") if item.strip()] for text in (noise_psd, ifos))
    if len(set(names)) < 2 or len(names) != len(detectors):
        return noise_psd
    by_name: dict[str, list[str]] = {}
    for name, ifo in zip(names, detectors, strict=True):
        by_name.setdefault(name, []).append(ifo)
    return ", ".join(f"{name} ({', '.join(members)})" for name, members in by_name.items())

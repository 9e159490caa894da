"""Hand-made results with known efficiencies: a background whose threshold at any FAR is known, injections found with
a logistic probability in ln SNR around a chosen 50 % SNR (the same injections for every search), and the files
aggregate and aframe-sv would write for them."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy import special

from executables.formats.events import EventSet, RecoveredInjectionSet

DAY = 86400.0
IFOS = ["H1", "L1"]
#: Statistic given to a found and to a missed injection: far above and below every background event.
FOUND, MISSED = 1e3, -1e3


def background(n: int, Tb: float = DAY, seed: int = 0, offset: float = 0.0) -> EventSet:
    """``n`` events of statistic ``offset + 1 .. offset + n`` over ``Tb`` seconds, in time order."""
    times = np.sort(np.random.default_rng(seed).uniform(0, Tb, n))
    return EventSet(detection_statistic=offset + np.arange(1.0, n + 1), detection_time=1240000000 + times,
                    shift=np.ones((n, len(IFOS))), Tb=Tb, ifos=IFOS)


def snrs(n: int, seed: int = 1, low: float = 4.0, high: float = 40.0) -> np.ndarray:
    """Optimal network SNRs log-uniform between ``low`` and ``high``."""
    return np.exp(np.random.default_rng(seed).uniform(np.log(low), np.log(high), n))


def found_with(snr: np.ndarray, snr50: float, width: float, seed: int) -> np.ndarray:
    """Whether each injection is found, drawn with probability expit((ln ρ - ln ρ50) / width)."""
    probability = special.expit((np.log(snr) - np.log(snr50)) / width)
    return np.random.default_rng(seed).uniform(size=len(snr)) < probability


def foreground(snr: np.ndarray, found: np.ndarray) -> dict[str, np.ndarray]:
    """``Results.foreground`` columns for these injections (one every 100 s, equal masses)."""
    n = len(snr)
    return {"snr": snr, "detection_statistic": np.where(found, FOUND, MISSED), "injection_time":
            1240000000 + 100.0 * np.arange(n), "mass_1": np.full(n, 30.0), "mass_2": np.full(n, 25.0)}


def write_search(directory: Path, events: EventSet, columns: dict[str, np.ndarray]) -> None:
    """``background.hdf5`` and ``foreground.hdf5`` of one search (``columns`` as ``foreground`` makes them)."""
    directory.mkdir(parents=True, exist_ok=True)
    events.write(directory / "background.hdf5")
    n = len(columns["snr"])
    RecoveredInjectionSet(detection_statistic=columns["detection_statistic"], detection_time=columns["injection_time"],
                          shift=np.zeros((n, len(IFOS))), Tb=0.0, ifos=IFOS, injection_time=columns["injection_time"],
                          snr=columns["snr"], parameters={"mass_1": columns["mass_1"], "mass_2": columns["mass_2"]}
                          ).write(directory / "foreground.hdf5")


def write_volume(path: Path, fars: np.ndarray, populations: dict[str, tuple[float, float]], attrs: dict,
                 scale: float = 1.0) -> None:
    """A ``sensitive_volume.h5`` as aframe-sv writes it: population k has SV (k + 1) ln(1 + FAR) and distance
    ``scale`` · 100 (k + 1) ln(1 + FAR) Mpc, errors a tenth and a twentieth of ln(1 + FAR)."""
    with h5py.File(path, "w") as handle:
        handle["thresholds"], handle["fars"] = np.linspace(3, -3, len(fars)), fars
        for k, (name, (m1, m2)) in enumerate(populations.items()):
            group = handle.create_group(f"populations/{name}")
            group["sv"], group["sv_err"] = (k + 1) * np.log1p(fars), 0.1 * np.log1p(fars)
            group["distance"], group["distance_err"] = scale * 100 * (k + 1) * np.log1p(fars), 5 * np.log1p(fars)
            group.attrs.update(mass_1=m1, mass_2=m2, support_fraction=1.0)
        handle.attrs.update(populations=list(populations), **attrs)

"""Veto segments: reading an ifo's veto file and the live time they leave a timeslid branch (plan and node programs).

A veto file lists GPS intervals of one ifo that the analysis must not use: segwizard text (``index start stop
duration``, three- or two-column ``start stop`` lines, ``#`` or ``;`` comments; parsed by igwn-segments'
``fromsegwizard``), or LIGO_LW XML segment tables (``.xml``/``.xml.gz``; the union of the file's segment lists of
that ifo, read with igwn-ligolw).

Timeslides (``aframe_dag.timeslides``): a branch with per-ifo offsets ``o_k`` analyses ``[a, b)`` of its analysis
clock, and ifo k's sample at clock time t is GPS ``t + o_k``. A moment t is live only when no ifo's shifted time
``t + o_k`` is vetoed, so the branch loses ``[a, b) ∩ ⋃_k (V_k - o_k)``: an instant vetoed in two ifos is removed
once, and the branch's live time is its span less that union. An event (or injection) at clock time t with row
shifts ``s_k`` is vetoed when some ``t + s_k`` lies in ``V_k``. Intervals are half-open, ``[start, stop)``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from igwn_segments import segment, segmentlist
from igwn_segments.utils import fromsegwizard

#: A line fromsegwizard skips: blank, or a comment.
_COMMENT = re.compile(r"\s*([#;].*)?\Z", re.DOTALL)


class VetoFileError(ValueError):
    """A veto file that cannot be read or parsed: its ``path`` and what is wrong."""

    def __init__(self, path, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


def parse_segwizard(lines: Sequence[str]) -> segmentlist:
    """Segments of segwizard or ``start stop`` lines, as written (not coalesced); a bad line is a ``ValueError``.

    fromsegwizard stops quietly at the first line it cannot parse, so every line that is not a comment must have
    given a segment: the first that did not is named by its number. Like igwn-segments, ``stop start`` is read as
    the interval between the two.
    """
    numbers = [number for number, line in enumerate(lines, 1) if _COMMENT.sub("", line)]
    segments = fromsegwizard(iter(lines), coltype=float)
    if len(segments) < len(numbers):
        number = numbers[len(segments)]
        raise ValueError(f"line {number}: not 'start stop' or 'index start stop duration': {lines[number - 1]!r}")
    return segments


def _read_ligolw(path: Path, ifo: str) -> segmentlist:
    """The union of a LIGO_LW document's segment lists that belong to ``ifo``."""
    try:
        from igwn_ligolw.utils import load_filename
        from igwn_ligolw.utils.segments import LigolwSegments
    except ImportError:
        raise VetoFileError(path, "reading LIGO_LW XML needs igwn-ligolw (pip install igwn-ligolw), or give "
                            "the segments as a segwizard text file") from None
    try:
        lists = LigolwSegments(load_filename(str(path)))
    except Exception as exc:  # the XML parser raises many kinds; each means this file is no segment document
        raise VetoFileError(path, f"not a LIGO_LW segment file: {exc}") from None
    found = [entry for entry in lists if ifo in entry.instruments]
    if not found:
        named = sorted({name for entry in lists for name in entry.instruments})
        raise VetoFileError(path, f"holds no segment list of {ifo} (its ifos: {', '.join(named) or 'none'})")
    return segmentlist(segment(float(a), float(b)) for entry in found for a, b in entry.active).coalesce()


def read_veto_file(path, ifo: str) -> segmentlist:
    """One veto file of ``ifo``, coalesced; anything unreadable is a ``VetoFileError`` naming the file."""
    path = Path(path)
    if path.name.endswith((".xml", ".xml.gz")):
        return _read_ligolw(path, ifo)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VetoFileError(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_segwizard(lines).coalesce()
    except ValueError as exc:
        raise VetoFileError(path, str(exc)) from None


class Vetoes:
    """Each ifo's vetoed intervals (coalesced, sorted), with the queries a timeslid branch needs."""

    def __init__(self, ifos: Sequence[str], lists: Mapping[str, segmentlist]):
        unknown = sorted(set(lists) - set(ifos))
        if unknown:
            raise ValueError(f"vetoes of {', '.join(unknown)}, which is not one of the ifos {', '.join(ifos)}")
        self.ifos = tuple(ifos)
        self.lists = [segmentlist(lists.get(ifo, segmentlist())).coalesce() for ifo in self.ifos]
        self.starts = [[float(s[0]) for s in entries] for entries in self.lists]
        self.stops = [[float(s[1]) for s in entries] for entries in self.lists]

    @classmethod
    def read(cls, ifos: Sequence[str], files: Iterable[tuple[str, str]]) -> Vetoes:
        """From (ifo, path) pairs; an ifo named twice gets the union of its files."""
        lists: dict[str, segmentlist] = {}
        for ifo, path in files:
            lists[ifo] = lists.get(ifo, segmentlist()) | read_veto_file(path, ifo)
        return cls(ifos, lists)

    def total(self) -> float:
        """Seconds vetoed in each ifo, summed (what the files hold, before any timeslide)."""
        return float(sum(abs(entries) for entries in self.lists))

    def _window(self, k: int, start: float, stop: float) -> segmentlist:
        """Ifo k's intervals that meet ``[start, stop)`` (a bisection: a branch reads only its own stretch)."""
        lo = bisect.bisect_right(self.stops[k], start)
        hi = bisect.bisect_left(self.starts[k], stop)
        return segmentlist(self.lists[k][lo:hi])

    def vetoed(self, start: float, stop: float, offsets: Sequence[float]) -> segmentlist:
        """The part of the clock span ``[start, stop)`` where some ifo's shifted time is vetoed (see the module)."""
        span = segmentlist([segment(start, stop)])
        union = segmentlist()
        for k, offset in enumerate(offsets):
            window = self._window(k, start + offset, stop + offset)
            union |= segmentlist(entry.shift(-offset) for entry in window) & span
        return union

    def vetoed_seconds(self, start: float, stop: float, offsets: Sequence[float]) -> float:
        """Seconds of the clock span ``[start, stop)`` that vetoes remove, each instant once."""
        return float(abs(self.vetoed(start, stop, offsets))) if stop > start else 0.0

    def contains(self, time: float, offsets: Sequence[float]) -> bool:
        """Whether clock time ``time`` is vetoed: some ifo's ``time + offset`` inside one of its intervals."""
        for k, offset in enumerate(offsets):
            shifted = time + offset
            index = bisect.bisect_right(self.starts[k], shifted) - 1
            if index >= 0 and shifted < self.stops[k][index]:
                return True
        return False

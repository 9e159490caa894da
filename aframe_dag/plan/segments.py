"""Which stretches of time a run analyses, and how they are cut into one file (and node) each."""

from __future__ import annotations

import math
from pathlib import Path

from igwn_segments import segment, segmentlist

from ..config.types import each_ifo
from ..errors import ConfigError, UserError


def read_segments(path) -> segmentlist:
    """A segment file: 'start stop' or segwizard 'index start stop duration' lines; '#' starts a comment."""
    segments = segmentlist()
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UserError(f"--segments {path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        fields = line.split("#")[0].split()
        if not fields:
            continue
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise UserError(f"{path}: line {number}: not numbers: {line.strip()!r}") from None
        if len(values) not in (2, 4):
            raise UserError(f"{path}: line {number}: expected 'start stop' or 'index start stop duration'")
        start, stop = values[-3:-1] if len(values) == 4 else values
        if not stop > start:
            raise UserError(f"{path}: line {number}: stop is not after start")
        segments.append(segment(int(math.ceil(start)), int(math.floor(stop))))
    return segments.coalesce()


def query_segments(config) -> segmentlist:
    """Where every ifo has data over the whole run, from GWOSC (gwosc source) or DQSegDB (frames source)."""
    data = config["data"]
    start, stop = data["train_start"], data["test_stop"]
    common = segmentlist([segment(start, stop)])
    flags = each_ifo(data["flag"], data["ifos"])
    try:
        for ifo, flag in flags.items():
            if data["source"] == "gwosc":
                from gwosc.timeline import get_segments

                found = segmentlist(segment(*pair) for pair in get_segments(f"{ifo}_{flag}", start, stop,
                                                                            host=data["gwosc_host"]))
            else:
                from gwpy.segments import DataQualityFlag

                found = segmentlist(DataQualityFlag.query(f"{ifo}:{flag}", start, stop).active)
            common &= found.coalesce()
    except ImportError as exc:
        raise UserError(f"querying segments needs {exc.name} (pip install 'aframe-dag[data]'), "
                        "or pass --segments FILE") from None
    except Exception as exc:  # network, server or flag errors all mean: this query cannot be made now
        raise UserError(f"cannot query the {', '.join(dict.fromkeys(flags.values()))} segments for {', '.join(flags)} "
                        f"({type(exc).__name__}: {exc}); pass --segments FILE instead") from None
    return common


def segments_text(segments: segmentlist) -> str:
    """A segment list as 'start stop' lines, as read_segments reads it."""
    return "".join(f"{int(start)} {int(stop)}\n" for start, stop in segments)


def analysis_segments(config, kind: str, available: segmentlist | None) -> segmentlist:
    """The training or testing span, cut to the available segments (simulated noise: all of it)."""
    data = config["data"]
    span = segmentlist([segment(data["train_start"], data["train_stop"]) if kind == "train"
                        else segment(data["train_stop"], data["test_stop"])])
    if data["source"] == "simulated":
        return span
    if available is None:
        raise ConfigError(f"the {data['source']} source needs the segments where data exist (`aframe-dag build` "
                          "queries them, or give --segments FILE)", config.path, "data", "source")
    return (span & available).coalesce()


def chunks(segments: segmentlist, max_length: int, min_length: int) -> list[tuple[int, int]]:
    """(start, duration) of each file: segments shorter than min_length dropped, longer ones cut evenly."""
    files = []
    for start, stop in segments:
        length = int(stop - start)
        if length < min_length:
            continue
        count = math.ceil(length / max_length)
        edges = [int(start) + (length * k) // count for k in range(count + 1)]
        files += [(a, b - a) for a, b in zip(edges, edges[1:], strict=False)]
    return files


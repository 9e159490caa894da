"""Livetime and timeslide arithmetic, in one place for the plan and the node programs (stdlib only).

A test background file covers [t0, t0 + duration). Shift index i moves ifo k by i * shifts[k] seconds; the
shifted streams overlap for duration - max_k(i * shifts[k]) seconds. The first `dead_time` seconds of that overlap
estimate the whitening PSD and are not analysed, so a branch (file, shift index) analyses
[t0 + dead_time, t0 + duration - max offset): its livetime. Shift 0 is zero-lag and never counts toward Tb; every
other analysed branch does, also one planned only to hold injections (its background is analysed anyway), so an infer
node knows a branch's role from its shift alone.

Vetoes (``aframe_dag.vetoes``, ``[testing] vetoes``) remove part of what a branch analyses: its live time is the
analysed span less the union over ifos of each ifo's vetoed times mapped into the branch's clock, and Tb sums the
live time of the background branches, so the plan adds shifts until that sum reaches the requested Tb. Injections
are placed as without vetoes; those at vetoed moments are counted so that aggregate and sv can be told.
"""

from __future__ import annotations

import functools
from typing import NamedTuple


def offsets(shifts, index: int) -> tuple[float, ...]:
    """Per-ifo offsets, in seconds, of shift index `index`."""
    return tuple(step * index for step in shifts)


def analysed_span(duration: float, shifts, index: int, dead_time: float) -> tuple[float, float]:
    """Start and end, in seconds after the file's t0, of what one branch analyses."""
    return dead_time, duration - max(offsets(shifts, index))


def livetime(duration: float, shifts, index: int, dead_time: float) -> float:
    """Seconds of (timeslid) background one branch analyses; negative when the file is too short."""
    start, stop = analysed_span(duration, shifts, index, dead_time)
    return stop - start


def injection_count(duration: float, shifts, index: int, dead_time: float, spacing: float, buffer: float) -> int:
    """How many injections one branch holds (the length of injection_times, without making the list)."""
    start, stop = analysed_span(duration, shifts, index, dead_time)
    first, last = start + buffer, stop - buffer
    return int((last - first) // spacing) + 1 if last >= first else 0


def _vetoed(vetoes, start: int, duration: float, shifts, index: int, dead_time: float) -> float:
    """Seconds of one branch's analysed span that ``vetoes`` remove (0 without vetoes)."""
    if vetoes is None:
        return 0.0
    first, last = analysed_span(duration, shifts, index, dead_time)
    return vetoes.vetoed_seconds(start + first, start + last, offsets(shifts, index))


def injection_times(duration: float, shifts, index: int, dead_time: float, spacing: float, buffer: float):
    """Offsets after t0 of the injections in one branch: every `spacing` s, `buffer` s clear of the span's edges."""
    first = analysed_span(duration, shifts, index, dead_time)[0] + buffer
    return [first + k * spacing for k in range(injection_count(duration, shifts, index, dead_time, spacing, buffer))]


class Branch(NamedTuple):
    """One (file, shift index) pair an infer node analyses (a tuple: plans make one per branch, 100k and more)."""

    start: int
    duration: int
    shift: int
    livetime: float
    background: bool
    injections: int
    vetoed: float = 0.0  # seconds of `livetime` that vetoes remove
    vetoed_injections: int = 0  # of `injections`, those at vetoed moments

    @property
    def live(self) -> float:
        """Seconds analysed and not vetoed: what the branch adds to Tb."""
        return self.livetime - self.vetoed

    @property
    def label(self) -> str:
        """How the plan names the branch on a command line: T0-DURATION:SHIFT."""
        return f"{self.start}-{self.duration}:{self.shift}"


class Unreachable(ValueError):
    """The test data cannot give the requested livetime or injection count with any number of shifts."""


def _shifts_needed(files, shifts, dead_time, minimum, target, amount) -> int:
    """The fewest shift indices 1..N whose summed amount over usable branches reaches target: N."""
    total, index = 0, 0
    while total < target:
        index += 1
        usable = [amount(start, duration, index) for start, duration in files
                  if livetime(duration, shifts, index, dead_time) >= minimum]
        if not usable:
            raise Unreachable(f"reached only {total:g} of {target:g} after {index - 1} shifts")
        total += sum(usable)
    return index


def _vetoed_injections(vetoes, start: int, duration: float, shifts, index: int, dead_time: float, spacing: float,
                       buffer: float) -> int:
    """How many of one branch's injections lie at vetoed moments (0 without vetoes)."""
    if vetoes is None:
        return 0
    moved = offsets(shifts, index)
    return sum(vetoes.contains(start + time, moved)
               for time in injection_times(duration, shifts, index, dead_time, spacing, buffer))


def plan_branches(files, shifts, dead_time: float, minimum: float, Tb: float, num_injections: int,
                  spacing: float, buffer: float, vetoes=None) -> list[Branch]:
    """Every branch the test set needs: zero-lag, enough background shifts for Tb, enough injection shifts.

    `files` are (t0, duration) pairs; a branch shorter than `minimum` seconds is left out. `vetoes`
    (``aframe_dag.vetoes.Vetoes`` or None) makes Tb count live time only.
    """
    @functools.cache
    def removed(start, duration, index):
        return _vetoed(vetoes, start, duration, shifts, index, dead_time)

    background = _shifts_needed(files, shifts, dead_time, minimum, Tb, lambda start, duration, index:
                                livetime(duration, shifts, index, dead_time) - removed(start, duration, index))
    injected = _shifts_needed(files, shifts, dead_time, minimum, num_injections,
                              lambda _, d, i: injection_count(d, shifts, i, dead_time, spacing, buffer))
    branches = []
    for start, duration in files:
        for index in range(max(background, injected) + 1):
            seconds = livetime(duration, shifts, index, dead_time)
            if seconds < minimum:
                continue
            holds = 0 < index <= injected
            count = injection_count(duration, shifts, index, dead_time, spacing, buffer) if holds else 0
            dropped = _vetoed_injections(vetoes, start, duration, shifts, index, dead_time, spacing, buffer) \
                if holds else 0
            branches.append(Branch(start, duration, index, seconds, index > 0, count, removed(start, duration, index),
                                   dropped))
    return branches


def bundle(branches, seconds_per_node: float) -> list[list[Branch]]:
    """Consecutive branches grouped so that each group analyses about `seconds_per_node` seconds."""
    groups, current, seconds = [], [], 0.0
    for branch in branches:
        current.append(branch)
        seconds += branch.livetime
        if seconds >= seconds_per_node:
            groups.append(current)
            current, seconds = [], 0.0
    if current:
        groups.append(current)
    return groups

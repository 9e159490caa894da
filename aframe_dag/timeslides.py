"""Livetime and timeslide arithmetic, in one place for the plan and the node programs (stdlib only).

A test background file covers [t0, t0 + duration). Shift index i moves ifo k by i * shifts[k] seconds; the
shifted streams overlap for duration - max_k(i * shifts[k]) seconds. The first `dead_time` seconds of that overlap
estimate the whitening PSD and are not analysed, so a branch (file, shift index) analyses
[t0 + dead_time, t0 + duration - max offset): its livetime. Shift 0 is zero-lag and never counts toward Tb; every
other analysed branch does, also one planned only to hold injections (its background is analysed anyway), so an infer
node knows a branch's role from its shift alone.
"""

from __future__ import annotations

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
        usable = [amount(duration, index) for _, duration in files
                  if livetime(duration, shifts, index, dead_time) >= minimum]
        if not usable:
            raise Unreachable(f"reached only {total:g} of {target:g} after {index - 1} shifts")
        total += sum(usable)
    return index


def plan_branches(files, shifts, dead_time: float, minimum: float, Tb: float, num_injections: int,
                  spacing: float, buffer: float) -> list[Branch]:
    """Every branch the test set needs: zero-lag, enough background shifts for Tb, enough injection shifts.

    `files` are (t0, duration) pairs; a branch shorter than `minimum` seconds is left out.
    """
    background = _shifts_needed(files, shifts, dead_time, minimum, Tb,
                                lambda d, i: livetime(d, shifts, i, dead_time))
    injected = _shifts_needed(files, shifts, dead_time, minimum, num_injections,
                              lambda d, i: injection_count(d, shifts, i, dead_time, spacing, buffer))
    branches = []
    for start, duration in files:
        for index in range(max(background, injected) + 1):
            live = livetime(duration, shifts, index, dead_time)
            if live < minimum:
                continue
            count = injection_count(duration, shifts, index, dead_time, spacing, buffer) if 0 < index <= injected else 0
            branches.append(Branch(start, duration, index, live, index > 0, count))
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

"""Livetime and timeslide arithmetic, in one place for the plan and the node programs (stdlib only).

A test background file covers [t0, t0 + duration). Shift index i moves ifo k by i * shifts[k] seconds; the
shifted streams overlap for duration - max_k(i * shifts[k]) seconds. The first `dead_time` seconds of that overlap
estimate the whitening PSD and are not analysed, so a branch (file, shift index) analyses
[t0 + dead_time, t0 + duration - max offset): its livetime. Shift 0 is zero-lag and never counts toward Tb; every
other analysed branch does, also one planned only to hold injections (its background is analysed anyway), so an infer
node knows a branch's role from its shift alone.
"""

from __future__ import annotations

from dataclasses import dataclass


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


def injection_times(duration: float, shifts, index: int, dead_time: float, spacing: float, buffer: float):
    """Offsets after t0 of the injections in one branch: every `spacing` s, `buffer` s clear of the span's edges."""
    start, stop = analysed_span(duration, shifts, index, dead_time)
    first, last = start + buffer, stop - buffer
    count = int((last - first) // spacing) + 1 if last >= first else 0
    return [first + k * spacing for k in range(count)]


@dataclass(frozen=True)
class Branch:
    """One (file, shift index) pair an infer node analyses."""

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


def _accumulate(files, shifts, dead_time, minimum, target, amount):
    """Shift indices 1..N: the fewest whose summed amount over usable branches reaches target."""
    total, index = 0, 0
    while total < target:
        index += 1
        usable = [amount(duration, index) for _, duration in files
                  if livetime(duration, shifts, index, dead_time) >= minimum]
        if not usable:
            raise Unreachable(f"reached only {total:g} of {target:g} after {index - 1} shifts")
        total += sum(usable)
    return list(range(1, index + 1))


def plan_branches(files, shifts, dead_time: float, minimum: float, Tb: float, num_injections: int,
                  spacing: float, buffer: float) -> list[Branch]:
    """Every branch the test set needs: zero-lag, enough background shifts for Tb, enough injection shifts.

    `files` are (t0, duration) pairs; a branch shorter than `minimum` seconds is left out.
    """
    background = _accumulate(files, shifts, dead_time, minimum, Tb,
                             lambda d, i: livetime(d, shifts, i, dead_time))
    injected = _accumulate(files, shifts, dead_time, minimum, num_injections,
                           lambda d, i: len(injection_times(d, shifts, i, dead_time, spacing, buffer)))
    branches = []
    for start, duration in files:
        for index in range(0, max(background[-1], injected[-1]) + 1):
            live = livetime(duration, shifts, index, dead_time)
            if live < minimum:
                continue
            times = injection_times(duration, shifts, index, dead_time, spacing, buffer) if index in injected else []
            count = len(times)
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

"""What becomes of a held job: the submit expressions that release it a few times and then remove it, so DAGMan
retries or fails its node instead of waiting for ever, and that removal told back in words."""

from __future__ import annotations

import re

USER_HOLD = 1  # condor_hold by a person: never released nor removed by these expressions
# Holds worth retrying: process creation (6), output/input transfer (12, 13), a startd's own hold (21).
TRANSIENT_HOLDS = (6, 12, 13, 21)
MEMORY_HOLD = 34  # JobOutOfResources: the job outgrew request_memory
MAX_RELEASES = 3
RELEASE_AFTER = 300  # seconds a transient hold lasts before its release

_BY_HOLDS = re.compile(r"NumHolds > (\d+)")
_BY_TIME = re.compile(r"EnteredCurrentStatus\) > (\d+)")


def memory_expression(base_mib: int) -> str:
    """request_memory that doubles after each memory hold, up to four times the request."""
    holds = "ifThenElse(isUndefined(NumHoldsByReason.JobOutOfResources), 0, NumHoldsByReason.JobOutOfResources)"
    return f"min({{{4 * base_mib}, {base_mib} * pow(2, {holds})}})"


def release_expression() -> str:
    """periodic_release: transient and memory holds, a bounded number of times, never a user's own hold."""
    transient = " || ".join(f"HoldReasonCode =?= {code}" for code in TRANSIENT_HOLDS)
    return (f"(({transient}) && NumHolds <= {MAX_RELEASES} && (time() - EnteredCurrentStatus) > {RELEASE_AFTER}) "
            f"|| (HoldReasonCode =?= {MEMORY_HOLD} && NumHolds <= {MAX_RELEASES})")


def remove_expression(max_held_hours: float) -> str:
    """periodic_remove: a job held again after its last release, or held longer than `max_held_hours` (a hold no
    release applies to), leaves the queue so that DAGMan retries or fails its node; never a user's own hold."""
    return (f"JobStatus == 5 && HoldReasonCode =!= {USER_HOLD} && (NumHolds > {MAX_RELEASES} || "
            f"(time() - EnteredCurrentStatus) > {round(max_held_hours * 3600)})")


def _span(seconds: int) -> str:
    """24 h, 30 min, 11 s."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds} s"


def removal_words(reason: str | None, held_for: float | None) -> str | None:
    """A removal reason (a user log's abort event) in words when our periodic_remove made it, else None. Which of
    its two limits removed the job follows from how long its last hold lasted (`held_for`, None when no hold was
    logged): a user log may miss holds, so it cannot count them."""
    if not reason or "PeriodicRemove" not in reason:
        return None
    by_holds, by_time = _BY_HOLDS.search(reason), _BY_TIME.search(reason)
    limit = int(by_time.group(1)) if by_time else None
    if limit is not None and held_for is not None and held_for >= limit - 1:  # the logs' clocks tick in seconds
        return f"by its periodic_remove after {_span(limit)} held (no release applies to its hold; [condor] " \
               "max_held_hours)"
    if by_holds and (held_for is not None or limit is None):
        return f"by its periodic_remove: held again after its {by_holds.group(1)} releases were used up"
    return f"by its periodic_remove ({reason})"

"""What false-alarm rates a background can measure: nothing below 1 / Tb, so an event louder than every background
event has an upper limit, never a FAR of zero. FARs are per Julian year, as ``EventSet`` quotes them."""

from __future__ import annotations

import numpy as np
from scipy.constants import Julian_year


def smallest_far(livetime: float) -> float:
    """The smallest FAR (per year) a background of ``livetime`` seconds measures: one event in it, 1 / Tb."""
    return Julian_year / livetime


def livetime_for(far: float) -> float:
    """The background livetime (s) whose smallest measurable FAR is ``far`` per year."""
    return Julian_year / far


def far_bounds(far: np.ndarray, livetime: float) -> tuple[np.ndarray, np.ndarray]:
    """The background's FARs (``significance``) of some events, and whether each is an upper limit: an event louder
    than every background event has FAR 0 there, which is not measured but below 1 / Tb, the value given."""
    far = np.asarray(far, dtype=np.float64)
    upper_limit = far == 0
    return np.where(upper_limit, smallest_far(livetime), far), upper_limit

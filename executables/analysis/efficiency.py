"""Detection efficiency against optimal network SNR at one false-alarm rate, and the SNR at which half the injections
are found: the network and the matched-filter reference held to the same injections at the same FAR.

The common FAR is 10 / Tb (ten background events of the shorter background allowed above each search's threshold);
where a background holds ten events or fewer that FAR sets no threshold in it, so the comparison falls back to 1 / Tb,
the lowest FAR a background measures, and says so. An injection is found when its statistic is at or above the
threshold its own search's background sets at that FAR.

The 50 %-efficiency SNR comes from a maximum-likelihood logistic fit in log SNR over the injections themselves
(Bernoulli likelihood): ε(ρ) = 1 / (1 + exp(-(ln ρ - ln ρ50) / w)); for speed the injections' ln SNRs are rounded to
one of ``GRID`` steps over their range (a few thousandths in ln SNR, far below any width w; the figure's bins are
another matter). Its uncertainty, and that of the
ratio network / reference, is the standard deviation over bootstrap resamples of the injections (a fixed seed, so a
report is reproducible); when both searches analysed the same injections the resamples are paired (the same
injections for both), since their efficiencies are correlated. The binned efficiency the figure shows carries
Wilson 68 % binomial intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize, special, stats

from executables.analysis.far import smallest_far
from executables.formats.events import EventSet

#: Background events the common FAR allows above a threshold: the FAR is COMPARISON_EVENTS / Tb.
COMPARISON_EVENTS = 10
#: Bootstrap resamples of the injections behind each uncertainty, and their seed.
BOOTSTRAP = 100
SEED = 20250
#: Coverage of the binned efficiency's error bars (one standard deviation).
CONFIDENCE = 0.6827
#: Bins of optimal network SNR: about sqrt(injections) / 2 of them, within these bounds.
BINS = (5, 20)
#: Steps of ln SNR over the injections' range that the fit rounds them to.
GRID = 2000
#: Bounds of the fitted logistic width w (in ln SNR): from a near step to a near-flat curve.
WIDTH_BOUNDS = (1e-3, 10.0)


@dataclass(frozen=True)
class ComparisonFar:
    """The FAR (per year) both searches are compared at, as ``events`` / ``Tb``; ``far`` None when no FAR sets a
    threshold in every background, ``note`` saying why it is not 10 / Tb."""

    far: float | None
    events: int
    Tb: float
    note: str | None = None

    @property
    def label(self) -> str:
        return f"{self.events}/Tb"


@dataclass(frozen=True)
class Fit:
    """The logistic fit: ``snr50`` with its bootstrap error, ``width`` in ln SNR."""

    snr50: float
    width: float
    snr50_err: float | None = None

    def efficiency(self, snr: np.ndarray) -> np.ndarray:
        return special.expit((np.log(snr) - np.log(self.snr50)) / self.width)


@dataclass(frozen=True)
class Efficiency:
    """One search at the common FAR: its threshold, each injection's SNR, whether it was found and its injection time
    (None when not read), the binned efficiency (``bins``: each non-empty bin's SNR edges, ``found`` and ``total``
    counts, Wilson ``low``/``high``) and the fit (None, with ``note`` saying why, when it has no 50 % point within
    the injections' SNRs)."""

    name: str
    threshold: float
    snr: np.ndarray
    found: np.ndarray
    times: np.ndarray | None
    bins: np.ndarray
    hits: np.ndarray
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray
    fit: Fit | None
    note: str | None = None

    @property
    def centres(self) -> np.ndarray:
        """Each bin's geometric centre."""
        return np.sqrt(self.bins[:, 0] * self.bins[:, 1])


@dataclass(frozen=True)
class Comparison:
    """The network's efficiency and, when the reference ran, the matched filter's, with the ratio of their 50 % SNRs
    (network / matched filter) and its bootstrap error."""

    far: ComparisonFar
    searches: list[Efficiency] = field(default_factory=list)
    ratio: float | None = None
    ratio_err: float | None = None
    paired: bool = False

    def headline(self) -> dict[str, float | int | str | bool | None]:
        """summary.json's numbers: the common FAR and each search's 50 % SNR, and their ratio."""
        numbers: dict[str, float | int | str | bool | None] = {
            "comparison_far": self.far.far, "comparison_far_label": self.far.label}
        for search, key in zip(self.searches, ("network", "reference"), strict=False):
            numbers[f"snr50_{key}"] = search.fit.snr50 if search.fit else None
            numbers[f"snr50_{key}_err"] = search.fit.snr50_err if search.fit else None
        if len(self.searches) == 2:
            numbers.update(snr50_ratio=self.ratio, snr50_ratio_err=self.ratio_err, snr50_ratio_paired=self.paired)
        return numbers


def comparison_far(backgrounds: Sequence[EventSet]) -> ComparisonFar:
    """10 / Tb (Tb the shorter background's), or 1 / Tb when a background has too few events for it, or none."""
    Tb = min(background.Tb for background in backgrounds)
    fewest = min(len(background) for background in backgrounds)
    if Tb <= 0:
        return ComparisonFar(None, COMPARISON_EVENTS, Tb, "a background has no livetime (Tb = 0): no FAR to compare at")
    if fewest > COMPARISON_EVENTS:
        return ComparisonFar(COMPARISON_EVENTS * smallest_far(Tb), COMPARISON_EVENTS, Tb)
    if fewest > 1:
        return ComparisonFar(smallest_far(Tb), 1, Tb,
                             f"a background has only {fewest} events in Tb = {Tb:.6g} s, too few to set a threshold "
                             f"at {COMPARISON_EVENTS}/Tb: compared at 1/Tb, the lowest FAR it measures")
    return ComparisonFar(None, COMPARISON_EVENTS, Tb,
                         f"a background has {fewest} event{'' if fewest == 1 else 's'} in Tb = {Tb:.6g} s: no FAR sets "
                         "a threshold in it")


def _negative_log_likelihood(parameters: np.ndarray, x: np.ndarray, found: np.ndarray,
                             weights: np.ndarray) -> tuple[float, np.ndarray]:
    """-ln L of the logistic (x50, ln w) over log SNRs ``x`` with outcomes ``found``, and its gradient."""
    x50, log_width = parameters
    width = np.exp(log_width)
    z = (x - x50) / width
    sign = np.where(found, 1.0, -1.0)
    value = -np.sum(weights * special.log_expit(sign * z))
    residual = weights * (special.expit(z) - found)  # d(-ln L)/dz
    return float(value), np.array([-np.sum(residual) / width, -np.sum(residual * z)])


@dataclass(frozen=True)
class Cells:
    """Injections grouped by outcome and by ln SNR rounded to ``GRID`` steps over their range: the likelihood sums over
    cells, each weighted by the injections (or bootstrap draws of them) it holds."""

    x: np.ndarray
    found: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, snr: np.ndarray, found: np.ndarray) -> Cells:
        x = np.log(snr)
        step = (x.max() - x.min()) / GRID or 1.0
        cells, index = np.unique(np.round((x - x.min()) / step).astype(np.int64) * 2 + found, return_inverse=True)
        return cls(x.min() + (cells // 2) * step, cells % 2 == 1, index)

    def fit(self, counts: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Maximum-likelihood (ln ρ50, ln w) with injection i counted ``counts[i]`` times; ln ρ50 kept within a unit
        of the injections' range."""
        weights = np.bincount(self.index, counts, minlength=len(self.x))
        bounds = [(self.x.min() - 1.0, self.x.max() + 1.0), tuple(np.log(WIDTH_BOUNDS))]
        return optimize.minimize(_negative_log_likelihood, start, args=(self.x, self.found, weights), jac=True,
                                 method="TNC", bounds=bounds).x


def _point_fit(snr: np.ndarray, found: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """The fitted (ln ρ50, ln w), or None and why: every injection found or missed, or ρ50 outside their SNRs."""
    if found.all() or not found.any():
        word = "every" if found.all() else "no"
        side = "below" if found.all() else "above"
        return None, (f"{word} injection found: the 50 % SNR lies {side} the injected SNRs "
                      f"({snr.min():.3g} to {snr.max():.3g})")
    x = np.log(snr)
    parameters = Cells.of(snr, found).fit(np.ones(len(snr)), np.array([np.median(x), np.log(0.1)]))
    if not x.min() <= parameters[0] <= x.max():
        side = "below" if parameters[0] < x.min() else "above"
        return None, (f"the fitted 50 % SNR ({np.exp(parameters[0]):.3g}) lies {side} the injected SNRs "
                      f"({snr.min():.3g} to {snr.max():.3g})")
    return parameters, None


def _binned(snr: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each non-empty log-spaced SNR bin's (lower, upper) edges, its found and total counts and Wilson interval."""
    count = int(np.clip(round(np.sqrt(len(snr)) / 2), *BINS))
    edges = np.geomspace(snr.min(), snr.max() * (1 + 1e-9), count + 1)
    total = np.histogram(snr, edges)[0]
    hits = np.histogram(snr[found], edges)[0]
    keep = np.flatnonzero(total)
    intervals = [stats.binomtest(int(k), int(n)).proportion_ci(CONFIDENCE, method="wilson")
                 for k, n in zip(hits[keep], total[keep], strict=True)]
    return (np.stack([edges[keep], edges[keep + 1]], axis=1), hits[keep], total[keep],
            np.array([interval.low for interval in intervals]), np.array([interval.high for interval in intervals]))


def efficiency(name: str, background: EventSet, foreground: dict[str, np.ndarray], far: float) -> Efficiency:
    """One search's efficiency at ``far`` (per year) over its injections with a positive, finite SNR."""
    threshold = float(background.threshold_at_far(far))
    snr = np.asarray(foreground["snr"], dtype=np.float64)
    usable = np.isfinite(snr) & (snr > 0)
    found = np.asarray(foreground["detection_statistic"], dtype=np.float64)[usable] >= threshold
    times = foreground.get("injection_time")
    times = None if times is None else np.asarray(times, dtype=np.float64)[usable]
    snr = snr[usable]
    if not len(snr):
        empty = np.zeros(0)
        return Efficiency(name, threshold, snr, found, times, np.zeros((0, 2)), empty, empty, empty, empty, None,
                          "no injection with a positive SNR")
    bins, hits, total, low, high = _binned(snr, found)
    parameters, note = _point_fit(snr, found)
    fit = None if parameters is None else Fit(float(np.exp(parameters[0])), float(np.exp(parameters[1])))
    return Efficiency(name, threshold, snr, found, times, bins, hits, total, low, high, fit, note)


def _pairing(searches: Sequence[Efficiency]) -> list[np.ndarray] | None:
    """Each search's rows in one common injection order, when all analysed the same injections (by time)."""
    if any(search.times is None for search in searches):
        return None
    orders = [np.argsort(search.times, kind="stable") for search in searches]
    first = searches[0].times[orders[0]]
    same = all(np.array_equal(search.times[order], first) for search, order in zip(searches, orders, strict=True))
    return orders if same and len(np.unique(first)) == len(first) else None


def _resample(rng: np.random.Generator, n: int) -> np.ndarray:
    """How many times each of ``n`` rows is drawn in one bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)


def _bootstrap(searches: Sequence[Efficiency], seed: int) -> tuple[np.ndarray, bool]:
    """(resamples, searches) 50 % SNRs refitted on bootstrap resamples (multinomial weights) of the injections, the
    same injections for every search when they are paired; and whether they were."""
    rng = np.random.default_rng(seed)
    orders = _pairing(searches)
    starts = [np.log([search.fit.snr50, search.fit.width]) for search in searches]
    cells = [Cells.of(search.snr, search.found) for search in searches]
    samples = np.empty((BOOTSTRAP, len(searches)))
    for draw in range(BOOTSTRAP):
        shared = _resample(rng, len(searches[0].snr)) if orders else None
        for column, (search, start, grouped) in enumerate(zip(searches, starts, cells, strict=True)):
            if orders:
                weights = np.empty(len(search.snr))
                weights[orders[column]] = shared
            else:
                weights = _resample(rng, len(search.snr))
            samples[draw, column] = np.exp(grouped.fit(weights, start)[0])
    return samples, orders is not None


def compare(network: tuple[EventSet, dict[str, np.ndarray]],
            reference: tuple[EventSet, dict[str, np.ndarray]] | None, seed: int = SEED) -> Comparison:
    """The network's efficiency (and the reference's) at the common FAR, with bootstrap errors and the ratio."""
    pairs = [("network", *network)] + ([("matched filter", *reference)] if reference else [])
    far = comparison_far([background for _, background, _ in pairs])
    if far.far is None:
        return Comparison(far)
    searches = [efficiency(name, background, foreground, far.far) for name, background, foreground in pairs]
    fitted = [search for search in searches if search.fit is not None]
    if not fitted:
        return Comparison(far, searches)
    samples, paired = _bootstrap(fitted, seed)
    errors = iter(samples.std(axis=0, ddof=1))
    searches = [search if search.fit is None else
                replace(search, fit=replace(search.fit, snr50_err=float(next(errors))))
                for search in searches]
    if len(fitted) < 2:
        return Comparison(far, searches)
    ratio = searches[0].fit.snr50 / searches[1].fit.snr50
    return Comparison(far, searches, ratio, float(np.std(samples[:, 0] / samples[:, 1], ddof=1)), paired)

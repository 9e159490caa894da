"""Sensitive volume against false-alarm rate by importance-weighting the test injections (DESIGN §6, issue 11).

Every draw of the injection campaign counts, accepted (the foreground rows) and rejected (below the SNR threshold,
never found). For a target population p_T and the source prior p_S the draws came from, the weight of draw i is
w_i = p_T(θ_i) / p_S(θ_i), and at a detection-statistic threshold

    SV = V0 · Σ_found w_i / Σ_all w_i,

V0 being the astrophysical volume the source prior spreads its draws over. A target population (``Population``) is
log-normal in each source-frame component mass (median ``mass_1``, ``mass_2``, σ = 0.1 in ln m, restricted to
m1 ≥ m2 as the files store them), every other parameter distributed as in the source prior (aframe's
``priors.log_normal_masses``). Only the mass densities differ, so only they enter the weights; a prior sampling
detector-frame masses gets the Jacobian (1 + z)^-2 of m_det = (1 + z) m_src. Constant factors (the truncation's
normalisation) cancel in the ratio.

V0 (``astrophysical_volume``) is the integral of the prior's own unnormalised redshift density over its range,
times the sky fraction of its declination and right-ascension ranges: ∫ dVc/dz dz for ``RedshiftVolume`` (uniform
in comoving volume, what ``end_o3_ratesandpops`` draws, so that SV is the comoving volume without the 1/(1 + z)
time-dilation factor) and ∫ dVc/dz / (1 + z) dz for ``RedshiftVolume(source_frame=True)`` (uniform in comoving volume
and source-frame time, so SV includes it). aframe multiplies by the source-frame volume whatever the prior draws;
here V0 always matches the density the draws came from, so SV·T is the VT of the prior's own convention. A prior
whose distance density is not volumetric (``bbh``: uniform in luminosity distance) defines no V0 and is refused.

Statistical error (``sensitive_volume``): the delta-method variance of the self-normalised importance-sampling
ratio (Owen, *Monte Carlo theory, methods and examples*, 2013, §9.2; the same formula as aframe's
``projects/plots/plots/core/compute.py``): with normalised weights w̃ = w / Σw and μ = Σ_found w̃,
σ² = V0² [Σ_found w̃² (1 − 2μ) + μ² Σ_all w̃²] = V0² Σ_i w̃_i² (1_found,i − μ)². For uniform weights it is the
binomial V0² μ (1 − μ) / N. Distance: d = (3 SV / 4π)^(1/3), σ_d = d σ_SV / (3 SV) (first order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from executables.common.errors import PermanentError
from executables.sources.priors import Cosine, Params, Prior, RedshiftVolume, Uniform

#: Below this share of a population inside the source prior's support its SV is underestimated: warn.
SUPPORT_WARNING = 0.99
#: Width of every target population's log-normal mass distributions (σ of ln m), as aframe and GWTC-3 use.
SIGMA = 0.1
#: Mpc³ in a Gpc³.
MPC3_PER_GPC3 = 1e9
#: The sampled mass coordinates of a prior, by its frame.
MASS_KEYS = {"source": ("mass_1_source", "mass_2_source"), "detector": ("mass_1", "mass_2")}
#: The distance coordinates a prior may sample.
DISTANCE_KEYS = ("redshift", "luminosity_distance")


@dataclass(frozen=True)
class Population:
    """A target population: source-frame masses log-normal around (``mass_1``, ``mass_2``) Msun with m1 ≥ m2.

    A prior component (``keys``, ``sample``, ``log_prob``) over ``mass_1_source``, ``mass_2_source``: the density is
    LN(m1) LN(m2) restricted to m1 ≥ m2 and renormalised (the constant of the restriction is included, so it is
    exact; the weights do not need it).
    """

    mass_1: float
    mass_2: float
    sigma: float = SIGMA

    def __post_init__(self) -> None:
        if not (self.mass_1 > 0 and self.mass_2 > 0 and self.sigma > 0):
            raise ValueError(f"population masses and sigma must be positive, got {self}")

    @property
    def key(self) -> str:
        """Its group name in ``sensitive_volume.h5``: ``35-20``."""
        return f"{self.mass_1:g}-{self.mass_2:g}"

    @property
    def keys(self) -> tuple[str, ...]:
        return MASS_KEYS["source"]

    def _marginals(self) -> tuple[stats.rv_continuous, stats.rv_continuous]:
        return (stats.lognorm(self.sigma, scale=self.mass_1), stats.lognorm(self.sigma, scale=self.mass_2))

    def _log_ordered(self) -> float:
        """log P(m1 >= m2) for independent draws: ln m1 - ln m2 is normal (mean ln(M1/M2), sd σ√2)."""
        return float(stats.norm.logcdf(math.log(self.mass_1 / self.mass_2) / (self.sigma * math.sqrt(2.0))))

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` ordered pairs by rejection from independent log-normal draws."""
        first, second = self._marginals()
        m1, m2 = np.empty(0), np.empty(0)
        while m1.size < n:
            a, b = first.rvs(2 * n, random_state=rng), second.rvs(2 * n, random_state=rng)
            keep = a >= b
            m1, m2 = np.append(m1, a[keep]), np.append(m2, b[keep])
        return {self.keys[0]: m1[:n], self.keys[1]: m2[:n]}

    def log_prob(self, params: Params) -> np.ndarray:
        m1 = np.asarray(params[self.keys[0]], dtype=np.float64)
        m2 = np.asarray(params[self.keys[1]], dtype=np.float64)
        first, second = self._marginals()
        with np.errstate(divide="ignore"):
            values = first.logpdf(m1) + second.logpdf(m2) - self._log_ordered()
        return np.where(m2 <= m1, values, -np.inf)


def parse_population(text: str) -> Population:
    """``35:20`` -> Population(35, 20); a pair out of order or not positive is a ``ValueError``."""
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise ValueError(f"expected m1:m2, got {text!r}")
    m1, m2 = (float(part) for part in parts)
    if not (math.isfinite(m1) and math.isfinite(m2) and m1 > 0 and m2 > 0):
        raise ValueError(f"masses must be finite and positive, got {text!r}")
    if m2 > m1:
        raise ValueError(f"m1 must be >= m2 (the files store mass_1 >= mass_2), got {text!r}")
    return Population(m1, m2)


def target_prior(source: Prior, population: Population) -> Prior:
    """The target as a full prior: ``population``'s masses and every other component of ``source``."""
    masses = set(MASS_KEYS["source"]) | set(MASS_KEYS["detector"])
    others = [component for component in source.components if not masses & set(component.keys)]
    return Prior(f"{source.name}@{population.key}", [population, *others], frame="source",
                 cosmology_name=source.cosmology.name)


def log_weights(source: Prior, population: Population, params: Params) -> np.ndarray:
    """log w = log p_T - log p_S of each draw (only the mass densities differ; see the module doc).

    Draws outside the source prior's mass support get ``+inf`` (the caller refuses them: they were not drawn
    from ``source``).
    """
    complete = source.complete(params)
    log_source = source.log_prob(complete, keys=MASS_KEYS[source.frame])
    log_target = population.log_prob(complete)
    if source.frame == "detector":
        log_target = log_target - 2.0 * np.log1p(complete["redshift"])
    with np.errstate(invalid="ignore"):
        return np.where(np.isneginf(log_source), np.inf, log_target - log_source)


@dataclass
class WeightSums:
    """log Σw and log Σw² per population, accumulated over chunks of draws (no overflow whatever the scale)."""

    log_sum: np.ndarray
    log_sum_sq: np.ndarray

    @classmethod
    def empty(cls, populations: int) -> WeightSums:
        return cls(np.full(populations, -np.inf), np.full(populations, -np.inf))

    def add(self, log_w: np.ndarray) -> None:
        """Add draws' log weights, (populations, draws)."""
        log_w = np.atleast_2d(log_w)
        if log_w.shape[-1] == 0:
            return
        self.log_sum = np.logaddexp(self.log_sum, special.logsumexp(log_w, axis=-1))
        self.log_sum_sq = np.logaddexp(self.log_sum_sq, special.logsumexp(2.0 * log_w, axis=-1))

    def normalised(self, log_w: np.ndarray) -> np.ndarray:
        """Weights of some of the draws divided by Σw of all (so they lie in [0, 1])."""
        log_w = np.atleast_2d(log_w)
        drawn = np.isfinite(self.log_sum)[:, None]
        with np.errstate(invalid="ignore"):
            return np.where(drawn, np.exp(log_w - np.where(drawn, self.log_sum[:, None], 0.0)), 0.0)

    @property
    def normalised_sq(self) -> np.ndarray:
        """Σw² / (Σw)², the ``total_sq`` that goes with ``normalised`` weights."""
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(np.exp(self.log_sum_sq - 2.0 * self.log_sum), nan=0.0)

    @property
    def effective_samples(self) -> np.ndarray:
        """Kish's effective sample size (Σw)² / Σw² of each population."""
        with np.errstate(divide="ignore"):
            return np.divide(1.0, self.normalised_sq, out=np.zeros_like(self.log_sum),
                             where=self.normalised_sq > 0)


def support_fraction(source: Prior, population: Population, rng: np.random.Generator, n: int = 20000) -> float:
    """Share of the target population inside the source prior's support (below 1, SV misses the rest)."""
    target = target_prior(source, population)
    inside = np.isfinite(source.log_prob(target.sample(n, rng), keys=MASS_KEYS[source.frame]))
    return float(np.mean(inside))


def astrophysical_volume(prior: Prior) -> float:
    """V0 in Gpc³: the prior's unnormalised redshift density integrated over its range, times its sky fraction."""
    distance = [c for c in prior.components if set(c.keys) & set(DISTANCE_KEYS)]
    if len(distance) != 1 or not isinstance(distance[0], RedshiftVolume):
        raise PermanentError(
            f"prior {prior.name}: its distance distribution {distance[0] if distance else None!r} is not uniform in "
            "comoving volume (RedshiftVolume), so it defines no astrophysical volume; the sensitive volume needs "
            "injections drawn from a volumetric redshift prior such as end_o3_ratesandpops")
    component = distance[0]
    cosmo = component.cosmology
    time_dilation = 1.0 if component.source_frame else 0.0

    def density(z: float) -> float:
        return float(cosmo.differential_comoving_volume(z)) / (1.0 + z) ** time_dilation

    volume, _ = integrate.quad(density, component.zmin, component.zmax, epsrel=1e-10, limit=200)
    return volume * sky_fraction(prior) / MPC3_PER_GPC3


def sky_fraction(prior: Prior) -> float:
    """The fraction of the sphere the prior's ``dec`` (``Cosine``) and ``ra`` (``Uniform``) ranges cover."""
    fraction = 1.0
    for component in prior.components:
        if isinstance(component, Cosine) and component.key == "dec":
            fraction *= (math.sin(component.high) - math.sin(component.low)) / 2.0
        elif isinstance(component, Uniform) and component.key == "ra":
            fraction *= min(component.high - component.low, 2.0 * math.pi) / (2.0 * math.pi)
    return fraction


def far_counts(livetime_years: float, max_far: float, num_events: int, points: int = 200) -> np.ndarray:
    """Background counts k whose FARs k / Tb span [1 / Tb, ``max_far``]: geometric, distinct, at most ``points``."""
    largest = min(math.floor(max_far * livetime_years * (1.0 + 1e-9)), num_events)
    if largest < 1:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.rint(np.geomspace(1, largest, points)).astype(np.int64))


def sensitive_volume(statistic: np.ndarray, weights: np.ndarray, thresholds: np.ndarray, v0: float, *,
                     total: np.ndarray | None = None,
                     total_sq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SV and its standard error (Gpc³ when ``v0`` is), each (populations, thresholds).

    ``statistic`` (rows,) is the detection statistic of each draw that may be found (``-inf`` never is);
    ``weights`` (populations, rows) their importance weights, of any common scale. ``total`` and ``total_sq``
    (populations,) are Σw and Σw² over *all* draws, found or not, on the same scale: by default the sums over
    ``weights`` (every draw given). A draw is found at a threshold when its statistic is at or above it.
    """
    statistic = np.asarray(statistic, dtype=np.float64)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if weights.shape[-1] != statistic.shape[0]:
        raise ValueError(f"weights have {weights.shape[-1]} draws, statistic {statistic.shape[0]}")
    total = weights.sum(axis=-1) if total is None else np.asarray(total, dtype=np.float64)
    total_sq = (weights**2).sum(axis=-1) if total_sq is None else np.asarray(total_sq, dtype=np.float64)
    positive = total > 0
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=positive)[:, None]
    order = np.argsort(statistic, kind="stable")
    ascending = statistic[order]
    ordered = weights[:, order] * scale
    # louder[:, j]: sum over the sorted rows from j on, i.e. every row at or above ascending[j]
    louder = np.zeros((weights.shape[0], statistic.shape[0] + 1))
    louder_sq = np.zeros_like(louder)
    louder[:, :-1] = np.cumsum(ordered[:, ::-1], axis=-1)[:, ::-1]
    louder_sq[:, :-1] = np.cumsum(ordered[:, ::-1] ** 2, axis=-1)[:, ::-1]
    first = np.searchsorted(ascending, np.asarray(thresholds, dtype=np.float64), side="left")
    mu = louder[:, first]
    all_sq = (total_sq * scale[:, 0] ** 2)[:, None]
    variance = (1.0 - 2.0 * mu) * louder_sq[:, first] + mu**2 * all_sq
    return v0 * mu, v0 * np.sqrt(np.maximum(variance, 0.0))


def distance(sv: np.ndarray, sv_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitive distance and its error in Mpc from SV and its error in Gpc³: d = (3 SV / 4π)^(1/3)."""
    sv = np.asarray(sv, dtype=np.float64)
    d = np.cbrt(3.0 * sv * MPC3_PER_GPC3 / (4.0 * math.pi))
    err = np.divide(d * np.asarray(sv_err, dtype=np.float64), 3.0 * sv, out=np.zeros_like(d), where=sv > 0)
    return d, err

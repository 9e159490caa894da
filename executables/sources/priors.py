"""Source priors for the waveform and injection nodes, selectable by name (DESIGN §12: objects with sample/log_prob).

A prior is a product of independent *components*, each over one or more sampled coordinates, plus the conversions
that every node needs (source <-> detector frame masses, redshift <-> luminosity distance). ``Prior.sample(n, rng)``
returns one float64 array per key of ``PARAMETERS`` whatever the prior, so every ledger file has the same columns;
``Prior.log_prob(params)`` is the joint log density over the prior's *sampled* coordinates (``Prior.coordinates``),
which is what the sensitive volume's importance weights need. Keys, units and conventions (bilby's, as aframe stores
them; lalsimulation's Cartesian spins are derived from them in ``signals.lal_parameters``):

- ``mass_1``, ``mass_2``: component masses in the detector frame, Msun, ``mass_1 >= mass_2``;
- ``mass_1_source``, ``mass_2_source``: the same in the source frame, Msun (``mass_i / (1 + redshift)``);
- ``redshift``: cosmological redshift; ``luminosity_distance``: Mpc (Planck15, as aframe);
- ``a_1``, ``a_2``: dimensionless spin magnitudes in [0, 1);
- ``tilt_1``, ``tilt_2``: angles between each spin and the orbital angular momentum L, rad in [0, pi];
- ``phi_12``: azimuth between the two spins; ``phi_jl``: azimuth of L around the total angular momentum J, rad in
  [0, 2 pi);
- ``theta_jn``: angle between J and the line of sight, rad in [0, pi] (the inclination when spins are aligned);
- ``phase``: orbital phase at the reference frequency, rad in [0, 2 pi);
- ``ra``, ``dec``: right ascension in [0, 2 pi) and declination in [-pi/2, pi/2], rad;
- ``psi``: polarization angle, rad in [0, pi).

Spins and orientation are defined at the waveform's reference frequency. Densities are with respect to the sampled
coordinates: source-frame masses and redshift for ``end_o3_ratesandpops``, detector-frame masses and luminosity
distance for ``bbh``. A fixed parameter (e.g. the zero spins of ``bbh``) contributes 0 to the log density at its
value and -inf elsewhere.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from executables.common.errors import PermanentError

Params = Mapping[str, np.ndarray]

PARAMETERS = (
    "mass_1", "mass_2", "mass_1_source", "mass_2_source", "redshift", "luminosity_distance",
    "a_1", "a_2", "tilt_1", "tilt_2", "phi_12", "phi_jl", "theta_jn", "phase", "ra", "dec", "psi",
)
"""The keys of every prior sample, in the order the ledger files store them."""

TWO_PI = 2.0 * math.pi


class UnknownPrior(PermanentError, KeyError):
    """``get_prior`` was asked for a name it does not know (exit 2: a config error no retry can fix)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


# --------------------------------------------------------------------------------------------------- cosmology


class Cosmology:
    """Flat-universe distances and volumes of an astropy cosmology (default Planck15, as aframe), tabulated once.

    The comoving distance is integrated from astropy's own ``inv_efunc`` (so radiation and massive neutrinos are
    included exactly as astropy does) with Simpson's rule on a fine redshift grid up to ``zmax``; lookups interpolate
    that table (cubic Hermite, with the exact derivative). Agrees with astropy to ~1e-12 relative for z in (0, zmax].
    """

    def __init__(self, name: str = "Planck15", zmax: float = 10.0, points: int = 20001) -> None:
        from astropy import cosmology as astropy_cosmology
        from scipy.integrate import cumulative_simpson

        model = getattr(astropy_cosmology, name)
        if float(model.Ok0) != 0.0:
            raise ValueError(f"cosmology {name} is not flat; only flat cosmologies are supported")
        self.name = name
        self.zmax = float(zmax)
        self._inv_efunc = model.inv_efunc
        self.hubble_distance = float(model.hubble_distance.to_value("Mpc"))
        self._z = np.linspace(0.0, self.zmax, points)
        integral = cumulative_simpson(np.asarray(self._inv_efunc(self._z), dtype=np.float64), x=self._z, initial=0.0)
        self._dc = self.hubble_distance * integral
        self._dl = (1.0 + self._z) * self._dc

    def _check(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if np.any(z > self.zmax) or np.any(z < 0):
            raise ValueError(f"redshift outside this cosmology table's [0, {self.zmax:g}]: "
                             f"{np.min(z):g}..{np.max(z):g}")
        return z

    def comoving_distance(self, z) -> np.ndarray:
        """Line-of-sight comoving distance, Mpc (cubic Hermite interpolation with the exact derivative)."""
        z = self._check(z)
        step = self._z[1] - self._z[0]
        index = np.clip(np.floor(z / step).astype(np.int64), 0, len(self._z) - 2)
        t = z / step - index
        slope = self.hubble_distance * np.asarray(self._inv_efunc(self._z[index]), dtype=np.float64)
        slope_next = self.hubble_distance * np.asarray(self._inv_efunc(self._z[index + 1]), dtype=np.float64)
        h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
        return h00 * self._dc[index] + h10 * step * slope + h01 * self._dc[index + 1] + h11 * step * slope_next

    def luminosity_distance(self, z) -> np.ndarray:
        """Luminosity distance, Mpc."""
        z = self._check(z)
        return (1.0 + z) * self.comoving_distance(z)

    def redshift(self, luminosity_distance) -> np.ndarray:
        """Redshift at a luminosity distance in Mpc (the inverse of ``luminosity_distance``, to ~1e-12)."""
        dl = np.asarray(luminosity_distance, dtype=np.float64)
        if np.any(dl > self._dl[-1]) or np.any(dl < 0):
            raise ValueError(f"luminosity distance {np.max(dl):g} Mpc is outside [0, D_L(z={self.zmax:g})]")
        z = np.interp(dl, self._dl, self._z)
        for _ in range(2):  # Newton steps on D_L(z) = dl, dD_L/dz = D_C + (1 + z) D_H / E(z)
            derivative = self.comoving_distance(z) + (1.0 + z) * self.hubble_distance * self._inv_efunc(z)
            z = np.clip(z - (self.luminosity_distance(z) - dl) / derivative, 0.0, self.zmax)
        return z

    def differential_comoving_volume(self, z) -> np.ndarray:
        """dVc/dz over the whole sky, Mpc^3 per unit redshift."""
        z = self._check(z)
        dc = self.comoving_distance(z)
        return 4.0 * math.pi * self.hubble_distance * dc**2 * np.asarray(self._inv_efunc(z), dtype=np.float64)

    def comoving_volume(self, z) -> np.ndarray:
        """Comoving volume inside redshift z over the whole sky, Mpc^3."""
        return 4.0 / 3.0 * math.pi * self.comoving_distance(z) ** 3


@functools.lru_cache(maxsize=4)
def cosmology(name: str = "Planck15") -> Cosmology:
    """The shared table for a named astropy cosmology (built on first use, ~10 ms)."""
    return Cosmology(name)


# -------------------------------------------------------------------------------------------------- components


def _log_where(inside: np.ndarray, values) -> np.ndarray:
    """log density: ``values`` (already logs) where ``inside``, -inf elsewhere."""
    out = np.full(inside.shape, -np.inf)
    out[inside] = np.broadcast_to(values, inside.shape)[inside]
    return out


class _OneKey:
    """A distribution of one parameter, named by its ``key`` field."""

    key: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key,)


@dataclass(frozen=True)
class Uniform(_OneKey):
    """``key`` uniform on [low, high)."""

    key: str
    low: float
    high: float


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {self.key: rng.uniform(self.low, self.high, n)}

    def log_prob(self, params: Params) -> np.ndarray:
        x = np.asarray(params[self.key], dtype=np.float64)
        return _log_where((x >= self.low) & (x <= self.high), -math.log(self.high - self.low))


@dataclass(frozen=True)
class Sine(_OneKey):
    """``key`` with density proportional to sin(x) on [low, high] within [0, pi] (isotropic polar angles)."""

    key: str
    low: float = 0.0
    high: float = math.pi


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        u = rng.uniform(0.0, 1.0, n)
        c_low, c_high = math.cos(self.low), math.cos(self.high)
        return {self.key: np.arccos(c_low - u * (c_low - c_high))}

    def log_prob(self, params: Params) -> np.ndarray:
        x = np.asarray(params[self.key], dtype=np.float64)
        inside = (x >= self.low) & (x <= self.high)
        norm = math.cos(self.low) - math.cos(self.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _log_where(inside, np.log(np.sin(x)) - math.log(norm))


@dataclass(frozen=True)
class Cosine(_OneKey):
    """``key`` with density proportional to cos(x) on [low, high] within [-pi/2, pi/2] (isotropic declination)."""

    key: str
    low: float = -math.pi / 2
    high: float = math.pi / 2


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        u = rng.uniform(0.0, 1.0, n)
        s_low, s_high = math.sin(self.low), math.sin(self.high)
        return {self.key: np.arcsin(np.clip(s_low + u * (s_high - s_low), -1.0, 1.0))}

    def log_prob(self, params: Params) -> np.ndarray:
        x = np.asarray(params[self.key], dtype=np.float64)
        inside = (x >= self.low) & (x <= self.high)
        norm = math.sin(self.high) - math.sin(self.low)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _log_where(inside, np.log(np.cos(x)) - math.log(norm))


def _power_law_sample(u: np.ndarray, alpha: float, low, high) -> np.ndarray:
    """Inverse CDF of p(x) ~ x**alpha on [low, high] (arrays broadcast)."""
    if alpha == -1.0:
        return low * np.exp(u * np.log(high / low))
    k = alpha + 1.0
    return (low**k + u * (high**k - low**k)) ** (1.0 / k)


def _power_law_log_norm(alpha: float, low, high):
    """log of the integral of x**alpha over [low, high]."""
    if alpha == -1.0:
        return np.log(np.log(high / low))
    k = alpha + 1.0
    return np.log((high**k - low**k) / k)


@dataclass(frozen=True)
class PowerLaw(_OneKey):
    """``key`` with density proportional to x**alpha on [low, high] (0 < low < high)."""

    key: str
    alpha: float
    low: float
    high: float


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {self.key: _power_law_sample(rng.uniform(0.0, 1.0, n), self.alpha, self.low, self.high)}

    def log_prob(self, params: Params) -> np.ndarray:
        x = np.asarray(params[self.key], dtype=np.float64)
        inside = (x >= self.low) & (x <= self.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = self.alpha * np.log(x) - _power_law_log_norm(self.alpha, self.low, self.high)
        return _log_where(inside, values)


class _MassPair:
    """A joint distribution of two masses, named by its ``primary`` and ``secondary`` fields."""

    primary: str
    secondary: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.primary, self.secondary)


@dataclass(frozen=True)
class MassPowerLaws(_MassPair):
    """The O3 rates & populations mass pair, as aframe simplifies it (bilby PowerLaw + ConditionalPowerLaw).

    primary ~ m**alpha on [low, high]; secondary | primary ~ m**beta on [low, primary].
    """

    primary: str
    secondary: str
    alpha: float
    beta: float
    low: float
    high: float


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        m1 = _power_law_sample(rng.uniform(0.0, 1.0, n), self.alpha, self.low, self.high)
        m2 = _power_law_sample(rng.uniform(0.0, 1.0, n), self.beta, self.low, m1)
        return {self.primary: m1, self.secondary: np.minimum(m2, m1)}

    def log_prob(self, params: Params) -> np.ndarray:
        m1 = np.asarray(params[self.primary], dtype=np.float64)
        m2 = np.asarray(params[self.secondary], dtype=np.float64)
        inside = (m2 >= self.low) & (m2 <= m1) & (m1 <= self.high) & (m1 > self.low)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p1 = self.alpha * np.log(m1) - _power_law_log_norm(self.alpha, self.low, self.high)
            log_p2 = self.beta * np.log(m2) - _power_law_log_norm(self.beta, self.low, m1)
        return _log_where(inside, log_p1 + log_p2)


@dataclass(frozen=True)
class OrderedUniformPair(_MassPair):
    """Two masses uniform on [low, high], ordered so that ``primary >= secondary`` (density 2 / (high - low)^2)."""

    primary: str
    secondary: str
    low: float
    high: float


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        pair = rng.uniform(self.low, self.high, (2, n))
        return {self.primary: pair.max(axis=0), self.secondary: pair.min(axis=0)}

    def log_prob(self, params: Params) -> np.ndarray:
        m1 = np.asarray(params[self.primary], dtype=np.float64)
        m2 = np.asarray(params[self.secondary], dtype=np.float64)
        inside = (m2 >= self.low) & (m2 <= m1) & (m1 <= self.high)
        return _log_where(inside, math.log(2.0) - 2.0 * math.log(self.high - self.low))


class RedshiftVolume(_OneKey):
    """Redshift on [zmin, zmax] uniform in comoving volume (p ~ dVc/dz; bilby's ``UniformComovingVolume``), or,
    with ``source_frame``, uniform in comoving volume and source-frame time (p ~ dVc/dz / (1 + z);
    bilby's ``UniformSourceFrame``).

    Samples by inverting the CDF tabulated on a fine grid; the density is evaluated exactly (to the cosmology
    table's accuracy) and normalised by the same Simpson integral.
    """

    def __init__(self, key: str, zmin: float, zmax: float, source_frame: bool = False,
                 cosmology_name: str = "Planck15", points: int = 20001) -> None:
        from scipy.integrate import cumulative_simpson

        self.key, self.zmin, self.zmax, self.source_frame = key, float(zmin), float(zmax), bool(source_frame)
        self.cosmology = cosmology(cosmology_name)
        grid = np.linspace(self.zmin, self.zmax, points)
        cdf = cumulative_simpson(self._unnormalised(grid), x=grid, initial=0.0)
        self._norm = float(cdf[-1])
        self._grid, self._cdf = grid, cdf / cdf[-1]

    def __repr__(self) -> str:
        frame = ", source_frame=True" if self.source_frame else ""
        return f"RedshiftVolume({self.key!r}, {self.zmin:g}, {self.zmax:g}{frame}, {self.cosmology.name})"


    def _unnormalised(self, z: np.ndarray) -> np.ndarray:
        density = self.cosmology.differential_comoving_volume(z)
        return density / (1.0 + z) if self.source_frame else density

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {self.key: np.interp(rng.uniform(0.0, 1.0, n), self._cdf, self._grid)}

    def log_prob(self, params: Params) -> np.ndarray:
        z = np.asarray(params[self.key], dtype=np.float64)
        inside = (z >= self.zmin) & (z <= self.zmax)
        density = np.zeros(z.shape)
        density[inside] = self._unnormalised(z[inside]) / self._norm
        with np.errstate(divide="ignore"):
            return _log_where(inside, np.log(density))


@dataclass(frozen=True)
class Fixed(_OneKey):
    """``key`` always ``value`` (a delta: contributes 0 to the log density at the value, -inf elsewhere)."""

    key: str
    value: float


    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {self.key: np.full(n, float(self.value))}

    def log_prob(self, params: Params) -> np.ndarray:
        x = np.asarray(params[self.key], dtype=np.float64)
        return _log_where(x == self.value, 0.0)


# ------------------------------------------------------------------------------------------------------ priors


class Prior:
    """A named product of independent components plus the frame/distance conversions.

    ``frame`` says which masses the components sample: ``"source"`` (``mass_1_source``, ``mass_2_source``; detector
    masses are derived with the redshift) or ``"detector"`` (``mass_1``, ``mass_2``). The distance component samples
    ``redshift`` or ``luminosity_distance``; the other is derived with the cosmology.
    """

    def __init__(self, name: str, components: Iterable, frame: str, description: str = "",
                 cosmology_name: str = "Planck15") -> None:
        if frame not in ("source", "detector"):
            raise ValueError(f"frame must be 'source' or 'detector', got {frame!r}")
        self.name, self.frame, self.description = name, frame, description
        self.components = tuple(components)
        self.cosmology = cosmology(cosmology_name)
        keys = [key for component in self.components for key in component.keys]
        if len(set(keys)) != len(keys):
            raise ValueError(f"prior {name}: a coordinate is sampled twice: {keys}")
        self.coordinates: tuple[str, ...] = tuple(keys)
        derived = {"mass_1", "mass_2", "mass_1_source", "mass_2_source", "redshift", "luminosity_distance"}
        missing = set(PARAMETERS) - derived - set(keys)
        masses = ("mass_1_source", "mass_2_source") if frame == "source" else ("mass_1", "mass_2")
        if missing or not set(masses) <= set(keys) or not {"redshift", "luminosity_distance"} & set(keys):
            raise ValueError(f"prior {name}: components do not define {sorted(missing) or 'masses/distance'}")

    def __repr__(self) -> str:
        return f"Prior({self.name!r}, frame={self.frame!r}, components={list(self.components)!r})"

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` draws: a float64 array of shape (n,) for every key of ``PARAMETERS``.

        Components draw from ``rng`` in their declared order, so the same generator state gives the same samples.
        """
        if n < 0:
            raise ValueError(f"cannot draw {n} samples")
        drawn: dict[str, np.ndarray] = {}
        for component in self.components:
            drawn.update(component.sample(n, rng))
        return self.complete(drawn)

    def complete(self, params: Params) -> dict[str, np.ndarray]:
        """``params`` with the derived keys filled in (frame masses, redshift <-> luminosity distance)."""
        out = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
        if "redshift" not in out and "luminosity_distance" in out:
            out["redshift"] = self.cosmology.redshift(out["luminosity_distance"])
        if "luminosity_distance" not in out and "redshift" in out:
            out["luminosity_distance"] = self.cosmology.luminosity_distance(out["redshift"])
        if "redshift" in out:
            scale = 1.0 + out["redshift"]
            for index in ("1", "2"):
                detector, source = f"mass_{index}", f"mass_{index}_source"
                if detector not in out and source in out:
                    out[detector] = out[source] * scale
                elif source not in out and detector in out:
                    out[source] = out[detector] / scale
        ordered = {key: out[key] for key in PARAMETERS if key in out}
        ordered.update({key: value for key, value in out.items() if key not in ordered})
        return ordered

    def log_prob(self, params: Params, keys: Iterable[str] | None = None) -> np.ndarray:
        """Joint log density of ``params`` over ``coordinates`` (-inf outside the support), float64 of shape (n,).

        Missing derivable coordinates are derived first (e.g. source masses from detector masses and redshift).
        With ``keys``, only the components whose coordinates all lie in ``keys`` are summed: the log density of
        that marginal (e.g. ``keys=("mass_1_source", "mass_2_source")`` for mass-population weights); a component
        that ``keys`` cuts in two is an error.
        """
        complete = self.complete(params)
        selected = self.components
        if keys is not None:
            wanted = set(keys)
            split = [c.keys for c in self.components if wanted & set(c.keys) and not set(c.keys) <= wanted]
            if split:
                raise ValueError(f"prior {self.name}: keys {sorted(wanted)} split the joint coordinates {split}")
            selected = tuple(c for c in self.components if set(c.keys) <= wanted)
            if not selected:
                raise ValueError(f"prior {self.name}: none of {sorted(wanted)} is a sampled coordinate "
                                 f"(sampled: {', '.join(self.coordinates)})")
        total = None
        for component in selected:
            term = component.log_prob(complete)
            total = term if total is None else total + term
        return np.asarray(total, dtype=np.float64)


def _extrinsic() -> list:
    """Isotropic sky and orientation (aframe's ``uniform_extrinsic`` plus the polarization angle)."""
    return [
        Cosine("dec"),
        Uniform("ra", 0.0, TWO_PI),
        Sine("theta_jn"),
        Uniform("phase", 0.0, TWO_PI),
        Uniform("psi", 0.0, math.pi),
    ]


def _precessing_spins(maximum: float = 0.998) -> list:
    """Isotropic spins with uniform magnitudes (aframe's ``uniform_spin``)."""
    return [
        Uniform("a_1", 0.0, maximum),
        Uniform("a_2", 0.0, maximum),
        Sine("tilt_1"),
        Sine("tilt_2"),
        Uniform("phi_12", 0.0, TWO_PI),
        Uniform("phi_jl", 0.0, TWO_PI),
    ]


def end_o3_ratesandpops() -> Prior:
    """aframe's BBH prior (``priors.priors.end_o3_ratesandpops``), the distributions of the LVK rates & populations
    group's end-of-O3 pipeline injections as aframe simplifies them.

    Source-frame masses: m1 ~ m^-2.35 on [5, 100] Msun, m2 | m1 ~ m^1 on [5, m1]; redshift uniform in comoving
    volume on [0, 2] (Planck15); isotropic precessing spins with magnitudes uniform on [0, 0.998]; isotropic sky and
    orientation, psi uniform on [0, pi), phase uniform on [0, 2 pi).

    The redshift density is p(z) ~ dVc/dz (bilby's ``UniformComovingVolume``, what aframe samples), without the
    1 / (1 + z) of source-frame time; aframe's sensitive volume nevertheless normalises by the source-frame volume
    (the integral of dVc/dz / (1 + z)). ``RedshiftVolume(..., source_frame=True)`` is the self-consistent choice.
    """
    components = [
        MassPowerLaws("mass_1_source", "mass_2_source", alpha=-2.35, beta=1.0, low=5.0, high=100.0),
        RedshiftVolume("redshift", 0.0, 2.0),
        *_precessing_spins(),
        *_extrinsic(),
    ]
    return Prior("end_o3_ratesandpops", components, frame="source", description=end_o3_ratesandpops.__doc__ or "")


def bbh() -> Prior:
    """A small fixed-range prior for tests and demos: short, loud, non-spinning signals.

    Detector-frame masses uniform on [20, 40] Msun (ordered, m1 >= m2); luminosity distance uniform on [100, 1000]
    Mpc; zero spins; isotropic sky and orientation, psi uniform on [0, pi), phase uniform on [0, 2 pi).
    """
    components = [
        OrderedUniformPair("mass_1", "mass_2", 20.0, 40.0),
        Uniform("luminosity_distance", 100.0, 1000.0),
        *(Fixed(key, 0.0) for key in ("a_1", "a_2", "tilt_1", "tilt_2", "phi_12", "phi_jl")),
        *_extrinsic(),
    ]
    return Prior("bbh", components, frame="detector", description=bbh.__doc__ or "")


def compact_bbh() -> Prior:
    """A volume-defined BBH population for demos and the end-to-end tests: what a network trained for a minute sees.

    As ``end_o3_ratesandpops`` (isotropic precessing spins, sky and orientation; redshift uniform in comoving volume)
    but source-frame masses m1 ~ m^-2.35 on [15, 60] Msun, m2 | m1 ~ m^1 on [15, m1], and z on [0, 1]: every signal
    merges inside the 1.5 s kernel (no long low-mass inspirals that a minute of CPU training cannot learn), and the
    demo's sensitive-volume mass pairs (35+35, 35+20, 20+20) lie where the draws are, so few injections weight them
    well (20+10 does not: m2 >= 15 Msun here).
    """
    components = [
        MassPowerLaws("mass_1_source", "mass_2_source", alpha=-2.35, beta=1.0, low=15.0, high=60.0),
        RedshiftVolume("redshift", 0.0, 1.0),
        *_precessing_spins(),
        *_extrinsic(),
    ]
    return Prior("compact_bbh", components, frame="source", description=compact_bbh.__doc__ or "")


_REGISTRY: dict[str, Callable[[], Prior]] = {
    "end_o3_ratesandpops": end_o3_ratesandpops,
    "bbh": bbh,
    "compact_bbh": compact_bbh,
}


def prior_names() -> list[str]:
    """The names ``get_prior`` accepts (``[waveforms] prior`` / ``[testing] prior`` in run.ini)."""
    return sorted(_REGISTRY)


def get_prior(name: str) -> Prior:
    """A fresh instance of the prior called ``name``; an unknown name raises ``UnknownPrior`` (a ``KeyError``)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownPrior(f"unknown prior {name!r}; known priors: {', '.join(prior_names())}") from None
    return factory()

"""Priors (issue 6): named, seeded, bounded samples whose log_prob is the normalised density they are drawn from."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from executables.common.errors import PermanentError
from executables.sources.priors import (
    PARAMETERS,
    Cosine,
    Fixed,
    MassPowerLaws,
    OrderedUniformPair,
    PowerLaw,
    Prior,
    RedshiftVolume,
    Sine,
    Uniform,
    cosmology,
    get_prior,
    prior_names,
)

NAMES = ["end_o3_ratesandpops", "bbh", "compact_bbh"]


def rng(seed=0):
    return np.random.Generator(np.random.PCG64(seed))


@pytest.fixture(scope="module", params=NAMES)
def prior(request) -> Prior:
    return get_prior(request.param)


def one_dimensional(prior):
    return [c for c in prior.components if len(c.keys) == 1 and not isinstance(c, Fixed)]


def support(component):
    if isinstance(component, RedshiftVolume):
        return component.zmin, component.zmax
    return component.low, component.high


def test_registry_names_the_priors_and_rejects_unknown_names():
    assert set(NAMES) <= set(prior_names())
    with pytest.raises(KeyError) as caught:
        get_prior("end_o4")
    message = str(caught.value)
    assert "end_o4" in message and all(name in message for name in NAMES)
    assert isinstance(caught.value, PermanentError)  # the node exits 2


def test_samples_have_every_parameter_within_bounds(prior):
    n = 2000
    s = prior.sample(n, rng(1))
    assert tuple(s) == PARAMETERS
    assert all(v.shape == (n,) and v.dtype == np.float64 for v in s.values())
    assert np.all(s["mass_1"] >= s["mass_2"]) and np.all(s["mass_2"] > 0)
    np.testing.assert_allclose(s["mass_1"], s["mass_1_source"] * (1 + s["redshift"]), rtol=1e-12)
    np.testing.assert_allclose(s["mass_2"], s["mass_2_source"] * (1 + s["redshift"]), rtol=1e-12)
    np.testing.assert_allclose(s["luminosity_distance"], cosmology().luminosity_distance(s["redshift"]), rtol=1e-9)
    for key in ("a_1", "a_2"):
        assert np.all((s[key] >= 0) & (s[key] < 1))
    for key in ("tilt_1", "tilt_2", "theta_jn"):
        assert np.all((s[key] >= 0) & (s[key] <= math.pi))
    for key in ("phi_12", "phi_jl", "phase", "ra"):
        assert np.all((s[key] >= 0) & (s[key] < 2 * math.pi))
    assert np.all(np.abs(s["dec"]) <= math.pi / 2) and np.all((s["psi"] >= 0) & (s["psi"] < math.pi))
    assert np.all(np.isfinite(prior.log_prob(s)))


def test_end_o3_ranges_follow_aframe():
    s = get_prior("end_o3_ratesandpops").sample(20000, rng(2))
    assert 5 <= s["mass_2_source"].min() and s["mass_1_source"].max() <= 100
    assert 0 <= s["redshift"].min() and s["redshift"].max() <= 2
    assert s["a_1"].max() <= 0.998 and s["a_1"].max() > 0.99  # precessing spins, magnitudes up to 0.998
    assert s["tilt_1"].std() > 0.5


def test_same_seed_same_samples_other_seed_others(prior):
    first, again, other = prior.sample(64, rng(7)), prior.sample(64, rng(7)), prior.sample(64, rng(8))
    assert all(np.array_equal(first[k], again[k]) for k in PARAMETERS)
    assert not np.array_equal(first["ra"], other["ra"])


def test_log_prob_is_minus_infinity_outside_the_support(prior):
    s = prior.sample(4, rng(3))
    swapped = dict(s, mass_1=s["mass_2"] * 0.5, mass_1_source=s["mass_2_source"] * 0.5)
    assert np.all(prior.log_prob(swapped) == -np.inf)
    assert np.all(prior.log_prob(dict(s, dec=s["dec"] + math.pi)) == -np.inf)
    assert np.all(prior.log_prob(dict(s, psi=s["psi"] - math.pi - 1e-3)) == -np.inf)


def test_one_dimensional_components_integrate_to_one(prior):
    for component in one_dimensional(prior):
        low, high = support(component)
        total, _ = integrate.quad(lambda x, c=component: float(np.exp(c.log_prob({c.key: np.array([x])}))[0]),
                                  low, high, limit=200)
        assert total == pytest.approx(1.0, rel=1e-6), component


@pytest.mark.parametrize("component", [
    MassPowerLaws("m1", "m2", alpha=-2.35, beta=1.0, low=5.0, high=100.0),
    OrderedUniformPair("m1", "m2", 20.0, 40.0),
])
def test_mass_pairs_integrate_to_one(component):
    def density(m2, m1):
        return float(np.exp(component.log_prob({"m1": np.array([m1]), "m2": np.array([m2])}))[0])

    total, _ = integrate.dblquad(density, component.low, component.high, component.low, lambda m1: m1,
                                 epsabs=1e-10, epsrel=1e-8)
    assert total == pytest.approx(1.0, rel=1e-6)
    # and the Monte Carlo estimate against a uniform proposal on the bounding square
    u = rng(4).uniform(component.low, component.high, (2, 400_000))
    weights = np.exp(component.log_prob({"m1": u[0], "m2": u[1]})) * (component.high - component.low) ** 2
    assert weights.mean() == pytest.approx(1.0, abs=5 * weights.std() / math.sqrt(u.shape[1]))


def test_joint_density_integrates_to_one_by_importance_sampling():
    """E_q[p/q] = 1 with q = the end_o3 prior's own components except the masses and redshift drawn uniformly."""
    prior = get_prior("end_o3_ratesandpops")
    n, generator = 200_000, rng(5)
    params = prior.sample(n, generator)
    params["mass_1_source"] = generator.uniform(5, 100, n)
    params["mass_2_source"] = generator.uniform(5, 100, n)
    params["redshift"] = generator.uniform(0, 2, n)
    for key in ("mass_1", "mass_2", "luminosity_distance"):
        del params[key]
    log_q = prior.log_prob(params, keys=[k for k in prior.coordinates
                                         if k not in ("mass_1_source", "mass_2_source", "redshift")])
    log_q -= 2 * math.log(95.0) + math.log(2.0)  # uniform masses on [5, 100]^2, uniform redshift on [0, 2]
    ratio = np.exp(prior.log_prob(params) - log_q)
    assert ratio.mean() == pytest.approx(1.0, abs=5 * ratio.std() / math.sqrt(n))


def test_samples_follow_the_density_they_report(prior):
    """Each 1-d component's samples pass a KS test against the CDF integrated from its log_prob."""
    samples = prior.sample(5000, rng(6))
    for component in one_dimensional(prior):
        low, high = support(component)
        grid = np.linspace(low, high, 20001)
        pdf = np.exp(component.log_prob({component.key: grid}))
        pdf[~np.isfinite(pdf)] = 0.0
        cdf = integrate.cumulative_trapezoid(pdf, grid, initial=0.0)
        result = stats.kstest(samples[component.key], lambda x, g=grid, c=cdf: np.interp(x, g, c))
        assert result.pvalue > 1e-3, (component, result)


def test_secondary_mass_given_primary_is_a_power_law():
    component = MassPowerLaws("m1", "m2", alpha=-2.35, beta=1.0, low=5.0, high=100.0)
    s = component.sample(5000, rng(9))
    assert stats.kstest(s["m1"], lambda x: (x**-1.35 - 5**-1.35) / (100**-1.35 - 5**-1.35)).pvalue > 1e-3
    u = (s["m2"] ** 2 - 25) / (s["m1"] ** 2 - 25)  # CDF of m2 | m1 ~ m on [5, m1]
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_simple_components_have_their_closed_form_densities():
    x = np.linspace(0.01, 3.1, 7)
    np.testing.assert_allclose(np.exp(Sine("t").log_prob({"t": x})), np.sin(x) / 2, rtol=1e-12)
    np.testing.assert_allclose(np.exp(Cosine("d").log_prob({"d": x - 1.55})), np.cos(x - 1.55) / 2, rtol=1e-12)
    np.testing.assert_allclose(np.exp(Uniform("u", 0, 4).log_prob({"u": x})), stats.uniform.pdf(x, 0, 4))
    inside = np.array([1.0, 1.5, 2.9])
    expected = 3 * inside**2 / 26  # x^2 / (integral of x^2 over [1, 3])
    np.testing.assert_allclose(np.exp(PowerLaw("m", 2.0, 1.0, 3.0).log_prob({"m": inside})), expected, rtol=1e-12)


def test_redshift_prior_is_uniform_in_comoving_volume():
    component = RedshiftVolume("z", 0.0, 2.0)
    table = cosmology()
    z = np.array([0.1, 0.5, 1.0, 1.9])
    expected = table.differential_comoving_volume(z) / table.comoving_volume(2.0)
    np.testing.assert_allclose(np.exp(component.log_prob({"z": z})), expected, rtol=1e-7)
    source = RedshiftVolume("z", 0.0, 2.0, source_frame=True)
    ratio = np.exp(source.log_prob({"z": z}) - component.log_prob({"z": z}))
    np.testing.assert_allclose(ratio * (1 + z), ratio[0] * (1 + z[0]), rtol=1e-9)


def test_cosmology_matches_astropy_planck15():
    from astropy.cosmology import Planck15

    table = cosmology()
    z = np.array([1e-3, 0.05, 0.3, 1.0, 2.0, 5.0])
    np.testing.assert_allclose(table.luminosity_distance(z), Planck15.luminosity_distance(z).value, rtol=1e-10)
    np.testing.assert_allclose(table.differential_comoving_volume(z),
                               4 * math.pi * Planck15.differential_comoving_volume(z).value, rtol=1e-10)
    np.testing.assert_allclose(table.redshift(table.luminosity_distance(z)), z, rtol=1e-12)


def test_log_prob_derives_missing_coordinates_and_marginals():
    prior = get_prior("end_o3_ratesandpops")
    s = prior.sample(16, rng(10))
    detector_only = {k: v for k, v in s.items() if k not in ("mass_1_source", "mass_2_source")}
    np.testing.assert_allclose(prior.log_prob(detector_only), prior.log_prob(s), rtol=1e-12)
    masses = prior.log_prob(s, keys=["mass_1_source", "mass_2_source"])
    rest = prior.log_prob(s, keys=[k for k in prior.coordinates if k not in ("mass_1_source", "mass_2_source")])
    np.testing.assert_allclose(masses + rest, prior.log_prob(s), rtol=1e-12)
    with pytest.raises(ValueError, match="split"):
        prior.log_prob(s, keys=["mass_1_source"])


def test_bbh_samples_in_the_detector_frame():
    prior = get_prior("bbh")
    s = prior.sample(1000, rng(11))
    assert prior.frame == "detector" and {"mass_1", "luminosity_distance"} <= set(prior.coordinates)
    assert 20 <= s["mass_2"].min() and s["mass_1"].max() <= 40
    assert 100 <= s["luminosity_distance"].min() and s["luminosity_distance"].max() <= 1000
    assert not np.any(s["a_1"]) and not np.any(s["tilt_2"])


def test_compact_bbh_keeps_to_its_mass_and_redshift_ranges():
    s = get_prior("compact_bbh").sample(20000, rng(3))
    assert 15 <= s["mass_2_source"].min() and s["mass_1_source"].max() <= 60
    assert 0 <= s["redshift"].min() and s["redshift"].max() <= 1

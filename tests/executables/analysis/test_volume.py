"""Sensitive-volume maths (issue 11): weights, V0, the estimator and its error, distance, the FAR grid, GWTC-3."""

import math

import numpy as np
import pytest
from astropy.cosmology import Planck15
from scipy import integrate

from executables.analysis import gwtc3
from executables.analysis.volume import (
    Population,
    WeightSums,
    astrophysical_volume,
    distance,
    far_counts,
    log_weights,
    parse_population,
    sensitive_volume,
    support_fraction,
    target_prior,
)
from executables.common.errors import PermanentError
from executables.sources.priors import Prior, RedshiftVolume, get_prior


def rng(seed=0):
    return np.random.Generator(np.random.PCG64(seed))


def loudness(params, scale=3000.0):
    """A stand-in SNR: detector-frame chirp mass^(5/6) over distance (``scale`` 1500: SNR 8 for 35+35 at ~3.5 Gpc)."""
    m1, m2 = params["mass_1"], params["mass_2"]
    chirp = (m1 * m2) ** 0.6 / (m1 + m2) ** 0.2
    return scale * chirp ** (5 / 6) / params["luminosity_distance"]


def campaign(prior, population, n, seed):
    """Draws of ``prior``: (statistic, -inf for draws below SNR 8, as rejected ones), weights to ``population``."""
    draws = prior.sample(n, rng(seed))
    statistic = loudness(draws)
    statistic[statistic < 8] = -np.inf
    return statistic, np.exp(log_weights(prior, population, draws))


def test_population_is_a_normalised_density_over_ordered_pairs():
    population = Population(22.0, 20.0)
    # Gauss-Legendre over the triangle 10 <= m2 <= m1 <= 45 (m2 = 10 + (m1 - 10) t), where all the mass is
    nodes, weights = np.polynomial.legendre.leggauss(200)
    m1 = 27.5 + 17.5 * nodes[:, None]
    t = 0.5 + 0.5 * nodes[None, :]
    density = np.exp(population.log_prob({"mass_1_source": np.broadcast_to(m1, (200, 200)),
                                          "mass_2_source": 10 + (m1 - 10) * t}))
    total = np.sum(weights[:, None] * weights[None, :] * density * (m1 - 10) * 0.5 * 17.5)
    assert total == pytest.approx(1.0, rel=1e-6)
    drawn = population.sample(20000, rng())
    assert np.all(drawn["mass_1_source"] >= drawn["mass_2_source"])
    assert population.log_prob({"mass_1_source": np.array([20.0]), "mass_2_source": np.array([21.0])})[0] == -np.inf


@pytest.mark.parametrize("text, expected", [("35:20", (35.0, 20.0)), (" 1.5:1.5", (1.5, 1.5))])
def test_parse_population(text, expected):
    population = parse_population(text)
    assert (population.mass_1, population.mass_2, population.sigma) == (*expected, 0.1)
    assert population.key == f"{expected[0]:g}-{expected[1]:g}"


@pytest.mark.parametrize("text", ["20:35", "35", "35:0", "a:b", "35:20:1", "inf:3"])
def test_parse_population_refuses(text):
    with pytest.raises(ValueError):
        parse_population(text)


def test_injections_from_the_target_itself_give_uniform_weights_and_the_found_fraction_exactly():
    """The analytic case: drawn from the target population, every weight is 1 and SV = V0 x found / N."""
    population = Population(35.0, 20.0)
    source = target_prior(get_prior("end_o3_ratesandpops"), population)
    n = 4000
    statistic, weights = campaign(source, population, n, seed=1)
    np.testing.assert_array_equal(weights, np.ones(n))
    v0 = astrophysical_volume(source)
    thresholds = np.array([8.0, 12.0, 20.0, 40.0])
    sv, err = sensitive_volume(statistic, weights[None], thresholds, v0)
    found = np.array([(statistic >= threshold).sum() for threshold in thresholds]) / n
    assert 0 < found[-1] < found[0] < 1
    np.testing.assert_allclose(sv[0], v0 * found, rtol=1e-12)
    np.testing.assert_allclose(err[0], v0 * np.sqrt(found * (1 - found) / n), rtol=1e-9)


def test_weights_reweight_detector_frame_draws_to_the_target():
    """Importance identity for a detector-frame prior (bbh): the Jacobian (1 + z)^-2 is needed to get E_T[z]."""
    source = get_prior("bbh")
    population = Population(30.0, 25.0)
    drawn = source.sample(200000, rng(2))
    weights = np.exp(log_weights(source, population, drawn))
    target = target_prior(source, population).sample(200000, rng(3))
    inside = np.isfinite(source.log_prob(target, keys=("mass_1", "mass_2")))
    assert 0.9 < inside.mean() < 1.0
    expected = target["redshift"][inside].mean()
    estimate = np.sum(weights * drawn["redshift"]) / weights.sum()
    n_eff = weights.sum() ** 2 / np.sum(weights**2)
    tolerance = 5 * drawn["redshift"].std() / math.sqrt(n_eff) + 3e-4
    assert estimate == pytest.approx(expected, abs=tolerance)
    without_jacobian = weights * (1 + drawn["redshift"]) ** 2
    assert abs(np.sum(without_jacobian * drawn["redshift"]) / without_jacobian.sum() - expected) > 3 * tolerance


def test_draws_outside_the_source_support_get_infinite_weight():
    source = get_prior("end_o3_ratesandpops")
    drawn = source.sample(3, rng())
    drawn["mass_1_source"][1] = 150.0  # above the prior's 100 Msun
    log_w = log_weights(source, Population(35.0, 20.0), drawn)
    assert np.isposinf(log_w[1]) and np.isfinite(log_w[[0, 2]]).all()


def test_support_fraction():
    assert support_fraction(get_prior("end_o3_ratesandpops"), Population(35.0, 20.0), rng()) == 1.0
    assert 0.0 < support_fraction(get_prior("bbh"), Population(35.0, 35.0), rng(), 5000) < 0.9


def test_sv_grows_with_far_and_never_exceeds_v0():
    source = get_prior("end_o3_ratesandpops")
    statistic, weights = campaign(source, Population(20.0, 20.0), 3000, seed=4)
    loud = statistic[np.isfinite(statistic)]
    thresholds = np.sort(np.quantile(loud, np.linspace(0, 1, 30)))[::-1]  # descending: FAR ascending
    v0 = astrophysical_volume(source)
    sv, err = sensitive_volume(statistic, weights[None], thresholds, v0)
    assert np.all(np.diff(sv[0]) >= 0) and sv[0, -1] > sv[0, 0]
    assert np.all(sv <= v0) and np.all(err >= 0)
    # the reweighted fraction: rejected draws count in the denominator only
    assert sv[0, -1] == pytest.approx(v0 * weights[np.isfinite(statistic)].sum() / weights.sum(), rel=1e-12)


def test_sums_over_all_draws_may_be_given_separately():
    """What the node does: found-candidate rows with weights, the rejected draws only through Σw and Σw²."""
    statistic, weights = campaign(get_prior("end_o3_ratesandpops"), Population(35.0, 35.0), 2000, seed=5)
    thresholds = np.array([9.0, 15.0])
    expected = sensitive_volume(statistic, weights[None], thresholds, 2.0)
    accepted = np.isfinite(statistic)
    sums = WeightSums.empty(1)
    for part in np.array_split(np.log(weights), 7):
        sums.add(part[None])
    given = sensitive_volume(statistic[accepted], sums.normalised(np.log(weights[accepted])[None]), thresholds, 2.0,
                             total=np.ones(1), total_sq=sums.normalised_sq)
    np.testing.assert_allclose(given, expected, rtol=1e-10)
    assert sums.effective_samples[0] == pytest.approx(weights.sum() ** 2 / np.sum(weights**2), rel=1e-10)


def test_weight_sums_do_not_overflow():
    sums = WeightSums.empty(2)
    sums.add(np.array([[5000.0, 5000.0], [-5000.0, -5001.0]]))
    np.testing.assert_allclose(sums.normalised(np.array([[5000.0], [-5000.0]]))[:, 0], [0.5, 1 / (1 + math.e**-1)])
    np.testing.assert_allclose(sums.effective_samples, [2.0, (1 + math.e**-1) ** 2 / (1 + math.e**-2)])
    empty = WeightSums.empty(1)
    assert empty.effective_samples[0] == 0 and empty.normalised(np.zeros((1, 2))).tolist() == [[0.0, 0.0]]


def test_error_shrinks_as_one_over_sqrt_n_and_matches_the_scatter():
    source = get_prior("end_o3_ratesandpops")
    population = Population(35.0, 20.0)
    threshold = np.array([12.0])

    def estimate(n, seed):
        statistic, weights = campaign(source, population, n, seed)
        sv, err = sensitive_volume(statistic, weights[None], threshold, 1.0)
        return sv[0, 0], err[0, 0]

    # 16 times the draws: a quarter of the error (N large enough that ~30 draws carry the weight)
    small = np.array([estimate(4000, seed) for seed in range(30)])
    large = np.array([estimate(64000, 100 + seed) for seed in range(4)])
    assert np.median(small[:, 1]) / np.median(large[:, 1]) == pytest.approx(4.0, rel=0.2)
    # and the error is honest: independent campaigns scatter by about that much
    assert np.std(small[:, 0], ddof=1) / np.median(small[:, 1]) == pytest.approx(1.0, abs=0.4)


def test_distance_is_the_radius_of_the_sphere_of_that_volume():
    sv, err = np.array([[0.0, 0.5, 3.2]]), np.array([[0.0, 0.05, 0.1]])
    d, d_err = distance(sv, err)
    np.testing.assert_allclose(4 / 3 * math.pi * d**3, sv * 1e9, rtol=1e-12)
    step = 1e-6
    slope = (distance(sv + step, err)[0] - distance(sv - step, err)[0]) / (2 * step)
    np.testing.assert_allclose(d_err[0, 1:], slope[0, 1:] * err[0, 1:], rtol=1e-6)
    assert d[0, 0] == 0 and d_err[0, 0] == 0


def test_v0_is_the_prior_redshift_volume():
    comoving = astrophysical_volume(get_prior("end_o3_ratesandpops"))
    assert comoving == pytest.approx(Planck15.comoving_volume(2.0).to_value("Gpc3"), rel=1e-8)
    base = get_prior("end_o3_ratesandpops")
    source_frame = Prior("sf", [RedshiftVolume("redshift", 0.0, 2.0, source_frame=True) if c.keys == ("redshift",)
                                else c for c in base.components], frame="source")
    expected, _ = integrate.quad(
        lambda z: Planck15.differential_comoving_volume(z).to_value("Gpc3/sr") * 4 * math.pi / (1 + z), 0, 2)
    assert astrophysical_volume(source_frame) == pytest.approx(expected, rel=1e-7)
    assert astrophysical_volume(source_frame) < comoving


def test_v0_needs_a_volumetric_redshift_prior():
    with pytest.raises(PermanentError, match="bbh.*not uniform in comoving volume"):
        astrophysical_volume(get_prior("bbh"))


@pytest.mark.parametrize("years, max_far, events, expected", [
    (2.0, 10.0, 1000, (1, 20)),  # FAR 1/Tb .. max_far: k in 1..20
    (2.0, 10.0, 7, (1, 7)),      # no more counts than events
    (0.5, 1.0, 1000, None),      # max_far below 1/Tb: nothing
    (2.0, 10.0, 0, None),        # no background events
])
def test_far_counts(years, max_far, events, expected):
    counts = far_counts(years, max_far, events)
    if expected is None:
        assert counts.size == 0
        return
    assert (counts[0], counts[-1]) == expected
    assert np.all(np.diff(counts) > 0)
    assert len(far_counts(100.0, 1000.0, 10**6, points=50)) <= 50


def test_gwtc3_volumes_from_aframe_table():
    volumes = gwtc3.comparison_volumes(35, 35)
    assert set(volumes) == {"GstLAL", "PyCBC-BBH", "cWB", "MBTA"}
    assert volumes["GstLAL"] == pytest.approx(4.1 / (149.3747 / 365.25))
    assert set(gwtc3.comparison_volumes(1.5, 1.5)) == {"GstLAL", "MBTA"}  # zeros are left out
    assert gwtc3.comparison_volumes(30, 30) == {}

"""Efficiency at the common FAR and the 50 %-efficiency SNRs (issue 25 item 2): injections whose found / missed status
is drawn here from a known logistic curve, against backgrounds whose thresholds are known."""

import numpy as np
import pytest

from executables.analysis.efficiency import COMPARISON_EVENTS, compare, comparison_far, efficiency
from executables.formats.events import SECONDS_PER_YEAR
from tests.executables.analysis.handmade import DAY, MISSED, background, foreground, found_with, snrs

N = 1500
NETWORK_SNR50, REFERENCE_SNR50, WIDTH = 10.0, 8.0, 0.15


@pytest.fixture(scope="module")
def known():
    """The network finds half at SNR 10, the matched filter at 8: ratio 1.25 (the same injections for both)."""
    snr = snrs(N)
    network = foreground(snr, found_with(snr, NETWORK_SNR50, WIDTH, seed=2))
    reference = foreground(snr, found_with(snr, REFERENCE_SNR50, WIDTH, seed=3))
    return compare((background(500), network), (background(200, offset=100.0), reference))


def test_the_fit_recovers_the_chosen_50_percent_snrs_and_their_ratio(known):
    network, reference = known.searches
    for search, truth in ((network, NETWORK_SNR50), (reference, REFERENCE_SNR50)):
        assert 0 < search.fit.snr50_err < 0.05 * truth
        assert search.fit.snr50 == pytest.approx(truth, abs=3 * search.fit.snr50_err)
        assert search.fit.width == pytest.approx(WIDTH, rel=0.3)
    assert known.paired and 0 < known.ratio_err < 0.05
    assert known.ratio == pytest.approx(NETWORK_SNR50 / REFERENCE_SNR50, abs=3 * known.ratio_err)
    assert known.ratio == network.fit.snr50 / reference.fit.snr50
    numbers = known.headline()
    assert numbers["comparison_far"] == COMPARISON_EVENTS * SECONDS_PER_YEAR / DAY
    assert numbers["comparison_far_label"] == "10/Tb" and numbers["snr50_ratio"] == known.ratio
    assert numbers["snr50_network"] == network.fit.snr50 and numbers["snr50_reference_err"] == reference.fit.snr50_err


def test_binned_efficiency_counts_every_injection_once_with_intervals_around_it(known):
    network, _ = known.searches
    assert network.total.sum() == N and network.hits.sum() == network.found.sum()
    fraction = network.hits / network.total
    assert np.all((network.low <= fraction) & (fraction <= network.high))
    assert np.all(network.bins[:, 0] < network.bins[:, 1]) and network.centres[0] < network.centres[-1]
    assert fraction[0] < 0.1 and fraction[-1] > 0.9


def test_each_search_is_held_to_its_own_background_at_10_over_tb():
    """Statistics 1..100 in a day: at 10/Tb ten events may lie above the threshold, so it sits just above 90."""
    far = comparison_far([background(100), background(50)])
    assert (far.far, far.events, far.note) == (10 * SECONDS_PER_YEAR / DAY, 10, None)
    snr = np.array([5.0, 6.0, 7.0, 8.0])
    statistic = {"snr": snr, "detection_statistic": np.array([90.0, np.nextafter(90.0, 100.0), 95.0, 101.0])}
    result = efficiency("network", background(100), statistic, far.far)
    assert result.threshold == np.nextafter(90.0, 100.0)
    assert result.found.tolist() == [False, True, True, True]


def test_a_step_in_snr_puts_the_50_percent_snr_between_the_last_missed_and_the_first_found():
    snr = snrs(400, seed=5)
    step = efficiency("network", background(100), foreground(snr, snr >= 12.0), comparison_far([background(100)]).far)
    assert snr[snr < 12.0].max() <= step.fit.snr50 <= snr[snr >= 12.0].min()


def test_a_background_too_short_for_10_over_tb_falls_back_to_1_over_tb_and_says_so():
    far = comparison_far([background(100), background(5)])
    assert (far.far, far.events, far.label) == (SECONDS_PER_YEAR / DAY, 1, "1/Tb")
    assert "only 5 events" in far.note and "1/Tb, the lowest FAR it measures" in far.note
    none = comparison_far([background(100), background(1)])
    assert none.far is None and "no FAR sets a threshold" in none.note
    assert compare((background(100), foreground(snrs(10), np.ones(10, bool))), (background(1), foreground(
        snrs(10), np.ones(10, bool)))).searches == []


def test_no_50_percent_snr_when_every_injection_is_found_or_missed_and_no_ratio_then():
    snr = snrs(200)
    every = foreground(snr, np.ones(200, bool))
    result = compare((background(100), every), (background(100), foreground(snr, np.zeros(200, bool))))
    network, reference = result.searches
    assert network.fit is None and "every injection found: the 50 % SNR lies below the injected SNRs" in network.note
    assert reference.fit is None and "no injection found" in reference.note
    assert result.ratio is None and result.headline()["snr50_ratio"] is None
    assert not reference.found.any() and reference.threshold > MISSED


def test_injections_the_searches_do_not_share_are_resampled_independently():
    snr = snrs(600)
    network = foreground(snr, found_with(snr, 10.0, WIDTH, seed=2))
    reference = foreground(snr[:500], found_with(snr[:500], 8.0, WIDTH, seed=3))
    result = compare((background(100), network), (background(100), reference))
    assert not result.paired and result.ratio_err > 0
    assert compare((background(100), network), None).headline().keys() == {
        "comparison_far", "comparison_far_label", "snr50_network", "snr50_network_err"}

"""The report's sections built from hand-made results (issue 20 items 10-13): what it claims must be what the run
measured. No input is missing here, so the sections never ask the run state why (``state`` is None)."""

import numpy as np
import pytest

from executables.analysis import gwtc3
from executables.analysis.datasource import DataSource
from executables.analysis.plots import GWTC3_LINES, Curve, curves_figure
from executables.analysis.report import (
    REFERENCE_ADVICE,
    comparison_section,
    found_missed_section,
    headline_section,
    sensitivity_section,
)
from executables.analysis.results import Reference, Results, SensitiveVolume, read_results
from executables.formats.events import SECONDS_PER_YEAR, EventSet
from tests.executables.analysis import handmade

DAY = 86400.0
SIMULATED = DataSource("simulated", "aLIGODesignSensitivityT1800044")
#: (m1, m2, share inside the injection prior's support), in the order aframe-sv was given them.
POPULATIONS = {"35-20": (35.0, 20.0, 1.0), "20-10": (20.0, 10.0, 0.4)}


def background(livetime: float, n: int = 200) -> EventSet:
    rng = np.random.default_rng(0)
    return EventSet(detection_statistic=rng.normal(size=n), detection_time=np.sort(rng.uniform(0, livetime, n)),
                    shift=np.zeros((n, 2)), Tb=livetime, ifos=["H1", "L1"])


def volume(livetime: float, scale: float = 1.0) -> SensitiveVolume:
    """Curves on a grid from 1 / Tb up, as aframe-sv writes them: distance ``scale`` · 100 Mpc times log10 of the
    FAR."""
    fars = SECONDS_PER_YEAR / livetime * np.array([1.0, 10.0, 100.0])
    populations = {name: {"sv": np.log10(fars), "sv_err": 0.1 * np.ones(3), "distance": scale * 100 * np.log10(fars),
                          "distance_err": 5 * np.ones(3)} for name in POPULATIONS}
    attrs = {name: {"mass_1": m1, "mass_2": m2, "support_fraction": share}
             for name, (m1, m2, share) in POPULATIONS.items()}
    return SensitiveVolume(fars, populations, {"Tb": livetime}, attrs)


def results(livetime: float) -> Results:
    events = background(livetime)
    loud = np.array([10.0, 10.0, events.detection_statistic.max(), -5.0])  # two louder than all, one ties the top
    foreground = {"snr": np.array([40.0, 30.0, 12.0, 8.0]), "detection_statistic": loud,
                  "mass_1": np.full(4, 30.0), "mass_2": np.full(4, 25.0)}
    return Results(background=events, foreground=foreground, sensitive_volume=volume(livetime))


def caption(section) -> str:
    ((text, _),) = section.images
    return text


def test_found_missed_caption_claims_no_far_the_run_cannot_reach():
    """Item 10: with a day of background FAR 1/month is out of reach, so 'found' cannot mean FAR <= 1/month."""
    short = caption(found_missed_section(results(DAY), None))
    assert "FAR ≤ 1/month" not in short and "FAR ≤ 1/Tb = 365.2/yr, the lowest FAR this run measures" in short
    assert "1/month is out of its reach" in short and "below 1/Tb" in short
    assert "FAR ≤ 1/month)" in caption(found_missed_section(results(SECONDS_PER_YEAR), None))


def test_gwtc3_lines_say_what_they_are_and_that_a_simulated_curve_is_not_comparable():
    """Item 11: the GWTC-3 lines are labelled O3b real data, their FAR threshold is said to be unrecorded, and the
    figure itself says they are not comparable with a curve from simulated noise."""
    section = sensitivity_section(results(SECONDS_PER_YEAR), None, SIMULATED)
    (note,) = [note for note in section.notes if note.startswith("GWTC-3 lines")]
    assert "O3b real data" in note and "FAR threshold is not recorded" in note
    assert "NOT COMPARABLE" in note and f"simulated Gaussian noise coloured by the {SIMULATED.noise_psd}" in note
    assert len(section.images) == 2

    curve = Curve(35.0, 20.0, np.array([1.0, 2.0]), np.array([0.1, 0.1]))
    figure = curves_figure(np.array([1.0, 10.0]), [curve], "sv", "title", note)
    (legend,) = figure.legends
    assert "NOT COMPARABLE" in legend.get_title().get_text().replace("\n", " ")
    labels = [text.get_text() for text in legend.get_texts()]
    assert {f"{pipeline.name} (GWTC-3, O3b real data)" for pipeline in gwtc3.PIPELINES} <= set(labels)

    real = sensitivity_section(results(SECONDS_PER_YEAR), None, DataSource("gwosc"))
    assert not [note for note in real.notes if "NOT COMPARABLE" in note]
    assert any("real detector data ([data] source = gwosc)" in note for note in real.notes)
    unknown = gwtc3.comparison_note(None)
    assert "NOT COMPARABLE" not in unknown and "only with a curve measured on real data" in unknown


def test_headline_gives_numbers_at_the_lowest_far_and_the_livetime_each_far_needs():
    """Item 12: a day of background reaches neither 1/month nor 1/yr; the headline still gives the distance at the
    lowest FAR the run measures (1/Tb), with that FAR, and the Tb that would reach each headline FAR."""
    run = results(DAY)
    numbers = run.headline()
    assert all(entry["populations"] is None for entry in numbers["sensitive_volume"].values())
    lowest = numbers["lowest_far"]
    assert lowest["far"] == SECONDS_PER_YEAR / DAY
    assert lowest["populations"]["35-20"]["distance"] == 100 * np.log10(SECONDS_PER_YEAR / DAY)
    assert numbers["Tb_needed"] == {"1/month": 30 * DAY, "1/yr": SECONDS_PER_YEAR}

    section = headline_section(run, SIMULATED)
    rows = dict(section.rows)
    value = rows["35-20 Msun at FAR 365.2/yr (the lowest measured)"]
    assert value.startswith("SV 2.563 ± 0.1 Gpc³, distance 256.3 ± 5 Mpc")
    assert "20-10 Msun at FAR 365.2/yr (the lowest measured)" in rows
    text = " ".join(section.notes)
    assert "FAR 1/yr needs Tb ≥ 3.156e+07 s (365.2 times this run's)" in text
    assert "FAR 1/month needs Tb ≥ 2.592e+06 s (30 times this run's)" in text
    assert "Background: simulated Gaussian noise" in text

    reached = headline_section(results(SECONDS_PER_YEAR), SIMULATED)
    assert "35-20 Msun at FAR 1/yr" in dict(reached.rows)
    assert not [label for label, _ in reached.rows if "lowest measured" in label]


def test_sensitivity_section_names_the_mass_pairs_it_shows_and_their_support():
    """Item 13: the report says which mass pairs it shows (the run's [sv] mass_combos, in their order) and warns of
    one that the injection prior barely covers."""
    notes = sensitivity_section(results(SECONDS_PER_YEAR), None, SIMULATED).notes
    assert "Mass pairs ([sv] mass_combos of this run), source frame: 35+20, 20+10 Msun." in notes
    (warning,) = [note for note in notes if note.startswith("Only ")]
    assert "40.0% of population 20-10" in warning and "underestimate" in warning


def test_headline_says_how_much_the_vetoes_removed():
    """Issue 24: the report says how much background livetime and how many injections the vetoes took."""
    run = results(DAY)
    assert not [label for label, _ in headline_section(run, SIMULATED).rows if "veto" in label]
    run.background.Tb, run.background.vetoed, run.vetoed_injections = DAY - 3600.0, 3600.0, 7
    rows = dict(headline_section(run, SIMULATED).rows)
    assert rows["background livetime vetoed"] == "3600 s (4.17% of 86400 s analysed)"
    assert rows["injections at vetoed moments (left out)"] == "7"


@pytest.fixture(scope="module")
def compared() -> Results:
    """Issue 25 item 2: 600 injections found half the time at SNR 10 by the network and 8 by the matched filter, each
    against its own day of background; the matched filter's distances are 1.25 times the network's."""
    snr = handmade.snrs(600)
    network = handmade.foreground(snr, handmade.found_with(snr, 10.0, 0.15, seed=2))
    matched = handmade.foreground(snr, handmade.found_with(snr, 8.0, 0.15, seed=3))
    return Results(background=handmade.background(300), foreground=network, sensitive_volume=volume(DAY),
                   reference=Reference(handmade.background(300, seed=1, offset=50.0), matched, volume(DAY, 1.25)))


def test_with_the_reference_the_headline_leads_with_the_ratio_of_50_percent_snrs(compared):
    comparison = compared.comparison
    numbers = compared.headline()
    assert numbers["snr50_ratio"] == comparison.ratio == pytest.approx(1.25, abs=3 * comparison.ratio_err)
    assert numbers["comparison_far"] == 10 * SECONDS_PER_YEAR / DAY
    distances = numbers["comparison_distance"]["35-20"]
    assert distances["network"] == pytest.approx(100 * np.log10(10 * SECONDS_PER_YEAR / DAY))
    assert distances["ratio"] == pytest.approx(0.8)

    section = headline_section(compared, SIMULATED)
    label, value = section.rows[0]
    assert label == "50 %-efficiency SNR, network / matched filter, at FAR 10/Tb = 3652/yr"
    assert value == f"{comparison.ratio:.4g} ± {comparison.ratio_err:.2g}"
    assert section.notes[0].startswith("Network against the matched-filter reference on the same data")
    assert REFERENCE_ADVICE not in section.notes
    assert dict(section.rows)["35-20 Msun sensitive distance at FAR 10/Tb = 3652/yr, network / matched filter"] \
        .endswith("(ratio 0.8)")


def test_one_figure_holds_both_searches_and_the_gwtc3_lines_become_secondary(compared):
    section = comparison_section(compared, None)
    assert section.title == "Network and matched filter" and len(section.images) == 1
    assert "network and matched filter" in caption(section)
    assert [row[0] for row in section.rows] == ["network", "matched filter"]
    assert any("paired" in note and "100 bootstrap resamples" in note for note in section.notes)

    (note,) = [note for note in sensitivity_section(compared, None, SIMULATED).notes if "GWTC-3 lines" in note]
    assert note.startswith("Secondary: the matched-filter reference on the same data")
    curve = Curve(35.0, 20.0, np.array([1.0, 2.0]), np.array([0.1, 0.1]))
    (axes,) = curves_figure(np.array([1.0, 10.0]), [curve], "sv", "title", note, secondary=True).axes
    faint = [line for line in axes.get_lines() if "GWTC-3" in line.get_label()]
    assert faint and all(line.get_alpha() == GWTC3_LINES[True][0] < 1 for line in faint)


def test_a_simulated_run_without_the_reference_is_told_it_is_the_meaningful_comparison(compared):
    network_only = Results(background=compared.background, foreground=compared.foreground,
                           sensitive_volume=compared.sensitive_volume)
    section = headline_section(network_only, SIMULATED)
    assert REFERENCE_ADVICE in section.notes
    assert "[reference] matched_filter = true" in REFERENCE_ADVICE and "`make reference`" in REFERENCE_ADVICE
    rows = dict(section.rows)
    assert "50 %-efficiency SNR, network, at FAR 10/Tb = 3652/yr" in rows
    assert not [label for label in rows if "matched filter" in label]
    assert comparison_section(network_only, None).title == "Detection efficiency"
    assert REFERENCE_ADVICE not in headline_section(network_only, DataSource("gwosc")).notes


def test_the_reference_is_read_when_its_directory_is_there_or_the_dag_has_its_nodes(tmp_path):
    """Its missing files are named problems, with the node that writes them."""
    snr = handmade.snrs(50)
    handmade.write_search(tmp_path, handmade.background(20), handmade.foreground(snr, snr > 10))
    dag = {"events": "aggregate", "reference-events": "reference-aggregate", "reference-sv": "reference-sv"}
    injections = str(tmp_path / "injections.hdf5")

    def problems(results):
        return {problem.what: problem.producer for problem in results.problems if "matched" in problem.what}

    assert read_results(tmp_path, str(tmp_path), injections, lambda kind: None).reference is None
    on = read_results(tmp_path, str(tmp_path), injections, dag.get)
    assert on.reference is not None and problems(on) == {"matched-filter background events": "reference-aggregate",
                                                         "matched-filter recovered injections": "reference-aggregate",
                                                         "matched-filter sensitive volume": "reference-sv"}
    (tmp_path / "reference").mkdir()
    handmade.background(20).write(tmp_path / "reference" / "background.hdf5")
    found = read_results(tmp_path, str(tmp_path), injections, lambda kind: None)
    assert len(found.reference.background) == 20 and found.reference.foreground is None
    assert problems(found) == {"matched-filter recovered injections": None, "matched-filter sensitive volume": None}
    assert found.comparison.ratio is None and len(found.comparison.searches) == 1
    (note,) = [note for note in headline_section(found, SIMULATED).notes if "reference is on" in note]
    assert "matched-filter recovered injections not available" in note

"""aframe-sv with vetoes (issue 24, item 2): the accepted injections aggregate dropped count among the draws but are
neither found nor missed, and the rejected draws count by the share of accepted injections kept."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from executables.analysis.sv import main as sv_main
from executables.analysis.volume import Population, log_weights, sensitive_volume
from executables.formats.events import RecoveredInjectionSet
from executables.formats.sets import RejectedSet
from executables.sources.priors import PARAMETERS, get_prior
from tests.executables.analysis.test_sv import PRIOR, arguments, campaign
from tests.executables.analysis.test_sv import inputs as sv_inputs  # noqa: F401 (a fixture)
from tests.executables.data.test_waveforms import assert_refused, invoke

pytestmark = pytest.mark.usefixtures("restore_logging")

DROPPED = 25


@pytest.fixture
def vetoed_inputs(sv_inputs):  # noqa: F811 (the fixture imported above)
    """test_sv's campaign with its first DROPPED accepted injections removed, as aggregate's vetoes would."""
    foreground = RecoveredInjectionSet.read(sv_inputs["foreground"])
    foreground.take(np.arange(DROPPED, len(foreground))).write(sv_inputs["foreground"])
    return sv_inputs


def test_sv_counts_vetoed_injections_as_draws_but_neither_found_nor_missed(vetoed_inputs, tmp_path):
    output = tmp_path / "results" / "sensitive_volume.h5"
    result = invoke(sv_main, *arguments(vetoed_inputs, output), "--vetoed-injections", DROPPED)
    assert result.exit_code == 0, result.stderr
    full, _, draws = campaign()
    kept = RecoveredInjectionSet.read(vetoed_inputs["foreground"])
    rejected = RejectedSet.read(vetoed_inputs["rejected"]).parameters
    prior, population = get_prior(PRIOR), Population(35.0, 20.0)
    # Σw over the kept accepted draws and the rejected ones scaled by the share kept (rejected draws have no time)
    share = len(kept) / len(full)
    weights = np.concatenate([np.exp(log_weights(prior, population, kept.parameters)),
                              share * np.exp(log_weights(prior, population, rejected))])
    statistic = np.concatenate([kept.detection_statistic, np.full(len(rejected["mass_1"]), -np.inf)])
    with h5py.File(output) as handle:
        assert handle.attrs["num_injections"] == draws and handle.attrs["num_accepted"] == len(full) - DROPPED
        sv, err = sensitive_volume(statistic, weights[None], handle["thresholds"][:], handle.attrs["V0"])
        np.testing.assert_allclose(handle["populations/35-20/sv"][:], sv[0], rtol=1e-9)
        np.testing.assert_allclose(handle["populations/35-20/sv_err"][:], err[0], rtol=1e-9)
    assert set(PARAMETERS) <= set(kept.parameters)


def test_sv_without_the_vetoed_count_finds_draws_missing(vetoed_inputs, tmp_path):
    output = tmp_path / "sensitive_volume.h5"
    result = invoke(sv_main, *arguments(vetoed_inputs, output))
    assert_refused(result, "num_injections", "(and 0 vetoed)", "some draws are missing", leftovers=[output])

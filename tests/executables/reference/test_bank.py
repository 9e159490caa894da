"""aframe-reference-bank in the reference virtualenv: pycbc_brute_bank places templates inside the prior's ranges
(or the ranges given) against the test data's PSD, and a prior it does not know exits 2 with nothing written."""

from __future__ import annotations

import h5py
import numpy as np

from tests.executables.reference.reference_inputs import F_LOW, REFERENCE_BIN, needs_reference, run, write_noise

pytestmark = needs_reference
BANK = str(REFERENCE_BIN / "aframe-reference-bank")


def bank_arguments(background, output, *extra) -> list[str]:
    return [BANK, "--prior", "compact_bbh", "--background", str(background), "--sample-rate", "1024",
            "--f-low", f"{F_LOW:g}", "--seed", "3", "--output", str(output), *extra]


def test_bank_covers_the_ranges_asked_for(tmp_path):
    output = tmp_path / "bank.hdf5"
    result = run(bank_arguments(write_noise(tmp_path, duration=64), output, "--minimal-match", "0.8",
                                "--mass1", "30:36", "--mass2", "28:32", "--spin", "-0.1:0.1"))
    assert result.returncode == 0, result.stderr[-3000:]
    with h5py.File(output) as bank:
        mass1, mass2, spin1z = bank["mass1"][:], bank["mass2"][:], bank["spin1z"][:]
        assert len(mass1) >= 1
        assert np.all((mass1 >= 30) & (mass1 <= 36) & (mass2 >= 28) & (mass2 <= 32) & (mass1 >= mass2))
        assert np.all(np.abs(spin1z) <= 0.1 + 1e-6)
        assert {value.decode() for value in bank["approximant"][:]} == {"IMRPhenomD"}
        assert bank.attrs["prior"] == "compact_bbh"
        np.testing.assert_allclose(bank.attrs["mass1_range"], [30, 36])


def test_unknown_prior_exits_2(tmp_path):
    output = tmp_path / "bank.hdf5"
    args = bank_arguments(write_noise(tmp_path, duration=64), output)
    args[args.index("compact_bbh")] = "no_such_prior"
    result = run(args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no_such_prior" in result.stderr
    assert not output.exists()

"""The light layer's copy of lal's interferometers is lal's own list, and [data] ifos takes only those."""

import pytest

from aframe_dag.config import load_config
from aframe_dag.config.detectors import INTERFEROMETERS
from aframe_dag.errors import ConfigError


def test_copy_matches_the_installed_lal():
    lal = pytest.importorskip("lal")
    known = {detector.frDetector.prefix: detector.frDetector.name for detector in lal.CachedDetectors
             if detector.type != lal.LALDETECTORTYPE_CYLBAR}
    assert INTERFEROMETERS == known, "update aframe_dag/config/detectors.py from lal.CachedDetectors"


def test_ifos_take_any_interferometer_lal_knows(sandbox_ini):
    config = load_config(sandbox_ini, ["data.ifos=H1, L1, V1, K1, G1", "testing.shifts=0, 1, 2, 3, 4"])
    assert config["data"]["ifos"] == ("H1", "L1", "V1", "K1", "G1")


@pytest.mark.parametrize("ifos", ["H1, X1", "H1, Q9"])  # X1 is lal's EXPLORER, a resonant bar
def test_unknown_ifo_is_a_config_error(sandbox_ini, ifos):
    sandbox_ini.write_text(sandbox_ini.read_text().replace("ifos = H1, L1", f"ifos = {ifos}"))
    with pytest.raises(ConfigError, match=rf"run.ini: \[data\] ifos: '{ifos[-2:]}' is not one of C1, .*H1, .*V1"):
        load_config(sandbox_ini)

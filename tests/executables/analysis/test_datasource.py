"""The background's source as the report reads it from run.ini.resolved (issue 20 item 11)."""

from executables.analysis.datasource import DataSource

RESOLVED = """\
# Every key of this run with its final value
[run]
name = r
tmp = /scratch/%(user)s
[data]
ifos = H1, L1
source = {source}
noise_psd = aLIGODesignSensitivityT1800044
"""


def test_simulated_noise_is_recognised_with_its_psd(tmp_path):
    (tmp_path / "run.ini.resolved").write_text(RESOLVED.format(source="simulated"))
    data = DataSource.read(tmp_path)
    assert data == DataSource("simulated", "aLIGODesignSensitivityT1800044") and data.simulated
    assert data.record() == {"source": "simulated", "noise_psd": "aLIGODesignSensitivityT1800044", "simulated": True}


def test_real_data_carries_no_psd(tmp_path):
    (tmp_path / "run.ini.resolved").write_text(RESOLVED.format(source="gwosc"))
    data = DataSource.read(tmp_path)
    assert data == DataSource("gwosc") and not data.simulated
    assert data.describe() == "real detector data ([data] source = gwosc)"


def test_an_unreadable_config_leaves_the_source_unknown(tmp_path):
    missing = DataSource.read(tmp_path)
    assert missing == DataSource(None) and not missing.simulated and missing.describe().startswith("unknown")
    (tmp_path / "run.ini.resolved").write_text("[run]\nname = r\n")
    assert DataSource.read(tmp_path) == DataSource(None)
    (tmp_path / "run.ini.resolved").write_text("no section header\n")
    assert DataSource.read(tmp_path) == DataSource(None)


def test_one_psd_per_ifo_names_the_ifos_each_colours(tmp_path):
    """Issue 24: Virgo beside LIGO, each with its design curve."""
    text = RESOLVED.format(source="simulated").replace("ifos = H1, L1", "ifos = H1, L1, V1").replace(
        "noise_psd = aLIGODesignSensitivityT1800044",
        "noise_psd = aLIGODesignSensitivityT1800044, aLIGODesignSensitivityT1800044, AdVDesignSensitivityP1200087")
    (tmp_path / "run.ini.resolved").write_text(text)
    data = DataSource.read(tmp_path)
    assert data.noise_psd == "aLIGODesignSensitivityT1800044 (H1, L1), AdVDesignSensitivityP1200087 (V1)"
    assert data.describe() == ("simulated Gaussian noise coloured by the aLIGODesignSensitivityT1800044 (H1, L1), "
                               "AdVDesignSensitivityP1200087 (V1) PSD")

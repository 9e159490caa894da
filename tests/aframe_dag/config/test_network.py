"""Any detector network (issue 24): the [data] keys that take one value or one per ifo, lalsimulation's noise PSDs,
each ifo's frame channel, and what the plan passes on for H1, L1 and V1."""

import pytest

from aframe_dag.builder.build import build
from aframe_dag.config import load_config
from aframe_dag.config.noise_psds import NOISE_PSDS
from aframe_dag.config.types import each_ifo
from aframe_dag.errors import ConfigError, UserError
from tests.aframe_dag.builder.test_build import _Timeline

HLV = ["data.ifos=H1, L1, V1", "testing.shifts=0, 1, 2"]
LIGO, VIRGO = "aLIGODesignSensitivityT1800044", "AdVDesignSensitivityP1200087"
CHANNELS = "H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN, V1:Hrec_hoft_16384Hz"


def test_the_copy_is_every_psd_the_background_node_evaluates():
    lalsimulation = pytest.importorskip("lalsimulation")
    from executables.data.background import noise_psd

    evaluated = set()
    for name in (attribute[len("SimNoisePSD"):] for attribute in dir(lalsimulation)):
        try:
            noise_psd(name, 2048.0, 4096)
        except ValueError:
            continue
        evaluated.add(name)
    assert set(NOISE_PSDS) == evaluated, "update aframe_dag/config/noise_psds.py from lalsimulation"
    assert len(NOISE_PSDS) == len(evaluated) and {LIGO, VIRGO} <= evaluated


def test_one_value_stands_for_every_ifo_or_one_per_ifo_in_order(sandbox_ini):
    config = load_config(sandbox_ini, [*HLV, f"data.noise_psd={LIGO}, {LIGO}, {VIRGO}"])
    data = config["data"]
    assert each_ifo(data["noise_psd"], data["ifos"]) == {"H1": LIGO, "L1": LIGO, "V1": VIRGO}
    assert each_ifo(data["flag"], data["ifos"]) == {"H1": "DATA", "L1": "DATA", "V1": "DATA"}
    assert data["frame_type"] is None


@pytest.mark.parametrize(("key", "value"), [("noise_psd", f"{LIGO}, {VIRGO}"), ("flag", "DATA, DATA, DATA, DATA"),
                                            ("frame_type", "HOFT_C00, HoftOnline")])
def test_a_per_ifo_key_with_another_count_is_refused(sandbox_ini, key, value):
    count = len(value.split(","))
    with pytest.raises(ConfigError, match=rf"run.ini: \[data\] {key}: give one value, or one per ifo "
                                          rf"\(3: H1, L1, V1\), not {count}$"):
        load_config(sandbox_ini, [*HLV, f"data.{key}={value}"])


@pytest.mark.parametrize(("name", "message"), [
    ("AdVDesignSensitivity", "did you mean 'AdVDesignSensitivityP1200087'"),
    ("Nothing", r"e.g. aLIGODesignSensitivityT1800044 \(LIGO\) or AdVDesignSensitivityP1200087 \(Virgo\)"),
    ("Shot", "did you mean 'iLIGOShot'"),  # a noise component, not a detector's PSD
])
def test_an_unknown_psd_is_a_config_error(sandbox_ini, name, message):
    with pytest.raises(ConfigError, match=rf"\[data\] noise_psd: '{name}' is not a noise PSD .*{message}"):
        load_config(sandbox_ini, [*HLV, f"data.noise_psd={LIGO}, {LIGO}, {name}"])


@pytest.mark.parametrize(("channels", "message"), [
    ("H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN", "one channel per ifo, not 0 for V1"),
    ("H1:GDS-CALIB_STRAIN, L1:GDS-CALIB_STRAIN, K1:CAL-STRAIN", "K1:CAL-STRAIN: not the channel of one of the ifos"),
    ("H1:GDS-CALIB_STRAIN, H1:GDS-CALIB_STRAIN_CLEAN, L1:A, V1:B", "one channel per ifo, not 2 for H1"),
])
def test_frames_need_each_ifo_s_channel(sandbox_ini, channels, message):
    with pytest.raises(ConfigError, match=rf"\[data\] channels: .*{message}"):
        load_config(sandbox_ini, [*HLV, "data.source=frames", f"data.channels={channels}"])


def test_the_plan_passes_each_ifo_s_psd_channel_and_frame_type(micro_ini, run_env):
    """The background nodes get the values in ifos order, comma-joined, as aframe-background reads them."""
    simulated = build(micro_ini, [*HLV, f"data.noise_psd={LIGO}, {LIGO}, {VIRGO}"]).workflow
    for node in (node for node in simulated.nodes if node.stage == "background"):
        arguments = dict(zip(node.arguments[::2], node.arguments[1::2], strict=False))
        assert (arguments["--ifos"], arguments["--noise-psd"]) == ("H1,L1,V1", f"{LIGO},{LIGO},{VIRGO}")
    segments = run_env / "segments.txt"
    segments.write_text("1240579783 1240582183\n")
    frames = build(micro_ini, [*HLV, "data.source=frames", f"data.channels={CHANNELS}",
                               "data.frame_type=H1_HOFT_C00, L1_HOFT_C00, HoftOnline"], segments_file=segments,
                   dry_run=True)
    node = next(node for node in frames.workflow.nodes if node.stage == "background")
    assert node.arguments[node.arguments.index("--channels") + 1] == CHANNELS.replace(", ", ",")
    assert node.arguments[node.arguments.index("--frame-type") + 1] == "H1_HOFT_C00,L1_HOFT_C00,HoftOnline"


class _VirgoTimeline(_Timeline):
    """GWOSC's timelines with Virgo's: V1 has data only in the first half hour under its own flag."""

    segments = {**_Timeline.segments, "V1_CBC_CAT1": [[1240579783, 1240581583]]}


@pytest.fixture
def gwosc_hlv():
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), _VirgoTimeline)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_each_ifo_s_segments_come_from_its_own_flag(micro_ini, run_env, gwosc_hlv):
    result = build(micro_ini, [*HLV, "data.source=gwosc", f"data.gwosc_host={gwosc_hlv}",
                               "data.flag=DATA, DATA, CBC_CAT1"])
    cache = run_env / "condor" / "segments.txt"
    assert cache.read_text() == "1240579783 1240580500\n1240580600 1240581583\n"  # H1's gap, V1's end
    assert result.workflow.totals["train_files"] > 0
    with pytest.raises(UserError, match=r"cannot query the DATA, CBC_CAT1 segments for H1, L1, V1"):
        build(micro_ini, [*HLV, "data.source=gwosc", "data.gwosc_host=http://127.0.0.1:9",
                          "data.flag=DATA, DATA, CBC_CAT1"], outdir=run_env / "unqueried")

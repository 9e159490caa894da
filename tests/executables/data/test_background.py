"""`aframe-background` (issue 6): simulated noise with the target PSD, deterministic per segment; GWOSC and frames.

The real-data paths run for real against servers on localhost: a stand-in for the GWOSC API (runs, strain-file
lists, the files themselves in GWOSC's HDF5 format) and a stand-in gwdatafind server listing GWF frames that
gwpy/lalframe write here.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import click
import h5py
import numpy as np
import pytest
from gwpy.timeseries import TimeSeries, TimeSeriesDict
from scipy.signal import resample_poly, welch

from executables.common.errors import PermanentError
from executables.data.background import (
    _amplitude,
    aligned_blocks,
    coloured_noise,
    generate_background,
    noise_psd,
    require_device,
    resample_stream,
)
from executables.formats.strain import read_background
from tests.fixtures.writers import DEAD_PID

pytestmark = pytest.mark.filterwarnings("ignore:Support for identity-based X.509:DeprecationWarning")

BACKGROUND = str(Path(sys.executable).with_name("aframe-background"))
T0 = 1_240_579_783
DESIGN = "aLIGODesignSensitivityT1800044"
VIRGO = "AdVDesignSensitivityP1200087"
# the stand-in gwdatafind server's frames: ifo, frame type, channel, sample rate
FRAMES = (("H1", "H1_HOFT_C00", "H1:GDS-CALIB_STRAIN", 4096), ("L1", "L1_HOFT_C00", "L1:GDS-CALIB_STRAIN", 4096),
          ("V1", "HoftOnline", "V1:Hrec_hoft_16384Hz", 16384))


def run(*args, **kwargs):
    return subprocess.run([BACKGROUND, *map(str, args)], capture_output=True, text=True, timeout=120, **kwargs)


def generate(path, start=T0, duration=64, sample_rate=512, **kwargs):
    return generate_background(Path(path), kwargs.pop("ifos", ["H1", "L1"]), start, duration, sample_rate, **kwargs)


def welch_ratio(samples, sample_rate, name, band=(30, 200)):
    """Median over ``band`` of the Welch PSD of ``samples`` over the target PSD."""
    nperseg = int(4 * sample_rate)
    frequencies, estimate = welch(samples, fs=sample_rate, nperseg=nperseg)
    target = noise_psd(name, float(sample_rate), nperseg)
    keep = (frequencies >= band[0]) & (frequencies <= band[1])
    return float(np.median(estimate[keep] / target[keep]))


def correlation(x, y, rate=512, low=30.0):
    """Correlation above ``low`` Hz (the raw noise is dominated by a few slow modes near 10 Hz)."""
    keep = np.fft.rfftfreq(x.size, 1 / rate) >= low
    x, y = (np.fft.irfft(np.fft.rfft(z) * keep, z.size) for z in (x, y))
    return float(np.corrcoef(x, y)[0, 1])


# -- simulated noise -------------------------------------------------------------------------------------------------


def test_simulated_noise_has_the_target_psd_across_block_edges(tmp_path):
    """8 s blocks cross-faded over 2 s: 31 seams in 256 s, and the Welch PSD still matches within 10 %."""
    path = generate(tmp_path / "bg.hdf5", duration=256, sample_rate=1024, block_seconds=8, overlap_seconds=2)
    strain, t0, rate = read_background(path)
    assert (t0, rate, strain["H1"].size) == (T0, 1024.0, 256 * 1024)
    for ifo in ("H1", "L1"):
        assert welch_ratio(strain[ifo], rate, DESIGN, band=(30, 500)) == pytest.approx(1.0, abs=0.1)


def test_default_blocks_match_the_psd(tmp_path):
    path = generate(tmp_path / "bg.hdf5", duration=128, sample_rate=2048, ifos=["H1"])
    strain, _, rate = read_background(path)
    assert welch_ratio(strain["H1"], rate, DESIGN, band=(30, 500)) == pytest.approx(1.0, abs=0.1)


def test_cross_fade_keeps_variance_and_whiteness():
    """White noise (flat amplitude) through many seams: unit variance in the fades and no correlation across them."""
    block, overlap, total = 256, 64, 200_000
    flat = {}

    def amplitude(length):
        if length not in flat:
            flat[length] = np.full(length // 2 + 1, np.sqrt(length / 2.0))
            flat[length][0] = flat[length][-1] = np.sqrt(length)
        return flat[length]

    pieces = list(coloured_noise(amplitude, total, lambda k: np.random.default_rng(k), block, overlap))
    noise = np.concatenate(pieces)
    assert noise.size == total
    seams = np.arange(block - overlap, total - overlap, block - overlap)
    fades = np.concatenate([noise[s: s + overlap] for s in seams])
    assert np.var(noise) == pytest.approx(1.0, abs=0.02)
    assert np.var(fades) == pytest.approx(1.0, abs=0.03)
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 0.01


def test_same_segment_same_bytes_other_segments_and_ifos_differ(tmp_path):
    first = generate(tmp_path / "a.hdf5", seed=7)
    again = generate(tmp_path / "b.hdf5", seed=7)
    assert first.read_bytes() == again.read_bytes()
    a, _, _ = read_background(first)
    later, _, _ = read_background(generate(tmp_path / "c.hdf5", start=T0 + 64, seed=7))
    reseeded, _, _ = read_background(generate(tmp_path / "d.hdf5", seed=8))
    for other in (later, reseeded):
        assert not np.array_equal(a["H1"], other["H1"])
    assert abs(correlation(a["H1"], a["L1"])) < 0.05
    assert abs(correlation(a["H1"], later["H1"])) < 0.05


def test_one_psd_per_ifo(tmp_path):
    """Issue 24: a three-detector network, Virgo's noise coloured by its own design curve."""
    names = [DESIGN, "aLIGOZeroDetHighPower", VIRGO]
    path = generate(tmp_path / "bg.hdf5", duration=128, sample_rate=1024, ifos=["H1", "L1", "V1"],
                    noise_psd_names=names)
    strain, _, rate = read_background(path)
    for ifo, name in zip(("H1", "L1", "V1"), names, strict=True):
        assert welch_ratio(strain[ifo], rate, name) == pytest.approx(1.0, abs=0.1)
    assert welch_ratio(strain["V1"], rate, DESIGN) > 1.5  # Virgo's design curve lies above LIGO's in 30-200 Hz
    with h5py.File(path) as handle:
        assert handle.attrs["noise_psd"] == ",".join(names) and handle.attrs["source"] == "simulated"
    with pytest.raises(click.BadParameter, match="one PSD or one per ifo \\(3\\), got 2"):
        generate(tmp_path / "two.hdf5", ifos=["H1", "L1", "V1"], noise_psd_names=[DESIGN, VIRGO])
    assert not (tmp_path / "two.hdf5").exists()


def test_noise_psd_names():
    psd = noise_psd(DESIGN, 2048.0, 2048)
    assert psd[:10].max() == 0 and 1e-48 < psd[100] < 1e-46
    for bad in ("NoSuchPSD", "FromFile", "", "a-b"):
        with pytest.raises(ValueError, match="unknown noise PSD"):
            noise_psd(bad, 2048.0, 2048)
    amplitude = _amplitude(DESIGN, 2048.0, 2048)
    assert amplitude.shape == (1025,) and not amplitude.flags.writeable


def test_fractional_segments(tmp_path):
    strain, t0, rate = read_background(generate(tmp_path / "f.hdf5", start=T0 + 0.5, duration=10.25, sample_rate=256))
    assert (t0, strain["L1"].size) == (T0 + 0.5, 2624)
    with pytest.raises(click.BadParameter, match="whole number of samples"):
        generate(tmp_path / "g.hdf5", duration=10.001, sample_rate=256)


# -- the console script ----------------------------------------------------------------------------------------------


def test_console_script_writes_gwpy_readable_file_and_marker(tmp_path):
    output = tmp_path / "background" / f"background-{T0}-16.hdf5"
    marker = tmp_path / "done" / "background-train.json"
    result = run("--ifos", "H1,L1", "--start", T0, "--duration", 16, "--sample-rate", 2048, "--source", "simulated",
                 "--noise-psd", DESIGN, "--seed", 1122, "--device", "cpu", "--output", output,
                 "--node", "background-train", "--node-hash", "abc", "--done-marker", marker)
    assert result.returncode == 0, result.stderr
    series = TimeSeriesDict.read(output, format="hdf5")
    assert series["L1"].t0.value == T0 and series["L1"].sample_rate.value == 2048 and series["L1"].duration.value == 16
    record = json.loads(marker.read_text())
    assert record["node"] == "background-train" and record["outputs"][0]["path"] == str(output)
    assert record["outputs"][0]["size"] == output.stat().st_size


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--noise-psd", "NoSuchPSD"], "--noise-psd.*SimNoisePSDNoSuchPSD"),
        (["--noise-psd", f"{DESIGN},{DESIGN},{DESIGN}"], "--noise-psd.*one per ifo"),
        (["--duration", "1.0001"], "whole number of samples"),
        (["--source", "frames"], "--channels.*one channel per ifo"),
        (["--source", "frames", "--channels", "H1:X,V1:Y"], "--channels"),
        (["--ifos", "H1,H1"], "distinct ifos"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, arguments, message):
    options = {"--ifos": "H1,L1", "--start": str(T0), "--duration": "4", "--sample-rate": "256",
               "--output": str(tmp_path / "out.hdf5")}
    for name, value in zip(arguments[::2], arguments[1::2], strict=True):
        options[name] = value
    result = run(*[item for pair in options.items() for item in pair])
    assert result.returncode == 2, result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "out.hdf5").exists()


def test_cuda_without_a_gpu_is_a_permanent_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    with pytest.raises(PermanentError, match="no usable CUDA device"):
        require_device("cuda")
    result = run("--ifos", "H1", "--start", T0, "--duration", 4, "--sample-rate", 256, "--device", "cuda",
                 "--output", tmp_path / "out.hdf5", env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 2 and "--device cuda" in result.stderr
    assert not (tmp_path / "out.hdf5").exists()


def test_killed_mid_write_leaves_no_final_file(tmp_path):
    """kill -9 while the file is being written: only a hidden temporary remains, which the next attempt removes."""
    output = tmp_path / "background-huge.hdf5"
    process = subprocess.Popen([BACKGROUND, "--ifos", "H1,L1", "--start", str(T0), "--duration", "1000000",
                                "--sample-rate", "2048", "--output", str(output)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            temporaries = [p for p in tmp_path.iterdir() if p.name.startswith(f".{output.name}.tmp-")]
            if temporaries and temporaries[0].stat().st_size > 10_000_000:
                break
            assert process.poll() is None, "the node ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no temporary output appeared")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not output.exists()
    assert temporaries[0].exists()
    result = run("--ifos", "H1", "--start", T0, "--duration", 4, "--sample-rate", 256, "--output", output)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


def test_a_rerun_removes_a_killed_attempts_temporary_and_keeps_a_running_writers(tmp_path, live_pid):
    """Issue 19: the node's next run sweeps the temporaries of its own output whose writer is gone, and only those."""
    output = tmp_path / f"background-{T0}-4.hdf5"
    killed, running, other = (tmp_path / f".{name}.tmp-{pid}-0badc0de" for name, pid in
                              [(output.name, DEAD_PID), (output.name, live_pid), ("other.hdf5", DEAD_PID)])
    for path in (killed, running, other):
        path.write_bytes(b"half a file")
    result = run("--ifos", "H1", "--start", T0, "--duration", 4, "--sample-rate", 256, "--output", output)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([output.name, running.name, other.name])


# -- real data: resampling and blocks --------------------------------------------------------------------------------


def test_aligned_blocks():
    assert aligned_blocks(4000, 9000, 4096) == [(4000, 4096), (4096, 8192), (8192, 9000)]
    assert aligned_blocks(4096, 8192, 4096) == [(4096, 8192)]
    assert aligned_blocks(10, 20, 4096) == [(10, 20)]


@pytest.mark.parametrize(("rate_in", "rate_out"), [(4096, 2048), (16384, 2048), (1024, 2048), (2048, 2048)])
def test_streamed_resampling_equals_resampling_the_whole(rate_in, rate_out):
    rng = np.random.default_rng(4)
    seconds = [3, 5, 1, 4]
    blocks = [rng.normal(size=s * rate_in) for s in seconds]
    streamed = np.concatenate(list(resample_stream(iter(blocks), rate_in, rate_out, rate_in)))
    whole = resample_poly(np.concatenate(blocks), rate_out, rate_in) if rate_in != rate_out else np.concatenate(blocks)
    assert streamed.size == sum(seconds) * rate_out
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-12)


# -- real data: GWOSC through a local stand-in -----------------------------------------------------------------------

GWOSC_T0 = 1_240_580_096  # a multiple of 64: the stand-in's files are 64 s long


def gwosc_hdf5(path, ifo, start, seconds, rate, samples):
    """A file in GWOSC's HDF5 format (strain/Strain with Xstart/Xspacing, meta/Detector)."""
    with h5py.File(path, "w") as handle:
        dataset = handle.create_dataset("strain/Strain", data=samples)
        dataset.attrs.update(Xstart=start, Xspacing=1.0 / rate, Xunits="second", Yunits="strain",
                             Npoints=samples.size)
        handle["meta/Detector"] = np.bytes_(ifo)
        handle["meta/GPSstart"] = start
        handle["meta/Duration"] = seconds


class GwoscHandler(BaseHTTPRequestHandler):
    """The GWOSC v2 API calls gwosc/gwpy make for a bulk-data run, and the file downloads."""

    def log_message(self, *args):
        pass

    def reply(self, body: bytes, content_type="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def page(self, results):
        self.reply(json.dumps({"num_pages": 1, "next": None, "results": results}).encode())

    def do_GET(self):  # noqa: N802
        server, url = self.server, urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        server.requests.append(path)
        if path == "/api/v2/event-versions":
            return self.page([])
        if path == "/api/v2/runs":
            return self.page([{"name": "O3a", "detectors": ["H1", "L1"], "gps_start": server.span[0],
                               "gps_end": server.span[1]}])
        if path == "/api/v2/runs/O3a/strain-files":
            start, stop = int(query["start"]), int(query["stop"])
            return self.page([{"detector": ifo, "gps_start": t, "hdf5_url": f"{server.url}/files/{name}"}
                              for ifo, t, name in server.files
                              if ifo == query["detector"] and t < stop and t + 64 > start])
        if path.startswith("/files/"):
            return self.reply((server.root / path.removeprefix("/files/")).read_bytes(), "application/x-hdf5")
        self.send_response(404)
        self.end_headers()


@pytest.fixture
def gwosc(tmp_path):
    """A GWOSC stand-in on localhost with 4 files of 64 s at 4096 Hz per ifo; yields (url, server, raw strain)."""
    root = tmp_path / "gwosc"
    root.mkdir()
    rng = np.random.default_rng(11)
    files, raw = [], {}
    for ifo in ("H1", "L1"):
        raw[ifo] = rng.normal(size=256 * 4096) * 1e-21
        for k in range(4):
            start = GWOSC_T0 + 64 * k
            name = f"{ifo[0]}-{ifo}_GWOSC_4KHZ_R1-{start}-64.hdf5"
            gwosc_hdf5(root / name, ifo, start, 64, 4096, raw[ifo][k * 64 * 4096: (k + 1) * 64 * 4096])
            files.append((ifo, start, name))
    server = ThreadingHTTPServer(("127.0.0.1", 0), GwoscHandler)
    server.files, server.root, server.span, server.requests = files, root, (GWOSC_T0, GWOSC_T0 + 256), []
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url, server, raw
    server.shutdown()
    server.server_close()


def test_gwosc_blocks_are_fetched_once_and_resampled_as_one_stream(tmp_path, gwosc):
    url, server, raw = gwosc
    start, duration = GWOSC_T0 + 10, 200
    path = generate(tmp_path / "gwosc.hdf5", start=start, duration=duration, sample_rate=2048, source="gwosc",
                    gwosc_host=url, block_seconds=64)
    strain, t0, rate = read_background(path)
    assert (t0, rate) == (start, 2048.0)
    offset = 10 * 4096
    for ifo in ("H1", "L1"):
        expected = resample_poly(raw[ifo][offset: offset + duration * 4096], 1, 2)
        np.testing.assert_allclose(strain[ifo], expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    downloads = [p for p in server.requests if p.startswith("/files/")]
    assert len(downloads) == len(set(downloads)) == 8
    with h5py.File(path) as handle:
        assert handle.attrs["source"] == "gwosc" and handle.attrs["gwosc_host"] == url


def test_gwosc_console_script(tmp_path, gwosc):
    url, _, raw = gwosc
    output = tmp_path / "background.hdf5"
    result = run("--ifos", "H1,L1", "--start", GWOSC_T0, "--duration", 128, "--sample-rate", 1024,
                 "--source", "gwosc", "--gwosc-host", url, "--output", output)
    assert result.returncode == 0, result.stderr
    series = TimeSeries.read(output, "H1", format="hdf5")
    assert series.t0.value == GWOSC_T0 and series.sample_rate.value == 1024 and series.size == 128 * 1024
    assert np.std(series.value) == pytest.approx(np.std(raw["H1"]) / 2, rel=0.05)  # a quarter of the band


def test_gwosc_gaps_and_nans_are_permanent_errors(tmp_path, gwosc):
    url, server, _ = gwosc
    result = run("--ifos", "H1", "--start", GWOSC_T0 + 200, "--duration", 100, "--sample-rate", 2048,
                 "--source", "gwosc", "--gwosc-host", url, "--output", tmp_path / "out.hdf5")
    assert result.returncode == 2, result.stderr
    assert "no 4096 Hz data for" in result.stderr or "there is a gap" in result.stderr
    name = f"H-H1_GWOSC_4KHZ_R1-{GWOSC_T0}-64.hdf5"
    with h5py.File(server.root / name, "a") as handle:
        handle["strain/Strain"][4096 * 5] = np.nan
    with pytest.raises(PermanentError, match=r"H1: 1 samples .* NaN or infinite \(first at GPS 1240580101\.000\)"):
        generate(tmp_path / "nan.hdf5", start=GWOSC_T0, duration=16, sample_rate=2048, source="gwosc",
                 gwosc_host=url, ifos=["H1"])
    assert not (tmp_path / "nan.hdf5").exists()


def test_unreachable_gwosc_is_transient(tmp_path):
    result = run("--ifos", "H1", "--start", GWOSC_T0, "--duration", 16, "--sample-rate", 2048, "--source", "gwosc",
                 "--gwosc-host", "http://127.0.0.1:9", "--output", tmp_path / "out.hdf5")
    assert result.returncode == 1, result.stderr
    assert "fetching" in result.stderr and "127.0.0.1:9" in result.stderr


# -- real data: frames through a local gwdatafind stand-in -----------------------------------------------------------


class DatafindHandler(BaseHTTPRequestHandler):
    """gwdatafind's find_urls: /api/v1/gwf/<site>/<type>/<start>,<end>/file.json -> a JSON list of file URLs."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        match = re.search(r"/gwf/(\w)/([^/]+)/(\d+),(\d+)(?:/\w+)?\.json$", urlparse(self.path).path)
        if match is None:
            self.send_response(404)
            self.end_headers()
            return
        site, kind, start, end = match[1], match[2], int(match[3]), int(match[4])
        urls = [f"file://localhost{path}" for s, k, t, d, path in self.server.frames
                if s == site and k == kind and t < end and t + d > start]
        body = json.dumps(urls).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def datafind(tmp_path):
    """GWF frames (3 files of 32 s per ifo, written by gwpy/lalframe) and a gwdatafind stand-in: LIGO's at 4096 Hz
    in H1_HOFT_C00 and L1_HOFT_C00, Virgo's at 16384 Hz in HoftOnline (its types carry no ifo prefix)."""
    pytest.importorskip("lalframe")
    root = tmp_path / "frames"
    root.mkdir()
    rng = np.random.default_rng(12)
    frames, raw = [], {}
    for ifo, kind, channel, rate in FRAMES:
        raw[ifo] = rng.normal(size=96 * rate) * 1e-21
        for k in range(3):
            start = GWOSC_T0 + 32 * k
            path = root / f"{ifo[0]}-{kind}-{start}-32.gwf"
            TimeSeries(raw[ifo][k * 32 * rate: (k + 1) * 32 * rate], t0=start, sample_rate=rate, name=channel,
                       channel=channel).write(str(path), format="gwf")
            frames.append((ifo[0], kind, start, 32, str(path)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), DatafindHandler)
    server.frames = frames
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", raw
    server.shutdown()
    server.server_close()


def test_frames_found_by_datafind_are_read_and_resampled(tmp_path, datafind):
    url, raw = datafind
    start, duration = GWOSC_T0 + 8, 80
    path = generate(tmp_path / "frames.hdf5", start=start, duration=duration, sample_rate=2048, source="frames",
                    channels="H1:GDS-CALIB_STRAIN,L1:GDS-CALIB_STRAIN", frame_type="HOFT_C00",
                    datafind_server=url, block_seconds=32)
    strain, t0, rate = read_background(path)
    assert (t0, rate) == (start, 2048.0)
    for ifo in ("H1", "L1"):
        expected = resample_poly(raw[ifo][8 * 4096: (8 + duration) * 4096], 1, 2)
        np.testing.assert_allclose(strain[ifo], expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def test_virgo_frames_beside_ligo_s_with_one_frame_type_per_ifo(tmp_path, datafind):
    """Issue 24: H1, L1 and V1 (V1:Hrec_hoft_16384Hz in HoftOnline frames), each type as gwdatafind names it."""
    url, raw = datafind
    ifos, types = [ifo for ifo, *_ in FRAMES], ",".join(kind for _, kind, _, _ in FRAMES)
    path = generate(tmp_path / "hlv.hdf5", ifos=ifos, start=GWOSC_T0, duration=64, sample_rate=2048,
                    source="frames", channels=",".join(channel for _, _, channel, _ in FRAMES), frame_type=types,
                    datafind_server=url, block_seconds=32)
    strain, _, _ = read_background(path)
    for ifo, _, _, rate in FRAMES:
        expected = resample_poly(raw[ifo][: 64 * rate], 2048, rate)
        np.testing.assert_allclose(strain[ifo], expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    with pytest.raises(PermanentError, match=r"V1: no V1_HoftOnline frames cover"):  # one type: prefixed
        generate(tmp_path / "prefixed.hdf5", ifos=["V1"], start=GWOSC_T0, duration=64, sample_rate=2048,
                 source="frames", channels="V1:Hrec_hoft_16384Hz", frame_type="HoftOnline", datafind_server=url)


def test_frames_console_script_and_a_wrong_channel(tmp_path, datafind):
    url, _ = datafind
    output = tmp_path / "background.hdf5"
    common = ["--ifos", "H1,L1", "--start", GWOSC_T0, "--duration", 64, "--sample-rate", 2048, "--source", "frames",
              "--frame-type", "HOFT_C00", "--datafind-server", url, "--output", output]
    result = run(*common, "--channels", "L1:GDS-CALIB_STRAIN,H1:GDS-CALIB_STRAIN")
    assert result.returncode == 0, result.stderr
    assert TimeSeriesDict.read(output, format="hdf5")["L1"].span == (GWOSC_T0, GWOSC_T0 + 64)
    output.unlink()
    result = run(*common, "--channels", "H1:NO-SUCH_CHANNEL,L1:GDS-CALIB_STRAIN")
    assert result.returncode == 2, result.stderr
    assert "H1: cannot read H1:NO-SUCH_CHANNEL" in result.stderr
    assert not output.exists()
    result = run(*common[:-2], "--output", output, "--channels", "H1:GDS-CALIB_STRAIN,L1:GDS-CALIB_STRAIN",
                 "--start", GWOSC_T0 + 64)
    assert result.returncode == 2 and "frames cover" in result.stderr, result.stderr

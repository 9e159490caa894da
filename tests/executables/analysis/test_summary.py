"""The FINAL summary: summary.json, the self-contained report.html and the zero-lag table, over runs of fake-but-real
nodes (run by the local executor, so the node status file, nodes.log and stderr logs are real) and results files
written here in the contract layout."""

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.figure import Figure

from aframe_dag.local.executor import Executor
from executables.analysis.figures import png
from executables.common.markers import write_done_marker
from executables.formats.events import SECONDS_PER_YEAR, EventSet, RecoveredInjectionSet
from executables.formats.sets import ResponseSet
from tests.executables.analysis.handmade import (
    background,
    foreground,
    found_with,
    snrs,
    write_search,
    write_volume,
)
from tests.fixtures.fake_dag import Spec, make_run

SUMMARY = str(Path(sys.executable).with_name("aframe-summary"))
IFOS = ["H1", "L1"]
SECTIONS = ("status", "headline", "comparison", "sensitivity", "background", "found-missed", "training", "zero-lag",
            "timings", "metadata")
POPULATIONS = {"35-20": (35.0, 20.0), "20-10": (20.0, 10.0)}
FARS = np.array([1e-2, 0.1, 1.0, 12.175, 100.0, 1000.0])  # per year; FAR 1/yr lies on the grid


def stage_specs(failing: str | None = None) -> list[Spec]:
    """The producers the report knows (train, injections-merge, aggregate, sv), `failing` one exiting 2."""
    behaviour = {failing: ["--permanent"]} if failing else {}
    return [Spec("train", behaviour=behaviour.get("train", [])),
            Spec("injections-merge", behaviour=behaviour.get("injections-merge", [])),
            Spec("aggregate", ["train", "injections-merge"], behaviour=behaviour.get("aggregate", [])),
            Spec("sv", ["aggregate"], behaviour=behaviour.get("sv", []))]


def executed(directory: Path, specs: list[Spec]) -> tuple[Path, int]:
    condor = make_run(directory, specs)
    return condor, Executor(condor, 1, [], None, poll=0.01).run()


def events(rng, n: int, Tb: float, **extra) -> dict:
    return dict(detection_statistic=rng.normal(size=n), detection_time=1240000000 + np.sort(rng.uniform(0, Tb, n)),
                shift=np.zeros((n, 2)), Tb=Tb, ifos=IFOS, **extra)


def picture() -> bytes:
    figure = Figure(figsize=(1, 1))
    figure.subplots().plot([0, 1])
    return png(figure)


def write_results(root: Path) -> dict:
    """Every input the report reads, small and made here; returns what the headline numbers must equal."""
    rng = np.random.default_rng(0)
    results, train = root / "results", root / "training"
    results.mkdir()
    train.mkdir()
    background = EventSet(**events(rng, 400, 2 * SECONDS_PER_YEAR))
    background.sorted().write(results / "background.hdf5")
    EventSet(**events(rng, 5, 86400.0)).write(results / "zero-lag.hdf5")
    n = 30
    parameters = {"mass_1": rng.uniform(20, 40, n), "mass_2": rng.uniform(5, 20, n)}
    RecoveredInjectionSet(**events(rng, n, 0.0), injection_time=np.zeros(n), snr=rng.uniform(4, 40, n),
                          parameters=parameters).write(results / "foreground.hdf5")
    responses = {"h1": np.zeros((n, 16)), "l1": np.zeros((n, 16))}
    ResponseSet(waveforms=responses, snr=np.ones(n), parameters={"h1_snr": np.ones(n), "l1_snr": np.ones(n)},
                ifos=IFOS, sample_rate=16.0, num_injections=n + 17).write(root / "injections.hdf5")
    write_volume(results / "sensitive_volume.h5", FARS, POPULATIONS,
                 {"Tb": background.Tb, "V0": 12.5, "num_injections": n + 17, "num_accepted": n})
    (train / "training.png").write_bytes(picture())
    return {"Tb": background.Tb, "background_events": 400, "zero_lag_events": 5, "accepted_injections": n,
            "injection_draws": n + 17, "recovered_injections": n, "background": background}


def summarize(condor: Path, root: Path, status: int, failed: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([SUMMARY, "--condor-dir", condor, "--results-dir", root / "results", "--train-run-dir",
                           root / "training", "--injections", root / "injections.hdf5", "--output",
                           root / "results" / "summary.json", "--dag-status", str(status), "--failed-count",
                           str(failed), *extra], capture_output=True, text=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run whose every node succeeded (its condor dir), shared: the summary only reads it."""
    condor, code = executed(tmp_path_factory.mktemp("finished"), stage_specs())
    assert code == 0
    (condor / "run.ini.resolved").write_text("# aframe-dag 9.9\n[run]\nname = fake\n[data]\nsource = simulated\n"
                                             "noise_psd = aLIGODesignSensitivityT1800044\n")
    return condor


@pytest.fixture
def run_root(tmp_path, finished):
    expected = write_results(tmp_path)
    return finished, tmp_path, expected


def read_outputs(root: Path) -> tuple[dict, str]:
    results = root / "results"
    return json.loads((results / "summary.json").read_text()), (results / "report.html").read_text()


def test_finished_run_report_has_every_section_and_only_embedded_images(run_root):
    condor, root, expected = run_root
    result = summarize(condor, root, 0, 0)
    assert result.returncode == 0, result.stderr
    summary, page = read_outputs(root)
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 6  # efficiency and distance, SV, distance, background, found/missed, training
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "http" not in page.lower() and "<script" not in page and "<link" not in page
    assert "Not available" not in page and "Every node succeeded." in page
    assert "Blinded" in page and "zero-lag.csv" not in page
    assert not (root / "results" / "zero-lag.csv").exists()
    assert "<h1>aframe run fake</h1>" in page and "# aframe-dag 9.9" in page  # run.ini.resolved, shown whole
    assert summary["background"] == {"source": "simulated", "noise_psd": "aLIGODesignSensitivityT1800044",
                                     "simulated": True}
    assert "NOT COMPARABLE with this curve" in page and "35+20, 20+10 Msun" in page  # config order, not HDF5's
    assert "the meaningful comparison is the matched-filter reference" in page  # simulated, and no reference
    assert "[reference] matched_filter = true" in page and "`make reference`" in page

    headline = summary["headline"]
    for key in ("Tb", "background_events", "zero_lag_events", "accepted_injections", "injection_draws",
                "recovered_injections"):
        assert headline[key] == expected[key], key
    with h5py.File(root / "results" / "sensitive_volume.h5") as handle:
        at_year = int(np.flatnonzero(FARS == 1.0)[0])
        for name in POPULATIONS:
            values = headline["sensitive_volume"]["1/yr"]["populations"][name]
            for key in ("sv", "sv_err", "distance", "distance_err"):
                assert values[key] == pytest.approx(handle[f"populations/{name}/{key}"][at_year], rel=1e-12)
        assert headline["sensitive_volume"]["1/month"]["populations"]["35-20"]["sv"] == pytest.approx(
            np.log1p(12.175), rel=1e-3)
    assert summary["zero_lag"] == {"count": 5, "blinded": True, "table": None}
    assert summary["missing"] == [] and summary["problems"] == [] and summary["reference"] is False
    assert summary["stages"]["s-aggregate"]["done"] == 1 and summary["nodes"]["sv"]["done"] is True
    assert summary["nodes"]["sv"]["elapsed"] >= 0 and summary["nodes"]["sv"]["end"] >= summary["nodes"]["sv"]["start"]


def test_unblinded_run_lists_zero_lag_candidates_with_their_far(run_root):
    condor, root, expected = run_root
    result = summarize(condor, root, 0, 0, "--unblind")
    assert result.returncode == 0, result.stderr
    summary, page = read_outputs(root)
    table = root / "results" / "zero-lag.csv"
    assert summary["zero_lag"] == {"count": 5, "blinded": False, "table": str(table)}
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    zero_lag = EventSet.read(root / "results" / "zero-lag.hdf5").sorted()
    assert [float(row["detection_statistic"]) for row in rows] == zero_lag.detection_statistic.tolist()
    fars = expected["background"].significance(zero_lag.detection_statistic)
    louder = fars == 0  # louder than every background event: an upper limit, 1/Tb, never 0
    assert [row["far_upper_limit"] for row in rows] == [str(flag) for flag in louder]
    assert [float(row["far_per_year"]) for row in rows] == pytest.approx(np.where(louder, 0.5, fars).tolist())
    assert f"{zero_lag.detection_time[0]:.3f}" in page and "Blinded" not in page


def test_a_missing_training_plot_is_redrawn_and_a_broken_input_is_named(run_root):
    condor, root, _ = run_root
    (root / "training" / "training.png").unlink()
    (root / "training" / "metrics.csv").write_text("epoch,step,train_loss_step,valid_auroc\n0,10,0.6,\n0,10,,0.7\n"
                                                  "1,20,,0.8\n")
    (root / "results" / "zero-lag.hdf5").write_bytes(b"not HDF5")
    result = summarize(condor, root, 0, 0, "--unblind")
    assert result.returncode == 0, result.stderr  # the exit code follows the DAG only
    summary, page = read_outputs(root)
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 6
    assert "(from metrics.csv)</figcaption>" in page
    missing = {Path(entry["path"]).name: entry for entry in summary["missing"]}
    assert sorted(missing) == ["zero-lag.hdf5"]
    problem = missing["zero-lag.hdf5"]
    assert problem["what"] == "zero-lag events" and problem["path"] == str(root / "results" / "zero-lag.hdf5")
    assert problem["reason"].startswith("unreadable: ") and "not a readable HDF5 file" in problem["reason"]
    assert summary["zero_lag"]["count"] is None and not (root / "results" / "zero-lag.csv").exists()
    assert "Not available: zero-lag events" in page


def test_failed_dag_reports_the_failed_node_and_what_is_missing(tmp_path):
    condor, code = executed(tmp_path, stage_specs(failing="aggregate"))
    assert code != 0
    (tmp_path / "results").mkdir()
    result = summarize(condor, tmp_path, 2, 1)
    assert result.returncode == 1
    assert "the DAG failed (DAG_STATUS 2, 1 failed nodes)" in result.stderr
    summary, page = read_outputs(tmp_path)
    (problem,) = summary["problems"]
    assert problem["node"] == "aggregate" and problem["exit_code"] == 2
    assert "permanent failure" in problem["reason"]
    assert any("told to fail permanently" in line for line in problem["stderr"])
    missing = {entry["what"]: entry for entry in summary["missing"]}
    assert missing["background events"]["why"].startswith("node aggregate failed (exit code 2")
    assert missing["sensitive volume"]["why"] == "node sv did not run: it needs aggregate, which failed"
    assert "node train is done, yet the file is not there" in missing["training curve"]["why"]
    assert summary["headline"] == {} and summary["zero_lag"]["count"] is None
    assert summary["nodes"]["sv"]["done"] is False and summary["nodes"]["train"]["done"] is True
    assert "The DAG failed (DAG_STATUS 2, 1 failed nodes)" in page
    assert "told to fail permanently" in page and "<img" not in page
    assert "Not available: sensitive volume" in page and "node sv did not run" in page


def test_nodes_a_lagging_node_status_file_calls_running_are_settled(tmp_path):
    """DAGMan rewrites the node status file every 30 s: when FINAL starts it may still call finished nodes running;
    their done-marker, or the end of their job in nodes.log, says what became of them."""
    condor, code = executed(tmp_path, stage_specs())
    assert code == 0
    text = re.sub(r"DagStatus = 5;", "DagStatus = 3;", (condor / "aframe.status").read_text())
    for node in ("aggregate", "sv"):
        text = re.sub(rf'(Node = "{node}";\s*NodeStatus = )5;(.*\s*StatusDetails = )""', r'\g<1>3;\2"not_idle"', text)
    (condor / "aframe.status").write_text(text)
    (condor / "done" / "sv.json").unlink()  # sv is left with its job's end in nodes.log
    write_results(tmp_path)
    assert summarize(condor, tmp_path, 0, 0).returncode == 0
    summary, _ = read_outputs(tmp_path)
    assert summary["nodes"]["aggregate"]["status"] == summary["nodes"]["sv"]["status"] == "done"
    assert summary["nodes"]["aggregate"]["finished"] is not None and summary["nodes"]["sv"]["finished"] is None
    assert all(row["running"] == 0 for row in summary["stages"].values())


@pytest.fixture(scope="module")
def with_reference(tmp_path_factory):
    """A finished run whose DAG has the matched-filter reference's aggregate and sv nodes."""
    specs = [*stage_specs(), Spec("reference-aggregate", ["injections-merge"]), Spec("reference-sv",
                                                                                    ["reference-aggregate"])]
    condor, code = executed(tmp_path_factory.mktemp("reference"), specs)
    assert code == 0
    (condor / "run.ini.resolved").write_text("[data]\nsource = simulated\nnoise_psd = aLIGODesignSensitivityT1800044\n")
    return condor


def test_a_run_with_the_reference_leads_with_the_ratio_of_50_percent_snrs(tmp_path, with_reference):
    """Issue 25 item 2: the same 600 injections found half the time at SNR 10 by the network and 8 by the matched
    filter, each against its own two-year background at 10/Tb; the reference's sensitive volume is missing."""
    write_results(tmp_path)
    results, Tb, snr = tmp_path / "results", 2 * SECONDS_PER_YEAR, snrs(600)
    write_search(results, background(300, Tb), foreground(snr, found_with(snr, 10.0, 0.15, seed=2)))
    write_search(results / "reference", background(300, Tb, seed=1, offset=50.0),
                 foreground(snr, found_with(snr, 8.0, 0.15, seed=3)))
    result = summarize(with_reference, tmp_path, 0, 0)
    assert result.returncode == 0, result.stderr
    summary, page = read_outputs(tmp_path)
    headline = summary["headline"]
    assert summary["reference"] is True and headline["comparison_far"] == pytest.approx(5.0)
    assert headline["snr50_ratio"] == pytest.approx(headline["snr50_network"] / headline["snr50_reference"])
    assert headline["snr50_ratio"] == pytest.approx(1.25, abs=3 * headline["snr50_ratio_err"])
    assert headline["snr50_ratio_paired"] is True and headline["comparison_distance"] is None
    (missing,) = summary["missing"]
    assert missing["what"] == "matched-filter sensitive volume" and missing["producer"] == "reference-sv"
    assert missing["why"].startswith("node reference-sv is done, yet the file is not there")
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 6
    assert "<h2>Network and matched filter</h2>" in page and "Not available: matched-filter sensitive volume" in page
    headline_html = page.split('<section id="headline">')[1].split("</section>")[0]
    assert headline_html.index("Network against the matched-filter reference") < headline_html.index("Background:")
    assert f"<td>{headline['snr50_ratio']:.4g} ± {headline['snr50_ratio_err']:.2g}</td>" in headline_html
    assert "Secondary: the matched-filter reference" in page and "the meaningful comparison is" not in page


@pytest.fixture
def marked_condor_dir(tmp_path):
    """A DAG with no executor files at all: the done-markers alone say which nodes finished."""
    (tmp_path / "aframe.dag").write_text(f"JOB background-train-1-2 {tmp_path}/background.sub\n"
                                         f"JOB background-test-3-4 {tmp_path}/background.sub\n"
                                         f"JOB train {tmp_path}/train.sub\n"
                                         "PARENT background-train-1-2 CHILD train\n"
                                         f"FINAL summary {tmp_path}/summary.sub\n")
    output = tmp_path / "bg.hdf5"
    output.write_bytes(b"x")
    for node in ("background-train-1-2", "background-test-3-4"):
        write_done_marker(tmp_path / "done" / f"{node}.json", node, [output], "h")
    (tmp_path / "results").mkdir()
    return tmp_path


def test_summary_counts_stages_from_done_markers(marked_condor_dir):
    result = summarize(marked_condor_dir, marked_condor_dir, 0, 0)
    assert result.returncode == 0, result.stderr
    assert "every node succeeded" in result.stderr
    summary, _ = read_outputs(marked_condor_dir)
    assert {stage: (row["done"], row["total"]) for stage, row in summary["stages"].items()} == {
        "background": (2, 2), "train": (0, 1)}
    assert summary["nodes"]["train"]["done"] is False and summary["nodes"]["train"]["finished"] is None
    assert summary["nodes"]["background-test-3-4"]["finished"] is not None


def test_missing_dag_is_a_permanent_error(tmp_path):
    result = summarize(tmp_path, tmp_path, 0, 0)
    assert result.returncode == 2 and "cannot read the DAG" in result.stderr
    assert not (tmp_path / "results").exists()


def test_the_summary_stays_light():
    """The FINAL node runs wherever DAGMan puts it: no torch (nor ml4gw, lightning, pyplot) is imported."""
    code = ("import sys, executables.analysis.summary; "
            "print([m for m in ('torch', 'ml4gw', 'lightning', 'matplotlib.pyplot') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"

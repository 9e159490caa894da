"""`build`: writes the condor dir whole, byte-identically on a rebuild, and never replaces a different DAG silently."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from aframe_dag.builder.build import build
from aframe_dag.cli.main import main
from aframe_dag.condordir import running
from aframe_dag.errors import ConfigError, UserError
from aframe_dag.names import RESOLVED
from executables.common.markers import write_done_marker


def snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_build_writes_the_condor_dir(micro_ini, run_env):
    result = build(micro_ini)
    condor = run_env / "condor"
    assert result.condor_dir == condor
    for name in ["aframe.dag", "dagman.config", "background.sub", "train.sub", "summary.sub", RESOLVED,
                 "run_local.sh"]:
        assert (condor / name).is_file(), name
    assert (condor / "logs").is_dir() and (condor / "done").is_dir()
    assert (condor / "run_local.sh").stat().st_mode & 0o111
    assert "# aframe-dag " in (condor / RESOLVED).read_text().splitlines()[1]
    assert not [p for p in condor.iterdir() if p.name.startswith(".")]


def test_rebuild_is_byte_identical_and_says_unchanged(micro_ini, run_env):
    build(micro_ini)
    before = snapshot(run_env / "condor")
    again = build(micro_ini)
    assert again.written == []
    assert snapshot(run_env / "condor") == before


def test_rebuild_from_the_resolved_config_is_byte_identical(micro_ini, run_env):
    build(micro_ini)
    before = snapshot(run_env / "condor")
    assert build(run_env / "condor" / RESOLVED).written == []
    assert snapshot(run_env / "condor") == before


def test_a_different_dag_is_refused_then_forced(micro_ini, run_env):
    build(micro_ini)
    before = snapshot(run_env / "condor")
    with pytest.raises(UserError, match=r"different DAG: changed \[sv\] max_far: 1000000 -> 10; nothing written"):
        build(micro_ini, ["sv.max_far=10"])
    assert snapshot(run_env / "condor") == before
    result = build(micro_ini, ["sv.max_far=10"], force=True)
    assert result.written == ["run_local.sh", RESOLVED, "aframe.dag"]  # only sv changed: its VARS, not sv.sub


def test_a_refusal_names_a_few_changed_keys_and_counts_the_rest(micro_ini, run_env):
    """Issue 20: 'a different DAG' said nothing of what differs."""
    build(micro_ini)
    changes = ["run.seed=7", "condor.requirements=(Memory > 1)", "sv.max_far=10", "testing.Tb=7200"]
    with pytest.raises(UserError) as refusal:
        build(micro_ini, changes)
    assert ("different DAG: changed [run] seed: 1122 -> 7; [condor] requirements: (empty) -> (Memory > 1); "
            "[testing] Tb: ") in str(refusal.value)
    assert "; and 1 more key(s); nothing written" in str(refusal.value)
    (run_env / "condor" / RESOLVED).unlink()
    with pytest.raises(UserError, match=f"no readable {RESOLVED} to compare configs, but these files differ: "):
        build(micro_ini, changes)


def test_a_pool_run_under_tmp_is_refused(micro_ini, run_env):
    if Path("/tmp") not in run_env.parents:
        pytest.skip("the test's directory is not under /tmp")
    with pytest.raises(ConfigError, match=r"\[run\] condor_dir: is under /tmp, where DAGMan refuses"):
        build(micro_ini, ["condor.site=ldg", "condor.accounting_group=ligo.dev.o4.cbc.allsky.aframe"], dry_run=True)


def test_force_reports_whether_the_rescue_file_still_applies(micro_ini, run_env):
    result = build(micro_ini)
    condor = run_env / "condor"
    node = next(n for n in result.workflow.nodes if n.name == "background-train-1240579783-600")
    output = Path(node.outputs[0])
    output.parent.mkdir(parents=True)
    output.write_bytes(b"strain")
    write_done_marker(condor / "done" / f"{node.name}.json", node.name, node.outputs, node.hash)
    (condor / "aframe.dag.rescue001").write_text("# rescue\nDONE background-train-1240579783-600\n")
    assert "still applies" in build(micro_ini, ["sv.max_far=10"], force=True).notes[0]
    (condor / "aframe.dag.rescue002").write_text("DONE waveforms-train-009\n")
    assert "lacks" in build(micro_ini, ["sv.max_far=20"], force=True).notes[0]


def test_running_dag_lock_is_named(micro_ini, run_env):
    build(micro_ini)
    (run_env / "condor" / "aframe.dag.lock").write_text("")
    with pytest.raises(UserError, match="aframe.dag.lock says DAGMan may be running it"):
        build(micro_ini, ["sv.max_far=10"])


def test_nothing_is_rebuilt_or_submitted_while_dagman_runs_the_dag(micro_ini, run_env, monkeypatch, capsys):
    """Issue 18: --force never replaces a running DAG's files, and --submit never starts a second DAGMan on it."""
    condor = build(micro_ini).condor_dir
    dagman = {"ClusterId": 40, "JobUniverse": 7, "JobStatus": 2, "Iwd": "/x", "JobBatchName": "y"}
    monkeypatch.setattr(running, "schedd_jobs", lambda _: [dagman])
    before = snapshot(condor)
    with pytest.raises(UserError, match="cannot replace its files while the DAG is still running: DAGMan job 40 is "
                                        "running this DAG \\(submitted from /x, batch name y\\)"):
        build(micro_ini, ["sv.max_far=10"], force=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["build", str(micro_ini), "--submit"])
    assert exit_info.value.code == 2 and snapshot(condor) == before
    assert "cannot submit it while the DAG is still running: DAGMan job 40" in capsys.readouterr().err


def test_dry_run_writes_nothing(micro_ini, run_env):
    result = build(micro_ini, dry_run=True)
    assert len(result.workflow.nodes) == 20
    assert not (run_env / "condor").exists()


def test_outdir(micro_ini, run_env):
    result = build(micro_ini, outdir=run_env / "elsewhere")
    assert (run_env / "elsewhere" / "aframe.dag").exists()
    assert f"{run_env}/elsewhere/done/" in (run_env / "elsewhere" / "aframe.dag").read_text()
    assert result.condor_dir == run_env / "elsewhere"


def test_real_data_segments_are_cached(micro_ini, run_env):
    segments = run_env / "segments.txt"
    segments.write_text("# H1 L1 coincident DATA\n1240579783 1240580500\n1240580600 1240582183\n")
    result = build(micro_ini, ["data.source=gwosc"], segments_file=segments)
    cache = run_env / "condor" / "segments.txt"
    assert cache.read_text() == segments.read_text()
    assert result.workflow.totals["train_files"] == 3
    assert build(micro_ini, ["data.source=gwosc"]).written == []


def test_bad_segment_file(micro_ini, run_env):
    segments = run_env / "segments.txt"
    segments.write_text("1240579783 oops\n")
    with pytest.raises(UserError, match=r"segments.txt: line 1: not numbers"):
        build(micro_ini, ["data.source=gwosc"], segments_file=segments)
    assert not (run_env / "condor").exists()


def test_unwritable_condor_dir(micro_ini, run_env, monkeypatch):
    monkeypatch.setenv("AFRAME_CONDOR_DIR", "/proc/aframe")
    with pytest.raises(UserError, match="cannot write the condor dir"):
        build(micro_ini)


class _Timeline(http.server.BaseHTTPRequestHandler):
    """GWOSC's v2 timeline API, as gwosc.timeline reads it: paged JSON of {start, stop} segments."""

    segments = {"H1_DATA": [[1240579783, 1240580500], [1240580600, 1240582183]],
                "L1_DATA": [[1240579783, 1240582183]]}

    def do_GET(self):  # noqa: N802 - the name http.server calls
        flag = self.path.split("/timelines/")[1].split("/")[0]
        body = json.dumps({"results": [{"start": a, "stop": b} for a, b in self.segments[flag]], "next": None,
                           "num_pages": 1})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gwosc_host():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Timeline)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_segments_are_queried_from_gwosc_and_cached(micro_ini, run_env, gwosc_host):
    result = build(micro_ini, ["data.source=gwosc", f"data.gwosc_host={gwosc_host}"])
    cache = run_env / "condor" / "segments.txt"
    assert cache.read_text() == "1240579783 1240580500\n1240580600 1240582183\n"  # H1 and L1 together
    assert result.workflow.totals["train_files"] == 3
    background = next(node for node in result.workflow.nodes if node.stage == "background")
    assert gwosc_host in background.arguments


def test_unreachable_segment_server_says_what_to_do(micro_ini, run_env):
    with pytest.raises(UserError, match=r"cannot query the DATA segments for H1, L1 .*pass --segments FILE"):
        build(micro_ini, ["data.source=gwosc", "data.gwosc_host=http://127.0.0.1:9"])
    assert not (run_env / "condor").exists()

"""Vetoes (issue 24, item 2): the veto files, the live time they leave timeslid branches, and the plan's Tb.

The fixture is small enough to check by hand: one file t0 = 1000, 100 s, dead time 10 s, shifts (0, 1) for H1, L1.
Branch i analyses [1010, 1100 - i); H1 vetoes [1020, 1030), L1 vetoes [1032, 1036) and [1095, 1200).
"""

from __future__ import annotations

import math

import pytest
from igwn_ligolw import ligolw, lsctables
from igwn_ligolw.utils import write_filename
from igwn_ligolw.utils.segments import LigolwSegments
from igwn_segments import segment, segmentlist, segmentlistdict

from aframe_dag.builder.build import BuildResult
from aframe_dag.builder.report import build_report
from aframe_dag.builder.transfer import access_point_dirs, sandboxed
from aframe_dag.config import load_config
from aframe_dag.errors import ConfigError
from aframe_dag.plan import plan
from aframe_dag.timeslides import plan_branches
from aframe_dag.vetoes import Vetoes, VetoFileError, read_veto_file

IFOS = ("H1", "L1")
SHIFTS = (0.0, 1.0)
H1 = segmentlist([segment(1020, 1030)])
L1 = segmentlist([segment(1032, 1036), segment(1095, 1200)])


@pytest.fixture
def vetoes():
    return Vetoes(IFOS, {"H1": H1, "L1": L1})


def test_live_time_of_each_branch_by_hand(vetoes):
    # zero-lag: H1 10 s + L1 4 s + L1 [1095, 1100) 5 s of the 90 s span
    assert vetoes.vetoed_seconds(1010, 1100, (0, 0)) == 19
    # shift 1: L1 maps to [1031, 1035) and [1094, 1099), both clear of H1's [1020, 1030)
    assert vetoes.vetoed(1010, 1099, (0, 1)) == segmentlist([segment(1020, 1030), segment(1031, 1035),
                                                            segment(1094, 1099)])
    # shift 2: L1's [1030, 1034) touches H1's interval: [1020, 1034) is 14 s, plus [1093, 1098)
    assert vetoes.vetoed_seconds(1010, 1098, (0, 2)) == 19
    # shift 3: L1's [1029, 1033) overlaps H1's by 1 s, which is removed once: 13 + 5
    assert vetoes.vetoed_seconds(1010, 1097, (0, 3)) == 18


def test_an_event_is_vetoed_when_any_shifted_ifo_time_is(vetoes):
    assert vetoes.contains(1025, (0, 1))  # H1
    assert vetoes.contains(1033.5, (0, 2)) and not vetoes.contains(1033.5, (0, 3))  # L1 at 1035.5, then 1036.5
    assert not vetoes.contains(1030, (0, 0))  # intervals are half-open
    assert not vetoes.contains(1050, (0, 1))


def test_plan_branches_add_shifts_until_the_live_time_reaches_tb(vetoes):
    common = dict(dead_time=10, minimum=5, Tb=140, num_injections=10, spacing=10, buffer=5)
    plain = plan_branches([(1000, 100)], SHIFTS, **common)
    assert max(b.shift for b in plain) == 2  # 89 + 88 = 177 s reach 140 s
    vetoed = plan_branches([(1000, 100)], SHIFTS, vetoes=vetoes, **common)
    assert [(b.shift, b.livetime, b.vetoed, b.live) for b in vetoed] == [
        (0, 90, 19, 71), (1, 89, 19, 70), (2, 88, 19, 69), (3, 87, 18, 69)]  # 70 + 69 < 140 <= 70 + 69 + 69
    assert sum(b.live for b in vetoed if b.background) == 208
    # 8 injections a branch at 1015, 1025, ..., 1085; 1025 is vetoed in H1 (1035 + 1 = 1036 is not in L1's)
    assert [(b.shift, b.injections, b.vetoed_injections) for b in vetoed] == [(0, 0, 0), (1, 8, 1), (2, 8, 1),
                                                                              (3, 0, 0)]


def test_an_ifo_named_twice_joins_its_files_and_segwizard_lines_parse(tmp_path):
    first, second = tmp_path / "H1-a.txt", tmp_path / "H1-b.txt"
    first.write_text("# seg start stop duration\n0 1020 1030 10\n1 1050 1052.5 2.5\n")
    second.write_text("; gates\n1029 1031\n\n1100 1101  # one more\n")
    vetoes = Vetoes.read(IFOS, [("H1", first), ("H1", second)])
    assert vetoes.lists[0] == segmentlist([segment(1020, 1031), segment(1050, 1052.5), segment(1100, 1101)])
    assert vetoes.lists[1] == segmentlist() and vetoes.total() == 14.5


def test_ligolw_segment_files_give_the_named_ifos_segments(tmp_path):
    path = tmp_path / "H1L1-CAT1.xml"
    document = ligolw.Document()
    document.appendChild(ligolw.LIGO_LW())
    with LigolwSegments(document, lsctables.Process(process_id=lsctables.ProcessTable.get_next_id())) as tables:
        tables.insert_from_segmentlistdict(segmentlistdict({"H1": H1, "L1": L1}), "CAT1")
    write_filename(document, str(path))
    assert read_veto_file(path, "L1") == L1
    with pytest.raises(VetoFileError, match="holds no segment list of V1 \\(its ifos: H1, L1\\)"):
        read_veto_file(path, "V1")


@pytest.mark.parametrize(("text", "message"), [
    ("1020 1030\nfrom 1040 to 1050\n", "line 2: not 'start stop' or 'index start stop duration': 'from 1040 to 1050'"),
    ("0 1020 1030 5\n", "segment '0 1020 1030 5' has incorrect duration"),
    ("1020 1030\n0 1040 1050 10\n", "format mismatch"),
])
def test_a_malformed_file_names_itself_and_the_line(tmp_path, text, message):
    path = tmp_path / "H1.txt"
    path.write_text(text)
    with pytest.raises(VetoFileError, match=f"^{path}: .*{message}"):
        read_veto_file(path, "H1")


# -- through the config and the plan (tests/data/micro.ini: two 600 s test files, psd_length 16, shifts 0, 1) --

MICRO_T0 = 1240580983  # the first test file starts at train_stop
H1_VETO = f"{MICRO_T0 + 100} {MICRO_T0 + 400}\n"  # 300 s of the first file
L1_VETO = f"0 {MICRO_T0 + 150} {MICRO_T0 + 160} 10\n"  # inside H1's under any small shift: removed once


def micro_config(micro_ini, vetoes="H1:h1.txt, L1:vetoes/l1.txt", *extra):
    (micro_ini.parent / "h1.txt").write_text(H1_VETO)
    (micro_ini.parent / "vetoes").mkdir(exist_ok=True)
    (micro_ini.parent / "vetoes" / "l1.txt").write_text(L1_VETO)
    return load_config(micro_ini, [f"testing.vetoes={vetoes}", "testing.num_injections=50", *extra])


def node(workflow, name):
    return next(n for n in workflow.nodes if n.name == name)


def option(node, name):
    return node.arguments[node.arguments.index(name) + 1]


def test_the_plan_counts_live_time_toward_tb_and_tells_aggregate_and_sv(micro_ini):
    plain = plan(load_config(micro_ini, ["testing.num_injections=50"]))
    assert plain.totals["shifts"] == 2 and plain.totals["livetime"] == 2 * (583 + 582)
    workflow = plan(micro_config(micro_ini))
    # shift i keeps 584 - i s of each file; H1's 300 s leave the first: 866 + 864 < 2000 <= 866 + 864 + 862
    assert workflow.totals["shifts"] == 3
    assert workflow.totals["livetime"] == 2 * (583 + 582 + 581) and workflow.totals["vetoed"] == 3 * 300
    # injections at t0 + 32 + 16 k: k = 5 .. 22 lie in H1's [100, 400); only shift 1 holds injections
    assert workflow.totals["vetoed_injections"] == 18
    aggregate = node(workflow, "aggregate")
    h1, l1 = str(micro_ini.parent / "h1.txt"), str(micro_ini.parent / "vetoes" / "l1.txt")
    assert option(aggregate, "--expected-livetime") == str(2 * (583 + 582 + 581))
    assert option(aggregate, "--expected-vetoed-livetime") == "900"
    assert option(aggregate, "--expected-vetoed-injections") == "18"
    assert option(aggregate, "--shifts") == "0,1"
    assert [aggregate.arguments[i + 1] for i, word in enumerate(aggregate.arguments) if word == "--veto"] == \
        [f"H1:{h1}", f"L1:{l1}"]
    assert aggregate.inputs[-2:] == (h1, l1)
    assert option(node(workflow, "sv"), "--vetoed-injections") == "18"
    assert "--veto" not in node(plain, "aggregate").arguments
    assert "--vetoed-injections" not in node(plain, "sv").arguments

    report = build_report(BuildResult(workflow, micro_ini.parent, {}), dry_run=True)
    assert f"background livetime: {2 * (583 + 582 + 581) - 900} s" in report
    assert "vetoes: 900 s of the 3492 s of background analysed vetoed, 18 of the injections dropped" in report


def test_transfer_mode_sends_the_veto_files_to_aggregate(micro_ini):
    workflow = plan(micro_config(micro_ini))
    aggregate = node(workflow, "aggregate")
    job = sandboxed(workflow, aggregate, (*aggregate.arguments, "--done-marker", "/x/done"), (), (),
                    access_point_dirs(workflow))
    assert job.inputs[-2:] == (str(micro_ini.parent / "h1.txt"), str(micro_ini.parent / "vetoes" / "l1.txt"))
    assert "H1:h1.txt" in job.arguments and "L1:l1.txt" in job.arguments


def test_veto_files_sharing_a_name_are_refused_in_transfer_mode(micro_ini):
    (micro_ini.parent / "other").mkdir()
    (micro_ini.parent / "other" / "h1.txt").write_text("")
    config = micro_config(micro_ini, "H1:h1.txt, L1:other/h1.txt", "condor.filesystem=transfer",
                          "condor.universe=container", "condor.container_image=/x.sif")
    with pytest.raises(ConfigError, match=r"\[testing\] vetoes: two files are named h1.txt"):
        plan(config)


@pytest.mark.parametrize(("vetoes", "message"), [
    ("H1:missing.txt", "missing.txt: cannot read: No such file or directory"),
    ("H1:bad.txt", "bad.txt: line 1: not 'start stop'"),
])
def test_a_missing_or_malformed_file_is_a_config_error_naming_it(micro_ini, vetoes, message):
    (micro_ini.parent / "bad.txt").write_text("start stop\n")
    with pytest.raises(ConfigError, match=rf"\[testing\] vetoes: .*{message}"):
        plan(micro_config(micro_ini, vetoes))


def test_an_ifo_the_run_does_not_analyse_is_a_config_error(micro_ini):
    with pytest.raises(ConfigError, match=r"\[testing\] vetoes: names V1:v1.txt: give IFO:path with IFO one of "
                                          "H1, L1"):
        micro_config(micro_ini, "H1:h1.txt, V1:v1.txt")


def test_vetoes_that_leave_too_little_live_time_say_so(micro_ini):
    everything = micro_ini.parent / "all.txt"
    everything.write_text(f"{MICRO_T0 - 10} {MICRO_T0 + 2000}\n")
    with pytest.raises(ConfigError, match="cannot be reached with the testing data \\(live time: the vetoes' times "
                                          "left out\\)"):
        plan(micro_config(micro_ini, f"H1:{everything}"))
    assert math.isclose(Vetoes.read(IFOS, [("H1", everything)]).total(), 2010)

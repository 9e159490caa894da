"""HTCondor quoting of node arguments: plain words pass through, words with whitespace or none are quoted."""

import pytest

from aframe_dag.builder import quoting
from aframe_dag.builder.render import shell_command
from aframe_dag.errors import UserError


@pytest.mark.parametrize("values, expected", [
    (("--start", "1240000000", "--ifos", "H1,L1"), "--start 1240000000 --ifos H1,L1"),
    (("--duration", 1024, "--fraction", 0.5), "--duration 1024 --fraction 0.5"),
    (("--output", "/srv/my results/x.hdf5"), "--output '/srv/my results/x.hdf5'"),
    (("--label", "a\tb", "--empty", ""), "--label 'a\tb' --empty ''"),
    (("--lead", " x", "--nbsp", "a\xa0b"), "--lead ' x' --nbsp 'a\xa0b'"),
    (("--status", "$(DAG_STATUS)"), "--status $(DAG_STATUS)"),
])
def test_arguments(values, expected):
    assert quoting.arguments(values, "node x") == expected


@pytest.mark.parametrize("value, problem", [("it's", "a quote"), ('say "x"', "a quote"), ("a\nb", "a newline"),
                                            ("$(HOME)", r"'\$\(' \(an HTCondor macro\)")])
def test_arguments_refuse_what_htcondor_would_misread(value, problem):
    with pytest.raises(UserError, match=f"node x: .* contains {problem}"):
        quoting.arguments(("--ok", value), "node x")


@pytest.mark.parametrize("words", [("aframe-sv", "--far", "1"), ("/opt/my bin/x", "--o", "a'b"),
                                   ("x", "--s", "é"), ("x", ""), ("x", "a;b", "$HOME"), ("x", "", "a b")])
def test_shell_command_is_shlex_join(words):
    import shlex

    assert shell_command(words) == shlex.join(words)

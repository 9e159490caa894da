"""The DAG reader: what DAGMan's own files say, read back, and errors with file:line."""

from pathlib import Path

import pytest

from aframe_dag.dagfile import DagSyntaxError, apply_rescue, parse_dag, read_dag, rescue_files

RECORDED = Path(__file__).resolve().parents[1] / "data" / "dagman" / "failed-retry"

TEXT = """\
# comment
CONFIG dagman.config
JOB a a.sub
JOB b b.sub DIR work NOOP
VARS a node="a" nodeargs="--path '/x y' --quote \\"q\\""
RETRY a 3 UNLESS-EXIT 2
SCRIPT PRE a /bin/check /c a 1234
SCRIPT DEFER 4 60 POST b /bin/post $RETURN
PRE_SKIP a 99
CATEGORY a gpu
MAXJOBS gpu 2
PRIORITY b 5
ABORT-DAG-ON a 3 RETURN 1
PARENT a CHILD b
FINAL s s.sub
"""


def test_reads_every_command():
    dag = parse_dag(TEXT, "x.dag")
    a, b = dag.nodes["a"], dag.nodes["b"]
    assert a.variables == {"node": "a", "nodeargs": "--path '/x y' --quote \"q\""}
    assert (a.retries, a.unless_exit, a.pre_skip, a.category) == (3, 2, 99, "gpu")
    assert (a.pre.executable, a.pre.arguments) == ("/bin/check", ["/c", "a", "1234"])
    assert b.post.executable == "/bin/post" and b.noop and b.directory == "work" and b.priority == 5
    assert a.abort_on == {3: 1}
    assert dag.parents == {"b": ["a"]} and dag.children()["a"] == ["b"]
    assert dag.maxjobs == {"gpu": 2} and dag.config == ["dagman.config"] and dag.final.name == "s"



@pytest.mark.parametrize("values, expected", [
    ('a="1" b="two words"', {"a": "1", "b": "two words"}),
    ('a = "x#y"   b="$(z)"  ', {"a": "x#y", "b": "$(z)"}),
    ('a="say \\"hi\\" now" b="c:\\\\d"', {"a": 'say "hi" now', "b": "c:\\d"}),
    ('a="" b="\\"', None),
    ('a="x" stray', None),
])
def test_vars_values(values, expected):
    """Plain values are found with str.find, escaped ones by the full pattern; both agree with DAGMan's quoting."""
    text = f"JOB a a.sub\nVARS a {values}\n"
    if expected is None:
        with pytest.raises(DagSyntaxError, match="x.dag:2: cannot read VARS"):
            parse_dag(text, "x.dag")
    else:
        assert parse_dag(text, "x.dag").nodes["a"].variables == expected


@pytest.mark.parametrize("line, message", [
    ("PARENT a CHILD nope", r"x.dag:16: PARENT/CHILD names node 'nope'"),
    ("JOB a again.sub", r"x.dag:16: node 'a' is defined twice \(first at line 3\)"),
    ("RETRY a 3 # three tries", "inline comment"),
    ("SPLICE x y.dag", "unknown DAG command 'SPLICE'"),
    ("RETRY a many", "'many' is not an integer"),
    ('VARS a k="unterminated', "unbalanced quote"),
])
def test_errors_name_file_and_line(line, message):
    with pytest.raises(DagSyntaxError, match=message):
        parse_dag(TEXT + line + "\n", "x.dag")


def test_reads_a_real_dagman_rescue_file(tmp_path):
    dag = read_dag(RECORDED / "aframe.dag")
    rescues = rescue_files(RECORDED / "aframe.dag")
    assert [p.name for p in rescues] == ["aframe.dag.rescue001"]
    apply_rescue(dag, rescues[0])
    done = {name for name, node in dag.nodes.items() if node.done}
    assert done and not dag.nodes["summary"].done
    assert "background-0" not in done

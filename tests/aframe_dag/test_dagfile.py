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
    ("VARS nope x=\"1\"", r"x.dag:16: VARS names node 'nope', which no JOB line defines"),
    ("JOB a again.sub", r"x.dag:16: node 'a' is defined twice \(first at line 3\)"),
    ("RETRY a 3 # three tries", "inline comment"),
    ("FROB x y.dag", "unknown DAG command 'FROB'"),
    ("SPLICE x y.dag", "x.dag:16: cannot read SPLICE file y.dag"),
    ("INCLUDE nope.dag", "x.dag:16: cannot read INCLUDE file nope.dag"),
    ("JOB c {", r"x.dag:16: JOB c: no closing '}'"),
    ("JOB c c.sub NOPE", "unknown option 'NOPE'"),
    ("SUBDAG c c.dag", "expected SUBDAG EXTERNAL"),
    ("ENV PUT X", "expected ENV GET"),
    ("SET_JOB_ATTR x", "expected SET_JOB_ATTR name = value"),
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


LANGUAGE = """\
VARS early v="before its JOB line"
SUBMIT-DESCRIPTION shared {
    executable = /bin/echo
    # a comment inside the description
    queue
}
JOB early a.sub
job later shared dir work noop
JOB inline {
    executable = /bin/true
    queue
} DIR there DONE
INCLUDE part.dag
SPLICE S inner.dag DIR sub
SUBDAG EXTERNAL ext sub/inner.dag DIR sub
SERVICE watch w.sub
PROVISIONER grow p.sub
FINAL end e.sub
VARS early PREPEND p="1"
VARS early APPEND q="2"
VARS ALL_NODES all="x"
VARS later all="own"
RETRY ALL_NODES 2 UNLESS-EXIT 2
PARENT early CHILD S
PARENT S CHILD later ext
SCRIPT DEFER 4 30 DEBUG pre.txt ALL PRE early /bin/pre $JOB $RETRY
SCRIPT HOLD early /bin/held
CATEGORY ALL_NODES throttle
MAXJOBS throttle 2
ENV GET PATH HOME
ENV SET A=1;B=two
SET_JOB_ATTR Workflow = "demo # one"
REJECT
"""


@pytest.fixture
def language_dag(tmp_path):
    """A DAG using the whole language, with its INCLUDE and SPLICE files."""
    (tmp_path / "part.dag").write_text("JOB included a.sub\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.dag").write_text(
        "JOB X ../a.sub\nJOB Y ../a.sub DIR deeper\nJOB Z ../a.sub\nPARENT X CHILD Y Z\nCATEGORY X local\n"
        "CATEGORY Y +shared\nMAXJOBS local 1\nVARS ALL_NODES inner=\"1\"\n")
    (tmp_path / "x.dag").write_text(LANGUAGE)
    return read_dag(tmp_path / "x.dag")


def test_reads_the_whole_language(language_dag):
    """Every command of DAGMan 25's language, checked against what DAGMan does with it (see the pool tests)."""
    dag = language_dag
    assert list(dag.nodes) == ["early", "later", "inline", "included", "S+X", "S+Y", "S+Z", "ext", "watch", "grow",
                               "end"]
    early, later, inline = dag.nodes["early"], dag.nodes["later"], dag.nodes["inline"]
    assert early.variables == {"v": "before its JOB line", "p": "1", "q": "2", "all": "x"}
    assert early.placed == {"p": "PREPEND", "q": "APPEND"}
    assert later.variables == {"all": "own"} and later.noop and later.directory == "work"
    assert "/bin/echo" in later.inline and "/bin/true" in inline.inline
    assert (inline.directory, inline.done) == ("there", True)
    assert dag.nodes["included"].source.endswith("part.dag")
    assert [dag.nodes[n].kind for n in ("ext", "watch", "grow", "end")] == ["subdag", "service", "provisioner",
                                                                          "final"]
    assert (early.pre.defer, early.pre.debug, early.pre.arguments) == ((4, 30), ("pre.txt", "ALL"), ["$JOB", "$RETRY"])
    assert early.hold.executable == "/bin/held"


def test_all_nodes_leaves_final_and_splices_alone(language_dag):
    dag = language_dag
    assert dag.nodes["end"].retries == 0 and dag.nodes["end"].category is None
    assert dag.nodes["later"].retries == 2 and dag.nodes["later"].unless_exit == 2
    assert dag.nodes["S+X"].retries == 0 and dag.nodes["S+X"].variables == {"inner": "1"}


def test_splices_join_by_their_initial_and_terminal_nodes(language_dag):
    dag = language_dag
    assert dag.parents["S+X"] == ["early"]
    assert dag.parents["S+Y"] == dag.parents["S+Z"] == ["S+X"]
    assert dag.parents["later"] == dag.parents["ext"] == ["S+Y", "S+Z"]
    assert dag.nodes["S+Y"].directory == "sub/deeper" and dag.nodes["S+X"].directory == "sub"
    assert (dag.nodes["S+X"].category, dag.nodes["S+Y"].category) == ("S+local", "+shared")
    assert dag.maxjobs == {"S+local": 1, "throttle": 2}


def test_reads_the_file_level_commands(language_dag):
    dag = language_dag
    assert dag.inherited == ["PATH", "HOME"] and dag.environment == {"A": "1", "B": "two"}
    assert dag.job_attributes == {"Workflow": '"demo # one"'}
    assert dag.rejected == len(LANGUAGE.splitlines())


def test_a_linter_sees_every_problem(tmp_path):
    problems = []
    dag = parse_dag("JOB a a.sub\nFROB\nRETRY nope 2\nJOB a b.sub\nPARENT a CHILD b\n", tmp_path / "x.dag", problems)
    assert [str(p).split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == ["2", "4", "3", "5"]
    assert list(dag.nodes) == ["a"]

"""One handler per DAG command (DAGMan 25's whole language), each applying a statement to the Dag it builds."""

from __future__ import annotations

import re

from .lines import Statement, refusal
from .model import FINAL, JOB, PROVISIONER, SERVICE, SPLICE_SEPARATOR, SUBDAG, Dag, DagNode, NotYetDefined, Script

ALL_NODES = "ALL_NODES"
_VARS = re.compile(r'\s*([A-Za-z_+][\w.+-]*)\s*=\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
_VARS_NAME = re.compile(r'\s*([A-Za-z_+][\w.+-]*)\s*=\s*"')
_ESCAPE = re.compile(r"\\(.)")
_NODE_KINDS = {"JOB": JOB, "FINAL": FINAL, "SERVICE": SERVICE, "PROVISIONER": PROVISIONER}
_NODE_OPTIONS = ("DIR", "NOOP", "DONE")


def refused(dag: Dag, st: Statement, message: str):
    return refusal(dag.path, st.source, st.number, message)


def _nodes(dag: Dag, word: str, st: Statement) -> tuple[DagNode, ...] | list[DagNode]:
    """The nodes a command names: one node, or ALL_NODES (every node of this DAG file but FINAL)."""
    node = dag.nodes.get(word)
    if node is not None:
        return (node,)
    if not dag.complete:
        raise NotYetDefined(word)
    if word.upper() == ALL_NODES:
        return [node for node in dag.nodes.values() if not node.final and SPLICE_SEPARATOR not in node.name]
    raise refused(dag, st, f"{st.words[0]} names node '{word}', which no JOB line defines")


def _int(dag: Dag, word: str, st: Statement) -> int:
    try:
        return int(word)
    except ValueError:
        raise refused(dag, st, f"'{word}' is not an integer") from None


def parse_vars(text: str, into: dict[str, str]) -> None:
    """Read `name="value" ...` into a dict; the usual value (no backslash) is found with str.find, not a regex."""
    position = 0
    while head := _VARS_NAME.match(text, position):
        start = head.end()
        close = text.find('"', start)
        if close >= 0 and text.find("\\", start, close) < 0:
            into[head.group(1)], position = text[start:close], close + 1
            continue
        match = _VARS.match(text, position)  # a backslash escapes what follows it, a quote included
        if not match:
            break
        into[match.group(1)] = _ESCAPE.sub(r"\1", match.group(2))
        position = match.end()
    if text[position:].strip():
        raise ValueError(f"cannot read VARS (unbalanced quote?) at {text[position:position + 30].strip()!r}")


# -- nodes (the first pass: every node exists before any other command names it) ------------------------------------


def add_node(dag: Dag, st: Statement, kind: str, name: str, submit: str, options: list[str]) -> DagNode:
    if name in dag.nodes or name in dag.splices:
        first = dag.nodes[name].line if name in dag.nodes else "a SPLICE"
        raise refused(dag, st, f"node '{name}' is defined twice (first at line {first})")
    node = dag.nodes[name] = DagNode(name, submit, st.number, final=kind == FINAL, kind=kind, source=st.source)
    upper = [word.upper() for word in options]
    for index, word in enumerate(upper):
        if word == "DIR":
            node.directory = options[index + 1]
        elif word not in _NODE_OPTIONS and upper[index - 1:index] != ["DIR"]:
            raise refused(dag, st, f"{st.words[0]} {name}: unknown option '{options[index]}'")
    node.noop, node.done = "NOOP" in upper, "DONE" in upper
    return node


def job(dag: Dag, st: Statement) -> None:
    """JOB / FINAL / SERVICE / PROVISIONER name (submit-file | description-name | { block }) [DIR d] [NOOP] [DONE]."""
    words = st.words
    if st.block is not None:
        node = add_node(dag, st, _NODE_KINDS[st.command], words[1], "", words[2:])
        node.inline = st.block
        return
    if len(words) < 3:
        raise refused(dag, st, f"{words[0]} needs a node name and a submit file")
    add_node(dag, st, _NODE_KINDS[st.command], words[1], words[2], words[3:])


def subdag(dag: Dag, st: Statement) -> None:
    """SUBDAG EXTERNAL name dag-file [DIR d] [NOOP] [DONE]: one node that runs a whole DAG."""
    words = st.words
    if len(words) < 4 or words[1].upper() != "EXTERNAL":
        raise refused(dag, st, "expected SUBDAG EXTERNAL node dag-file [DIR directory] [NOOP] [DONE]")
    add_node(dag, st, SUBDAG, words[2], words[3], words[4:])


def submit_description(dag: Dag, st: Statement) -> None:
    if st.block is None or len(st.words) != 2:
        raise refused(dag, st, "expected SUBMIT-DESCRIPTION name { ... }")
    dag.descriptions[st.words[1]] = st.block


# -- everything else (the second pass, in file order) ----------------------------------------------------------------


def variables(dag: Dag, st: Statement) -> None:
    """VARS node|ALL_NODES [PREPEND|APPEND] name="value" ... (DAGMan's default is PREPEND)."""
    if len(st.words) < 2:
        raise refused(dag, st, "VARS needs a node name")
    text = st.words[2] if len(st.words) > 2 else ""
    where = None
    if text[:1] in ("P", "A", "p", "a"):  # a variable may also start with these: look closer only then
        head = text.split(None, 1)
        if head[0].upper() in ("PREPEND", "APPEND"):
            where, text = head[0].upper(), head[1] if len(head) > 1 else ""
    nodes = _nodes(dag, st.words[1], st)
    direct = len(nodes) == 1 and where is None and not nodes[0].placed  # the usual case: straight into its VARS
    found: dict[str, str] = nodes[0].variables if direct else {}
    try:
        parse_vars(text, found)
    except ValueError as exc:
        raise refused(dag, st, str(exc)) from None
    if direct:
        return
    for node in nodes:
        node.variables.update(found)
        if where is not None:
            node.placed.update(dict.fromkeys(found, where))
        elif node.placed:
            for name in found:
                node.placed.pop(name, None)


def parent(dag: Dag, st: Statement) -> None:
    words = st.words if "CHILD" in st.words else [w.upper() for w in st.words]
    if "CHILD" not in words:
        raise refused(dag, st, "PARENT without CHILD")
    split = words.index("CHILD")
    parents = [name for word in dict.fromkeys(st.words[1:split]) for name in _ends(dag, word, st, terminal=True)]
    children = [name for word in st.words[split + 1:] for name in _ends(dag, word, st, terminal=False)]
    for child in children:
        known = dag.parents.setdefault(child, [])
        seen = set(known)
        known.extend(p for p in parents if p not in seen)
        for name in parents:
            dag.edge_lines.setdefault((name, child), st.number)


def _ends(dag: Dag, word: str, st: Statement, terminal: bool) -> list[str]:
    """A node, or a splice's terminal nodes (as a parent) / initial nodes (as a child)."""
    if word in dag.nodes:
        return [word]
    if word in dag.splices:
        return dag.splices[word][1 if terminal else 0]
    if not dag.complete:
        raise NotYetDefined(word)
    raise refused(dag, st, f"PARENT/CHILD names node '{word}', which no JOB or SPLICE line defines")


def retry(dag: Dag, st: Statement) -> None:
    words = st.words
    count = _int(dag, words[2], st)
    unless = _int(dag, words[4], st) if len(words) > 4 and words[3].upper() == "UNLESS-EXIT" else None
    for node in _nodes(dag, words[1], st):
        node.retries, node.unless_exit = count, unless


def script(dag: Dag, st: Statement) -> None:
    """SCRIPT [DEFER status seconds] [DEBUG file STDOUT|STDERR|ALL] PRE|POST|HOLD node|ALL_NODES executable [args]."""
    rest, defer, debug = st.words[1:], None, None
    while rest and rest[0].upper() in ("DEFER", "DEBUG"):
        if len(rest) < 3:
            break
        if rest[0].upper() == "DEFER":
            defer = (_int(dag, rest[1], st), _int(dag, rest[2], st))
        else:
            debug = (rest[1], rest[2].upper())
        rest = rest[3:]
    if len(rest) < 3 or rest[0].upper() not in ("PRE", "POST", "HOLD"):
        raise refused(dag, st, "expected SCRIPT [DEFER status time] [DEBUG file type] PRE|POST|HOLD node "
                               "executable [arguments]")
    for node in _nodes(dag, rest[1], st):
        setattr(node, rest[0].lower(), Script(rest[2], rest[3:], st.number, defer, debug))


def pre_skip(dag: Dag, st: Statement) -> None:
    code = _int(dag, st.words[2], st)
    for node in _nodes(dag, st.words[1], st):
        node.pre_skip = code


def category(dag: Dag, st: Statement) -> None:
    for node in _nodes(dag, st.words[1], st):
        node.category = st.words[2]


def maxjobs(dag: Dag, st: Statement) -> None:
    dag.maxjobs[st.words[1]] = _int(dag, st.words[2], st)


def priority(dag: Dag, st: Statement) -> None:
    value = _int(dag, st.words[2], st)
    for node in _nodes(dag, st.words[1], st):
        node.priority = value


def abort_on(dag: Dag, st: Statement) -> None:
    words = st.words
    returns = _int(dag, words[4], st) if len(words) > 4 and words[3].upper() == "RETURN" else None
    code = _int(dag, words[2], st)
    for node in _nodes(dag, words[1], st):
        node.abort_on[code] = returns


def done(dag: Dag, st: Statement) -> None:
    for node in _nodes(dag, st.words[1], st):
        node.done = True


def setting(dag: Dag, st: Statement) -> None:
    """CONFIG, NODE_STATUS_FILE, JOBSTATE_LOG, DOT: file-level settings, kept as written."""
    if len(st.words) < 2:
        raise refused(dag, st, f"{st.words[0]} is missing an argument")
    dag.settings.append((st.number, st.words))


def save_point(dag: Dag, st: Statement) -> None:
    _nodes(dag, st.words[1], st)
    dag.save_points[st.words[1]] = st.words[2] if len(st.words) > 2 else None


def environment(dag: Dag, st: Statement) -> None:
    """ENV GET NAME ... (taken from the submitter's environment) or ENV SET NAME=value;NAME=value ..."""
    words = st.words
    if len(words) < 3 or words[1].upper() not in ("GET", "SET"):
        raise refused(dag, st, "expected ENV GET NAME ... or ENV SET NAME=value;...")
    if words[1].upper() == "GET":
        dag.inherited.extend(name for word in words[2:] for name in word.split(",") if name)
        return
    for pair in st.line.split(None, 2)[2].replace(";", " ").split():
        name, sep, value = pair.partition("=")
        if not sep:
            raise refused(dag, st, f"ENV SET: '{pair}' is not NAME=value")
        dag.environment[name] = value


def job_attribute(dag: Dag, st: Statement) -> None:
    """SET_JOB_ATTR name = value: an attribute of the DAGMan job's own ClassAd."""
    name, sep, value = st.line.split(None, 1)[1].partition("=") if len(st.words) > 1 else ("", "", "")
    if not sep or not name.strip() or not value.strip():
        raise refused(dag, st, "expected SET_JOB_ATTR name = value")
    dag.job_attributes[name.strip()] = value.strip()


def reject(dag: Dag, st: Statement) -> None:
    dag.rejected = st.number


NODE_COMMANDS = {"JOB": job, "FINAL": job, "SERVICE": job, "PROVISIONER": job, "SUBDAG": subdag,
                 "SUBMIT-DESCRIPTION": submit_description}
COMMANDS = {
    "VARS": variables, "PARENT": parent, "RETRY": retry, "SCRIPT": script, "PRE_SKIP": pre_skip,
    "CATEGORY": category, "MAXJOBS": maxjobs, "PRIORITY": priority, "ABORT-DAG-ON": abort_on, "DONE": done,
    "SAVE_POINT_FILE": save_point, "CONFIG": setting, "NODE_STATUS_FILE": setting, "JOBSTATE_LOG": setting,
    "DOT": setting, "ENV": environment, "SET_JOB_ATTR": job_attribute, "REJECT": reject,
}
# Only these carry quoted values in which '#' is text; elsewhere DAGMan refuses an inline comment.
QUOTED = frozenset({"VARS", "SET_JOB_ATTR", "ENV"})

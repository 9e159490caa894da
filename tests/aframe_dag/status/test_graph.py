"""`graph`: one box per stage with counts (or per node), edges between stages."""

import shutil

import pytest

from aframe_dag.builder.build import build
from aframe_dag.condordir.dag import load_dag
from aframe_dag.status.graph import dot_text, draw


@pytest.fixture
def dag(micro_ini, run_env):
    build(micro_ini)
    return load_dag(run_env / "condor")


def test_stage_graph(dag):
    text = dot_text(dag)
    assert '"background" [label="background\\n×4"];' in text
    assert '"train" -> "export";' in text and '"export" -> "infer";' in text
    assert '"summary" [label="summary"];' in text


def test_every_node_graph(dag):
    text = dot_text(dag, every_node=True)
    assert '"infer-0001" -> "aggregate";' in text


def test_draw_falls_back_to_dot_source_without_graphviz(dag, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert draw(dag, tmp_path / "g.png") == tmp_path / "g.dot"
    assert (tmp_path / "g.dot").read_text().startswith("digraph aframe {")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_draw_png(dag, tmp_path):
    assert draw(dag, tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"

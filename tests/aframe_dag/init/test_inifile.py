"""Editing one INI key keeps every comment and other line."""

from aframe_dag.init.inifile import set_value

TEXT = "# top\n[run]\n# the name\nname = a\nseed = 1\n\n# next\n[data]\nifos = H1\n"


def test_replaces_existing_key_in_its_section_only():
    assert set_value(TEXT, "run", "seed", "7") == TEXT.replace("seed = 1", "seed = 7")
    assert set_value(TEXT, "data", "name", "x").count("name = a") == 1


def test_adds_key_after_the_section_s_last_key():
    text = set_value(TEXT, "run", "device", "cpu")
    assert "seed = 1\ndevice = cpu\n\n# next\n[data]" in text


def test_adds_missing_section_at_the_end():
    assert set_value(TEXT, "train", "remote", "kubernetes").endswith("ifos = H1\n\n[train]\nremote = kubernetes\n")

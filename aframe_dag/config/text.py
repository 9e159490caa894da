"""Config as text: the resolved run.ini (every key, final value) and the key reference."""

from __future__ import annotations

import configparser

from .load import Config, all_sections, schema_for
from .schema import SECTIONS, STAGES, stage_keys


def _line(key: str, text: str) -> str:
    text = text.replace("\n", "\n    ")
    return f"{key} =" + (f" {text}" if text and not text.startswith("\n") else text)


def resolved_text(config: Config, versions: dict[str, str] | None = None) -> str:
    """Every key with its final value (a key still to set marked MISSING); loading it again gives the same config."""
    lines = ["# Every key of this run with its final value: `aframe-dag build` on this file rebuilds the same DAG."]
    lines += [f"# {name} {version}" for name, version in sorted((versions or {}).items())]
    for section in all_sections():
        lines += ["", f"[{section}]"]
        for key, spec in schema_for(section).items():
            if (section, key) in config.missing:
                lines.append(f"# MISSING: {config.missing[section, key]}")
            lines.append(_line(key, spec.type.format(config[section][key]).replace("$", "$$")))
    return "\n".join(lines) + "\n"


def _values(text: str) -> dict[tuple[str, str], str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return {(section, key): value for section in parser.sections() for key, value in parser.items(section)}


def _shown(value: str | None) -> str:
    return "(none)" if value is None else " ".join(value.split()) or "(empty)"


def changed_keys(old: str, new: str) -> list[str]:
    """'[section] key: old -> new' for each key two resolved configs give different values, in the new one's order.

    Raises configparser.Error for a text that is not INI."""
    before, after = _values(old), _values(new)
    changed = [name for name in dict.fromkeys([*after, *before]) if before.get(name) != after.get(name)]
    return [f"[{section}] {key}: {_shown(before.get((section, key)))} -> {_shown(after.get((section, key)))}"
            for section, key in changed]


def _describe(section: str, keys: dict) -> list[str]:
    lines = [f"[{section}]"]
    for key, spec in keys.items():
        unit = f" [{spec.unit}]" if spec.unit else ""
        lines.append(_line(key, spec.default))
        lines.append(f"    {spec.doc}{unit}. ({spec.type.name})")
    return lines + [""]


def docs_text() -> str:
    """The reference of every key: default, doc, unit and type, section by section."""
    lines = []
    for section, keys in SECTIONS.items():
        lines += _describe(section, keys)
    lines += _describe("stage:NAME", stage_keys(STAGES["background"]))
    lines.append("    NAME is one of: " + ", ".join(STAGES) + ".")
    lines.append("    Defaults differ per stage; `aframe-dag config show` prints each stage's.")
    lines += ["", "[site:NAME]", "    A site profile: any [condor] key but site; [condor] site = NAME selects it."]
    return "\n".join(lines) + "\n"

"""Config as text: the resolved run.ini (every key, final value) and the key reference."""

from __future__ import annotations

from .load import Config, all_sections, schema_for
from .schema import SECTIONS, STAGES, stage_keys


def _line(key: str, text: str) -> str:
    text = text.replace("\n", "\n    ")
    return f"{key} =" + (f" {text}" if text and not text.startswith("\n") else text)


def resolved_text(config: Config, versions: dict[str, str] | None = None) -> str:
    """Every key with its final value; loading this text again gives the same config."""
    lines = ["# Every key of this run with its final value: `aframe-dag build` on this file rebuilds the same DAG."]
    lines += [f"# {name} {version}" for name, version in sorted((versions or {}).items())]
    for section in all_sections():
        lines += ["", f"[{section}]"]
        for key, spec in schema_for(section).items():
            lines.append(_line(key, spec.type.format(config[section][key]).replace("$", "$$")))
    return "\n".join(lines) + "\n"


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

"""Read run.ini: interpolation, $ENV expansion, --set overrides, site profiles, typed values."""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UserError, did_you_mean
from .schema import SECTIONS, SHARED, SITE_KEYS, STAGES, stage_keys
from .types import BadValue, File

_NO_DEFAULT_SECTION = "\0no-defaults"
_ENV = re.compile(r"\$\$|\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)")


@dataclass(frozen=True)
class Config:
    """A loaded, checked run configuration: typed values for every key of every section."""

    path: Path
    sections: dict[str, dict[str, Any]]
    train: dict = field(default_factory=dict)
    missing: dict[tuple[str, str], str] = field(default_factory=dict)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def stage(self, name: str) -> dict[str, Any]:
        """Resources and retry policy of one stage's jobs."""
        return self.sections[f"stage:{name}"]

    def shared(self) -> dict[str, Any]:
        """The parameters every stage and the training config take from run.ini."""
        return {name: self.sections[section][key] for name, (section, key) in SHARED.items()}


def schema_for(section: str) -> dict | None:
    """The keys a section may hold, or None for an unknown section."""
    if section in SECTIONS:
        return SECTIONS[section]
    kind, _, name = section.partition(":")
    if kind == "stage" and name in STAGES:
        return stage_keys(STAGES[name])
    if kind == "site" and name:
        return SITE_KEYS
    return None


def all_sections() -> list[str]:
    """Sections of a resolved config, in the order they are written."""
    return list(SECTIONS) + [f"stage:{name}" for name in STAGES]


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        interpolation=configparser.ExtendedInterpolation(), default_section=_NO_DEFAULT_SECTION,
        inline_comment_prefixes=None,
    )
    parser.optionxform = str
    return parser


def _read(parser: configparser.ConfigParser, text: str, path) -> None:
    try:
        parser.read_string(text, source=str(path))
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"section appears twice (line {exc.lineno})", path, exc.section) from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"key appears twice (line {exc.lineno})", path, exc.section, exc.option) from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"line {exc.lineno}: a key before any [section]", path) from None
    except configparser.Error as exc:
        raise ConfigError(f"cannot parse: {exc.message.splitlines()[-1].strip()}", path) from None


def _check_name(section: str, key: str | None, path) -> None:
    keys = schema_for(section)
    if keys is None:
        known = list(SECTIONS) + [f"stage:{s}" for s in STAGES] + ["site:NAME"]
        raise ConfigError(f"unknown section{did_you_mean(section, known)}", path, section)
    if key is not None and key not in keys:
        raise ConfigError(f"unknown key{did_you_mean(key, keys)}", path, section, key)


def _check_names(parser: configparser.ConfigParser, path) -> None:
    for section in parser.sections():
        _check_name(section, None, path)
        for key in parser[section]:
            _check_name(section, key, path)


def _assign(parser: configparser.ConfigParser, section: str, key: str, text: str, source) -> None:
    """Set a key with $NAME and ${NAME} taken from the environment; every other '$' must be $$ or ${section:key}."""
    def lookup(match):
        name = match.group(1) or match.group(2)
        if name is None:
            return match.group(0)
        if name not in os.environ:
            hint = " (source the run.sh that `aframe-dag init` wrote)" if name.startswith("AFRAME_") else ""
            raise ConfigError(f"environment variable {name} is not set{hint}", source, section, key)
        return os.environ[name].replace("$", "$$")

    try:
        parser[section][key] = _ENV.sub(lookup, text)
    except ValueError:  # configparser refuses what ExtendedInterpolation cannot read
        raise ConfigError("a lone '$' (write $$ for a literal $, ${section:key} for another key's value)",
                          source, section, key) from None


def _expand_env(parser: configparser.ConfigParser, path) -> None:
    """Expand the environment in the file's own values ([site:NAME] values are expanded where they fill [condor])."""
    for section in parser.sections():
        if not section.startswith("site:"):
            for key in parser[section]:
                _assign(parser, section, key, parser.get(section, key, raw=True), path)


def _apply_overrides(parser: configparser.ConfigParser, overrides) -> None:
    for item in overrides:
        name, sep, value = item.partition("=")
        section, dot, key = name.strip().rpartition(".")
        if not sep or not dot or not section or not key:
            raise UserError(f"--set '{item}': expected section.key=value")
        _check_name(section, key, f"--set {item}")
        if not parser.has_section(section):
            parser.add_section(section)
        _assign(parser, section, key, value.strip(), f"--set {item}")


def site_profiles() -> dict[str, dict[str, str]]:
    """The built-in site profiles (configs/sites.ini): NAME -> the [condor] values it sets, as INI text."""
    builtin = _parser()
    source = resources.files("aframe_dag") / "configs" / "sites.ini"
    _read(builtin, source.read_text(), source)
    return {section.partition(":")[2]: dict(builtin.items(section, raw=True)) for section in builtin.sections()}


def _site_profiles(parser: configparser.ConfigParser) -> dict[str, dict[str, str]]:
    profiles = site_profiles()
    for section in parser.sections():
        kind, _, name = section.partition(":")
        if kind == "site":
            profiles.setdefault(name, {}).update(parser.items(section, raw=True))
    return profiles


def _fill_defaults(parser: configparser.ConfigParser, path) -> None:
    profiles = _site_profiles(parser)
    site = parser.get("condor", "site", raw=True, fallback=SECTIONS["condor"]["site"].default)
    if site not in profiles:
        raise ConfigError(f"no site profile '{site}'{did_you_mean(site, profiles)}; built in: "
                          + ", ".join(site_profiles()), path, "condor", "site")
    for section in all_sections():
        if not parser.has_section(section):
            parser.add_section(section)
        profile = profiles[site] if section == "condor" else {}
        for key, spec in schema_for(section).items():
            if key not in parser[section]:
                _assign(parser, section, key, profile.get(key, spec.default), path)


def _typed(parser: configparser.ConfigParser, path: Path) -> dict[str, dict[str, Any]]:
    sections = {}
    for section in all_sections():
        values = {}
        for key, spec in schema_for(section).items():
            try:
                text = parser.get(section, key).strip()
            except configparser.InterpolationMissingOptionError as exc:
                raise ConfigError(f"refers to ${{{exc.reference}}}, which is not defined", path, section, key) from None
            except configparser.Error as exc:
                raise ConfigError(exc.message.splitlines()[0], path, section, key) from None
            try:
                value = spec.type.parse(text)
            except BadValue as exc:
                raise ConfigError(str(exc), path, section, key) from None
            is_file = isinstance(getattr(spec.type, "inner", spec.type), File)
            if is_file and value:
                value = str((path.parent / os.path.expanduser(value)).resolve())
            values[key] = value
        sections[section] = values
    return sections


def load_config(path, overrides=(), allow_missing=False) -> Config:
    """Load and check a run.ini; any problem is a ConfigError that names the file, section and key.

    allow_missing: keys the user must still set (accounting_group, ...) are listed in Config.missing instead."""
    from .checks import check_config
    from .train import load_train_config

    path = Path(path).absolute()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from None
    parser = _parser()
    _read(parser, text, path)
    _check_names(parser, path)
    _expand_env(parser, path)
    _apply_overrides(parser, overrides)
    _fill_defaults(parser, path)
    config = Config(path=path, sections=_typed(parser, path))
    missing = check_config(config, allow_missing)
    return Config(path=path, sections=config.sections, train=load_train_config(config), missing=missing)

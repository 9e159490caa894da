"""Value types of the run.ini schema: each turns the INI text into a checked Python value and back."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..sandbox import URL_SCHEMES, url_scheme


class BadValue(ValueError):
    """A value that does not fit its type; the loader adds file, section and key."""


@dataclass(frozen=True)
class Text:
    """Free text on one line."""

    name = "text"

    def parse(self, text: str) -> str:
        if "\n" in text:
            raise BadValue("must be a single line")
        return text

    def format(self, value) -> str:
        return value


@dataclass(frozen=True)
class Pattern:
    """A single word matching a regular expression (names, versions, accounting tags)."""

    regex: str
    name: str = "word"

    def parse(self, text: str) -> str:
        if not re.fullmatch(self.regex, text):
            raise BadValue(f"'{text}' is not a valid {self.name}")
        return text

    def format(self, value) -> str:
        return value


@dataclass(frozen=True)
class File:
    """A file path; a relative one is taken from the directory of the config file."""

    name = "file path"

    def parse(self, text: str) -> str:
        if "\n" in text or not text:
            raise BadValue("must be one file path")
        return text

    def format(self, value) -> str:
        return value


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words."""

    options: tuple[str, ...]

    @property
    def name(self) -> str:
        return " | ".join(self.options)

    def parse(self, text: str) -> str:
        if text not in self.options:
            raise BadValue(f"must be one of {', '.join(self.options)} (got '{text}')")
        return text

    def format(self, value) -> str:
        return value


@dataclass(frozen=True)
class Flag:
    """true/false in the spellings configparser accepts."""

    name = "true | false"
    _words = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}

    def parse(self, text: str) -> bool:
        try:
            return self._words[text.lower()]
        except KeyError:
            raise BadValue(f"must be true or false (got '{text}')") from None

    def format(self, value) -> str:
        return "true" if value else "false"


def _check_range(value, minimum, maximum, above):
    if above is not None and not value > above:
        raise BadValue(f"must be greater than {above:g} (got {value:g})")
    if minimum is not None and value < minimum:
        raise BadValue(f"must be at least {minimum:g} (got {value:g})")
    if maximum is not None and value > maximum:
        raise BadValue(f"must be at most {maximum:g} (got {value:g})")
    return value


@dataclass(frozen=True)
class Integer:
    """A whole number, optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None
    above: int | None = None
    name = "integer"

    def parse(self, text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise BadValue(f"must be an integer (got '{text}')") from None
        return _check_range(value, self.minimum, self.maximum, self.above)

    def format(self, value) -> str:
        return str(value)


@dataclass(frozen=True)
class Number:
    """A finite real number, optionally bounded."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    name = "number"

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise BadValue(f"must be a number (got '{text}')") from None
        if not math.isfinite(value):
            raise BadValue(f"must be finite (got '{text}')")
        return _check_range(value, self.minimum, self.maximum, self.above)

    def format(self, value) -> str:
        return repr(value) if not float(value).is_integer() else str(int(value))


def _items(text: str) -> list[str]:
    return [item for item in re.split(r"[,\s]+", text.strip()) if item]


@dataclass(frozen=True)
class Words:
    """A comma- or space-separated list of words, optionally from a fixed set."""

    pattern: str = r"[A-Za-z0-9_.:-]+"
    nonempty: bool = True
    options: tuple[str, ...] = ()
    name = "list of words"

    def parse(self, text: str) -> tuple[str, ...]:
        items = _items(text)
        if self.nonempty and not items:
            raise BadValue("must list at least one item")
        for item in items:
            if not re.fullmatch(self.pattern, item):
                raise BadValue(f"'{item}' is not a valid item")
            if self.options and item not in self.options:
                raise BadValue(f"'{item}' is not one of {', '.join(self.options)}")
        if len(set(items)) != len(items):
            raise BadValue("lists an item twice")
        return tuple(items)

    def format(self, value) -> str:
        return ", ".join(value)


@dataclass(frozen=True)
class Numbers:
    """A comma- or space-separated list of numbers."""

    element: Number = Number()
    name = "list of numbers"

    def parse(self, text: str) -> tuple[float, ...]:
        items = _items(text)
        if not items:
            raise BadValue("must list at least one number")
        return tuple(self.element.parse(item) for item in items)

    def format(self, value) -> str:
        return ", ".join(self.element.format(v) for v in value)


@dataclass(frozen=True)
class PerIfo:
    """One word for every ifo, or one per ifo in ``[data] ifos`` order (checks.py holds the count to the ifos)."""

    element: Pattern

    @property
    def name(self) -> str:
        return f"one {self.element.name}, or one per ifo"

    def parse(self, text: str) -> tuple[str, ...]:
        items = _items(text)
        if not items:
            raise BadValue(f"must give a {self.element.name}")
        return tuple(self.element.parse(item) for item in items)

    def format(self, value) -> str:
        return ", ".join(value)


def each_ifo(values: tuple[str, ...], ifos: tuple[str, ...]) -> dict[str, str]:
    """A PerIfo value as ifo -> value: one value stands for every ifo."""
    return dict(zip(ifos, values * len(ifos) if len(values) == 1 else values, strict=True))


@dataclass(frozen=True)
class Pairs:
    """A list of number pairs written a:b, such as component masses 35:20."""

    element: Number = Number(above=0)
    name = "list of a:b pairs"

    def parse(self, text: str) -> tuple[tuple[float, float], ...]:
        pairs = []
        for item in _items(text):
            parts = item.split(":")
            if len(parts) != 2:
                raise BadValue(f"'{item}' is not a pair a:b")
            pairs.append(tuple(self.element.parse(p) for p in parts))
        if not pairs:
            raise BadValue("must list at least one pair")
        return tuple(pairs)

    def format(self, value) -> str:
        return ", ".join(":".join(self.element.format(v) for v in pair) for pair in value)


@dataclass(frozen=True)
class UrlMap:
    """Access-point path prefixes that execute nodes fetch by URL instead: /prefix=osdf:///namespace/prefix, ..."""

    name = "list of /path/prefix=URL prefix pairs"

    def parse(self, text: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for item in _items(text):
            prefix, sep, url = item.partition("=")
            if not sep or not prefix.startswith("/") or not url:
                raise BadValue(f"'{item}' is not /path/prefix=URL")
            scheme = url_scheme(url)
            if scheme not in URL_SCHEMES:
                raise BadValue(f"'{url}' is not a URL HTCondor can fetch (schemes: {', '.join(URL_SCHEMES)})")
            pairs.append((prefix.rstrip("/"), url.rstrip("/")))
        return tuple(pairs)

    def format(self, value) -> str:
        return ", ".join(f"{prefix}={url}" for prefix, url in value)


_SIZE_UNITS = {"": 1, "k": 1 / 1024, "kb": 1 / 1024, "m": 1, "mb": 1, "g": 1024, "gb": 1024,
               "t": 1024**2, "tb": 1024**2}


@dataclass(frozen=True)
class Size:
    """A memory or disk size such as 6GB or 512MB, kept in MiB as HTCondor's request_* expect."""

    name = "size (e.g. 4GB, 512MB)"

    def parse(self, text: str) -> int:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            raise BadValue(f"must be a size such as 4GB or 512MB (got '{text}')")
        mib = math.ceil(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
        if mib <= 0:
            raise BadValue(f"must be positive (got '{text}')")
        return mib

    def format(self, value) -> str:
        return f"{value // 1024}GB" if value % 1024 == 0 else f"{value}MB"


@dataclass(frozen=True)
class Location:
    """A directory: an absolute local path, or an s3://bucket/prefix URL where allowed."""

    allow_s3: bool = False

    @property
    def name(self) -> str:
        return "absolute path or s3:// URL" if self.allow_s3 else "absolute path"

    def parse(self, text: str) -> str:
        if text.startswith("s3://"):
            if not self.allow_s3:
                raise BadValue(f"must be a local path, not an S3 URL (got '{text}')")
            if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", text):
                raise BadValue(f"'{text}' is not a valid s3://bucket/prefix URL")
            return text.rstrip("/")
        if not text.startswith("/"):
            raise BadValue(f"must be an absolute path (got '{text}')")
        return text.rstrip("/") or "/"

    def format(self, value) -> str:
        return value


@dataclass(frozen=True)
class Optional:
    """Another type, or empty for 'not set'."""

    inner: object

    @property
    def name(self) -> str:
        return f"{self.inner.name}, or empty"

    def parse(self, text: str):
        return None if text == "" else self.inner.parse(text)

    def format(self, value) -> str:
        return "" if value is None else self.inner.format(value)


_DISTRIBUTIONS = {"uniform": 2, "loguniform": 2, "int": 2, "choice": None}


@dataclass(frozen=True)
class SearchSpace:
    """An Optuna search space: one 'train.yaml.path: distribution(args)' per line."""

    name = "lines of 'path: uniform|loguniform|int(low, high)' or 'path: choice(a, b, ...)'"

    def parse(self, text: str) -> tuple[tuple[str, str, tuple], ...]:
        space = []
        for line in filter(None, (line.strip() for line in text.splitlines())):
            match = re.fullmatch(r"([A-Za-z_][\w.]*)\s*:\s*(\w+)\((.*)\)", line)
            if not match or match.group(2) not in _DISTRIBUTIONS:
                raise BadValue(f"'{line}' is not 'path: {'|'.join(_DISTRIBUTIONS)}(...)'")
            path, kind, args = match.group(1), match.group(2), _items(match.group(3))
            if _DISTRIBUTIONS[kind] is not None and len(args) != _DISTRIBUTIONS[kind]:
                raise BadValue(f"'{line}': {kind} takes low, high")
            if kind != "choice":
                low, high = (Number().parse(a) for a in args)
                if not low < high or (kind == "loguniform" and low <= 0):
                    raise BadValue(f"'{line}': needs 0 < low < high" if kind == "loguniform"
                                   else f"'{line}': needs low < high")
            space.append((path, kind, tuple(args)))
        if len({path for path, _, _ in space}) != len(space):
            raise BadValue("names a parameter twice")
        return tuple(space)

    def format(self, value) -> str:
        return "".join(f"\n{path}: {kind}({', '.join(args)})" for path, kind, args in value)
